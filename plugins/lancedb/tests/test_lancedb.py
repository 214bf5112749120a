"""mem7-lancedb beyond the conformance suite: SQL push-down, injection, two processes on one path,
the ANN option and config errors. All against the real embedded LanceDB, in tmp directories."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pydantic
import pytest

from mem7_core.filters import parse_filters
from mem7_core.models import Scope, VectorRecord
from mem7_lancedb import LanceDBVectorStore
from mem7_lancedb import _encoding as enc

DIMS = 4


def _store(path: Path, **cfg: object) -> LanceDBVectorStore:
    return LanceDBVectorStore(LanceDBVectorStore.Config.model_validate({"path": str(path), **cfg}))


def _rec(i: int, user: str = "u1", **extra: object) -> VectorRecord:
    vec = [1.0, float(i), 0.5, -float(i % 3)]
    return VectorRecord(
        id=f"r{i}",
        vector=vec,
        payload={"user_id": user, "created_at": f"2024-01-01T00:00:{i:02d}+00:00", "i": i, **extra},
    )


# ---------------------------------------------------------------------------------- push-down
@pytest.mark.parametrize(
    ("filters", "exact"),
    [
        ({"cat": "x"}, True),
        ({"cat": {"ne": "x"}, "n": {"in": [1, "a"]}, "m": {"nin": [None]}, "k": "*"}, True),
        ({"OR": [{"cat": "x"}, {"NOT": [{"n": 1}]}]}, True),
        ({"cat": "x", "n": {"gt": 1}}, False),  # the range is left to Python, the eq still pushed
        ({"OR": [{"cat": "x"}, {"s": {"contains": "a"}}]}, False),
    ],
)
def test_split_pushes_down_exact_parts(filters: dict[str, object], exact: bool) -> None:
    sql, is_exact = enc.split(parse_filters(filters))
    assert is_exact is exact
    if "cat" in filters and not isinstance(filters.get("cat"), dict):
        assert sql, "the eq condition must reach SQL"


def test_no_user_text_reaches_sql() -> None:
    evil = "x') OR TRUE OR array_has(value_tokens, 'y"
    node = parse_filters({"OR": [{evil: evil}, {"k": {"in": [evil, "' OR 1=1 --"]}}, {evil: "*"}]})
    assert node is not None
    sql = enc.to_sql(node)
    assert sql is not None
    assert "OR TRUE" not in sql and "1=1" not in sql
    for literal in sql.split("'")[1::2]:  # every quoted literal is a hex token
        assert all(c in "0123456789abcdef" for c in literal)
    hostile_id = "' OR 1=1 --"
    assert enc.keys_in([hostile_id]) == f"id_hex IN ('{hostile_id.encode().hex()}')"


async def test_injection_attempts_match_literally_and_leave_the_table_alone(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        await store.insert([_rec(1), _rec(2, user="u2"), _rec(3, note="it's")])
        for evil in ("u1' OR '1'='1", "u1'; DROP TABLE mem7_memories; --", "u1\\", "u1\x00"):
            assert await store.search([1, 1, 1, 1], scope=Scope(user_id=evil), limit=10) == []
            assert await store.list(scope=Scope(user_id=evil)) == []
        hits = await store.list(scope=Scope(user_id="u1"), filters=parse_filters({"note": "it's"}))
        assert [h.id for h in hits] == ["r3"]
        hits = await store.list(scope=Scope(), filters=parse_filters({"OR": [{"user_id": "x' OR '1'='1"}, {"i": 2}]}))
        assert [h.id for h in hits] == ["r2"]
        assert await store.count(scope=Scope()) == 3
    finally:
        await store.aclose()


async def test_search_with_python_residue_still_fills_the_limit(tmp_path: Path) -> None:
    """The nearest rows fail a range filter (evaluated in Python): the store must still return
    ``limit`` hits from further away, not an empty page."""
    store = _store(tmp_path)
    try:
        await store.insert([_rec(i) for i in range(30)])
        hits = await store.search(
            [1.0, 0.0, 0.5, 0.0], scope=Scope(user_id="u1"), limit=3, filters=parse_filters({"i": {"gte": 25}})
        )
        assert all(h.payload["i"] >= 25 for h in hits) and len(hits) == 3
    finally:
        await store.aclose()


# ---------------------------------------------------------------------------------- processes
_CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from mem7_core.models import Scope, VectorRecord
    from mem7_lancedb import LanceDBVectorStore

    async def main(path, tag, n):
        store = LanceDBVectorStore(LanceDBVectorStore.Config(path=path))
        for i in range(n):  # one commit per record: many versions, interleaved with the other writer
            await store.insert([VectorRecord(id=f"{tag}{i}", vector=[1.0, i, 0.0, 1.0], payload={"user_id": "u", "created_at": str(i)})])
        got = await store.list(scope=Scope(user_id="u"))
        print(json.dumps(sorted(r.id for r in got)))
        await store.aclose()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


def _spawn(path: Path, tag: str, n: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), tag, str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_two_processes_on_one_path_see_every_acknowledged_write(tmp_path: Path) -> None:
    path = tmp_path / "shared"
    parent = _store(path)
    try:
        await parent.insert([_rec(0, user="u")])  # the table exists before the children start
        assert await parent.count(scope=Scope(user_id="u")) == 1
        a, b = _spawn(path, "a", 15), _spawn(path, "b", 15)  # two writers at once
        outs = [await asyncio.to_thread(p.communicate, timeout=120) for p in (a, b)]
        for p, (out, err) in zip((a, b), outs):
            assert p.returncode == 0, err
            seen = set(json.loads(out))
            assert {f"{'a' if p is a else 'b'}{i}" for i in range(15)} <= seen  # its own writes, all
        # The parent, open all along, sees every write of both processes without reopening.
        want = {"r0"} | {f"a{i}" for i in range(15)} | {f"b{i}" for i in range(15)}
        assert {r.id for r in await parent.list(scope=Scope(user_id="u"))} == want
        hits = await parent.search([1.0, 14.0, 0.0, 1.0], scope=Scope(user_id="u"), limit=2)
        assert {h.id for h in hits} == {"a14", "b14"}
        # And a write of the parent reaches a process opening the path afterwards.
        await parent.delete(["a0"])
        out, err = await asyncio.to_thread(_spawn(path, "c", 1).communicate, timeout=120)
        assert "a0" not in json.loads(out) and "c0" in json.loads(out), err
    finally:
        await parent.aclose()


# ---------------------------------------------------------------------------------- options, errors
async def test_ann_index_option_builds_an_index_and_still_finds_the_nearest(tmp_path: Path) -> None:
    store = _store(tmp_path, ann_index=True, ann_min_rows=256)
    try:
        recs = [
            VectorRecord(
                id=f"v{i}", vector=[float((i * 7) % 13), float(i % 5), 1.0, float(i % 11)], payload={"user_id": "u"}
            )
            for i in range(300)
        ]
        await store.insert(recs)
        table = await store._open()
        assert await table.list_indices(), "ann_index must have built an index past ann_min_rows"
        hits = await store.search(recs[42].vector or [], scope=Scope(user_id="u"), limit=1)
        assert hits[0].score == pytest.approx(1.0, abs=1e-3)
    finally:
        await store.aclose()


async def test_exact_search_by_default_builds_no_index(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        await store.insert([_rec(i) for i in range(300)])
        table = await store._open()
        assert await table.list_indices() == []
    finally:
        await store.aclose()


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError, match="path"):
        LanceDBVectorStore.Config.model_validate({})
    with pytest.raises(pydantic.ValidationError, match="path must not be empty"):
        LanceDBVectorStore.Config.model_validate({"path": "  "})
    with pytest.raises(pydantic.ValidationError, match="collection_name"):
        LanceDBVectorStore.Config.model_validate({"path": str(tmp_path), "collection_name": "a b'"})


async def test_wrong_dims_and_bad_vectors_are_clear_errors(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        await store.insert([_rec(1)])
        with pytest.raises(ValueError, match=r"3-dim vector.*4-dim"):
            await store.insert([VectorRecord(id="x", vector=[1.0, 2.0, 3.0], payload={})])
        with pytest.raises(ValueError, match="finite numbers only"):
            await store.insert([VectorRecord(id="x", vector=[1.0, float("nan"), 3.0, 1.0], payload={})])
        with pytest.raises(ValueError, match=r"search vector has 2 dims"):
            await store.search([1.0, 2.0], scope=Scope(), limit=1)
    finally:
        await store.aclose()


async def test_concurrent_first_writes_of_several_stores_lose_nothing(tmp_path: Path) -> None:
    """Several stores (as several processes would) create the table at once: LanceDB's create is
    not atomic (a racing create commits an overwrite), so creation is serialised by a lock file."""
    path = tmp_path / "race"
    stores = [_store(path) for _ in range(6)]
    try:
        await asyncio.gather(*(s.insert([_rec(i, user=f"u{i}")]) for i, s in enumerate(stores)))
        assert {r.id for r in await stores[0].list(scope=Scope())} == {f"r{i}" for i in range(6)}
    finally:
        for s in stores:
            await s.aclose()


async def test_a_commit_conflict_is_retried_and_other_failures_name_the_provider(tmp_path: Path) -> None:
    """Lance resolves most concurrent commits itself; one it reports as a conflict is re-run whole
    (up to ``max_retries``), anything else ends as a ProviderError naming lancedb."""
    from mem7_core.errors import ProviderError

    store = _store(tmp_path, max_retries=2)
    calls: list[int] = []

    async def conflicting(table: object) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("lance error: Retryable commit conflict for version 3: preempted. Please retry.")
        return "ok"

    assert await store._write("insert", conflicting, None) == "ok"
    assert len(calls) == 3
    calls.clear()

    async def always(table: object) -> str:
        calls.append(1)
        raise RuntimeError("lance error: Commit conflict for version 9")

    with pytest.raises(ProviderError, match=r"\[lancedb\] insert failed.*Commit conflict"):
        await store._write("insert", always, None)
    assert len(calls) == 3  # the first attempt and max_retries=2 retries

    async def broken(table: object) -> str:
        raise OSError("disk full")

    with pytest.raises(ProviderError, match=r"\[lancedb\] delete failed.*disk full"):
        await store._write("delete", broken, None)
