"""A loopback emulator of Voyage AI's ``POST /v1/rerank`` and ``POST /v1/embeddings``, and the
fixtures of this plugin's tests.

The emulator (on :class:`mem7_core.testing.emulator.LoopbackEmulator`: HTTP/1.1 on 127.0.0.1 in a
thread, requests recorded, faults injected) follows the documented API, so the real ``voyageai``
client talks real HTTP to it. Every request needs ``Authorization: Bearer <key>``.

``POST /v1/rerank``::

    {"query": "...", "documents": ["...", ...], "model": "rerank-2.5",
     "top_k": 3,            # optional, >= 1: at most this many results
     "truncation": true,    # optional
     "return_documents": false}
    -> {"object": "list", "data": [{"index": 2, "relevance_score": 0.93}, ...],   # best first
        "model": "rerank-2.5", "usage": {"total_tokens": 42}}

``POST /v1/embeddings``::

    {"input": ["...", ...], "model": "voyage-3.5",
     "input_type": null | "query" | "document", "truncation": true,
     "output_dimension": null | 256 | 512 | 1024 | 2048, "output_dtype": "float",
     "encoding_format": null | "base64"}     # base64: little-endian float32 bytes
    -> {"object": "list", "data": [{"object": "embedding", "embedding": [...] | "<base64>", "index": 0}, ...],
        "model": "voyage-3.5", "usage": {"total_tokens": 10}}

Errors are ``{"detail": "..."}``: 400 (a bad body, an unknown model, an empty list, too many
items), 401 (missing or wrong key), 404 (unknown route), and what a test injects (429 with
``Retry-After``, 5xx, ...).

Relevance is deterministic: the share of the query's words found in the document, unless a test
sets ``score_fn(query, document)``. Embeddings are the test kit's feature-hashing vectors
(``hash_embedding``) of the text: lexical, L2-normalised; ``input_type`` is recorded, not applied.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mem7_core.testing.emulator import LoopbackEmulator, Recorded, Reply
from mem7_core.testing.fakes import hash_embedding, lexical_relevance

API_KEY = "pa-test"
ENV_VARS = ("VOYAGE_API_KEY", "VOYAGE_API_KEY_PATH")
ROUTES = ("/v1/rerank", "/v1/embeddings")
DIMENSIONS = (256, 512, 1024, 2048)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's real key."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class VoyageEmulator(LoopbackEmulator):
    """Loopback Voyage API; ``url`` + ``/v1`` is the client's ``base_url``."""

    name = "voyage"
    fault_paths = ROUTES
    malformed_body = b'{"object": "list", "data": [{"ind'

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
        return {"detail": {429: "Rate limit exceeded (injected).", 400: "Invalid request."}.get(status, message)}

    def reject(self, rec: Recorded) -> Reply | None:
        if rec.method != "POST" or rec.path not in ROUTES:
            return 404, {"detail": "Not Found"}, {}
        if rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"detail": "Provided API key is invalid."}, {}
        return None

    def answer(self, rec: Recorded) -> Reply:
        body = rec.body
        if not isinstance(body, dict):
            return 400, {"detail": "Request body must be a JSON object."}, {}
        return self._rerank(body) if rec.path == "/v1/rerank" else self._embeddings(body)

    def _rerank(self, body: dict[str, Any]) -> Reply:
        query, docs, model, top_k = body.get("query"), body.get("documents"), body.get("model"), body.get("top_k")
        if not isinstance(model, str) or not model.startswith("rerank-"):
            return 400, {"detail": f"Model {model} is not supported for rerank."}, {}
        if not isinstance(query, str) or not query:
            return 400, {"detail": "query must be a non-empty string."}, {}
        if not isinstance(docs, list) or not docs or not all(isinstance(d, str) for d in docs):
            return 400, {"detail": "documents must be a non-empty list of strings."}, {}
        if len(docs) > 1000:
            return 400, {"detail": "The number of documents cannot exceed 1000."}, {}
        if top_k is not None and (not _is_int(top_k) or top_k < 1):
            return 400, {"detail": "top_k must be a positive integer."}, {}
        scored = sorted(((i, float(self.score_fn(query, d))) for i, d in enumerate(docs)), key=lambda p: -p[1])
        if top_k is not None:
            scored = scored[:top_k]
        data: list[dict[str, Any]] = [{"index": i, "relevance_score": s} for i, s in scored]
        if body.get("return_documents"):
            for item in data:
                item["document"] = docs[item["index"]]
        tokens = sum(len(d.split()) + len(query.split()) for d in docs)
        return 200, {"object": "list", "data": data, "model": model, "usage": {"total_tokens": tokens}}, {}

    def _embeddings(self, body: dict[str, Any]) -> Reply:
        texts, model = body.get("input"), body.get("model")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(model, str) or not model.startswith("voyage-"):
            return 400, {"detail": f"Model {model} is not supported for embeddings."}, {}
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return 400, {"detail": "input must be a string or a non-empty list of strings."}, {}
        if len(texts) > 1000:
            return 400, {"detail": "The batch size limit is 1000."}, {}
        if body.get("input_type") not in (None, "query", "document"):
            return 400, {"detail": "input_type must be null, 'query' or 'document'."}, {}
        dims = body.get("output_dimension")
        if dims is not None and dims not in DIMENSIONS:
            return 400, {"detail": f"output_dimension must be one of {list(DIMENSIONS)}."}, {}
        if body.get("output_dtype") not in (None, "float"):
            return 400, {"detail": "this emulator only answers output_dtype float."}, {}
        encoding = body.get("encoding_format")
        if encoding not in (None, "base64"):
            return 400, {"detail": "encoding_format must be null or 'base64'."}, {}
        data = []
        for i, text in enumerate(texts):
            vec = hash_embedding(text, dims or 1024)
            value: Any = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode() if encoding else vec
            data.append({"object": "embedding", "embedding": value, "index": i})
        tokens = sum(len(t.split()) for t in texts)
        return 200, {"object": "list", "data": data, "model": model, "usage": {"total_tokens": tokens}}, {}


@pytest.fixture
def voyage_server() -> Iterator[VoyageEmulator]:
    """A loopback Voyage API emulator (key ``pa-test``), started for this test."""
    with VoyageEmulator() as server:
        yield server
