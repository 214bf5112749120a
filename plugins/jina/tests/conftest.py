"""A loopback emulator of Jina AI's ``POST /v1/rerank`` and ``POST /v1/embeddings``, and the
fixtures of this plugin's tests.

The emulator (on :class:`mem7_core.testing.emulator.LoopbackEmulator`: HTTP/1.1 on 127.0.0.1 in a
thread, requests recorded, faults injected) follows Jina's documented API. Every request needs
``Authorization: Bearer <key>``.

``POST /v1/rerank``::

    {"model": "jina-reranker-v2-base-multilingual", "query": "...", "documents": ["...", ...],
     "top_n": 3,                  # optional, >= 1
     "return_documents": false}   # optional (default true: each result carries {"text": ...})
    -> {"model": "...", "usage": {"total_tokens": 42},
        "results": [{"index": 2, "relevance_score": 0.93}, ...]}          # best first

``POST /v1/embeddings``::

    {"model": "jina-embeddings-v3", "input": ["...", ...],
     "task": "retrieval.query" | "retrieval.passage" | ...,   # optional
     "dimensions": 1024,          # optional: Matryoshka truncation, at most the model's size
     "normalized": true, "embedding_type": "float", "truncate": true}
    -> {"model": "...", "object": "list", "usage": {"total_tokens": 10, "prompt_tokens": 10},
        "data": [{"object": "embedding", "index": 0, "embedding": [...]}, ...]}

Errors are ``{"detail": "..."}`` (422 validation errors ``{"detail": [{"loc": [...], "msg":
"..."}]}``): 401 (missing or wrong key), 404 (unknown route), 422 (a bad body or model), and what a
test injects (429 with ``Retry-After``, 5xx, ...).

Relevance is deterministic: the share of the query's words found in the document, unless a test
sets ``score_fn(query, document)``. Embeddings are the test kit's feature-hashing vectors
(``hash_embedding``) of the text: lexical, L2-normalised; ``task`` is recorded, not applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mem7_core.testing.emulator import LoopbackEmulator, Recorded, Reply
from mem7_core.testing.fakes import hash_embedding, lexical_relevance

API_KEY = "jina_test"
ROUTES = ("/v1/rerank", "/v1/embeddings")
TASKS = ("retrieval.query", "retrieval.passage", "text-matching", "classification", "separation", "code.query",
         "code.passage")
MODEL_DIMS = {"jina-embeddings-v3": 1024, "jina-embeddings-v4": 2048, "jina-embeddings-v2-base-en": 768}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's real key."""
    monkeypatch.delenv("JINA_API_KEY", raising=False)


def _invalid(field: str, msg: str) -> Reply:
    return 422, {"detail": [{"loc": ["body", field], "msg": msg, "type": "value_error"}]}, {}


class JinaEmulator(LoopbackEmulator):
    """Loopback Jina API; ``base_url`` (``url`` + ``/v1``) is the provider's ``base_url``."""

    name = "jina"
    fault_paths = ROUTES
    malformed_body = b'{"model": "x", "results": [{"ind'

    def __init__(self, *, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.score_fn: Callable[[str, str], float] = lexical_relevance

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def count(self, path: str | None = "/v1/rerank", method: str | None = None) -> int:
        """Requests received on ``/v1/rerank`` (by default)."""
        return super().count(path, method)

    def error_body(self, status: int, message: str) -> Any:
        return {"detail": {429: "Rate limit exceeded (injected)."}.get(status, message)}

    def reject(self, rec: Recorded) -> Reply | None:
        if rec.method != "POST" or rec.path not in ROUTES:
            return 404, {"detail": "Not Found"}, {}
        if rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"detail": "Failed to authenticate: invalid API key."}, {}
        return None

    def answer(self, rec: Recorded) -> Reply:
        if not isinstance(rec.body, dict):
            return _invalid("body", "Input should be a valid dictionary")
        return self._rerank(rec.body) if rec.path == "/v1/rerank" else self._embeddings(rec.body)

    def _rerank(self, body: dict[str, Any]) -> Reply:
        model, query, docs, top_n = body.get("model"), body.get("query"), body.get("documents"), body.get("top_n")
        if not isinstance(model, str) or not model.startswith(("jina-reranker", "jina-colbert")):
            return _invalid("model", f"Model {model!r} is not a reranker")
        if not isinstance(query, str) or not query:
            return _invalid("query", "query must be a non-empty string")
        if not isinstance(docs, list) or not docs or not all(isinstance(d, str) for d in docs):
            return _invalid("documents", "documents must be a non-empty list of strings")
        if top_n is not None and (not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1):
            return _invalid("top_n", "top_n must be a positive integer")
        scored = sorted(((i, float(self.score_fn(query, d))) for i, d in enumerate(docs)), key=lambda p: -p[1])
        if top_n is not None:
            scored = scored[:top_n]
        results: list[dict[str, Any]] = [{"index": i, "relevance_score": s} for i, s in scored]
        if body.get("return_documents", True):
            for item in results:
                item["document"] = {"text": docs[item["index"]]}
        tokens = sum(len(d.split()) + len(query.split()) for d in docs)
        return 200, {"model": model, "usage": {"total_tokens": tokens}, "results": results}, {}

    def _embeddings(self, body: dict[str, Any]) -> Reply:
        model, texts, task, dims = body.get("model"), body.get("input"), body.get("task"), body.get("dimensions")
        if not isinstance(model, str) or model not in MODEL_DIMS:
            return _invalid("model", f"Model {model!r} is not an embedding model")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return _invalid("input", "input must be a string or a non-empty list of strings")
        if len(texts) > 2048:
            return _invalid("input", "at most 2048 inputs per request")
        if task is not None and task not in TASKS:
            return _invalid("task", f"task must be one of {list(TASKS)}")
        full = MODEL_DIMS[model]
        if dims is not None and (not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= full):
            return _invalid("dimensions", f"dimensions must be between 1 and {full} for {model}")
        if body.get("embedding_type", "float") != "float":
            return _invalid("embedding_type", "this emulator only answers float embeddings")
        data = [{"object": "embedding", "index": i, "embedding": hash_embedding(t, dims or full)}
                for i, t in enumerate(texts)]
        tokens = sum(len(t.split()) for t in texts)
        return 200, {"model": model, "object": "list", "usage": {"total_tokens": tokens, "prompt_tokens": tokens},
                     "data": data}, {}


@pytest.fixture
def jina_server() -> Iterator[JinaEmulator]:
    """A loopback Jina API emulator (key ``jina_test``), started for this test."""
    with JinaEmulator() as server:
        yield server
