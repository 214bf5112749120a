"""Scorers from the outside in: a third-party scorer installed as a distribution (found through its
``mem7`` entry point, as ``pip install`` would leave it), and rehearsal on a persisted store.

The plugin here is real: a module and a ``.dist-info`` with ``entry_points.txt`` written to a
temporary directory put on ``sys.path``; ``PluginRegistry(discover=True)`` finds it through
``importlib.metadata`` like any installed plugin. Nothing in the registry is patched.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from mem7_core import AsyncMemory
from mem7_core.config import DecayConfig
from mem7_core.plugins import PluginRegistry
from mem7_core.scorers.decay import retention
from mem7_core.testing.fakes import ScriptedLLM
from mem7_flat import FlatVectorStore

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

PLUGIN_MODULE = "mem7_pinboost_testplugin"
PLUGIN_SOURCE = textwrap.dedent(
    '''
    """A third-party scorer: memories whose metadata says pinned=True get their score multiplied."""
    from typing import Any, ClassVar

    from pydantic import Field

    from mem7_core.plugins import hookimpl
    from mem7_core.providers import ProviderConfig, Scorer

    SEEN: list = []


    class PinBoost(Scorer):
        name = "pinboost"
        order: ClassVar[int] = 150  # after decay (100), before context (200)

        class Config(ProviderConfig):
            factor: float = Field(5.0, gt=0)

        def score(self, hits, ctx, state):
            SEEN.append({h.text: h.score for h in hits})
            for h in hits:
                if h.payload.get("pinned") is True:
                    h.score *= self.config.factor


    @hookimpl
    def mem7_register_scorers(register):
        register(PinBoost)
    '''
)


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """Write the plugin module and its dist-info (entry point group ``mem7``) onto sys.path."""
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{PLUGIN_MODULE}.py").write_text(PLUGIN_SOURCE, encoding="utf-8")
    dist = site / "mem7_pinboost-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mem7-pinboost\nVersion: 0.1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(f"[mem7]\npinboost = {PLUGIN_MODULE}\n", encoding="utf-8")
    (dist / "RECORD").write_text("", encoding="utf-8")
    monkeypatch.delenv("MEM7_DISABLE_PLUGINS", raising=False)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield site
    sys.modules.pop(PLUGIN_MODULE, None)


BASE: dict[str, Any] = {
    "llm": None,
    "embedder": {"provider": "hash"},
    "vector_store": {"provider": "flat"},
    "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}},
    "retrieval": {"mode": "dense"},  # scores below are cosine × multipliers
}


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_third_party_scorer_added_by_entry_point(installed_plugin):
    assert any(ep.name == "pinboost" and ep.value == PLUGIN_MODULE for ep in entry_points(group="mem7"))
    registry = PluginRegistry(discover=True)
    assert "pinboost" in registry.pending  # discovered, not imported yet (lazy)
    assert PLUGIN_MODULE not in sys.modules

    clock = Clock()
    cfg = {
        **BASE,
        "decay": {"enabled": True},
        "context": {"enabled": True},
        "scorers": [{"provider": "pinboost", "config": {"factor": 4.0}}],
    }
    async with AsyncMemory(cfg, llm=ScriptedLLM(), registry=registry, clock=clock) as mem:
        assert registry.origin("scorer", "pinboost") == "pinboost"
        # ordered by their ``order``, whatever the config's order: decay, the plugin, context (temporal, on
        # by default, shares the plugin's order 150 and comes first, as the built-in ones are built first)
        assert [s.name for s in mem.scorers] == ["decay", "temporal", "pinboost", "context"]
        plain = (await mem.add("weekend plan: paddle the lake", user_id="alice", infer=False, memory_type="factual"))["results"][0]["id"]
        pinned = (
            await mem.add(
                "weekend plan: paddle the lake", user_id="alice", infer=False, memory_type="preference", metadata={"pinned": True}
            )
        )["results"][0]["id"]
        clock.now = T0 + 7 * DAY
        r = await mem.search("weekend plan: paddle the lake", user_id="alice", task_type="troubleshooting")
        by_id = {i["id"]: i["score"] for i in r["results"]}
        ret = retention(7 * 86400.0, 0, DecayConfig())
        # composed in order: cosine 1 × retention × plugin (4 when pinned) × context (pref 0.3 / fact 1.0)
        assert by_id[plain] == pytest.approx(ret * 1.0, rel=1e-4)
        assert by_id[pinned] == pytest.approx(ret * 4.0 * 0.3, rel=1e-4)
        assert [i["id"] for i in r["results"]] == [pinned, plain]
        seen = sys.modules[PLUGIN_MODULE].SEEN[-1]
        assert seen["weekend plan: paddle the lake"] == pytest.approx(ret, rel=1e-4)  # the plugin saw decayed scores
        await mem.drain()

    # the same engine without the plugin's scorer ranks the other way
    async with AsyncMemory({**BASE, "decay": {"enabled": True}, "context": {"enabled": True}}, llm=ScriptedLLM(), registry=registry, clock=Clock()) as mem:
        plain = (await mem.add("weekend plan: paddle the lake", user_id="alice", infer=False, memory_type="factual"))["results"][0]["id"]
        await mem.add("weekend plan: paddle the lake", user_id="alice", infer=False, memory_type="preference", metadata={"pinned": True})
        r = await mem.search("weekend plan: paddle the lake", user_id="alice", task_type="troubleshooting")
        assert r["results"][0]["id"] == plain
        await mem.drain()


def test_entry_point_plugin_can_be_disabled(installed_plugin, monkeypatch):
    monkeypatch.setenv("MEM7_DISABLE_PLUGINS", "mem7-pinboost")
    registry = PluginRegistry(discover=True)
    assert "pinboost" in registry.blocked and "pinboost" not in registry.pending
    assert PLUGIN_MODULE not in sys.modules  # never imported


# ------------------------------------------------------------------------- rehearsal, persisted
class GatedFlat(FlatVectorStore):
    """A persisted flat store whose rehearse() waits on a gate (a slow disk during rehearsal)."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def rehearse(self, ids, now):  # type: ignore[override]
        self.entered.set()
        await self.gate.wait()
        await super().rehearse(ids, now)


