"""``mem7_core.frameworks``: what the framework integrations share, against real engines (the
testing kit's hash embedder, no LLM: what is added is stored verbatim)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from mem7_core import AsyncMemory, Memory
from mem7_core.frameworks import (
    SCOPE_FIELDS,
    ScopedMemory,
    action_lines,
    call,
    check_memory,
    check_options,
    check_scope,
    check_sync_memory,
    memory_lines,
    scope_ids,
)
from mem7_core.testing.integration import verbatim_config


@pytest.fixture
async def amemory() -> AsyncIterator[AsyncMemory]:
    async with AsyncMemory(verbatim_config()) as mem:
        yield mem


@pytest.fixture
def memory() -> Iterator[Memory]:
    with Memory(verbatim_config()) as mem:
        yield mem


# ------------------------------------------------------------------------------------ checks
def test_check_memory_takes_either_engine_and_names_the_fix_otherwise(memory: Memory) -> None:
    assert check_memory("tool()", memory) is memory
    with pytest.raises(TypeError) as info:
        check_memory("tool()", {"llm": None})
    message = str(info.value)
    assert message.startswith("tool(): memory must be a mem7 Memory or AsyncMemory")
    assert "got dict" in message and "AsyncMemory(config)" in message


async def test_check_sync_memory_refuses_an_async_memory_saying_why(amemory: AsyncMemory, memory: Memory) -> None:
    assert check_sync_memory("Crew", memory, why="it runs in threads") is memory
    with pytest.raises(TypeError) as info:
        check_sync_memory("Crew", amemory, why="it runs in threads")
    assert str(info.value) == (
        "Crew: memory must be a mem7 Memory (sync), got an AsyncMemory; it runs in threads: use mem7_core.Memory(config)"
    )
    with pytest.raises(TypeError, match=r"^Crew: memory must be a mem7 Memory .*got str; .*mem7_core\.Memory\(config\)"):
        check_sync_memory("Crew", "memory", why="it runs in threads")


def test_check_scope_returns_the_ids_given() -> None:
    assert check_scope("f()", "alice", None, "r1") == {"user_id": "alice", "run_id": "r1"}
    assert list(check_scope("f()", "a", "b", "c")) == list(SCOPE_FIELDS)


@pytest.mark.parametrize(
    ("ids", "words"),
    [
        ((None, None, None), ["f(): no scope given", "pass user_id=, agent_id= and/or run_id="]),
        (("", None, None), ["f(): user_id must be a non-empty string or None", "''"]),
        ((None, "  ", None), ["agent_id must be a non-empty string"]),
        ((None, None, 7), ["run_id must be a non-empty string", "got 7"]),
    ],
)
def test_check_scope_names_the_bad_id_and_the_fix(ids: tuple[Any, Any, Any], words: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        check_scope("f()", *ids)
    for w in words:
        assert w in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"infer": "yes"}, TypeError, ["g(): infer must be True or False", "'yes'"]),
        ({"limit": 0}, ValueError, ["g(): limit must be a positive int", "got 0"]),
        ({"limit": True}, ValueError, ["limit must be a positive int", "True"]),
        ({"metadata": [("k", "v")]}, TypeError, ["g(): metadata must be a mapping or None", "list"]),
    ],
)
def test_check_options_names_the_field(kwargs: dict[str, Any], error: type[Exception], words: list[str]) -> None:
    with pytest.raises(error) as info:
        check_options("g()", **kwargs)
    for w in words:
        assert w in str(info.value)


def test_check_options_returns_a_copy_of_the_metadata() -> None:
    given = {"source": "chat"}
    out = check_options("g()", infer=False, limit=3, metadata=given)
    assert out == given and out is not given
    assert check_options("g()") == {}


def test_scope_ids_leaves_out_what_is_unset() -> None:
    assert scope_ids("alice") == {"user_id": "alice"}
    assert scope_ids(agent_id="bot", run_id="r") == {"agent_id": "bot", "run_id": "r"}
    assert scope_ids() == {}


def test_scoped_memory_of_checks_every_argument(memory: Memory) -> None:
    bound = ScopedMemory.of("h()", memory, "alice", None, None, {"k": 1})
    assert (bound.memory, dict(bound.scope), dict(bound.metadata)) == (memory, {"user_id": "alice"}, {"k": 1})
    with pytest.raises(TypeError, match=r"^h\(\): memory must be"):
        ScopedMemory.of("h()", object(), "alice")
    with pytest.raises(ValueError, match=r"^h\(\): no scope given"):
        ScopedMemory.of("h()", memory)
    with pytest.raises(TypeError, match=r"^h\(\): metadata must be a mapping"):
        ScopedMemory.of("h()", memory, "alice", metadata="k=1")


# ------------------------------------------------------------------------------------ calls
@pytest.fixture(params=["AsyncMemory", "Memory"])
async def engine(request: pytest.FixtureRequest) -> AsyncIterator[AsyncMemory | Memory]:
    if request.param == "AsyncMemory":
        async with AsyncMemory(verbatim_config()) as amem:
            yield amem
    else:
        with Memory(verbatim_config()) as mem:
            yield mem


async def test_scoped_memory_adds_and_searches_in_its_scope(engine: AsyncMemory | Memory) -> None:
    mem = engine
    alice = ScopedMemory.of("t", mem, user_id="alice", metadata={"source": "chat", "topic": "x"})
    bob = ScopedMemory.of("t", mem, user_id="bob")

    added = await alice.add("Alice likes green tea", infer=False, metadata={"topic": "drinks"})
    assert [a["event"] for a in added["results"]] == ["ADD"]
    await bob.add("Bob likes coffee", infer=False)

    found = await alice.search("green tea", limit=5)
    assert [m["memory"] for m in found["results"]] == ["Alice likes green tea"]
    assert found["results"][0]["metadata"] == {"source": "chat", "topic": "drinks"}  # the call's metadata wins
    assert [m["memory"] for m in (await bob.search("tea", limit=5))["results"]] == ["Bob likes coffee"]
    nothing = await alice.search("green tea", limit=5, filters={"topic": "food"})
    assert nothing["results"] == []
    # the store of record has it, for any other reader of the engine
    stored = await call(mem, "get_all", user_id="alice")
    assert [m["memory"] for m in stored["results"]] == ["Alice likes green tea"]


async def test_call_runs_a_sync_memory_off_the_event_loop_thread() -> None:
    threads: list[int] = []

    class Recording(Memory):
        def get_all(self, *args: Any, **kwargs: Any) -> Any:
            threads.append(threading.get_ident())
            return super().get_all(*args, **kwargs)

    with Recording(verbatim_config()) as mem:
        assert (await call(mem, "get_all", user_id="alice"))["results"] == []
    assert threads and threads[0] != threading.get_ident()


# ------------------------------------------------------------------------------------ text
async def test_lines_of_real_results(amemory: AsyncMemory) -> None:
    added = await amemory.add("Alice likes green tea", user_id="alice", infer=False)
    assert action_lines(added) == "ADD: Alice likes green tea"
    assert action_lines({"results": [], "relations": []}) == "Nothing new to remember: this is already known."
    assert action_lines({"results": [], "relations": []}, empty="") == ""
    await amemory.add("Alice is vegetarian", user_id="alice", infer=False)
    found = await amemory.search("Alice", user_id="alice", limit=5)
    assert sorted(memory_lines(found["results"]).split("\n")) == ["- Alice is vegetarian", "- Alice likes green tea"]
    assert memory_lines([]) == ""
    assert memory_lines([], empty="No memories matched.") == "No memories matched."
