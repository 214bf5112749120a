"""Issue 16, findings 5 and 6: provider time budgets and error classes.

- An LLM that never answers fails the operation within its time budget (``operation_timeout_secs``
  / ``llm.config.deadline``) with a 504 JSON body, after one attempt (a timed-out request is not
  asked again five more times).
- A malformed HTTP body from the LLM is retried like other transient errors.
- A store that cannot write (disk full, read-only) answers 507 JSON naming the store, not a
  plain-text 500 or a 422 about the request; a read-only data dir is refused at startup with a
  ``ConfigError`` naming ``vector_store.config.path``.

REST runs in process (``TestClient``); the LLM is the loopback OpenAI server, told to hang or to
send garbage. Wall-clock bounds are generous.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from mem7_core import AsyncMemory
from mem7_core.config import MemoryConfig
from mem7_core.errors import (
    ConfigError,
    ProviderError,
    ProviderTimeoutError,
    StorageError,
)
from mem7_core.testing.openai_server import Fault, OpenAIServer

pytest.importorskip("fastapi", reason="the REST server needs mem7-core[server]")
from fastapi.testclient import TestClient

from mem7_core.server.rest import create_app

ENV_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_VERSION", "MEM7_CONFIG")
HANG = 120.0
"""Seconds the loopback LLM waits before answering: "never", for these tests."""
SLACK = 10.0
"""Generous allowance over a budget (slow CI machines)."""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def config(llm_url: str | None = None, *, path: Path | None = None, llm: dict[str, Any] | None = None,
           **extra: Any) -> MemoryConfig:
    data: dict[str, Any] = {
        "llm": None,
        "embedder": {"provider": "hash", "config": {}},
        "vector_store": {"provider": "flat", "config": {"path": str(path)} if path else {}},
        "history_store": {"provider": "auto", "config": {} if path else {"path": ":memory:"}},
        **extra,
    }
    if llm_url is not None:
        data["llm"] = {"provider": "openai", "config": {"base_url": llm_url, "api_key": "test", **(llm or {})}}
    return MemoryConfig.model_validate(data)


def rest(cfg: MemoryConfig) -> TestClient:
    return TestClient(create_app(cfg), base_url="http://127.0.0.1")


# ------------------------------------------------------------------------------------ time budgets
def test_llm_that_never_answers_fails_within_the_operation_budget(openai_server: OpenAIServer) -> None:
    # The provider's own defaults would allow 6 attempts x 60 s; the operation's budget wins.
    cfg = config(openai_server.url, llm={"max_retries": 5, "timeout": 60.0}, operation_timeout_secs=1.5)
    openai_server.inject(Fault(status=200, delay=HANG, endpoint="chat", times=10))
    with rest(cfg) as http:
        started = time.monotonic()
        r = http.post("/memories", json={"messages": "I love hiking in the Alps", "user_id": "alice"})
        elapsed = time.monotonic() - started
        assert r.status_code == 504, r.text
        body = r.json()
        assert body["provider"] and "time budget" in body["detail"], body
        assert elapsed < 1.5 + SLACK
        assert openai_server.count("chat") == 1  # the timed-out request was not asked again
        assert http.get("/memories", params={"user_id": "alice"}).json()["results"] == []  # nothing stored


async def test_provider_deadline_bounds_one_call_and_its_retries(openai_server: OpenAIServer) -> None:
    """Without an engine around it, ``llm.config.deadline`` is the call's budget."""
    cfg = config(openai_server.url, llm={"max_retries": 5, "timeout": 60.0, "deadline": 1.0})
    openai_server.inject(Fault(status=200, delay=HANG, endpoint="chat", times=10))
    async with AsyncMemory(cfg) as mem:
        assert mem.llm is not None
        started = time.monotonic()
        with pytest.raises(ProviderTimeoutError, match="deadline") as info:
            await mem.llm.generate([{"role": "user", "content": "hi"}])
        assert time.monotonic() - started < 1.0 + SLACK
        assert info.value.retryable
    assert openai_server.count("chat") == 1


async def test_request_timeouts_are_retried_only_within_the_budget(openai_server: OpenAIServer) -> None:
    # 0.3 s per request, a 1.5 s budget, 10 retries allowed: a few attempts, then the budget ends it.
    cfg = config(openai_server.url, llm={"max_retries": 10, "timeout": 0.3, "retry_backoff": 0.0, "deadline": 1.5})
    openai_server.inject(Fault(status=200, delay=HANG, endpoint="chat", times=50))
    async with AsyncMemory(cfg) as mem:
        assert mem.llm is not None
        started = time.monotonic()
        with pytest.raises(ProviderTimeoutError):
            await mem.llm.generate([{"role": "user", "content": "hi"}])
        assert time.monotonic() - started < 1.5 + SLACK
    assert 1 <= openai_server.count("chat") <= 6


