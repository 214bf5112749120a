"""Score semantics (issue 15): a threshold tuned on cosine similarity keeps its meaning in hybrid mode.

The weighted fusion adds keyword evidence on top of the cosine (``cosine + (1 − w) / w · keyword``,
the weighted sum divided by ``w``): the fused score is never below the cosine, so a memory whose
cosine clears a threshold is never dropped by fusion. Pinned here as a property of the fusion
function, of the engine (random corpora, in-process index and store-side keyword search, with and
without neighbour expansion), and on the example of ``docs/cli.md`` with the real embedder.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mem7_core import AsyncMemory
from mem7_core.filters import Filter, evaluate
from mem7_core.models import Scope, ScoredRecord
from mem7_core.providers import Embedder, VectorStoreCapabilities
from mem7_core.retrieval import BM25Index, calibrate_bm25, cosine
from mem7_core.retrieval.fusion import expand, weighted
from mem7_core.testing.fakes import ScriptedLLM
from mem7_flat import FlatVectorStore

BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
}

cosines_ = st.floats(-1.0, 1.0, allow_nan=False)
keywords = st.one_of(st.just(0.0), st.floats(0.0, 1.0, allow_nan=False))
weights = st.one_of(st.just(0.5), st.just(1.0), st.floats(1e-3, 1.0, allow_nan=False))


# ================================================================================ the fusion
@given(c=cosines_, kw=keywords, w=weights, t=cosines_)
def test_a_cosine_that_clears_the_threshold_survives_fusion(c: float, kw: float, w: float, t: float) -> None:
    s = weighted(c, kw, w)
    assert s >= c
    if c >= t:
        assert s >= t  # never dropped by fusion
    if kw == 0.0:
        assert s == c  # no keyword evidence: the plain cosine
    # the weighted sum on the cosine's scale: the same ranking as w · cosine + (1 − w) · keyword
    assert s * w == pytest.approx(w * c + (1 - w) * kw, abs=1e-12)
    assert -1.0 <= s <= 1.0 / w + 1e-12


@given(c=cosines_, kw=keywords, w=weights, dc=st.floats(0.0, 1.0), dk=st.floats(0.0, 1.0))
def test_weighted_fusion_is_monotone_in_both_signals(c: float, kw: float, w: float, dc: float, dk: float) -> None:
    # the retriever ranks on upper bounds (a cosine ≤ the lowest returned, a keyword score ≤ the
    # lowest the store returned): they stay bounds only if the fusion never decreases.
    s = weighted(c, kw, w)
    assert weighted(min(1.0, c + dc), kw, w) >= s
    assert weighted(c, min(1.0, kw + dk), w) >= s


def test_dense_weight_zero_is_the_keyword_score() -> None:
    assert weighted(0.9, 0.25, 0.0) == 0.25
    assert weighted(0.335, 0.0, 1.0) == 0.335  # w = 1: the cosine alone


@given(own=st.dictionaries(st.sampled_from("abcdefgh"), cosines_, min_size=1), weight=st.floats(0.0, 1.0))
def test_expansion_never_lowers_a_score(own: dict[str, float], weight: float) -> None:
    order = sorted(own)
    nbrs = {d: [n for n in order if n != d and abs(order.index(n) - order.index(d)) <= 2] for d in order}
    out = expand(own, lambda d: nbrs[d], weight=weight)
    assert all(out[d] >= own[d] for d in own)


# ================================================================================ the engine
class VectorTable(Embedder):
    """Given vectors for known texts (every text embedded must be in the table)."""

    name = "vectors"

    def __init__(self, table: dict[str, list[float]]) -> None:
        super().__init__(None)
        self.table = table

    @property
    def dims(self) -> int:
        return len(next(iter(self.table.values())))

    async def embed(self, texts_: Sequence[str], *, purpose: Any = "add") -> list[list[float]]:
        return [list(self.table[t]) for t in texts_]


class KeywordFlat(FlatVectorStore):
    """mem7-flat ranking keywords itself (exact BM25 over what it holds, calibrated)."""

    def __init__(self) -> None:
        super().__init__()
        self.capabilities = VectorStoreCapabilities(keyword_search=True)  # type: ignore[misc]

    async def keyword_search(
        self, query: str, *, scope: Scope, limit: int, filters: Filter | None = None
    ) -> list[ScoredRecord]:
        records = [r for r in await self.list(scope=scope) if scope.matches(r.payload)]
        index = BM25Index()
        for r in records:
            index.add(r.id, str(r.payload.get("data") or ""), r.payload)
        terms = index.terms(query)
        mass = index.idf_mass(terms)
        payloads = {r.id: r.payload for r in records}
        raw = index.score_terms(terms)
        ranked = sorted((i for i in raw if evaluate(filters, payloads[i])), key=lambda i: (-raw[i], i))
        return [ScoredRecord(id=i, score=calibrate_bm25(raw[i], mass), payload=payloads[i]) for i in ranked[:limit]]


VOCAB = ["alps", "tea", "kyoto", "ferry", "kitten", "invoice", "tennis", "garden", "summer", "coffee", "harbour", "curry"]


def _corpus(rng: random.Random, n: int, dims: int = 6) -> tuple[str, list[str], dict[str, list[float]]]:
    docs: list[str] = []
    while len(docs) < n:
        d = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(2, 6))) + f" note{len(docs)}"
        docs.append(d)
    query = " ".join(rng.sample(VOCAB, 2))
    table = {t: [rng.gauss(0, 1) for _ in range(dims)] for t in [query, *docs]}
    return query, docs, table


@pytest.mark.parametrize(
    "setup",
    [
        {},
        {"dense_weight": 0.3},
        {"dense_weight": 0.8, "candidates": 5},
        {"expand": {"enabled": True, "group_by": "session"}},
        {"store": "keyword"},
        {"store": "keyword", "candidates": 4},
    ],
    ids=["default", "w0.3", "w0.8-small-pool", "expansion", "store-keywords", "store-keywords-small-pool"],
)
@pytest.mark.parametrize("seed", range(4))
async def test_engine_keeps_every_memory_whose_cosine_clears_the_threshold(setup: dict[str, Any], seed: int) -> None:
    rng = random.Random(seed)
    query, docs, table = _corpus(rng, 24)
    retrieval = {k: v for k, v in setup.items() if k != "store"}
    store = KeywordFlat() if setup.get("store") == "keyword" else None
    mem = AsyncMemory({**BASE, "retrieval": retrieval}, llm=ScriptedLLM(), embedder=VectorTable(table), vector_store=store)
    try:
        for i, d in enumerate(docs):
            await mem.add(d, user_id="alice", infer=False, metadata={"session": i // 6})
        cos = {d: cosine(table[query], table[d]) for d in docs}
        eps = 1e-5  # the store keeps float32 vectors: its cosines differ from these in the 7th digit
        for t in sorted(cos.values())[::3]:
            r = await mem.search(query, user_id="alice", threshold=t, limit=len(docs))
            got = {i["memory"]: i["score"] for i in r["results"]}
            assert {d for d, c in cos.items() if c >= t + eps} <= set(got), t
            for d, s in got.items():
                assert s >= t and s >= cos[d] - eps
    finally:
        await mem.aclose()


async def test_dense_mode_is_the_plain_cosine() -> None:
    query, docs, table = _corpus(random.Random(7), 10)
    mem = AsyncMemory({**BASE, "retrieval": {"mode": "dense"}}, llm=ScriptedLLM(), embedder=VectorTable(table))
    try:
        for d in docs:
            await mem.add(d, user_id="alice", infer=False)
        r = await mem.search(query, user_id="alice", limit=len(docs))
        got = {i["memory"]: i["score"] for i in r["results"]}
        assert got == pytest.approx({d: cosine(table[query], table[d]) for d in docs}, abs=1e-6)
    finally:
        await mem.aclose()


# ===================================================================== the docs/cli.md example
MEMORY = "I go hiking in the Alps every summer"
QUERY = "where do I travel"
FILTERS = {"topic": {"in": ["travel", "food"]}}


def _at_cosine(c: float) -> dict[str, list[float]]:
    """A query and a memory whose vectors have cosine ``c`` (they share no word)."""
    return {QUERY: [1.0, 0.0], MEMORY: [c, math.sqrt(1 - c * c)]}


async def test_cli_example_with_constructed_vectors() -> None:
    # The cosine all-MiniLM-L6-v2 gives this pair: 0.335. Averaged with a keyword score of 0 the
    # old fused score was 0.168, under the example's threshold 0.3.
    mem = AsyncMemory(BASE, llm=ScriptedLLM(), embedder=VectorTable(_at_cosine(0.335)))
    try:
        await mem.add(MEMORY, user_id="alice", infer=False, metadata={"topic": "travel"})
        r = await mem.search(QUERY, user_id="alice", filters=FILTERS, threshold=0.3)
        assert [(i["memory"], round(i["score"], 6)) for i in r["results"]] == [(MEMORY, 0.335)]
    finally:
        await mem.aclose()


async def test_cli_example_with_the_real_embedder() -> None:
    pytest.importorskip("fastembed")
    config = {**BASE, "embedder": {"provider": "fastembed"}}
    mem = AsyncMemory(config, llm=ScriptedLLM())
    try:
        await mem.add(MEMORY, user_id="alice", infer=False, metadata={"topic": "travel"})
        r = await mem.search(QUERY, user_id="alice", filters=FILTERS, threshold=0.3)
        assert [i["memory"] for i in r["results"]] == [MEMORY]
        assert r["results"][0]["score"] >= 0.3
    finally:
        await mem.aclose()


def test_cli_example_verbatim(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``mem7 add ... --metadata '{"topic": "travel"}'`` then the documented search, in process, with
    the embedded default (fastembed, flat, SQLite) and no LLM configured."""
    pytest.importorskip("fastembed")
    from mem7_core.cli import main

    for name in list(os.environ):
        if name in ("OPENAI_API_KEY", "OPENAI_BASE_URL") or name.startswith("MEM7_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MEM7_DATA_DIR", str(tmp_path / "data"))
    assert main(["add", "-u", "alice", "--metadata", '{"topic": "travel"}', MEMORY]) == 0
    capsys.readouterr()
    code = main(["search", "-u", "alice", QUERY, "--filters", '{"topic": {"in": ["travel", "food"]}}',
                 "--threshold", "0.3"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert MEMORY in out and "no memories found" not in out
