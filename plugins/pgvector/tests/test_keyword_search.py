"""Keyword search inside PostgreSQL: the ``keywords`` column, BM25 in SQL, and the migration.

The store-neutral contract (ranking, scope isolation, filters, limit, rewords and deletes, unusual
text) is the core's :class:`KeywordSearchConformance`, run here with the defaults and with other
BM25 parameters; PostgreSQL computes in double precision, so scores must equal the in-process
index's to 1e-9. The tests below the suite classes are pgvector's own: the column, the COPY path,
the migration, the trigger, the GIN index. Their expected scores are recomputed with the engine's
own :class:`BM25Index` over the same texts, so they pin "the same answer as the in-process index",
not just an order.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from psycopg import sql

from mem7_core.filters import parse_filters
from mem7_core.models import Scope, VectorRecord
from mem7_core.providers import VectorStore
from mem7_core.providers.keywords import BM25Index
from mem7_core.testing import KeywordSearchConformance
from mem7_core.testing.keywords import KEYWORD_CORPUS as CORPUS
from mem7_core.testing.keywords import KEYWORD_OTHERS as OTHERS
from mem7_core.testing.keywords import hit_pairs, keyword_reference
from mem7_pgvector import PgVectorStore
from mem7_pgvector.store import keyword_columns, query_terms

DIMS = 4


def vec(i: int) -> list[float]:
    v = [0.1] * DIMS
    v[i % DIMS] = 1.0
    return v


def record(rid: str, text: str, extra: dict[str, Any], i: int = 0) -> VectorRecord:
    payload = {"data": text, "user_id": "alice", "created_at": f"2024-01-01T00:00:{i:02d}", **extra}
    return VectorRecord(id=rid, vector=vec(i), payload=payload)


def reference(texts: dict[str, str], query: str, *, k1: float = 1.2, b: float = 0.75, stopwords: bool = True) -> list[tuple[str, float]]:
    return keyword_reference(texts, query, k1=k1, b=b, stopwords=stopwords)


pairs = hit_pairs


def assert_same(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [i for i, _ in got] == [i for i, _ in want]
    for (_, a), (_, b) in zip(got, want):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)


@pytest.fixture
async def seeded(pg_config: Any, table_name: str):
    s = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS))
    await s.insert([record(rid, text, extra, i) for i, (rid, text, extra) in enumerate(CORPUS + OTHERS)])
    yield s
    await s.aclose()


ALICE = {rid: text for rid, text, _ in CORPUS}


async def test_keyword_search_with_a_created_at_range(pg_config: Any, table_name: str):
    """The created_at range's index conjunct is valid in the keyword statement's join, and exact."""
    s = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS))
    stamp = "2024-01-01T00:00:{:02d}+00:00".format
    await s.insert([
        VectorRecord(id=rid, vector=vec(i), payload={"data": text, "user_id": "alice", "created_at": stamp(i)})
        for i, (rid, text, _) in enumerate(CORPUS)
    ])
    node = parse_filters({"created_at": {"gte": "2024-01-01T01:00:03+01:00", "lt": 1704067208}})
    got = pairs(await s.keyword_search("tea coffee Alice", scope=Scope(user_id="alice"), limit=50, filters=node))
    every = pairs(await s.keyword_search("tea coffee Alice", scope=Scope(user_id="alice"), limit=50))
    inside = {rid for i, (rid, _, _) in enumerate(CORPUS) if 3 <= i < 8}
    assert got and got == [(rid, score) for rid, score in every if rid in inside]
    await s.aclose()


class TestPgKeywordSearch(KeywordSearchConformance):
    """The keyword-search contract on a fresh table with the default BM25 settings."""

    dims = DIMS
    keyword_tolerance = 1e-9  # double precision, the same formula: the in-process index's scores
    max_word_bytes = 2046  # PostgreSQL's lexemes stop short of 2 KiB: longer words stay out of the tsvector

    @pytest.fixture
    async def vector_store(self, pg_config: Any, table_name: str):
        store = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS))
        yield store
        await store.aclose()

    def keyword_index(self, store: VectorStore) -> BM25Index:
        assert isinstance(store, PgVectorStore)
        c = store.config
        return BM25Index(k1=c.keyword_k1, b=c.keyword_b, stopwords=c.keyword_stopwords)


class TestPgKeywordSearchTuned(TestPgKeywordSearch):
    """Other BM25 parameters and function words kept: the store ranks as an index configured so."""

    @pytest.fixture
    async def vector_store(self, pg_config: Any, table_name: str):
        store = PgVectorStore.from_config(
            pg_config(collection_name=table_name, dims=DIMS, keyword_k1=2.0, keyword_b=0.3, keyword_stopwords=False)
        )
        yield store
        await store.aclose()


def test_keyword_columns_count_words_like_the_core_tokeniser():
    literal, content, total = keyword_columns("Alice's book-club: the club, the BOOK!")
    # alice s book club the club the book -> "s" and "the" are function words
    assert (content, total) == (5, 8)
    assert "'book':1,2" in literal and "'club':1,2" in literal and "'the':1,2" in literal and "'s':1" in literal
    assert keyword_columns("") == ("", 0, 0)
    assert query_terms("What did Alice's cat eat? cat!", stopwords=True) == ["alice", "cat", "eat"]
    assert query_terms("What did", stopwords=False) == ["what", "did"]


def test_capability_declared_and_switchable(pg_config: Any):
    assert PgVectorStore.capabilities.keyword_search
    on = PgVectorStore.from_config(pg_config(dims=DIMS))
    off = PgVectorStore.from_config(pg_config(dims=DIMS, keyword_search=False))
    assert on.capabilities.keyword_search and not off.capabilities.keyword_search
    assert off.capabilities.persistent and off.capabilities.logical  # the rest is unchanged


async def test_one_column_serves_either_function_word_setting(pg_config: Any, table_name: str):
    """Rows written by an instance keeping function words, read by one dropping them (the column
    keeps every word; the BM25 settings themselves are TestPgKeywordSearchTuned's)."""
    s = PgVectorStore.from_config(
        pg_config(collection_name=table_name, dims=DIMS, keyword_k1=2.0, keyword_b=0.3, keyword_stopwords=False)
    )
    await s.insert([record(rid, text, extra, i) for i, (rid, text, extra) in enumerate(CORPUS)])
    assert_same(pairs(await s.keyword_search("the tea", scope=Scope(user_id="alice"), limit=100)),
                reference(ALICE, "the tea", k1=2.0, b=0.3, stopwords=False))
    s2 = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS))
    assert_same(pairs(await s2.keyword_search("the tea", scope=Scope(user_id="alice"), limit=100)), reference(ALICE, "tea"))
    await s.aclose()
    await s2.aclose()