def test_malformed_llm_body_once_then_a_good_one_succeeds(openai_server: OpenAIServer) -> None:
    # The engine's own retry is off: the provider retries the bad body like any transient error.
    cfg = config(openai_server.url, llm={"retry_backoff": 0.0}, llm_retries=0)
    openai_server.malformed_next(1, body=b'{"id": "chatcmpl-x", "choices": [', endpoint="chat")
    with rest(cfg) as http:
        r = http.post("/memories", json={"messages": "My name is Alice. I love hiking.", "user_id": "alice"})
        assert r.status_code == 200, r.text
        assert r.json()["results"]
    assert openai_server.count("chat") == 2


# ------------------------------------------------------------------------------------ storage errors
def test_disk_full_under_the_flat_store_is_507_json_naming_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mem7_flat._db import StoreDB

    def full(*args: Any, **kwargs: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    with rest(config(path=tmp_path / "vectors")) as http:
        assert http.post("/memories", json={"messages": "first", "user_id": "alice", "infer": False}).status_code == 200
        monkeypatch.setattr(StoreDB, "put_row", staticmethod(full))
        r = http.post("/memories", json={"messages": "second", "user_id": "alice", "infer": False})
        assert r.status_code == 507, r.text
        body = r.json()
        assert body["store"] == "vector_store:flat" and "no space left" in body["detail"], body
        monkeypatch.undo()
        listed = http.get("/memories", params={"user_id": "alice"}).json()["results"]
        assert [m["memory"] for m in listed] == ["first"]  # nothing of the failed write was kept


def test_read_only_database_found_by_a_write_is_507_not_422(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mem7_flat._db import StoreDB

    def readonly(*args: Any, **kwargs: Any) -> None:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    with rest(config(path=tmp_path / "vectors")) as http:
        monkeypatch.setattr(StoreDB, "log_change", staticmethod(readonly))
        r = http.post("/memories", json={"messages": "hello", "user_id": "alice", "infer": False})
        assert r.status_code == 507, r.text
        assert r.json()["store"] == "vector_store:flat" and "read-only" in r.json()["detail"]


def test_sqlite_history_disk_full_is_a_storage_error(tmp_path: Path) -> None:
    from mem7_core.history.sqlite import SQLiteHistoryStore

    store = SQLiteHistoryStore(SQLiteHistoryStore.Config(path=str(tmp_path / "h.db")))

    def full(conn: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    with pytest.raises(StorageError, match="no space left") as info:
        store._run(full)
    assert info.value.store == "history_store:sqlite" and "history_store.config.path" in str(info.value)


def test_read_only_data_dir_is_a_config_error_at_startup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "vectors"
    with rest(config(path=data)) as http:  # a store written once
        assert http.post("/memories", json={"messages": "hello", "user_id": "alice", "infer": False}).status_code == 200
    real_access = os.access

    def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:  # the data dir made read-only
        if mode & os.W_OK and str(path).startswith(str(data)):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    with pytest.raises(ConfigError, match=r"vector_store\.config\.path") as info:
        AsyncMemory(config(path=data))
    assert "history_store" not in str(info.value)
    with pytest.raises(ConfigError, match=r"vector_store\.config\.path"), rest(config(path=data)):
        pass


def test_unwritable_sqlite_history_found_by_a_request_is_507_not_422(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 16: this answered 422 with ``loc: body.history_store`` (a server-side problem blamed on
    # the request). Still a ConfigError for Python callers; REST answers 507 naming the store.
    history = tmp_path / "hist" / "history.db"
    cfg = MemoryConfig.model_validate({
        "llm": None, "embedder": {"provider": "hash", "config": {}}, "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": str(history)}},
    })
    real_access = os.access

    def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
        if mode & os.W_OK and str(path).startswith(str(history.parent)):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    with rest(cfg) as http:
        r = http.post("/memories", json={"messages": "hello", "user_id": "alice", "infer": False})
        assert r.status_code == 507, r.text
        assert r.json()["store"] == "history_store:sqlite" and "not writable" in r.json()["detail"]


async def test_a_backoff_longer_than_the_budget_fails_at_once_with_the_servers_answer(
    openai_server: OpenAIServer,
) -> None:
    cfg = config(openai_server.url, llm={"max_retries": 5, "deadline": 1.0})
    openai_server.fail_next(10, status=429, retry_after=30, endpoint="chat")
    async with AsyncMemory(cfg) as mem:
        assert mem.llm is not None
        started = time.monotonic()
        with pytest.raises(ProviderError, match="rate limited") as info:
            await mem.llm.generate([{"role": "user", "content": "hi"}])
        assert time.monotonic() - started < 1.0 + SLACK
        assert info.value.retryable and not isinstance(info.value, ProviderTimeoutError)
    assert openai_server.count("chat") == 1
