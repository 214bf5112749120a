"""What a user trial of the Python API found, coming from mem0 (1.x docs and 2.x) or the original mem7.

Each test runs the call as that user types it, on the embedded default (``Memory()`` in a temporary
``MEM7_DATA_DIR``: the persisted flat store, local fastembed embeddings) or the original's config
classes, with the loopback OpenAI-compatible server where an LLM is involved.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mem7_core.testing.openai_server import OpenAIServer


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in [v for v in os.environ if v.startswith(("MEM7_", "OPENAI_"))]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MEM7_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # a mem0-shaped config without history_db_path writes ./mem7_history.db


@pytest.fixture
def tagged() -> Iterator[Any]:
    """``Memory()`` holding mem0's filter-doc memories for alice (and one of bob's), stored verbatim."""
    from mem7 import Memory

    m = Memory()
    rows = [
        ("work meeting about the budget", {"category": "work", "priority": 8, "status": "active"}),
        ("dentist appointment", {"category": "personal", "priority": 5, "status": "archived"}),
        ("spam email", {"category": "spam", "priority": 1, "status": "deleted"}),
        ("old but still active", {"category": "archived", "priority": 6, "status": "active"}),
        ("no metadata at all", None),
    ]
    for text, metadata in rows:
        m.add(text, user_id="alice", metadata=metadata, infer=False)
    m.add("bob's work meeting", user_id="bob", metadata={"category": "work"}, infer=False)
    yield m
    m.close()


def _memories(result: dict[str, Any]) -> list[str]:
    json.dumps(result)
    return sorted(item["memory"] for item in result["results"])


# ---------------------------------------------------------------------------------- NOT
def test_not_of_several_filters_excludes_each_of_them_as_in_mem0_and_the_original(tagged: Any) -> None:
    # mem0's "exclusion query" (docs: open-source/features/metadata-filtering), verbatim.
    excluded = {"NOT": [{"category": "archived"}, {"status": "deleted"}]}
    kept = ["dentist appointment", "no metadata at all", "work meeting about the budget"]
    assert _memories(tagged.search("exclusion query", user_id="alice", filters=excluded)) == kept
    assert _memories(tagged.get_all(user_id="alice", filters=excluded)) == kept
    # nested, from the same page: (work or personal) and priority >= 5 and not archived
    nested = {"AND": [{"OR": [{"category": "work"}, {"category": "personal"}]}, {"priority": {"gte": 5}},
                      {"NOT": [{"status": "archived"}]}]}
    assert _memories(tagged.get_all(user_id="alice", filters=nested)) == ["work meeting about the budget"]
    # delete_all reads it the same way: only what matches none of them goes
    tagged.delete_all(user_id="alice", filters={"NOT": [{"category": "*"}, {"status": "active"}]})
    assert _memories(tagged.get_all(user_id="alice")) == [
        "dentist appointment", "old but still active", "spam email", "work meeting about the budget",
    ]
    assert _memories(tagged.get_all(user_id="bob")) == ["bob's work meeting"]


# ----------------------------------------------------------------------------- top_k
def test_mem0_2x_top_k_is_limit(tagged: Any) -> None:
    # mem0 2.x: scope in filters, the count as top_k (docs: open-source/features/async-memory)
    hits = tagged.search("meeting", filters={"user_id": "alice"}, top_k=2)
    assert len(hits["results"]) == 2 and all(h["user_id"] == "alice" for h in hits["results"])
    assert len(tagged.get_all(filters={"user_id": "alice"}, top_k=3)["results"]) == 3
    assert len(tagged.search("meeting", user_id="alice", limit=1, top_k=1)["results"]) == 1
    with pytest.raises(ValueError, match=r"limit=1 and top_k=2 .*pass one"):
        tagged.search("meeting", user_id="alice", limit=1, top_k=2)
    with pytest.raises(ValueError, match="top_k must be a positive integer, got 0"):
        tagged.get_all(user_id="alice", top_k=0)
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        tagged.search("meeting", user_id="alice", top_k="5")


async def test_async_memory_takes_top_k_too(tmp_path: Path) -> None:
    from mem7 import AsyncMemory

    async with AsyncMemory() as m:
        for i in range(3):
            await m.add(f"I visited city number {i}", user_id="carol", infer=False)
        hits = await m.search(query="city", filters={"user_id": "carol"}, top_k=2)
        assert len(hits["results"]) == 2
        assert len((await m.get_all(filters={"user_id": "carol"}, top_k=1))["results"]) == 1


# ------------------------------------------------------------------------------ infer
def test_infer_that_is_not_a_bool_is_refused_before_any_model_call(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    from mem7 import Memory

    with Memory() as m:
        for wrong in ("no", "false", 0, None):
            with pytest.raises(ValueError, match=rf"infer must be true or false, got {wrong!r}"):
                m.add("I like green tea", user_id="alice", infer=wrong)
        assert openai_server.count("chat") == 0
        assert m.get_all(user_id="alice")["results"] == []
        assert _memories(m.add("I like green tea", user_id="alice", infer=False)) == ["I like green tea"]


# ------------------------------------------------------------------- the original's API
def test_original_update_new_text_and_get_all_limit_none() -> None:
    from mem7 import Memory
    from mem7.config import EmbeddingConfig, MemoryConfig

    m = Memory(config=MemoryConfig(llm=None, embedding=EmbeddingConfig(provider="fastembed")))
    try:
        mid = m.add("I love tennis", user_id="alice")["results"][0]["id"]
        # the original: update(memory_id, new_text=None, **kwargs), text= an alias
        m.update(mid, new_text="I love padel")
        assert m.get(mid)["memory"] == "I love padel"
        assert [e["event"] for e in m.history(mid)] == ["ADD", "UPDATE"]
        with pytest.raises(ValueError, match="text and new_text, one argument under several names"):
            m.update(mid, "I love squash", new_text="I love golf")
        assert m.get(mid)["memory"] == "I love padel"  # nothing changed
        # the original: get_all(..., limit: int | None = 100); None is every memory of the scope
        m.add([f"note {i}" for i in range(100)], user_id="alice", infer=False)
        assert len(m.get_all(user_id="alice")["results"]) == 100
        everything = m.get_all(user_id="alice", limit=None)
        assert len(everything["results"]) == 101 and everything["results"][0]["id"] == mid
        json.dumps(everything)
        with pytest.raises(ValueError, match="limit must be a positive integer, got None"):
            m.search("tennis", user_id="alice", limit=None)
    finally:
        m.close()


# ------------------------------------------------------------------ mem0 2.x's config
CUSTOM_INSTRUCTIONS = """
Please only extract entities containing customer support information, order details, and user information.
Input: My order #12345 hasn't arrived yet.
Output: {"facts" : ["Order #12345 not received"]}
Return the facts and customer information in a json format as shown above.
"""


def test_mem0_2x_custom_instructions_is_the_fact_extraction_prompt(openai_server: OpenAIServer, tmp_path: Path) -> None:
    from mem7 import Memory

    url = openai_server.url
    config = {  # mem0 2.x (docs: open-source/features/custom-instructions) with a loopback OpenAI
        "llm": {"provider": "openai", "config": {"model": "gpt-4.1-nano", "openai_base_url": url, "api_key": "sk-test"}},
        "embedder": {"provider": "fastembed"},
        "vector_store": {"provider": "flat", "config": {"path": str(tmp_path / "vectors")}},
        "custom_instructions": CUSTOM_INSTRUCTIONS,
    }
    m = Memory.from_config(config_dict=config)
    try:
        assert m.engine.config.custom_fact_extraction_prompt == CUSTOM_INSTRUCTIONS
        openai_server.script([{"facts": ["Order #12345 not received"]}])
        added = m.add("My order #12345 hasn't arrived yet.", user_id="alice")
        assert _memories(added) == ["Order #12345 not received"]
        system = openai_server.requests("chat")[0].body["messages"][0]["content"]
        assert "only extract entities containing customer support information" in system
    finally:
        m.close()
    with pytest.raises(ValueError, match=r"custom_instructions .* and custom_fact_extraction_prompt are one setting"):
        Memory.from_config({**config, "custom_fact_extraction_prompt": "something else"})


# ------------------------------------------------------------------ mem0's image turns
def test_mem0_image_turn_with_content_as_one_part_dict(openai_server: OpenAIServer, tmp_path: Path) -> None:
    from mem7 import Memory

    config = {  # mem0's multimodal docs: enable_vision, and an image turn whose content is one dict
        "llm": {"provider": "openai", "config": {"enable_vision": True, "openai_base_url": openai_server.url,
                                                 "api_key": "sk-test"}},
        "embedder": {"provider": "fastembed"},
        "vector_store": {"provider": "flat", "config": {"path": str(tmp_path / "vectors")}},
    }
    image = {"type": "image_url", "image_url": {"url": "https://example.com/menu.jpg"}}
    messages = [
        {"role": "user", "content": "Hi, my name is Alice."},
        {"role": "user", "content": image},
    ]
    with Memory.from_config(config) as m:
        openai_server.script(["A restaurant menu listing vegetarian dishes", {"facts": ["Name is Alice"]}])
        added = m.add(messages, user_id="alice")
        assert _memories(added) == ["Name is Alice"]
        describe, extract = (r.body["messages"] for r in openai_server.requests("chat"))
        assert image in describe[-1]["content"]
        assert "A restaurant menu listing vegetarian dishes" in extract[-1]["content"]
        # stored verbatim, the image turn keeps its text (none) and is left out; nothing else changes
        raw = m.add([{"role": "user", "content": image}, {"role": "user", "content": "I like ramen"}],
                    user_id="bob", infer=False)
        assert _memories(raw) == ["I like ramen"]
        with pytest.raises(ValueError, match=r"messages\[0\]\.content must be a string or a list of parts, got dict"):
            m.add([{"role": "user", "content": {"url": "x"}}], user_id="alice")  # a dict that is no part


def test_scope_nested_in_filters_gets_an_error_that_says_where_it_counts(tagged: Any) -> None:
    from mem7_core.errors import ScopeError

    # mem0 Platform's shape; mem0 OSS and mem7 take scope ids from the top level of filters only
    for filters in ({"AND": [{"user_id": "alice"}, {"category": "work"}]}, {"user_id": {"eq": "alice"}}):
        with pytest.raises(ScopeError, match=r"user_id in filters counts as scope only as a plain value at its "
                                             r"top level, e.g. filters=\{'user_id': 'alice', \.\.\.\}"):
            tagged.get_all(filters=filters)
    assert _memories(tagged.get_all(filters={"user_id": "alice", "AND": [{"category": "work"}]})) == [
        "work meeting about the budget"
    ]
