"""Group 7 — bad configuration and unreachable services: an unknown provider, a wrong field, a
missing key, a server that is down, slow (timeout), rate-limiting (429), rejecting the key or
answering garbage — each is one clear error naming the provider and the fix; a failed construction
leaves nothing open (no file descriptor, no thread); a failing call leaves the store unchanged and
the engine usable; retries are bounded, counted at the loopback server.

Pinned at the provider level in plugins/openai/tests/test_openai_llm.py (429 then success, Retry-After
honoured, a long Retry-After not waited for, 4xx not retried, timeouts) and through the engine in
tests/test_engine_e2e_openai.py (server stopped mid-session, embedder failing mid-add). Closing of
already-built providers on a failed build: tests/test_engine_search.py::test_failed_construction_*.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _kit import config, records

from mem7_core import AsyncMemory, Memory
from mem7_core.errors import ConfigError, LLMOutputError, ProviderError, ProviderNotFoundError
from mem7_core.testing.openai_server import Fault, OpenAIServer


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _engine_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "mem7-engine-loop")


def _persisted(tmp_path: Path, **over: Any) -> dict[str, Any]:
    return config(tmp_path / "data", **over)


# -------------------------------------------------------------------------------- configuration
@pytest.mark.parametrize("section", ["llm", "embedder", "vector_store", "history_store", "reranker"])
@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
def test_unknown_provider_is_named_with_the_pip_install_and_nothing_stays_open(tmp_path, section, sync):
    cfg = _persisted(tmp_path, **{section: {"provider": "vectr0n"}})
    with pytest.raises(ProviderNotFoundError):  # warm-up: one-time imports and registry loading
        AsyncMemory(cfg)
    fds, threads = _fds(), _engine_threads()
    with pytest.raises(ProviderNotFoundError) as info:
        Memory(cfg) if sync else AsyncMemory(cfg)
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert f"No {section} provider named 'vectr0n'" in msg and "Installed:" in msg
    assert "No plugin of mem7's own provides 'vectr0n'" in msg and "mem7-vectr0n" not in msg  # no guessed distribution
    assert _fds() == fds, "a failed construction left a file open"
    for _ in range(100):  # the sync facade's loop thread is joined on failure
        if _engine_threads() == threads:
            break
        time.sleep(0.01)
    assert _engine_threads() == threads


BAD_FIELDS = {
    "llm-field-typo": ({"llm": {"provider": "openai", "config": {"api_key": "sk-x", "modle": "gpt-4.1"}}}, ["'openai'", "llm.config.modle"]),
    "llm-wrong-type": ({"llm": {"provider": "openai", "config": {"api_key": "sk-x", "timeout": "soon"}}}, ["'openai'", "llm.config.timeout"]),
    "embedder-typo": ({"embedder": {"provider": "hash", "config": {"dimz": 8}}}, ["'hash'", "embedder.config.dimz"]),
    "embedder-range": ({"embedder": {"provider": "hash", "config": {"dims": 2}}}, ["'hash'", "embedder.config.dims"]),
    "store-typo": ({"vector_store": {"provider": "flat", "config": {"colection_name": "x"}}}, ["'flat'", "vector_store.config.colection_name"]),
    "store-bad-name": ({"vector_store": {"provider": "flat", "config": {"collection_name": "../x"}}}, ["'flat'", "collection_name"]),
    "history-typo": ({"history_store": {"provider": "sqlite", "config": {"pth": "x.db"}}}, ["'sqlite'", "history_store.config.pth"]),
    "top-level-typo": ({"vector_stor": {"provider": "flat"}}, ["vector_stor"]),
    "decay-range": ({"decay": {"enabled": True, "decay_shape": 3}}, ["decay_shape"]),
    "retrieval-mode": ({"retrieval": {"mode": "fuzzy"}}, ["retrieval", "mode"]),
    "llm-retries-range": ({"llm_retries": 99}, ["llm_retries"]),
    "telemetry-protocol": ({"telemetry": {"enabled": True, "otlp_protocol": "udp"}}, ["telemetry.otlp_protocol", "grpc"]),
    "graph-store-typo": ({"graph_store": {"provider": "flat", "config": {"pth": "x"}}}, ["'flat'", "graph_store.config.pth"]),
    "graph-llm-typo": ({"graph_store": {"provider": "flat", "llm": {"provider": "openai", "config": {"api_key": "k", "modle": "m"}}}},
                       ["'openai'", "graph_store.llm.config.modle"]),
}


@pytest.mark.parametrize(("over", "needles"), BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_wrong_field_is_one_config_error_naming_provider_and_field(tmp_path, over, needles):
    fds = _fds()
    with pytest.raises(ConfigError) as info:
        AsyncMemory(_persisted(tmp_path, **over))
    for needle in needles:
        assert needle in str(info.value)
    assert _fds() == fds


@pytest.mark.parametrize("kind", ["file", "missing-parent-under-a-file"])
def test_unusable_flat_path_is_a_config_error_naming_the_fix(tmp_path, kind):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    path = blocker if kind == "file" else blocker / "sub"
    with pytest.raises(ConfigError) as info:
        AsyncMemory(config(vector_store={"provider": "flat", "config": {"path": str(path)}}))
    msg = str(info.value)
    assert "vector_store flat" in msg and str(path) in msg and "writable directory" in msg


async def test_unusable_history_path_is_a_config_error_and_nothing_is_stored(tmp_path):
    (tmp_path / "dir.db").mkdir()
    async with AsyncMemory(config(history_store={"provider": "sqlite", "config": {"path": str(tmp_path / "dir.db")}})) as mem:
        with pytest.raises(ConfigError, match=r"history_store sqlite.*is a directory"):
            await mem.add("I like tea", user_id="u", infer=False)
        assert await records(mem) == {}


MISSING_KEYS = {
    "openai-llm": ({"llm": {"provider": "openai"}}, ["openai llm", "OPENAI_API_KEY", "llm.config.api_key"]),
    "openai-embedder": ({"embedder": {"provider": "openai"}}, ["openai embedder", "OPENAI_API_KEY", "embedder.config.api_key"]),
    "groq-llm": ({"llm": {"provider": "groq"}}, ["groq llm", "GROQ_API_KEY", "llm.config.api_key"]),
    "azure-llm": ({"llm": {"provider": "azure", "config": {"api_key": "k"}}}, ["azure llm", "AZURE_OPENAI_ENDPOINT", "azure_endpoint"]),
    "cohere-reranker": ({"reranker": {"provider": "cohere"}}, ["cohere reranker", "CO_API_KEY", "reranker.config.api_key"]),
}


@pytest.mark.parametrize(("over", "needles"), MISSING_KEYS.values(), ids=MISSING_KEYS.keys())
def test_missing_key_names_the_variable_and_the_field(tmp_path, over, needles):
    fds = _fds()
    with pytest.raises(ConfigError) as info:
        AsyncMemory(_persisted(tmp_path, **over))
    for needle in needles:
        assert needle in str(info.value)
    assert _fds() == fds


# ------------------------------------------------------------------------------- services
MAX_RETRIES = 2  # the openai plugin's own retries per call
LLM_RETRIES = 1  # the engine's re-asks of an LLM call


def openai_config(base_url: str, *, api_key: str = "sk-test", timeout: float = 5.0) -> dict[str, Any]:
    conn = {"base_url": base_url, "api_key": api_key, "max_retries": MAX_RETRIES, "retry_backoff": 0.0, "timeout": timeout}
    return config(
        llm={"provider": "openai", "config": conn},
        embedder={"provider": "openai", "config": {**conn, "embedding_dims": 64}},
        llm_retries=LLM_RETRIES,
    )


ATTEMPTS = (1 + MAX_RETRIES) * (1 + LLM_RETRIES)
"""Chat requests one failing add() may make: the provider's retries, times the engine's re-asks."""


def _closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def test_server_down_is_one_provider_error_naming_openai_and_the_url():
    url = _closed_port_url()
    async with AsyncMemory(openai_config(url)) as mem:
        for call in (lambda: mem.add("I like tea.", user_id="u"), lambda: mem.add("I like tea.", user_id="u", infer=False),
                     lambda: mem.search("tea", user_id="u")):
            with pytest.raises(ProviderError) as info:
                await call()
            assert info.value.provider == "openai"
            assert url in str(info.value) and "unreachable" in str(info.value) and "Is the server running?" in str(info.value)
        assert await records(mem) == {}


async def test_dropped_connections_are_retried_a_bounded_number_of_times(openai_server):
    openai_server.drop_next(1000, endpoint="chat")
    async with AsyncMemory(openai_config(openai_server.url)) as mem:
        with pytest.raises(ProviderError, match="openai"):
            await mem.add("I like tea.", user_id="u")
        assert openai_server.count("chat") == ATTEMPTS
        assert openai_server.count("embeddings") == 0 and await records(mem) == {}


async def test_timeout_is_one_provider_error_with_bounded_requests(openai_server):
    openai_server.inject(Fault(status=200, body={}, delay=2.0, endpoint="chat", times=1000))
    start = time.monotonic()
    async with AsyncMemory(openai_config(openai_server.url, timeout=0.1)) as mem:
        with pytest.raises(ProviderError) as info:
            await mem.add("I like tea.", user_id="u")
        assert info.value.provider == "openai" and "timed out" in str(info.value) and "timeout 0.1s" in str(info.value)
        assert openai_server.count("chat") == ATTEMPTS
        assert await records(mem) == {}
    assert time.monotonic() - start < 10, "a timeout must not hang the caller"


async def test_rate_limit_429_is_bounded_then_clear_and_the_engine_stays_usable(openai_server):
    openai_server.fail_next(1000, status=429, retry_after=0, endpoint="chat")
    async with AsyncMemory(openai_config(openai_server.url)) as mem:
        with pytest.raises(ProviderError) as info:
            await mem.add("I like tea.", user_id="u")
        assert info.value.provider == "openai" and "rate limited (429)" in str(info.value)
        assert not isinstance(info.value, LLMOutputError)
        assert openai_server.count("chat") == ATTEMPTS
        assert await records(mem) == {}
        openai_server.reset()  # the limit lifts: the same engine works
        out = await mem.add("I like tea.", user_id="u")
        assert [r["memory"] for r in out["results"]] == ["I like tea"]


async def test_transient_429_is_retried_and_succeeds(openai_server):
    openai_server.fail_next(MAX_RETRIES, status=429, retry_after=0, endpoint="chat")
    async with AsyncMemory(openai_config(openai_server.url)) as mem:
        out = await mem.add("I like tea.", user_id="u")
        assert [r["memory"] for r in out["results"]] == ["I like tea"]
        assert openai_server.count("chat") == 1 + MAX_RETRIES


async def test_wrong_key_says_check_the_key_and_is_not_retried():
    with OpenAIServer(api_key="sk-right") as srv:
        async with AsyncMemory(openai_config(srv.url, api_key="sk-wrong")) as mem:
            with pytest.raises(ProviderError) as info:
                await mem.add("I like tea.", user_id="u")
            msg = str(info.value)
            assert "authentication failed (401)" in msg and "OPENAI_API_KEY" in msg and "llm.config.api_key" in msg
            assert srv.count("chat") == 1  # neither the provider nor the engine asks again after a 401
            with pytest.raises(ProviderError, match=r"embedder.config.api_key"):
                await mem.add("I like tea.", user_id="u", infer=False)
            assert await records(mem) == {}


@pytest.mark.parametrize("body", [b'{"id": "chatcmpl-x", "choices": [', b"", b"<html>502 Bad Gateway</html>"],
                         ids=["truncated", "empty", "html"])
async def test_malformed_server_body_is_a_provider_error_with_bounded_requests(openai_server, body):
    openai_server.malformed_next(1000, body=body, endpoint="chat")
    async with AsyncMemory(openai_config(openai_server.url)) as mem:
        with pytest.raises(ProviderError) as info:
            await mem.add("I like tea.", user_id="u")
        assert info.value.provider == "openai"
        assert openai_server.count("chat") <= ATTEMPTS
        assert await records(mem) == {}


async def test_embedder_429_on_search_is_bounded_and_writes_nothing(openai_server):
    async with AsyncMemory(openai_config(openai_server.url)) as mem:
        await mem.add("I like tea.", user_id="u", infer=False)
        before = await records(mem)
        openai_server.reset()
        openai_server.fail_next(1000, status=429, retry_after=0, endpoint="embeddings")
        with pytest.raises(ProviderError, match="rate limited"):
            await mem.search("tea", user_id="u")
        assert openai_server.count("embeddings") == 1 + MAX_RETRIES  # no engine-level re-ask for embeddings
        assert await records(mem) == before
