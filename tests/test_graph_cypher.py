"""mem7_core.providers.graph_cypher: the Cypher graph stores' shared plumbing (neo4j, falkordb,
memgraph run its statements against real servers; these pin the Python around them)."""

from __future__ import annotations

from collections.abc import Awaitable

import pytest

from mem7_core.models import Scope
from mem7_core.providers import GraphRelation
from mem7_core.providers import graph_cypher as gc


def test_write_params_fill_unset_ids_with_the_empty_string() -> None:
    assert gc.write_params(Scope(user_id="u", run_id="r")) == {"user_id": "u", "agent_id": "", "run_id": "r"}


def test_scope_where_names_only_the_set_ids_and_passes_values_as_parameters() -> None:
    assert gc.scope_where("a", Scope()) == ("true", {})
    where, params = gc.scope_where("n", Scope(user_id="u' OR 1=1", agent_id="x"))
    assert where == "n.user_id = $s_user_id AND n.agent_id = $s_agent_id"
    assert params == {"s_user_id": "u' OR 1=1", "s_agent_id": "x"}


def test_statements_carry_the_predicate_and_the_limit() -> None:
    assert gc.get_all("W", False).endswith("ORDER BY r.created_at, a.name, r.name, b.name")
    assert "WHERE W AND r.valid = true" in gc.get_all("W", True) and gc.get_all("W", True).endswith("LIMIT $limit")
    assert "r.valid = true" not in gc.get_all("W", False, valid_only=False)
    assert gc.get_all("W", False, valid_only=False) == gc.get_all("W", False).replace(" AND r.valid = true", "")
    assert "WHERE W AND r.valid = true SET r.valid = false" in gc.invalidate("W")
    assert "WHERE W SET r.mentions = coalesce(r.mentions, 0) + 1" in gc.rehearse("W")
    assert gc.delete_all("W") == f"MATCH (n:{gc.LABEL}) WHERE W DETACH DELETE n"
    assert gc.entity_count("W") == f"MATCH (n:{gc.LABEL}) WHERE W RETURN count(n) AS c"


@pytest.mark.parametrize("name", ["mem7", "_x1", "A" * 63])
def test_identifiers_accepted(name: str) -> None:
    assert gc.check_identifier(name, "graph") == name


@pytest.mark.parametrize("name", ["", "1x", "a-b", "a b", "a`b", "A" * 64])
def test_identifiers_refused_naming_the_field(name: str) -> None:
    with pytest.raises(ValueError, match="index_name must be letters"):
        gc.check_identifier(name, "index_name")


def test_check_url_names_field_example_and_schemes() -> None:
    assert gc.check_url("BOLT://h:1", "url", schemes=("bolt",), example="bolt://h:7687") == "BOLT://h:1"
    for bad in ("h:7687", "http://h", "bolt://"):
        with pytest.raises(ValueError, match=r"url must look like bolt://h:7687 \(schemes: bolt, neo4j\)"):
            gc.check_url(bad, "url", schemes=("bolt", "neo4j"), example="bolt://h:7687")


def _row(i: int, rid: object, triple: tuple[str, str, str], mentions: int = 1) -> dict[str, object]:
    s, r, d = triple
    return {
        "i": i, "rid": rid, "source": s, "relationship": r, "destination": d, "valid": True,
        "mentions": mentions, "created_at": "t", "updated_at": "t", "last_accessed_at": None,
    }  # fmt: skip


def test_rank_hits_keeps_each_relation_once_with_its_best_score_in_order() -> None:
    rows = [
        _row(0, 1, ("a", "r", "b")),
        _row(1, 1, ("a", "r", "b")),  # same relation from its other endpoint: best score wins
        _row(0, 2, ("a", "s", "c"), mentions=3),
        _row(0, 3, ("a", "q", "c"), mentions=3),
        _row(2, 4, ("z", "r", "z")),
    ]
    hits = gc.rank_hits(rows, [0.5, 0.9, 0.1], limit=3)
    assert [(h.triple, h.score) for h in hits] == [
        (("a", "r", "b"), 0.9),
        (("a", "q", "c"), 0.5),  # ties: more mentions, then the triple
        (("a", "s", "c"), 0.5),
    ]
    assert gc.rank_hits(rows, [0.5, 0.9, 0.1], limit=0) == []


def test_relation_from_row_and_sort_page() -> None:
    rel = gc.relation_from_row({**_row(0, 0, ("a", "r", "b")), "mentions": None, "valid": 1})
    assert (rel.valid, rel.mentions, rel.score) == (True, 0, None)
    page = [GraphRelation("b", "r", "c", created_at="t1"), GraphRelation("a", "r", "c", created_at="t1"),
            GraphRelation("z", "r", "z", created_at="t0")]  # fmt: skip
    assert [r.triple[0] for r in gc.sort_page(page)] == ["z", "a", "b"]


def test_triples_deduplicated_and_checked() -> None:
    rels = [GraphRelation("a", "r", "b"), GraphRelation("c", "r", "d"), GraphRelation("a", "r", "b")]
    assert gc.triple_rows(rels) == [
        {"source": "a", "relationship": "r", "destination": "b"},
        {"source": "c", "relationship": "r", "destination": "d"},
    ]
    gc.check_triples(rels)
    with pytest.raises(ValueError, match="relation relationship must be a non-empty string"):
        gc.check_triples([GraphRelation("a", "", "b")])


