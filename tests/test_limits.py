"""Size limits and fair provider use (issue 16, finding 4; the ``limits`` config section).

Every size limit is refused with a ``ValueError`` naming the field and the limit's setting before
any model call (counted on a scripted LLM and a counting embedder) and nothing is stored; sizes at
the limit pass. Provider calls run under ``limits.max_concurrent_provider_calls`` and embedding
batches go in chunks of ``limits.embed_batch_size``, so a huge add in flight lets another
tenant's search in between its chunks (shown by the order of the embedder's calls, not by timing).
The REST server's body limit (413) is tested in ``tests/server/test_limits_http.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from mem7_core.config import LimitsConfig, MemoryConfig, load_config
from mem7_core.engine.limits import ProviderGate, metadata_bytes
from mem7_core.engine.memory import AsyncMemory
from mem7_core.providers.embedder import Embedder
from mem7_core.testing.fakes import HashEmbedder, ScriptedLLM, hash_embedding

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}
SMALL = {"max_text_chars": 50, "max_messages": 3, "max_metadata_bytes": 40, "max_import_items": 4}


@pytest.fixture
async def make():
    engines: list[AsyncMemory] = []

    def _make(llm: Any = None, *, embedder: Any = None, limits: dict[str, Any] | None = None, **config: Any) -> AsyncMemory:
        mem = AsyncMemory({**BASE, "limits": {**SMALL, **(limits or {})}, **config}, llm=llm,
                          embedder=embedder or HashEmbedder(), clock=lambda: NOW)
        engines.append(mem)
        return mem

    yield _make
    for mem in engines:
        await mem.aclose()


def calls_of(mem: AsyncMemory) -> int:
    """Embedder batches so far (the HashEmbedder under the engine's gate)."""
    inner = mem.embedder.wrapped if isinstance(mem.embedder, ProviderGate) else mem.embedder
    return len(inner.calls)


async def stored(mem: AsyncMemory, **scope: str) -> list[str]:
    return [i["memory"] for i in (await mem.get_all(**(scope or {"user_id": "u"}), limit=1000))["results"]]


# ------------------------------------------------------------------------------------ config
def test_defaults_and_environment() -> None:
    limits = MemoryConfig().limits
    assert (limits.max_text_chars, limits.max_messages, limits.max_metadata_bytes, limits.max_import_items) == (
        32_000, 1_000, 16_384, 10_000)
    assert limits.max_concurrent_provider_calls == 64 and limits.embed_batch_size == 64
    env = {"MEM7_LIMITS__MAX_TEXT_CHARS": "500", "MEM7_LIMITS__MAX_CONCURRENT_PROVIDER_CALLS": "2"}
    cfg = load_config({"limits": {"max_messages": 7}}, environ=env)
    assert (cfg.limits.max_text_chars, cfg.limits.max_messages, cfg.limits.max_concurrent_provider_calls) == (500, 7, 2)


@pytest.mark.parametrize("bad", [{"max_text_chars": 0}, {"max_messages": -1}, {"unknown": 1}, {"embed_batch_size": 0}])
def test_bad_limits_are_config_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="limits"):
        load_config({"limits": bad}, environ={})


# ------------------------------------------------------------------------------------ sizes
@pytest.mark.parametrize("infer", [False, True])
async def test_add_refuses_each_limit_before_any_model_call(make, infer: bool) -> None:
    llm = ScriptedLLM()
    mem = make(llm)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"messages": "x" * 51}, r"^messages\[0\]\.content is too large: 51 characters, the limit is 50 \(limits\.max_text_chars\)"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "y" * 60}]}]},
         r"^messages\[0\]\.content is too large: 60 characters.*limits\.max_text_chars"),
        ({"messages": ["a b", "c d", "e f", "g h"]}, r"^messages is too large: 4 messages, the limit is 3 \(limits\.max_messages\)"),
        ({"messages": "fine text", "metadata": {"k": "v" * 40}}, r"^metadata is too large: \d+ bytes as JSON, the limit is 40 \(limits\.max_metadata_bytes\)"),
        # system messages count too: the limit is on what the caller sends
        ({"messages": [{"role": "system", "content": "s"}] * 4}, r"limits\.max_messages"),
        ({"messages": [{"role": "system", "content": "s" * 51}]}, r"limits\.max_text_chars"),
        ({"messages": "fine text", "prompt": "p" * 51}, r"^prompt is too large: 51 characters.*limits\.max_text_chars"),
    ]
    for kwargs, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            await mem.add(user_id="u", infer=infer, **kwargs)
    assert llm.calls == [] and calls_of(mem) == 0
    assert await stored(mem) == []


