"""A real CrewAI ``Crew`` (one agent, one task) on the loopback model, with ``Mem7Memory`` as its
memory: what the agent saves reaches mem7 (read back through mem7's own API), and comes back in
the prompt the model receives on the next run; CrewAI's memory tools go through mem7 too."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any

from crewai.events.event_bus import crewai_event_bus
from crewai.events.types.memory_events import MemorySaveFailedEvent

from mem7_core import Memory
from mem7_core.providers.tasks import FACT_EXTRACTION_MARKER
from mem7_core.testing.openai_server import OpenAIServer, ToolCall
from mem7_crewai import Mem7Memory

ROLE = "Test Agent"  # the conftest's agent role


def texts(memory: Memory, **scope: str) -> list[str]:
    return sorted(item["memory"] for item in memory.get_all(**scope)["results"])


def test_the_task_result_is_stored_in_mem7_and_recalled_into_the_next_prompt(memory, make_crew, agent_script) -> None:
    agent_script.replies = ["Alice drinks green tea every morning.", "Green tea."]
    crew = make_crew(Mem7Memory(memory, user_id="alice", infer=False))
    assert crew.kickoff().raw == "Alice drinks green tea every morning."
    assert "Relevant memories" not in agent_script.prompt(0)  # nothing stored yet

    # kickoff waited for the background save: mem7 has it, in alice's scope, with the agent's role
    [item] = memory.get_all(user_id="alice")["results"]
    assert item["memory"] == (
        "Task: What does the user like to drink?\nAgent: Test Agent\nExpected result: One sentence.\n"
        "Result: Alice drinks green tea every morning."
    )
    assert item["metadata"] == {"agent_role": ROLE}

    # a new crew with a new Mem7Memory over the same store: the memory is in the model's prompt
    again = make_crew(Mem7Memory(memory, user_id="alice", infer=False))
    assert again.kickoff().raw == "Green tea."
    prompt = agent_script.prompt(1)
    assert "Relevant memories:" in prompt
    assert "Result: Alice drinks green tea every morning." in prompt
    assert f"agent_role: {ROLE}" in prompt


def test_with_mem7s_llm_the_facts_it_extracts_are_stored(llm_memory, make_crew, openai_server: OpenAIServer) -> None:
    """``infer=True``: CrewAI's task-and-result text goes to mem7's fact extraction, and what that
    LLM returns is what is stored (CrewAI's own extraction is not called)."""
    extraction_inputs: list[str] = []

    def answer(messages: list[dict[str, Any]], body: dict[str, Any]) -> Any:
        system = str(messages[0].get("content", ""))
        if system.startswith(f"You are {ROLE}."):
            return "Alice drinks green tea every morning."
        if system.startswith(FACT_EXTRACTION_MARKER):
            extraction_inputs.append(str(messages[-1]["content"]))
            return json.dumps({"facts": [{"text": "Alice drinks green tea every morning", "category": "preference"}]})
        return None  # mem7's update decision: the server's rule-based reply

    openai_server.script(answer)
    make_crew(Mem7Memory(llm_memory, user_id="alice")).kickoff()

    assert texts(llm_memory, user_id="alice") == ["Alice drinks green tea every morning"]
    [given] = extraction_inputs
    assert "Result: Alice drinks green tea every morning." in given and "Task: What does the user like to drink?" in given
    # the same result again: mem7 reconciles it with what it knows, nothing is stored twice
    make_crew(Mem7Memory(llm_memory, user_id="alice")).kickoff()
    assert texts(llm_memory, user_id="alice") == ["Alice drinks green tea every morning"]


def test_the_agents_memory_tools_save_to_and_search_mem7(memory, make_crew, agent_script) -> None:
    agent_script.replies = [
        ToolCall("save_to_memory", {"contents": ["Bob is allergic to peanuts"]}, id="save"),
        ToolCall("search_memory", {"queries": ["allergies"]}, id="search"),
        "Noted.",
    ]
    make_crew(Mem7Memory(memory, user_id="bob", infer=False), task="Remember Bob's allergy.").kickoff()

    outputs = {m["tool_call_id"]: m["content"] for m in agent_script.requests[-1] if m.get("role") == "tool"}
    assert outputs["save"] == "Saved to memory (scope=/, importance=0.5)."
    assert outputs["search"].startswith("Found memories:\n- (score=")
    assert "Bob is allergic to peanuts" in outputs["search"]
    assert "Bob is allergic to peanuts" in texts(memory, user_id="bob")


def test_a_read_only_memory_recalls_but_stores_nothing_and_offers_no_save_tool(memory, make_crew, agent_script) -> None:
    memory.add("Carol lives in Porto", user_id="carol", infer=False)
    agent_script.replies = ["Porto."]
    make_crew(Mem7Memory(memory, user_id="carol", read_only=True)).kickoff()

    assert "Carol lives in Porto" in agent_script.prompt()
    assert texts(memory, user_id="carol") == ["Carol lives in Porto"]


def test_two_crews_on_one_store_do_not_see_each_others_memories(memory, make_crew, agent_script) -> None:
    agent_script.replies = ["Alice drinks green tea.", "I do not know.", "Green tea."]
    make_crew(Mem7Memory(memory, user_id="alice", infer=False)).kickoff()
    make_crew(Mem7Memory(memory, user_id="bob", infer=False)).kickoff()  # bob's crew: alice's memory is not recalled
    assert "green tea" not in agent_script.prompt(1).lower()
    make_crew(Mem7Memory(memory, user_id="alice", infer=False)).kickoff()
    assert "Result: Alice drinks green tea." in agent_script.prompt(2)

    assert [t.splitlines()[-1] for t in texts(memory, user_id="alice")] == [
        "Result: Alice drinks green tea.", "Result: Green tea."]
    assert [t.splitlines()[-1] for t in texts(memory, user_id="bob")] == ["Result: I do not know."]
    recalled = Mem7Memory(memory, user_id="bob").recall("green tea")
    assert [m.record.content.splitlines()[-1] for m in recalled] == ["Result: I do not know."]


def test_a_failed_save_is_reported_as_crewais_event_and_loses_nothing_stored(llm_memory, make_crew, openai_server) -> None:
    llm_memory.add("Dan plays chess", user_id="dan", infer=False)
    failures: list[str] = []
    reported = threading.Event()

    def answer(messages: list[dict[str, Any]], body: dict[str, Any]) -> Any:
        if not str(messages[0].get("content", "")).startswith(f"You are {ROLE}."):
            return None
        openai_server.fail_next(status=400, endpoint="embeddings")  # the save's embedding call is refused
        return "Chess."

    def seen(source: Any, event: MemorySaveFailedEvent) -> None:
        failures.append(event.error or "")
        reported.set()

    openai_server.script(answer)
    crewai_event_bus.on(MemorySaveFailedEvent)(seen)
    try:  # as in CrewAI, a failed save does not fail the task
        assert make_crew(Mem7Memory(llm_memory, user_id="dan", infer=False)).kickoff().raw == "Chess."
        # CrewAI emits the event from the save future's done-callback, which may run just after
        # kickoff's drain returned, and the bus runs handlers in its own threads: wait for it.
        assert reported.wait(30), "no MemorySaveFailedEvent"
    finally:
        crewai_event_bus.off(MemorySaveFailedEvent, seen)
    assert len(failures) == 1 and "400" in failures[0], failures
    assert texts(llm_memory, user_id="dan") == ["Dan plays chess"]


def test_what_a_crew_saved_is_visible_to_another_process(tmp_path, make_crew, agent_script) -> None:
    config = {
        "llm": None,
        "embedder": {"provider": "hash"},
        "vector_store": {"provider": "flat", "config": {"path": str(tmp_path / "vectors")}},
        "history_store": {"provider": "sqlite", "config": {"path": str(tmp_path / "history.db")}},
    }
    agent_script.replies = ["Erin speaks Portuguese."]
    with Memory(config) as mem:
        make_crew(Mem7Memory(mem, user_id="erin", infer=False)).kickoff()
    code = (
        "import json, sys\nfrom mem7_core import Memory\n"
        "with Memory(json.loads(sys.argv[1])) as m:\n"
        "    print(json.dumps([i['memory'] for i in m.get_all(user_id='erin')['results']]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(config)], capture_output=True, text=True, timeout=120, check=True)
    [stored] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert stored.endswith("Result: Erin speaks Portuguese.")


def test_an_agents_own_memory_is_used_without_a_crew_memory(memory, make_crew, agent_script) -> None:
    memory.add("Frank is learning Japanese", user_id="frank", infer=False)
    agent_script.replies = ["Japanese."]
    crew = make_crew(None, agent_memory=Mem7Memory(memory, user_id="frank", infer=False))
    assert crew.kickoff().raw == "Japanese."
    assert "Frank is learning Japanese" in agent_script.prompt()
    assert [t.splitlines()[-1] for t in texts(memory, user_id="frank")] == ["Frank is learning Japanese", "Result: Japanese."]