def test_upsert_checks() -> None:
    gc.check_entity_dims({3}, 3)
    gc.check_entity_dims(set(), 3)
    with pytest.raises(ValueError, match=r"one length, got lengths \[2, 3\]"):
        gc.check_entity_dims({3, 2}, None)
    with pytest.raises(ValueError, match=r"must have 4 dimensions \(dims\), got 3"):
        gc.check_entity_dims({3}, 4)
    scope = Scope(user_id="u")
    gc.check_references(scope, ["a"], ["b"], {"a", "b"})
    with pytest.raises(ValueError, match=r"new entities need an embedding: \['a'\]"):
        gc.check_references(scope, ["a"], [], set())
    with pytest.raises(ValueError, match=r"relation endpoints \['b'\] are neither given"):
        gc.check_references(scope, [], ["b"], {"a"})


def test_query_vectors_and_vector_values() -> None:
    assert gc.query_vectors([[1, 0], (0.5, 2)], 2) == [[1.0, 0.0], [0.5, 2.0]]
    with pytest.raises(ValueError, match="search embeddings must all have one length"):
        gc.query_vectors([[1.0, 0.0], [1.0]], None)
    with pytest.raises(ValueError, match=r"must have 3 dimensions \(dims\), got 2"):
        gc.query_vectors([[1.0, 0.0]], 3)
    with pytest.raises(ValueError, match="finite"):
        gc.vector_values([1.0, float("nan")], "x")
    with pytest.raises(ValueError, match="x must not be empty"):
        gc.vector_values([], "x")
    with pytest.raises(ValueError, match="x must be sequences of numbers"):
        gc.vector_values(["a"], "x")  # type: ignore[list-item]


class _Recorder(gc.CypherScopeOps):
    """The mixin over a runner that records what it is sent and answers from a script."""

    def __init__(self, answers: list[list[dict[str, object]]]) -> None:
        self.sent: list[tuple[str, dict[str, object], bool]] = []
        self.answers = answers

    async def _statement_rows(self, statement: str, params: dict[str, object], *, write: bool) -> list[object]:
        self.sent.append((statement, params, write))
        return list(self.answers.pop(0)) if self.answers else []


async def test_scope_ops_send_one_statement_each_and_read_the_answer() -> None:
    scope = Scope(user_id="u")
    ops = _Recorder([[{"changed": 2}], [{"c": 5}], [_row(0, 0, ("b", "r", "c")), _row(0, 0, ("a", "r", "c"))]])
    rels = [GraphRelation("a", "r", "b"), GraphRelation("a", "r", "b")]
    assert await ops.invalidate(scope, rels, now="t") == 2
    assert await ops.entity_count(scope) == 5
    assert [r.triple[0] for r in await ops.get_all(scope, limit=3)] == ["a", "b"]
    await ops.rehearse(scope, [], now="t")  # nothing to do: nothing sent
    await ops.reset()
    (inv, inv_params, inv_write), (_, count_params, count_write), (_, all_params, _), (reset, _, _) = ops.sent
    assert inv == gc.invalidate("a.user_id = $s_user_id") and inv_write and not count_write
    assert inv_params == {"s_user_id": "u", "rows": gc.triple_rows(rels), "now": "t"}
    assert count_params == {"s_user_id": "u"} and all_params == {"s_user_id": "u", "limit": 3}
    assert reset == gc.RESET
    assert await ops.get_all(scope, limit=0) == [] and len(ops.sent) == 4
    with pytest.raises(ValueError, match="delete_all needs a scope"):
        await ops.delete_all(Scope())


def test_bolt_config_checks_fields_naming_them() -> None:
    from pydantic import ValidationError

    cfg = gc.BoltConfig.model_validate({"url": "neo4j+s://h:7687", "password": "pw"})
    assert cfg.url == "neo4j+s://h:7687" and "pw" not in repr(cfg)
    for bad, field in (({"url": "http://h"}, "url"), ({"index_name": "a-b"}, "index_name"),
                       ({"database": " "}, "database"), ({"max_retries": -1}, "max_retries")):  # fmt: skip
        with pytest.raises(ValidationError, match=field):
            gc.BoltConfig.model_validate(bad)


class _Conflict(Exception):
    pass


async def test_retry_conflicts_retries_only_conflicts_and_maps_the_last() -> None:
    import logging

    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _Conflict("lost a race")
        return "ok"

    def fail(exc: BaseException) -> Exception:
        return RuntimeError(f"mapped: {exc}")

    def run(retries: int, conflicts: bool) -> Awaitable[str]:
        return gc.retry_conflicts(
            flaky,
            retries=retries,
            errors=(_Conflict, ValueError),
            is_conflict=lambda e: conflicts and isinstance(e, _Conflict),
            fail=fail,
            log=logging.getLogger("test"),
        )

    got = await run(5, True)
    assert got == "ok" and len(calls) == 3
    calls.clear()
    with pytest.raises(RuntimeError, match="mapped: lost a race") as info:
        await run(1, True)
    assert len(calls) == 2 and isinstance(info.value.__cause__, _Conflict)
    calls.clear()
    with pytest.raises(RuntimeError, match="mapped"):
        await run(5, False)
    assert len(calls) == 1


def test_mem0s_base_label_is_accepted_when_it_means_what_mem7_does() -> None:
    """mem0's neo4j / memgraph configs carry ``base_label``: ``true`` (one label for every entity)
    is what the Bolt stores do, so a mem0 config works as it is; ``false`` is refused, naming why."""
    from pydantic import ValidationError

    assert gc.BoltConfig.model_validate({"url": "bolt://x", "base_label": True}).base_label is True
    with pytest.raises(ValidationError) as info:
        gc.BoltConfig.model_validate({"base_label": False})
    assert "label per entity type) is not supported" in str(info.value) and gc.LABEL in str(info.value)