async def test_sizes_at_the_limit_are_accepted(make) -> None:
    mem = make()
    meta = {"k": "v" * 32}
    assert metadata_bytes(meta) == 40 == len(json.dumps(meta, separators=(",", ":")))
    out = await mem.add(["a" * 50, "b " * 25, "c"], user_id="u", infer=False, metadata=meta)
    assert len(out["results"]) == 3
    hits = await mem.search("q" * 50, user_id="u")
    assert len(hits["results"]) == 3
    out = await mem.import_memories([{"memory": f"m{i}", "user_id": "v", "metadata": meta} for i in range(4)])
    assert out["imported"] == 4


async def test_metadata_counts_utf8_bytes(make) -> None:
    mem = make()
    with pytest.raises(ValueError, match=r"^metadata is too large: 46 bytes"):
        await mem.add("fine", user_id="u", infer=False, metadata={"k": "é" * 19})  # 19 chars, 38 bytes + 8


async def test_update_and_search_refuse_before_embedding(make) -> None:
    mem = make()
    mem_id = (await mem.add("short", user_id="u", infer=False))["results"][0]["id"]
    before = calls_of(mem)
    with pytest.raises(ValueError, match=r"^text is too large: 51 characters.*limits\.max_text_chars"):
        await mem.update(mem_id, "z" * 51)
    with pytest.raises(ValueError, match=r"^metadata is too large.*limits\.max_metadata_bytes"):
        await mem.update(mem_id, "new", metadata={"k": "v" * 40})
    with pytest.raises(ValueError, match=r"^query is too large: 51 characters.*limits\.max_text_chars"):
        await mem.search("q" * 51, user_id="u")
    assert calls_of(mem) == before
    assert await stored(mem) == ["short"]


async def test_import_refuses_each_limit_before_embedding(make) -> None:
    mem = make()
    ok = {"memory": "fine", "user_id": "u"}
    with pytest.raises(ValueError, match=r"^items is too large: more than 4 items.*limits\.max_import_items"):
        await mem.import_memories([ok] * 5)
    with pytest.raises(ValueError, match=r"^items\[1\]\.memory is too large: 51 characters.*limits\.max_text_chars"):
        await mem.import_memories([ok, {"memory": "m" * 51, "user_id": "u"}])
    with pytest.raises(ValueError, match=r"^items\[0\]\.metadata is too large.*limits\.max_metadata_bytes"):
        await mem.import_memories([{**ok, "metadata": {"k": "v" * 40}}])
    assert calls_of(mem) == 0 and await stored(mem) == []


async def test_import_does_not_read_a_generator_past_the_limit(make) -> None:
    mem = make()
    taken: list[int] = []

    def endless() -> Iterator[dict[str, Any]]:
        i = 0
        while True:
            taken.append(i)
            yield {"memory": f"m{i}", "user_id": "u"}
            i += 1

    with pytest.raises(ValueError, match=r"limits.max_import_items"):
        await mem.import_memories(endless())
    assert len(taken) == 5  # the limit + 1, then refused


async def test_sync_facade_and_rest_style_field_names(make) -> None:
    """The message starts with the field, which the REST server turns into the 422 ``loc``."""
    from mem7_core.server.rest import _field_of

    mem = make()
    for call, field in [
        (mem.add("x" * 51, user_id="u"), "messages"),
        (mem.add("fine", user_id="u", metadata={"k": "v" * 40}), "metadata"),
        (mem.search("q" * 51, user_id="u"), "query"),
        (mem.import_memories([{"memory": "m" * 51, "user_id": "u"}]), "items"),
    ]:
        with pytest.raises(ValueError) as info:
            await call
        assert _field_of(info.value) == field


# ------------------------------------------------------------------------------------ fairness
class InFlight:
    """Counts the most calls in flight at once (one event loop: plain counters are exact)."""

    def __init__(self) -> None:
        self.now = 0
        self.max = 0

    async def enter(self, delay: float) -> None:
        self.now += 1
        self.max = max(self.max, self.now)
        try:
            await asyncio.sleep(delay)
        finally:
            self.now -= 1


