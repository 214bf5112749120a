"""A loopback emulator of Cohere's ``POST /v2/rerank``, and the fixtures of this plugin's tests.

The emulator is a stdlib HTTP/1.1 server (keep-alive) on 127.0.0.1 in a background thread, so the
real ``cohere`` client talks real HTTP to it. It follows the documented v2 rerank API:

Request ``POST /v2/rerank`` with ``Authorization: Bearer <key>`` and a JSON body::

    {"model": "rerank-v3.5", "query": "...", "documents": ["...", ...],
     "top_n": 3,                 # optional, >= 1: at most this many results
     "max_tokens_per_doc": 4096} # optional, >= 1: each document truncated to this many tokens

Response 200::

    {"id": "<uuid>",
     "results": [{"index": 2, "relevance_score": 0.93}, ...],   # best first, at most top_n
     "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}}

Errors are ``{"message": "..."}`` with the status: 400 (bad body: missing model/query, empty or
non-string documents, bad top_n), 401 (missing or wrong bearer token), 404 (unknown route, or a
model not named ``rerank-*``), and whatever a test injects (429 with ``Retry-After``, 5xx...).

Scores are deterministic: the share of the query's words found in the document (words are
lower-cased ``\\w+`` runs, a "token" for ``max_tokens_per_doc`` is one word), unless a test sets
``score_fn(query, document) -> float``. Ties keep the input order.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mem7_core.testing.emulator import LoopbackEmulator, Recorded, Reply

ENV_VARS = ("CO_API_KEY", "COHERE_API_KEY", "CO_API_URL")
_WORD = re.compile(r"\w+")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's real key or endpoint."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def lexical_score(query: str, document: str) -> float:
    """The emulator's default relevance: the share of the query's distinct words in the document."""
    q = set(words(query))
    return len(q & set(words(document))) / len(q) if q else 0.0


class CohereEmulator(LoopbackEmulator):
    """Loopback ``POST /v2/rerank``; ``url`` is the ``base_url`` for the cohere client."""

    name = "cohere"
    fault_paths = ("/v2/rerank",)
    malformed_body = b'{"id": "x", "results": [{"ind'

    def __init__(self, *, api_key: str = "co-test", host: str = "127.0.0.1") -> None:
        super().__init__(host=host)
        self.api_key = api_key
        self.score_fn: Callable[[str, str], float] = lexical_score

    def count(self, path: str | None = "/v2/rerank", method: str | None = None) -> int:
        """Requests received on ``/v2/rerank`` (by default)."""
        return super().count(path, method)

    def fault_body(self, status: int) -> Any:
        message = {429: "You are using a Trial key, which is limited to 10 API calls / minute.",
                   400: "invalid request"}.get(status, "internal server error (injected)")
        return {"message": message}

    def reject(self, rec: Recorded) -> Reply | None:
        if rec.method != "POST" or rec.path != "/v2/rerank":
            return self.not_found(rec)
        auth = rec.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] != self.api_key:
            return 401, {"message": "invalid api token"}, {}
        return None

    def answer(self, rec: Recorded) -> Reply:
        return self._rerank(rec.body)

    def _rerank(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict):
            return 400, {"message": "invalid request: body must be a JSON object"}, {}
        model, query, docs = body.get("model"), body.get("query"), body.get("documents")
        if not isinstance(model, str) or not model:
            return 400, {"message": "invalid request: model is required"}, {}
        if not model.startswith("rerank-"):
            return 404, {"message": f"model '{model}' not found, make sure the correct model ID was used"}, {}
        if not isinstance(query, str) or not query.strip():
            return 400, {"message": "invalid request: query must not be empty"}, {}
        if not isinstance(docs, list) or not docs:
            return 400, {"message": "invalid request: list of documents must not be empty"}, {}
        if not all(isinstance(d, str) for d in docs):
            return 400, {"message": "invalid request: documents must be strings"}, {}
        top_n = body.get("top_n")
        if top_n is not None and (not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1):
            return 400, {"message": "invalid request: top_n must be a positive integer"}, {}
        max_tokens = body.get("max_tokens_per_doc")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            return 400, {"message": "invalid request: max_tokens_per_doc must be a positive integer"}, {}
        if max_tokens is not None:
            docs = [" ".join(words(d)[:max_tokens]) for d in docs]
        scored = [(i, float(self.score_fn(query, d))) for i, d in enumerate(docs)]
        scored.sort(key=lambda p: -p[1])  # stable: ties keep the input order
        if top_n is not None:
            scored = scored[:top_n]
        return 200, {
            "id": str(uuid.uuid4()),
            "results": [{"index": i, "relevance_score": s} for i, s in scored],
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
        }, {}


@pytest.fixture
def cohere_server() -> Iterator[CohereEmulator]:
    """A loopback ``/v2/rerank`` emulator (key ``co-test``), started for this test."""
    with CohereEmulator() as server:
        yield server
