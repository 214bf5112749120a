"""``add``'s ``timestamp`` through the servers (issue #18): the REST body's ``timestamp`` and the MCP
``add_memory`` tool's argument date the memories, history carries ``stated_at``, and bad values are
refused naming the field. In process: FastAPI's TestClient, the MCP SDK's in-process client."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mem7_core.config import MemoryConfig
from mem7_core.engine.memory import AsyncMemory

pytest.importorskip("fastapi", reason="the REST server needs mem7-core[server]")

NOW = datetime(2026, 1, 10, 9, 30, tzinfo=UTC)
SAID = "2023-05-08T13:56:00+00:00"
BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}


def test_rest_add_takes_timestamp_and_history_shows_both_times() -> None:
    from fastapi.testclient import TestClient

    from mem7_core.server.rest import create_app

    app = create_app(MemoryConfig.model_validate(BASE), memory=AsyncMemory(BASE, clock=lambda: NOW))
    with TestClient(app) as http:
        r = http.post("/memories", json={"messages": "I moved to Paris", "user_id": "u", "infer": False,
                                          "timestamp": "2023-05-08T13:56:00"})
        assert r.status_code == 200, r.text
        (added,) = r.json()["results"]
        item = http.get(f"/memories/{added['id']}").json()
        assert item["created_at"] == item["updated_at"] == SAID
        (event,) = http.get(f"/memories/{added['id']}/history").json()
        assert event["created_at"] == NOW.isoformat() and event["stated_at"] == SAID
        r = http.post("/memories", json={"messages": "I moved to Rome", "user_id": "u", "infer": False,
                                          "timestamp": 1683554160})
        assert http.get(f"/memories/{r.json()['results'][0]['id']}").json()["created_at"] == SAID
        r = http.post("/memories", json={"messages": "plain", "user_id": "u", "infer": False})
        (event,) = http.get(f"/memories/{r.json()['results'][0]['id']}/history").json()
        assert "stated_at" not in event  # the history shape without a timestamp is unchanged
        for bad, says in ((1683554160000, "divide by 1000"), (True, "ISO-8601"), ("last tuesday", "ISO-8601")):
            r = http.post("/memories", json={"messages": "x", "user_id": "u", "infer": False, "timestamp": bad})
            assert r.status_code == 422, r.text
            (err,) = r.json()["detail"]
            assert err["loc"][-1] == "timestamp" and says in err["msg"]
        assert len(http.get("/memories", params={"user_id": "u"}).json()["results"]) == 3
        schema = http.get("/openapi.json").json()["components"]["schemas"]["AddRequest"]["properties"]
        assert "timestamp" in schema


async def test_mcp_add_memory_takes_timestamp(tmp_path: Any) -> None:
    mcp = pytest.importorskip("mcp", reason="the MCP server needs mem7-core[mcp]")
    client_cls = getattr(mcp, "Client", None)
    if client_cls is None:
        pytest.skip("an in-process MCP client needs mcp >= 2")
    from mem7_core.server.mcp import build_server

    config = MemoryConfig.model_validate({**BASE, "history_store": {"provider": "sqlite",
                                                                    "config": {"path": str(tmp_path / "h.db")}}})
    async with client_cls(build_server(config)) as client:
        result = await client.call_tool("add_memory", {"text": "I moved to Paris", "user_id": "zoe",
                                                       "timestamp": "2023-05-08T13:56:00Z"})
        assert not result.is_error, result.content
        listed = await client.call_tool("list_memories", {"user_id": "zoe"})
        (item,) = json.loads("".join(getattr(c, "text", "") for c in listed.content))["results"]
        assert item["created_at"] == item["updated_at"] == SAID
        bad = await client.call_tool("add_memory", {"text": "x", "user_id": "zoe", "timestamp": 1683554160000})
        assert bad.is_error and "divide by 1000" in "".join(getattr(c, "text", "") for c in bad.content)