@pytest.mark.parametrize("retrieval", ["dense", "hybrid"])
async def test_rehearsal_on_a_persisted_store_never_delays_search_and_writes_no_history(tmp_path, retrieval):
    vec_dir, hist = tmp_path / "vectors", tmp_path / "history.db"
    cfg = {
        **BASE,
        "history_store": {"provider": "sqlite", "config": {"path": str(hist)}},
        "decay": {"enabled": True},
        "retrieval": {"mode": retrieval},
    }
    store = GatedFlat(FlatVectorStore.Config(path=str(vec_dir)))
    clock = Clock()
    mem = AsyncMemory(cfg, llm=ScriptedLLM(), vector_store=store, clock=clock)
    mid = (await mem.add("prefers window seats", user_id="alice", infer=False))["results"][0]["id"]
    clock.now = T0 + 2 * DAY
    r = await asyncio.wait_for(mem.search("window seats", user_id="alice"), timeout=2)
    assert [i["id"] for i in r["results"]] == [mid]
    await asyncio.wait_for(mem.search("window seats", user_id="alice"), timeout=2)  # not held up either
    await asyncio.wait_for(store.entered.wait(), timeout=2)  # rehearsal started and is blocked
    assert (await mem.get(mid))["access_count"] == 0
    store.gate.set()
    await asyncio.wait_for(mem.drain(), timeout=2)
    item = await mem.get(mid)
    assert item["access_count"] == 2 and item["last_accessed_at"] == (T0 + 2 * DAY).isoformat()
    assert item["updated_at"] == T0.isoformat()  # rehearsal is not an edit
    assert [e["event"] for e in await mem.history(mid)] == ["ADD"]
    await mem.aclose()
    await store.aclose()

    # after a restart, from the files: the rehearsal was persisted, and still no history
    cfg2 = {**cfg, "vector_store": {"provider": "flat", "config": {"path": str(vec_dir)}}}
    async with AsyncMemory(cfg2, llm=ScriptedLLM(), clock=Clock(T0 + 2 * DAY)) as again:
        item = await again.get(mid)
        assert item["access_count"] == 2 and item["last_accessed_at"] == (T0 + 2 * DAY).isoformat()
        assert [e["event"] for e in await again.history(mid)] == ["ADD"]
        if retrieval == "dense":  # decay now counts from the access time: none at the same instant
            r = await again.search("prefers window seats", user_id="alice")
            assert r["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)
            await again.drain()
    assert Path(hist).exists()
