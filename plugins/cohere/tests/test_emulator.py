"""The loopback ``/v2/rerank`` emulator itself, spoken to with plain httpx: it must answer the
documented shapes, or the reranker tests would prove nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

AUTH = {"Authorization": "Bearer co-test"}


def post(server: Any, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{server.url}/v2/rerank", json=body, headers=AUTH if headers is None else headers)


def test_documented_response_shape(cohere_server: Any) -> None:
    r = post(cohere_server, {"model": "rerank-v3.5", "query": "green tea",
                             "documents": ["coffee", "green tea", "tea"], "top_n": 2})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    data = r.json()
    assert set(data) == {"id", "results", "meta"}
    assert data["results"] == [{"index": 1, "relevance_score": 1.0}, {"index": 2, "relevance_score": 0.5}]
    assert data["meta"]["api_version"]["version"] == "2"


def test_bearer_auth(cohere_server: Any) -> None:
    body = {"model": "rerank-v3.5", "query": "q", "documents": ["d"]}
    assert post(cohere_server, body, headers={}).status_code == 401
    wrong = post(cohere_server, body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json() == {"message": "invalid api token"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"query": "q", "documents": ["d"]}, 400),
        ({"model": "rerank-v3.5", "documents": ["d"]}, 400),
        ({"model": "rerank-v3.5", "query": "q", "documents": []}, 400),
        ({"model": "rerank-v3.5", "query": "q", "documents": [1]}, 400),
        ({"model": "rerank-v3.5", "query": "q", "documents": ["d"], "top_n": 0}, 400),
        ({"model": "embed-v4.0", "query": "q", "documents": ["d"]}, 404),
    ],
)
def test_validation(cohere_server: Any, body: dict[str, Any], status: int) -> None:
    r = post(cohere_server, body)
    assert r.status_code == status and "message" in r.json()


def test_unknown_route(cohere_server: Any) -> None:
    assert httpx.post(f"{cohere_server.url}/v1/rerank", json={}, headers=AUTH).status_code == 404


def test_max_tokens_per_doc_truncates(cohere_server: Any) -> None:
    body = {"model": "rerank-v3.5", "query": "tea", "documents": ["one two tea"], "max_tokens_per_doc": 2}
    assert post(cohere_server, body).json()["results"][0]["relevance_score"] == 0.0


def test_faults(cohere_server: Any) -> None:
    body = {"model": "rerank-v3.5", "query": "q", "documents": ["d"]}
    cohere_server.fail_next(1, status=429, retry_after=2)
    r = post(cohere_server, body)
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    cohere_server.malformed_next(1)
    assert post(cohere_server, body).content == b'{"id": "x", "results": [{"ind'
    cohere_server.drop_next(1)
    with pytest.raises(httpx.RemoteProtocolError):
        post(cohere_server, body)
    assert post(cohere_server, body).status_code == 200
    assert cohere_server.count() == 4 and cohere_server.errors == []
