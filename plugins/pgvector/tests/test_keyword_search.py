"""Keyword search inside PostgreSQL: the ``keywords`` column, BM25 in SQL, and the migration.

Expected scores are recomputed with the engine's own :class:`BM25Index` over the same texts, so
these tests pin "the same answer as the in-process index", not just an order.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from psycopg import sql

from mem7_core.filters import parse_filters
from mem7_core.models import Scope, VectorRecord
from mem7_core.testing.keywords import KEYWORD_CORPUS as CORPUS
from mem7_core.testing.keywords import KEYWORD_OTHERS as OTHERS
from mem7_core.testing.keywords import KEYWORD_QUERIES as QUERIES
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


@pytest.mark.parametrize("query", QUERIES)
async def test_scores_are_the_core_index_scores(seeded: PgVectorStore, query: str):
    got = pairs(await seeded.keyword_search(query, scope=Scope(user_id="alice"), limit=100))
    want = reference(ALICE, query)
    assert_same(got, want)
    assert all(0.0 < s <= 1.0 for _, s in got)
    if query == "nothing matches this zebra":
        assert got == []


async def test_bm25_parameters_and_function_words_follow_the_config(pg_config: Any, table_name: str):
    s = PgVectorStore.from_config(
        pg_config(collection_name=table_name, dims=DIMS, keyword_k1=2.0, keyword_b=0.3, keyword_stopwords=False)
    )
    await s.insert([record(rid, text, extra, i) for i, (rid, text, extra) in enumerate(CORPUS)])
    for query in ("the tea", "What does Alice drink in the morning?", "Miso the cat"):
        got = pairs(await s.keyword_search(query, scope=Scope(user_id="alice"), limit=100))
        assert_same(got, reference(ALICE, query, k1=2.0, b=0.3, stopwords=False))
    # The same rows read with function words dropped (the column keeps every word).
    s2 = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS))
    assert_same(pairs(await s2.keyword_search("the tea", scope=Scope(user_id="alice"), limit=100)), reference(ALICE, "tea"))
    await s.aclose()
    await s2.aclose()


async def test_limit_keeps_the_best(seeded: PgVectorStore):
    want = reference(ALICE, "green tea")
    assert len(want) > 3
    assert_same(pairs(await seeded.keyword_search("green tea", scope=Scope(user_id="alice"), limit=3)), want[:3])
    assert await seeded.keyword_search("green tea", scope=Scope(user_id="alice"), limit=0) == []
    assert await seeded.keyword_search("the of and", scope=Scope(user_id="alice"), limit=5) == []  # function words only
    assert await seeded.keyword_search("", scope=Scope(user_id="alice"), limit=5) == []


async def test_scope_isolation(seeded: PgVectorStore):
    bob = {"b01": "tea tea tea green tea for Bob", "b02": "Bob drinks tea and coffee and plays tennis"}
    got = pairs(await seeded.keyword_search("tea", scope=Scope(user_id="bob"), limit=100))
    assert_same(got, reference(bob, "tea"))  # N and df are bob's scope's, not the table's
    carol = await seeded.keyword_search("tea Miso", scope=Scope(user_id="carol", agent_id="helper"), limit=100)
    assert [h.id for h in carol] == ["c01"]
    assert await seeded.keyword_search("tea", scope=Scope(user_id="carol", agent_id="other"), limit=100) == []
    assert await seeded.keyword_search("tea", scope=Scope(user_id="nobody"), limit=100) == []
    for h in await seeded.keyword_search("tea tennis cat", scope=Scope(user_id="alice"), limit=100):
        assert h.payload["user_id"] == "alice"


@pytest.mark.parametrize(
    "raw",
    [
        {"topic": "drinks"},  # pushed down
        {"topic": {"in": ["drinks", "travel"]}},
        {"n": {"gte": 3}},
        {"OR": [{"topic": "pets"}, {"tags": {"contains": "food"}}]},
        {"tags": {"eq": ["food", "allergy"]}},  # eq against a list: evaluated by the store in Python
        {"AND": [{"topic": {"ne": "travel"}}, {"tags": {"ne": ["food", "allergy"]}}]},  # half SQL, half Python
    ],
)
async def test_filters_narrow_results_not_statistics(seeded: PgVectorStore, raw: dict[str, Any]):
    from mem7_core.filters import evaluate

    node = parse_filters(raw)
    payloads = {rid: {"data": text, "user_id": "alice", **extra} for rid, text, extra in CORPUS}
    for query in ("tea", "Alice cat peanuts tennis", "green"):
        want = [(i, s) for i, s in reference(ALICE, query) if evaluate(node, payloads[i])]
        got = await seeded.keyword_search(query, scope=Scope(user_id="alice"), limit=100, filters=node)
        assert_same(pairs(got), want)
        limited = await seeded.keyword_search(query, scope=Scope(user_id="alice"), limit=1, filters=node)
        assert_same(pairs(limited), want[:1])


async def test_a_reworded_memory_shows_its_new_keywords(seeded: PgVectorStore):
    scope = Scope(user_id="alice")
    assert "a04" in [h.id for h in await seeded.keyword_search("tennis", scope=scope, limit=10)]
    new = {**CORPUS[3][2], "data": "Alice plays badminton on Sundays with Bob", "user_id": "alice"}
    await seeded.update("a04", payload=new)
    assert "a04" not in [h.id for h in await seeded.keyword_search("tennis", scope=scope, limit=10)]
    texts = {**ALICE, "a04": new["data"]}
    assert_same(pairs(await seeded.keyword_search("badminton Sundays", scope=scope, limit=10)),
                reference(texts, "badminton Sundays"))
    # An upsert rewords too (and a vector-only update keeps the keywords).
    await seeded.insert([record("a08", "Miso the dog chases squirrels", {"topic": "pets"}, 8)])
    await seeded.update("a08", vector=vec(3))
    texts["a08"] = "Miso the dog chases squirrels"
    assert_same(pairs(await seeded.keyword_search("dog squirrels Miso", scope=scope, limit=10)),
                reference(texts, "dog squirrels Miso"))
    # A memory moved to another scope leaves this one's keyword search.
    await seeded.update("a09", payload={"data": "Miso the cat hates the vacuum cleaner", "user_id": "bob"})
    assert "a09" not in [h.id for h in await seeded.keyword_search("vacuum", scope=scope, limit=10)]
    assert [h.id for h in await seeded.keyword_search("vacuum", scope=Scope(user_id="bob"), limit=10)] == ["a09"]
    await seeded.delete(["a06"])
    del texts["a06"], texts["a09"]
    assert_same(pairs(await seeded.keyword_search("tea", scope=scope, limit=100)), reference(texts, "tea"))


async def test_unusual_text_is_stored_and_found(pg_config: Any, table_name: str):
    s = PgVectorStore.from_config(pg_config(collection_name=table_name, dims=DIMS))
    texts = {
        "q1": "O'Brien said 'hello' \\ back\\slash and %s %(x)s placeholders",
        "q2": "Café naïve Straße 東京 タワー; ÉCOLE",
        "q3": "x" * 3000 + " tail word",  # a word PostgreSQL cannot hold as a lexeme
        "q4": " ".join(["same"] * 400),  # more occurrences than a tsvector keeps positions
    }
    await s.insert([record(rid, text, {}, i) for i, (rid, text) in enumerate(texts.items())])
    scope = Scope(user_id="alice")
    for query in ("O'Brien hello", "slash placeholders s x", "café STRASSE straße 東京", "école", "tail", "same"):
        got = pairs(await s.keyword_search(query, scope=scope, limit=10))
        want = reference(texts, query)
        assert [i for i, _ in got] == [i for i, _ in want], query
    (hit,) = await s.keyword_search("same", scope=scope, limit=10)
    assert hit.id == "q4" and hit.score == 1.0
    await s.aclose()


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