async def test_llm_calls_are_bounded_by_max_concurrent_provider_calls(make) -> None:
    flight = InFlight()

    async def slow(messages: Sequence[dict]) -> Any:
        await flight.enter(0.01)
        from mem7_core.testing.fakes import rule_based_reply

        return rule_based_reply(messages)

    llm = ScriptedLLM(slow)
    mem = make(llm, limits={"max_concurrent_provider_calls": 2})
    outs = await asyncio.gather(*(mem.add(f"My lucky number is {i}", user_id=f"user{i}") for i in range(8)))
    assert all(out["results"] for out in outs)
    assert flight.max == 2, f"at most 2 LLM calls at once, saw {flight.max}"


async def test_embedding_batches_go_in_chunks(make) -> None:
    emb = HashEmbedder()
    mem = make(embedder=emb, limits={"embed_batch_size": 4, "max_messages": 100})
    out = await mem.add([f"note number {i}" for i in range(10)], user_id="u", infer=False)
    assert len(out["results"]) == 10
    assert [len(batch) for batch in emb.calls] == [4, 4, 2]
    items = (await mem.get_all(user_id="u", limit=100))["results"]
    # every memory got its own text's vector, in order
    hits = await mem.search("note number 7", user_id="u", limit=1)
    assert hits["results"][0]["memory"] == "note number 7" and len(items) == 10


class SerialEmbedder(Embedder):
    """Like fastembed: one batch at a time (a lock), each taking a while. Logs who ran when."""

    name = "serial"

    def __init__(self) -> None:
        super().__init__(None)
        self.lock = asyncio.Lock()
        self.log: list[str] = []
        self.started = asyncio.Event()

    @property
    def dims(self) -> int:
        return 32

    async def embed(self, texts: Sequence[str], *, purpose: str = "add") -> list[list[float]]:
        async with self.lock:
            self.log.append(f"{purpose}:{len(texts)}")
            self.started.set()
            await asyncio.sleep(0.005 * len(texts))  # time grows with the batch, as a real model's
            return [hash_embedding(t, 32) for t in texts]


async def test_a_huge_add_does_not_starve_another_tenants_search(make) -> None:
    emb = SerialEmbedder()
    mem = make(embedder=emb, limits={"embed_batch_size": 4, "max_messages": 1000, "max_text_chars": 1000})
    await mem.import_memories([{"memory": "bob likes tea", "user_id": "bob"}])
    emb.log.clear()
    emb.started.clear()
    big = asyncio.ensure_future(mem.add([f"alice fact {i}" for i in range(80)], user_id="alice", infer=False))
    await emb.started.wait()  # the big add holds the embedder now
    hits = await asyncio.wait_for(mem.search("tea", user_id="bob"), timeout=30)
    at = emb.log.index("search:1")
    assert at <= 2, emb.log[:6]  # behind at most the chunk running when it came, and one more
    assert "add:4" in emb.log[at + 1 :], "the search got in while the big add still had chunks to embed"
    assert [h["memory"] for h in hits["results"]] == ["bob likes tea"]
    out = await big
    assert len(out["results"]) == 80
    assert emb.log.count("add:4") == 20


async def test_without_chunks_the_search_waits_for_the_whole_add(make) -> None:
    """The counterfactual: one batch for the whole add holds the embedder until it is done."""
    emb = SerialEmbedder()
    mem = make(embedder=emb, limits={"embed_batch_size": 1000, "max_messages": 1000})
    big = asyncio.ensure_future(mem.add([f"alice fact {i}" for i in range(80)], user_id="alice", infer=False))
    await emb.started.wait()
    await mem.search("tea", user_id="bob")
    assert emb.log == ["add:80", "search:1"]
    await big


async def test_the_gate_is_transparent(make) -> None:
    mem = make()
    assert isinstance(mem.embedder, Embedder) and isinstance(mem.embedder, ProviderGate)
    assert mem.embedder.dims == 384 and mem.embedder.name == "hash"
    mem2 = make(ScriptedLLM())
    assert mem2.llm is not None and mem2.llm.name == "scripted"
    assert isinstance(LimitsConfig(), LimitsConfig)
