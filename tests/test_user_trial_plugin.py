"""A third party writing a provider, as the user trial of docs/writing-a-provider.md did: the slips
it found, met the way an author meets them (a config naming the provider, an engine built from it,
the conformance suite subclassed). tests/test_plugins.py has the registry's side of each."""

from __future__ import annotations

import types
from typing import Any

import pytest

from mem7_core import AsyncMemory
from mem7_core.errors import ProviderNotFoundError
from mem7_core.models import ScoredRecord, VectorRecord
from mem7_core.plugins import PluginRegistry, hookimpl
from mem7_core.providers import VectorStore
from mem7_core.testing import VectorStoreConformance
from mem7_core.testing import providers as testing_providers


class DictStore(VectorStore):
    """A complete store kept in a dict (the trial's tiny store)."""

    name = "dictstore"

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.rows: dict[str, VectorRecord] = {}

    async def insert(self, records):
        self.rows.update({r.id: VectorRecord(r.id, list(r.vector or []), dict(r.payload)) for r in records})

    async def search(self, vector, *, scope, limit, filters=None):
        return [ScoredRecord(r.id, 1.0, dict(r.payload)) for r in await self.list(scope=scope)][:limit]

    async def get(self, ids):
        return [self.rows[i] for i in ids if i in self.rows]

    async def update(self, id, *, vector=None, payload=None):
        if payload is not None:
            self.rows[id].payload = dict(payload)

    async def delete(self, ids):
        for i in ids:
            self.rows.pop(i, None)

    async def list(self, *, scope, filters=None, limit=None):
        return [r for r in self.rows.values() if scope.matches(r.payload)][:limit]

    async def reset(self):
        self.rows.clear()


def registry_with(*classes: type[VectorStore]) -> PluginRegistry:
    """The registry an engine builds from, with the `hash` embedder and a plugin offering ``classes``."""
    plugin = types.ModuleType("mem7_trial")

    @hookimpl
    def mem7_register_vector_stores(register):
        for cls in classes:
            register(cls)

    plugin.mem7_register_vector_stores = mem7_register_vector_stores  # type: ignore[attr-defined]
    reg = PluginRegistry(discover=False)
    reg.register_plugin(testing_providers, name="hash")
    reg.register_plugin(plugin, name="trial")
    return reg


def config(store: str) -> dict[str, Any]:
    return {"llm": None, "embedder": {"provider": "hash", "config": {"dims": 16}},
            "vector_store": {"provider": store}, "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}}}


async def test_the_complete_store_remembers_and_forgets():
    """The control: the same store with every method works through the engine."""
    async with AsyncMemory(config("dictstore"), registry=registry_with(DictStore)) as memory:
        added = await memory.add("I keep my bike in the garage", user_id="alice", infer=False)
        memory_id = added["results"][0]["id"]
        await memory.delete(memory_id)
        assert (await memory.get_all(user_id="alice"))["results"] == []


async def test_a_store_missing_delete_is_refused_before_anything_is_stored():
    """It used to be built: ``delete`` then answered 'deleted' and the memory stayed (the base
    method's body is a docstring)."""

    class ForgotDelete(VectorStore):
        name = "forgot-delete"
        insert, search, get, update, list, reset = (DictStore.insert, DictStore.search, DictStore.get,
                                                    DictStore.update, DictStore.list, DictStore.reset)

    with pytest.raises(TypeError) as info:
        AsyncMemory(config("forgot-delete"), registry=registry_with(ForgotDelete))
    assert "'forgot-delete'" in str(info.value) and "does not implement delete" in str(info.value)


async def test_a_capitalised_name_is_refused_and_the_config_error_says_why():
    """``name = "DictStore"`` used to register (``mem7 plugins`` listed it) while every config asking
    for it looked up ``dictstore``, and the error suggested the very name the author had written."""
    capitalised = type("Capitalised", (DictStore,), {"name": "DictStore"})
    with pytest.raises(ProviderNotFoundError) as info:
        AsyncMemory(config("DictStore"), registry=registry_with(capitalised))
    message = str(info.value)
    assert "No vector_store provider named 'dictstore'" in message
    assert "trial: TypeError" in message and "'DictStore'" in message and "use 'dictstore'" in message


class ReturnsDicts(DictStore):
    name = "returns-dicts"

    async def get(self, ids):  # type: ignore[override]
        return [{"id": r.id, "vector": r.vector, "payload": r.payload} for r in await super().get(ids)]


class ReturnsDictsSuite(VectorStoreConformance):
    """The suite as an author subclasses it (not named Test*: only the test below runs one of its tests)."""


async def test_the_suite_says_what_a_store_returned_instead_of_records():
    """A store whose ``get`` returns dicts used to fail ~120 suite tests with ``AttributeError: 'dict'
    object has no attribute 'id'``; the suite's helper now names what came back and what to return."""
    with pytest.raises(AssertionError) as info:
        await ReturnsDictsSuite().test_insert_then_get(ReturnsDicts())
    assert "returned a dict" in str(info.value) and "mem7_core.models.VectorRecord" in str(info.value)
    await ReturnsDictsSuite().test_insert_then_get(DictStore())  # the same test passes a store returning records


async def test_the_suite_runs_the_registry_checks_on_the_fixtures_class():
    """An author whose fixture builds the store directly never went through the registry: a name no
    config can select passed every suite test. The suite's registration test now says so."""
    capitalised = type("Capitalised", (DictStore,), {"name": "DictStore"})
    with pytest.raises(AssertionError) as info:
        await ReturnsDictsSuite().test_the_class_registers_as_a_plugin(capitalised())
    assert "would fail to load" in str(info.value) and "use 'dictstore'" in str(info.value)
    await ReturnsDictsSuite().test_the_class_registers_as_a_plugin(DictStore())