async def test_copy_path_fills_the_keywords(pg_config: Any, table_name: str):
    s = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS, copy_threshold=2))
    await s.insert([record(rid, text, extra, i) for i, (rid, text, extra) in enumerate(CORPUS)])
    await s.insert([record("a01", "Alice drinks black coffee every morning", {}, 0),
                    record("a01", "Alice drinks rooibos every morning", {}, 0)])  # last duplicate wins
    texts = {**ALICE, "a01": "Alice drinks rooibos every morning"}
    for query in ("tea", "rooibos morning", "coffee"):
        assert_same(pairs(await s.keyword_search(query, scope=Scope(user_id="alice"), limit=100)), reference(texts, query))
    await s.aclose()


async def test_table_without_keywords_is_migrated_and_indexed(pg_config: Any, table_name: str, pg_admin: Any):
    old = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS, keyword_search=False))
    await old.insert([record(rid, text, extra, i) for i, (rid, text, extra) in enumerate(CORPUS)])
    columns = {r[0] for r in pg_admin.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s", [table_name]).fetchall()}
    assert "keywords" not in columns  # off: the table is the earlier layout
    with pytest.raises(NotImplementedError, match="keyword_search"):
        await old.keyword_search("tea", scope=Scope(user_id="alice"), limit=5)

    new = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS))
    await new.count(scope=Scope(user_id="alice"))  # opens: the columns, indexes and trigger are added
    indexes = {r[0]: r[1] for r in pg_admin.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table_name]).fetchall()}
    assert "gin (keywords)" in indexes[f"{table_name}_keywords_idx"]
    assert "WHERE (keywords IS NULL)" in indexes[f"{table_name}_keywords_null_idx"]
    nulls = pg_admin.execute(sql.SQL("SELECT count(*) FROM {} WHERE keywords IS NULL").format(
        sql.Identifier(table_name))).fetchone()[0]
    assert nulls == len(CORPUS)  # the old rows: indexed by the first keyword search of their scope
    assert_same(pairs(await new.keyword_search("green tea", scope=Scope(user_id="alice"), limit=100)),
                reference(ALICE, "green tea"))
    nulls = pg_admin.execute(sql.SQL("SELECT count(*) FROM {} WHERE keywords IS NULL").format(
        sql.Identifier(table_name))).fetchone()[0]
    assert nulls == 0

    # The old instance still writes without keywords (it opened before the migration): its new
    # row and its reword are found anyway, on the next keyword search.
    await old.insert([record("z1", "Alice learns the cello", {}, 20)])
    await old.update("a04", payload={"data": "Alice plays squash on Sundays", "user_id": "alice"})
    texts = {**ALICE, "z1": "Alice learns the cello", "a04": "Alice plays squash on Sundays"}
    for query in ("cello", "squash", "tennis", "Alice"):
        assert_same(pairs(await new.keyword_search(query, scope=Scope(user_id="alice"), limit=100)), reference(texts, query))
    # An instance opened after the migration fills the columns even with keyword_search off.
    late = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS, keyword_search=False))
    await late.insert([record("z2", "Alice bakes sourdough", {}, 21)])
    row = pg_admin.execute(sql.SQL("SELECT keywords IS NOT NULL, keywords_len FROM {} WHERE id = 'z2'").format(
        sql.Identifier(table_name))).fetchone()
    assert row == (True, 3)
    for s in (old, new, late):
        await s.aclose()


