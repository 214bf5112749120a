"""What a user trial of ``mem7 serve`` found: requests as curl users and mem0 users send them.

Each test drives the real ``mem7 serve`` (the shared module server of ``conftest.py``) over
loopback HTTP, with the mistakes a user coming from curl or from mem0's REST server makes: a body
sent without ``Content-Type: application/json`` (curl's ``-d`` sends a form type), a body that is
not JSON or not UTF-8, and mem0's paths (``POST /search``, ``POST /configure``, ``/v1/...``). Each
answer must say what was wrong and what to send instead, and nothing must be stored.
"""

from __future__ import annotations

import httpx
from _serve import ADMIN, ServeProcess


def client(server: ServeProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)


def stored(http: httpx.Client, user: str) -> list[str]:
    listed = http.get("/memories", params={"user_id": user})
    assert listed.status_code == 200, listed.text
    return [m["memory"] for m in listed.json()["results"]]


def test_a_json_body_without_the_json_content_type_is_400_naming_the_header(rest_server: ServeProcess) -> None:
    """``curl -d '{...}' URL`` sends ``application/x-www-form-urlencoded``: the body is never read as
    JSON, and the answer was FastAPI's "Input should be a valid dictionary", naming no fix."""
    body = b'{"messages": "I am vegetarian", "user_id": "ct-u", "infer": false}'
    with client(rest_server) as http:
        for content_type in ("application/x-www-form-urlencoded", "text/plain"):
            r = http.post("/memories", content=body, headers={"Content-Type": content_type})
            assert r.status_code == 400, r.text
            detail = r.json()["detail"]
            assert "Content-Type: application/json" in detail and content_type in detail, detail
        r = http.post("/memories/search", content=b'{"query": "q", "user_id": "ct-u"}',
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400 and "Content-Type: application/json" in r.json()["detail"], r.text
        assert stored(http, "ct-u") == []
        # The same body with the header is served (and so is one with no Content-Type at all).
        assert http.post("/memories", content=body, headers={"Content-Type": "application/json"}).status_code == 200
        assert stored(http, "ct-u") == ["I am vegetarian"]


def test_a_body_that_is_not_json_is_400_as_documented_saying_where(rest_server: ServeProcess) -> None:
    """docs/server.md: 400 when "the body is not valid JSON". It was a 422 "JSON decode error" at
    ``loc: ["body", 13]``, and a body that is not UTF-8 a 400 "There was an error parsing the body"."""
    json_type = {"Content-Type": "application/json"}
    with client(rest_server) as http:
        truncated = http.post("/memories", content=b'{"messages": ', headers=json_type)
        assert truncated.status_code == 400, truncated.text
        detail = truncated.json()["detail"]
        assert "not valid JSON" in detail and "position 13" in detail and "Expecting value" in detail, detail
        latin1 = http.post("/memories", content='{"messages": "café", "user_id": "nj-u"}'.encode("latin-1"),
                           headers=json_type)
        assert latin1.status_code == 400, latin1.text
        assert "UTF-8" in latin1.json()["detail"] and "JSON" in latin1.json()["detail"], latin1.text
        assert stored(http, "nj-u") == []


def test_mem0_rest_paths_get_a_404_that_names_mem7s_route(rest_server: ServeProcess) -> None:
    """A mem0 user points their REST calls at mem7: most routes are mem0's (``POST /memories``,
    ``GET /memories?user_id=``, ``PUT`` / ``DELETE /memories/{id}``, ``/history``, ``/reset``); the
    ones that differ were a bare ``{"detail": "Not Found"}``."""
    with client(rest_server) as http:
        search = http.post("/search", json={"query": "food", "user_id": "m0-u"})
        assert search.status_code == 404 and "POST /memories/search" in search.json()["detail"], search.text
        configure = http.post("/configure", json={"llm": {"provider": "openai"}})
        assert configure.status_code == 404, configure.text
        assert "--config" in configure.json()["detail"], configure.text
        platform = http.post("/v1/memories/", json={"messages": "x", "user_id": "m0-u"})
        assert platform.status_code == 404 and "/v1/" in platform.json()["detail"], platform.text
        assert "POST /memories" in platform.json()["detail"], platform.text
        other = http.get("/nothing-here")
        assert other.status_code == 404 and "/docs" in other.json()["detail"], other.text
        wrong_method = http.patch("/memories/some-id", json={"text": "x"})
        assert wrong_method.status_code == 405, wrong_method.text
        assert "PATCH" in wrong_method.json()["detail"] and "PUT" in wrong_method.json()["detail"], wrong_method.text
        # mem0's add body is mem7's: it works unchanged.
        added = http.post("/memories", json={"messages": [{"role": "user", "content": "I like tea"}],
                                             "user_id": "m0-u", "metadata": {"src": "mem0"}, "infer": False})
        assert added.status_code == 200, added.text
        assert stored(http, "m0-u") == ["I like tea"]
        # An unknown memory id is still the engine's own 404, not a route hint.
        assert http.get("/memories/nope").json()["detail"] == "Memory 'nope' not found"
        # A search sent as GET reaches the get-by-id route: its 404 says where search is.
        as_get = http.get("/memories/search", params={"query": "tea", "user_id": "m0-u"})
        assert as_get.status_code == 404 and "POST /memories/search" in as_get.json()["detail"], as_get.text


def test_top_k_is_mem0s_name_for_limit_in_search_and_list(rest_server: ServeProcess) -> None:
    """A mem0 user sends ``top_k`` (the Python API already took it): it limits, as ``limit`` does;
    both, disagreeing, is a 422 naming both; it was a 422 "extra inputs are not permitted"."""
    with client(rest_server) as http:
        for i in range(4):
            add = http.post("/memories", json={"messages": f"I keep tool number {i} in the shed", "user_id": "tk-u",
                                               "infer": False})
            assert add.status_code == 200, add.text
        found = http.post("/memories/search", json={"query": "tool in the shed", "user_id": "tk-u", "top_k": 2})
        assert found.status_code == 200, found.text
        assert len(found.json()["results"]) == 2
        same = http.post("/memories/search", json={"query": "tool", "user_id": "tk-u", "top_k": 3, "limit": 3})
        assert same.status_code == 200 and len(same.json()["results"]) == 3, same.text
        both = http.post("/memories/search", json={"query": "tool", "user_id": "tk-u", "top_k": 2, "limit": 3})
        assert both.status_code == 422, both.text
        assert "top_k" in both.text and "limit" in both.text, both.text
        listed = http.get("/memories", params={"user_id": "tk-u", "top_k": 1})
        assert listed.status_code == 200 and len(listed.json()["results"]) == 1, listed.text
