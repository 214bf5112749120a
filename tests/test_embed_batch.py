"""The write path's embedding calls of concurrent adds go out together (engine/embed_batch.py):
merged only while a call is out, each caller gets its own texts' vectors, errors stay each caller's."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from mem7_core import AsyncMemory
from mem7_core.engine.embed_batch import EmbedBatcher
from mem7_core.providers import EmbedPurpose
from mem7_core.testing.fakes import HashEmbedder, hash_embedding

ENV_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_VERSION", "MEM7_CONFIG")


class HeldEmbedder(HashEmbedder):
    """The hash embedder, whose calls wait for ``release`` while ``hold`` is set, and which fails any
    request carrying a text in ``bad``."""

    def __init__(self) -> None:
        super().__init__(HashEmbedder.Config(dims=16))
        self.hold = False
        self.release = asyncio.Event()
        self.out = 0
        self.bad: set[str] = set()

    async def embed(self, texts: Sequence[str], *, purpose: EmbedPurpose = "add") -> list[list[float]]:
        self.out += 1
        try:
            if self.hold:
                await self.release.wait()
            if self.bad & set(texts):
                raise ValueError(f"cannot embed {sorted(self.bad & set(texts))}")
            return await super().embed(texts, purpose=purpose)
        finally:
            self.out -= 1


async def _until(cond: Any) -> None:
    for _ in range(200):
        if cond():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never met")


async def test_calls_one_at_a_time_go_out_alone_and_unchanged() -> None:
    emb = HeldEmbedder()
    batcher = EmbedBatcher(emb)
    for texts in (["a b"], ["c", "d e"], ["f"]):
        assert await batcher.embed(texts) == [hash_embedding(t, 16) for t in texts]
    assert emb.calls == [["a b"], ["c", "d e"], ["f"]]
    assert await batcher.embed([]) == [] and len(emb.calls) == 3


async def test_calls_made_while_one_is_out_go_out_together_each_getting_its_own_vectors() -> None:
    emb = HeldEmbedder()
    batcher = EmbedBatcher(emb)
    emb.hold = True
    first = asyncio.create_task(batcher.embed(["first"]))
    await _until(lambda: emb.out == 1)
    waiting = [["w1"], ["w2 a", "w2 b"], ["w3"], ["w4 x", "w4 y", "w4 z"]]
    tasks = [asyncio.create_task(batcher.embed(t)) for t in waiting]
    await _until(lambda: len(batcher._loop_state().queue) == len(waiting))
    assert emb.out == 1  # nothing else went out while the first call was out
    emb.release.set()
    assert await first == [hash_embedding("first", 16)]
    for texts, task in zip(waiting, tasks):
        assert await task == [hash_embedding(t, 16) for t in texts]
    # two requests: the first alone, then every waiting caller's texts in one
    assert emb.calls == [["first"], [t for texts in waiting for t in texts]]
    assert batcher.requests == 2


async def test_a_failed_shared_request_leaves_each_caller_its_own_outcome() -> None:
    emb = HeldEmbedder()
    batcher = EmbedBatcher(emb)
    emb.hold = True
    emb.bad = {"broken"}
    first = asyncio.create_task(batcher.embed(["first"]))
    await _until(lambda: emb.out == 1)
    good = asyncio.create_task(batcher.embed(["fine", "also fine"]))
    bad = asyncio.create_task(batcher.embed(["broken"]))
    other = asyncio.create_task(batcher.embed(["more"]))
    await _until(lambda: len(batcher._loop_state().queue) == 3)
    emb.release.set()
    await first
    assert await good == [hash_embedding("fine", 16), hash_embedding("also fine", 16)]
    assert await other == [hash_embedding("more", 16)]
    with pytest.raises(ValueError, match="broken"):  # its own error, from its own request
        await bad
    assert emb.calls[0] == ["first"]
    # the shared request failed (not recorded: it raised before embedding); then each caller alone
    assert sorted(map(tuple, emb.calls[1:])) == [("fine", "also fine"), ("more",)]


async def test_a_cancelled_waiting_caller_is_left_out_of_the_request() -> None:
    emb = HeldEmbedder()
    batcher = EmbedBatcher(emb)
    emb.hold = True
    first = asyncio.create_task(batcher.embed(["first"]))
    await _until(lambda: emb.out == 1)
    gone = asyncio.create_task(batcher.embed(["gone"]))
    kept = asyncio.create_task(batcher.embed(["kept"]))
    await _until(lambda: len(batcher._loop_state().queue) == 2)
    gone.cancel()
    emb.release.set()
    await first
    assert await kept == [hash_embedding("kept", 16)]
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert emb.calls == [["first"], ["kept"]]


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="in_flight"):
        EmbedBatcher(HashEmbedder(), in_flight=0)


def _over_http(url: str, *, with_llm: bool) -> dict[str, Any]:
    """An engine whose embedder (and LLM, ``with_llm``) is mem7-openai against the loopback server."""
    conn = {"base_url": url, "api_key": "test", "max_retries": 0, "timeout": 5.0}
    return {
        "llm": {"provider": "openai", "config": {**conn, "model": "gpt-4.1-nano"}} if with_llm else None,
        "embedder": {"provider": "openai", "config": {**conn, "model": "text-embedding-3-small", "embedding_dims": 64}},
        "vector_store": {"provider": "flat"},
        "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
    }


@pytest.fixture
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.mark.usefixtures("_clean_env")
async def test_concurrent_adds_over_http_share_embedding_requests_and_store_their_own_vectors(openai_server: Any) -> None:
    """12 adds at once against the loopback server (50 ms per call): their 12 fact embeddings go out
    in at most 3 requests (one alone, then the ones that waited), and every fact is stored with its
    own vector (a search for it finds it first)."""
    srv = openai_server
    srv.latency = 0.05
    config = _over_http(srv.url, with_llm=True)
    facts = [f"My friend number {i} is called {name}" for i, name in enumerate(
        ["Ada", "Boris", "Chen", "Dara", "Emil", "Fatou", "Goran", "Hana", "Ivo", "Jun", "Kofi", "Lena"])]
    async with AsyncMemory(config) as mem:
        results = await asyncio.gather(*(mem.add(f + ".", user_id="u") for f in facts))
        assert sorted(r["memory"] for res in results for r in res["results"]) == sorted(facts)
        assert srv.count("embeddings") <= 3  # 12 without merging
        srv.latency = 0.0
        for fact in facts:
            found = await mem.search(fact, user_id="u", limit=1)
            assert [r["memory"] for r in found["results"]] == [fact]
    assert srv.errors == []


async def test_a_failed_request_of_one_waiting_caller_is_its_own_error_sent_once() -> None:
    emb = HeldEmbedder()
    batcher = EmbedBatcher(emb)
    emb.hold = True
    emb.bad = {"broken"}
    first = asyncio.create_task(batcher.embed(["first"]))
    await _until(lambda: emb.out == 1)
    bad = asyncio.create_task(batcher.embed(["broken"]))
    await _until(lambda: len(batcher._loop_state().queue) == 1)
    emb.release.set()
    await first
    with pytest.raises(ValueError, match="broken"):
        await bad
    assert batcher.requests == 2  # not sent again alone


@pytest.mark.usefixtures("_clean_env")
async def test_concurrent_searches_over_http_share_query_embedding_requests(openai_server: Any) -> None:
    """12 searches at once (the embedder's server 50 ms per call): their 12 query embeddings go out
    in at most 3 requests, asked for as queries (``purpose="search"``), and each search finds its
    own memory first."""
    srv = openai_server
    config = _over_http(srv.url, with_llm=False)
    facts = [f"Keeps a {thing} in the {place}" for thing, place in zip(
        ["kayak", "violin", "ladder", "telescope", "sewing machine", "drum kit"],
        ["garage", "attic", "shed", "balcony", "basement", "hallway"])] * 2
    queries = facts[:6] + [f"where is the {t}?" for t in ("kayak", "violin", "ladder", "telescope", "sewing machine",
                                                             "drum kit")]
    async with AsyncMemory(config) as mem:
        await mem.add([{"role": "user", "content": f} for f in facts[:6]], user_id="u", infer=False)
        before = srv.count("embeddings")
        srv.latency = 0.05
        found = await asyncio.gather(*(mem.search(q, user_id="u", limit=1) for q in queries))
        assert srv.count("embeddings") - before <= 3  # 12 without merging
        for q, res in zip(queries, found):
            want = next(f for f in facts[:6] if f.split(" in the ")[0].removeprefix("Keeps a ") in q)
            assert [r["memory"] for r in res["results"]] == [want], q
    assert srv.errors == []


async def test_a_batcher_asks_for_its_purpose() -> None:
    seen: list[str] = []

    class Recording(HashEmbedder):
        async def embed(self, texts: Sequence[str], *, purpose: EmbedPurpose = "add") -> list[list[float]]:
            seen.append(purpose)
            return await super().embed(texts, purpose=purpose)

    emb = Recording(HashEmbedder.Config(dims=16))
    assert await EmbedBatcher(emb, purpose="search").embed(["q"]) == [hash_embedding("q", 16)]
    assert await EmbedBatcher(emb).embed(["d"]) == [hash_embedding("d", 16)]
    assert seen == ["search", "add"]


@pytest.mark.usefixtures("_clean_env")
async def test_concurrent_verbatim_adds_over_http_share_embedding_requests(openai_server: Any) -> None:
    """12 add(infer=False) at once (the embedder's server 50 ms per call): their embeddings go out
    in at most 3 requests, and each memory is stored with its own vector."""
    srv = openai_server
    config = _over_http(srv.url, with_llm=False)
    notes = [f"Waters the {plant} on {day}" for plant, day in zip(
        ["fern", "cactus", "orchid", "basil", "ivy", "bonsai", "tulips", "mint", "aloe", "lavender", "moss", "palm"],
        ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "noon", "dawn", "dusk",
         "midnight", "payday"])]
    async with AsyncMemory(config) as mem:
        srv.latency = 0.05
        results = await asyncio.gather(*(mem.add(n, user_id="u", infer=False) for n in notes))
        assert sorted(r["results"][0]["memory"] for r in results) == sorted(notes)
        assert srv.count("embeddings") <= 3  # 12 without merging
        srv.latency = 0.0
        for note in notes:
            found = await mem.search(note, user_id="u", limit=1)
            assert [r["memory"] for r in found["results"]] == [note]
    assert srv.errors == []