async def test_a_writer_changing_text_without_keywords_does_not_leave_them_stale(seeded: PgVectorStore, pg_admin: Any, table_name: str):
    # A manual UPDATE (or an older mem7-pgvector) rewords a row without touching its keywords.
    pg_admin.execute(
        sql.SQL("UPDATE {} SET payload = jsonb_set(payload, '{{data}}', '\"Alice collects stamps\"') WHERE id = 'a03'").format(
            sql.Identifier(table_name)
        )
    )
    texts = {**ALICE, "a03": "Alice collects stamps"}
    for query in ("stamps", "Kyoto tea"):
        assert_same(pairs(await seeded.keyword_search(query, scope=Scope(user_id="alice"), limit=100)), reference(texts, query))
    # A change that keeps the text keeps the keywords (the trigger only reacts to the text).
    pg_admin.execute(sql.SQL("UPDATE {} SET payload = payload || '{{\"n\": 99}}' WHERE id = 'a01'").format(sql.Identifier(table_name)))
    assert pg_admin.execute(sql.SQL("SELECT keywords IS NOT NULL FROM {} WHERE id = 'a01'").format(
        sql.Identifier(table_name))).fetchone() == (True,)


async def test_a_rare_word_in_a_large_scope_is_found_through_the_gin_index(seeded: PgVectorStore, pg_admin: Any, table_name: str):
    filler = [record(f"f{i:05d}", f"filler memory number {i} about errands and chores", {}, i % 60) for i in range(3000)]
    await seeded.insert(filler)
    pg_admin.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table_name)))
    select, params, _ = seeded._keyword_sql(["kyoto"], Scope(user_id="alice"), None)
    plan = "\n".join(r[0] for r in pg_admin.execute(sql.SQL("EXPLAIN {}").format(select), params).fetchall())
    assert f"{table_name}_keywords_idx" in plan, plan
    texts = {**ALICE, **{r.id: r.payload["data"] for r in filler}}
    assert_same(pairs(await seeded.keyword_search("Kyoto errands", scope=Scope(user_id="alice"), limit=5)),
                reference(texts, "Kyoto errands")[:5])


async def test_empty_store_and_missing_table(pg_config: Any, table_name: str):
    s = PgVectorStore.from_config(pg_config(collection_name=table_name))  # no dims: no table yet
    assert await s.keyword_search("tea", scope=Scope(user_id="alice"), limit=5) == []
    await s.insert([record("only", "one tea", {}, 0)])
    (hit,) = await s.keyword_search("tea", scope=Scope(user_id="alice"), limit=5)
    # One document holding the only query word at average length: BM25 equals the idf mass.
    assert hit.id == "only" and math.isclose(hit.score, 1.0)
    await s.aclose()
