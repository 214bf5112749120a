"""End to end over HTTP: the engine, the mem7-openai plugin and the real ``openai`` client, against
the loopback OpenAI-compatible server (``openai_server`` fixture). No mocks between engine and wire.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from mem7_core import AsyncMemory, Memory
from mem7_core.errors import ProviderError
from mem7_core.providers.tasks import FACT_EXTRACTION_MARKER, UPDATE_MEMORY_MARKER

ENV_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_VERSION", "MEM7_CONFIG")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def openai_config(base_url: str, **extra: Any) -> dict[str, Any]:
    conn = {"base_url": base_url, "api_key": "test", "max_retries": 0, "timeout": 5.0}
    return {
        "llm": {"provider": "openai", "config": {**conn, "model": "gpt-4.1-nano"}},
        "embedder": {"provider": "openai", "config": {**conn, "model": "text-embedding-3-small", "embedding_dims": 256}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
        **extra,
    }


def _system(req: Any) -> str:
    return next(m["content"] for m in req.body["messages"] if m["role"] == "system")


async def test_add_infer_then_search_over_http(openai_server):
    srv = openai_server
    async with AsyncMemory(openai_config(srv.url)) as mem:
        assert mem.llm.name == "openai" and mem.embedder.name == "openai"

        res = await mem.add("My name is Alice. I love hiking in the Alps.", user_id="alice")
        added = sorted(a["memory"] for a in res["results"])
        assert added == ["I love hiking in the Alps", "My name is Alice"]
        assert all(a["event"] == "ADD" for a in res["results"])
        # no existing memories: one extraction call, one batched embedding, no update call
        assert srv.count("chat") == 1
        assert srv.count("embeddings") == 1
        extraction = srv.last_request("chat")
        assert _system(extraction).startswith(FACT_EXTRACTION_MARKER)
        assert extraction.body["response_format"] == {"type": "json_object"}
        assert extraction.body["model"] == "gpt-4.1-nano"
        assert srv.last_request("embeddings").body["input"] == ["My name is Alice", "I love hiking in the Alps"]
        assert srv.last_request("embeddings").body["dimensions"] == 256
        assert srv.last_request("chat").headers["authorization"] == "Bearer test"

        found = await mem.search("hiking in the Alps", user_id="alice", limit=1)
        assert [i["memory"] for i in found["results"]] == ["I love hiking in the Alps"]
        assert found["results"][0]["memory_type"] == "preference"
        assert srv.count("embeddings") == 2 and srv.count("chat") == 1  # search: one embedding, no LLM

        # with candidates in store: exactly 2 chat calls (extract + decide) and 1 embedding batch
        chat0, emb0 = srv.count("chat"), srv.count("embeddings")
        res = await mem.add("I work as a nurse in Lyon.", user_id="alice")
        assert [a["memory"] for a in res["results"]] == ["I work as a nurse in Lyon"]
        assert srv.count("chat") - chat0 == 2
        assert srv.count("embeddings") - emb0 == 1
        update = srv.last_request("chat")
        assert _system(update).startswith(UPDATE_MEMORY_MARKER)
        assert update.body["temperature"] == 0.0
        user_msg = next(m["content"] for m in update.body["messages"] if m["role"] == "user")
        for mem_id in (i["id"] for i in (await mem.get_all(user_id="alice"))["results"]):
            assert mem_id not in user_msg  # candidates shown by small integer ids, never UUIDs

        # the same fact again: the LLM says NONE; nothing new stored
        res = await mem.add("I work as a nurse in Lyon.", user_id="alice")
        assert res["results"] == []
        listed = await mem.get_all(user_id="alice")
        assert sorted(i["memory"] for i in listed["results"]) == [
            "I love hiking in the Alps", "I work as a nurse in Lyon", "My name is Alice"
        ]
        assert (await mem.search("nurse", user_id="bob"))["results"] == []
        assert srv.errors == []


async def test_scripted_update_decision_over_http(openai_server):
    srv = openai_server
    async with AsyncMemory(openai_config(srv.url)) as mem:
        first = await mem.add("I live in Paris.", user_id="alice")
        mid = first["results"][0]["id"]
        srv.script([
            {"facts": [{"text": "Lives in Lisbon since May", "category": "factual"}]},
            {"memory": [{"id": "0", "text": "Lives in Lisbon since May", "event": "UPDATE", "old_memory": "I live in Paris"}]},
        ])
        res = await mem.add("I moved to Lisbon in May.", user_id="alice")
        assert [(a["event"], a["id"], a["old_value"], a["new_value"]) for a in res["results"]] == [
            ("UPDATE", mid, "I live in Paris", "Lives in Lisbon since May")
        ]
        item = await mem.get(mid)
        assert item["memory"] == "Lives in Lisbon since May"
        hist = await mem.history(mid)
        assert [(e["event"], e["old_memory"]) for e in hist] == [("ADD", None), ("UPDATE", "I live in Paris")]


async def test_server_down_raises_provider_error_and_stores_nothing(openai_server):
    srv = openai_server
    async with AsyncMemory(openai_config(srv.url)) as mem:
        srv.stop()
        with pytest.raises(ProviderError) as info:
            await mem.add("My name is Alice.", user_id="alice")
        assert info.value.provider == "openai"
        assert "openai" in str(info.value)
        assert (await mem.get_all(user_id="alice"))["results"] == []
        # search needs the embedder, which is down too
        with pytest.raises(ProviderError, match="openai"):
            await mem.search("Alice", user_id="alice")


def _closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def test_closed_port_raises_provider_error_and_stores_nothing():
    async with AsyncMemory(openai_config(_closed_port_url())) as mem:
        with pytest.raises(ProviderError) as info:
            await mem.add([{"role": "user", "content": "I like tea."}], user_id="alice")
        assert info.value.provider == "openai"
        with pytest.raises(ProviderError, match="openai"):
            await mem.add("I like tea.", user_id="alice", infer=False)  # embedder down as well
        assert (await mem.get_all(user_id="alice"))["results"] == []


async def test_embedder_failure_mid_add_stores_nothing(openai_server):
    srv = openai_server
    async with AsyncMemory(openai_config(srv.url)) as mem:
        srv.fail_next(1, status=500, endpoint="embeddings")
        with pytest.raises(ProviderError, match="openai"):
            await mem.add("My name is Alice.", user_id="alice")
        assert srv.count("chat") == 1  # extraction happened, then the embedding failed
        assert (await mem.get_all(user_id="alice"))["results"] == []


def test_sync_memory_over_http(openai_server):
    srv = openai_server
    with Memory(openai_config(srv.url)) as m:
        res = m.add("My name is Alice. I love hiking in the Alps.", user_id="alice")
        assert sorted(a["memory"] for a in res["results"]) == ["I love hiking in the Alps", "My name is Alice"]
        found = m.search("hiking", user_id="alice", limit=1)
        assert found["results"][0]["memory"] == "I love hiking in the Alps"
        mid = found["results"][0]["id"]
        assert m.get(mid)["memory"] == "I love hiking in the Alps"
        m.update(mid, "I love hiking in the Dolomites")
        assert [e["event"] for e in m.history(mid)] == ["ADD", "UPDATE"]
        assert len(m.get_all(user_id="alice")["results"]) == 2
        m.delete_all(user_id="alice")
        assert m.get_all(user_id="alice")["results"] == []
        assert srv.count("chat") == 1
        assert srv.count("embeddings") == 3  # add batch, search query, update text
    with pytest.raises(RuntimeError, match="closed"):
        m.search("x", user_id="alice")
