"""The plugin registry: hand-registered plugins, fake entry points, failures, and lookups."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import mem7_core.plugins as plugins_mod
from mem7_core.errors import ConfigError, ProviderNotFoundError
from mem7_core.history.sqlite import SQLiteHistoryStore
from mem7_core.hookspecs import REGISTRATION_HOOKS
from mem7_core.plugins import PluginRegistry, get_registry, hookimpl, reset_registry
from mem7_core.providers import (
    LLM,
    Embedder,
    GraphStore,
    HistoryStore,
    ProviderConfig,
    Reranker,
    Scorer,
    VectorStore,
)
from mem7_core.providers.blocking import blocking
from mem7_core.scorers.context import ContextScorer
from mem7_core.scorers.decay import DecayScorer
from mem7_core.testing import providers as testing_providers
from mem7_core.testing.fakes import HashEmbedder


# ------------------------------------------------------------------------------------ dummy providers
class FlatStore(VectorStore):
    name = "flat"


class UpstashStore(VectorStore):
    name = "upstash"


class PineconeStore(VectorStore):
    name = "pinecone"


class DummyLLM(LLM):
    name = "dummy-llm"
    aliases = ("dl",)

    async def generate(self, messages, *, response_format="text", tools=None, temperature=None, max_tokens=None):
        raise NotImplementedError  # registered and built, never asked


class DummyEmbedder(Embedder):
    name = "dummy-embedder"


class DummyGraph(GraphStore):
    name = "dummy-graph"


class DummyReranker(Reranker):
    name = "dummy-reranker"


class DummyScorer(Scorer):
    name = "dummy-scorer"


class DummyHistory(HistoryStore):
    name = "dummy-history"


class Configured(Scorer):
    name = "configured"

    class Config(ProviderConfig):
        weight: float = 1.0
        mode: str = "fast"


def module(name: str, **hooks: Callable[..., Any]) -> types.ModuleType:
    """A module-like plugin object carrying the given hook implementations."""
    mod = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(mod, hook_name, hookimpl(fn))
    return mod


def vector_plugin(*classes: type) -> types.ModuleType:
    def mem7_register_vector_stores(register):
        for cls in classes:
            register(cls)

    return module("vec_" + "_".join(c.__name__ for c in classes), mem7_register_vector_stores=mem7_register_vector_stores)


def bare() -> PluginRegistry:
    return PluginRegistry(discover=False, builtins=False)


# ------------------------------------------------------------------------------------ builtins
def test_builtins_present():
    reg = PluginRegistry(discover=False)
    assert reg.get("history_store", "sqlite") is SQLiteHistoryStore
    assert reg.get("scorer", "decay") is DecayScorer
    assert reg.get("scorer", "context") is ContextScorer
    assert reg.origin("history_store", "sqlite") == "mem7_core"
    assert reg.loaded == ["mem7_core"]
    assert reg.failed == {}
    # the test fake `hash` embedder is the testing kit's plugin, not a builtin
    with pytest.raises(ProviderNotFoundError, match="hash"):
        reg.get("embedder", "hash")
    assert reg.register_plugin(testing_providers, name="hash")
    assert reg.get("embedder", "hash") is HashEmbedder


def test_hash_embedder_comes_from_the_testing_kits_entry_point_on_demand():
    reg = PluginRegistry()
    assert "hash" in reg.pending and "hash" not in reg.loaded
    reg.get("scorer", "decay")  # a builtin: no entry point is imported
    assert "hash" in reg.pending
    assert reg.get("embedder", "hash") is HashEmbedder
    assert reg.origin("embedder", "hash") == "hash" and "hash" in reg.loaded


def test_no_builtins():
    reg = bare()
    assert all(reg.names(kind) == [] for kind in REGISTRATION_HOOKS)


# ------------------------------------------------------------------------------------ every hook
def test_every_registration_hook_registers_its_kind():
    def mem7_register_llms(register):
        register(DummyLLM)

    def mem7_register_embedders(register):
        register(DummyEmbedder)

    def mem7_register_vector_stores(register):
        register(FlatStore)

    def mem7_register_graph_stores(register):
        register(DummyGraph)

    def mem7_register_rerankers(register):
        register(DummyReranker)

    def mem7_register_scorers(register):
        register(DummyScorer)

    def mem7_register_history_stores(register):
        register(DummyHistory)

    hooks = {fn.__name__: fn for fn in (
        mem7_register_llms, mem7_register_embedders, mem7_register_vector_stores, mem7_register_graph_stores,
        mem7_register_rerankers, mem7_register_scorers, mem7_register_history_stores,
    )}
    assert set(hooks) == set(REGISTRATION_HOOKS.values())
    reg = bare()
    assert reg.register_plugin(module("everything", **hooks), name="everything")
    expected = {
        "llm": DummyLLM, "embedder": DummyEmbedder, "vector_store": FlatStore, "graph_store": DummyGraph,
        "reranker": DummyReranker, "scorer": DummyScorer, "history_store": DummyHistory,
    }
    for kind, cls in expected.items():
        assert reg.get(kind, cls.name) is cls
        assert reg.origin(kind, cls.name) == "everything"
    assert reg.get("llm", "dl") is DummyLLM  # aliases too
    assert reg.names("llm") == ["dl", "dummy-llm"]


def test_plugin_may_be_an_object():
    class Plugin:
        @hookimpl
        def mem7_register_rerankers(self, register):
            register(DummyReranker)

    reg = bare()
    assert reg.register_plugin(Plugin(), name="obj")
    assert reg.get("reranker", "dummy-reranker") is DummyReranker


def test_first_provider_of_a_name_wins():
    class OtherFlat(VectorStore):
        name = "flat"

    reg = bare()
    assert reg.register_plugin(vector_plugin(FlatStore), name="first")
    assert reg.register_plugin(vector_plugin(OtherFlat, UpstashStore), name="second")
    assert reg.get("vector_store", "flat") is FlatStore
    assert reg.origin("vector_store", "flat") == "first"
    assert reg.get("vector_store", "upstash") is UpstashStore


# ------------------------------------------------------------------------------------ failures
def test_misspelled_hook_reported_and_others_unaffected():
    def mem7_register_vectorstores(register):  # typo: no such hookspec
        register(PineconeStore)

    def mem7_register_llms(register):
        register(DummyLLM)

    reg = bare()
    assert reg.register_plugin(vector_plugin(FlatStore), name="good-before")
    bad = module("typo", mem7_register_vectorstores=mem7_register_vectorstores, mem7_register_llms=mem7_register_llms)
    assert reg.register_plugin(bad, name="typo") is False
    assert "typo" in reg.failed
    assert "mem7_register_vectorstores" in reg.failed["typo"]
    assert "unknown hook" in reg.failed["typo"]
    assert reg.names("llm") == []  # none of the bad plugin's providers
    assert reg.names("vector_store") == ["flat"]
    assert reg.register_plugin(vector_plugin(UpstashStore), name="good-after")
    assert reg.names("vector_store") == ["flat", "upstash"]
    assert reg.loaded == ["good-before", "good-after"]


def test_bad_hook_signature_reported():
    def mem7_register_llms(callback):  # wrong argument name
        callback(DummyLLM)

    reg = bare()
    assert reg.register_plugin(module("sig", mem7_register_llms=mem7_register_llms), name="sig") is False
    assert "PluginValidationError" in reg.failed["sig"]
    assert reg.failed["sig"].endswith("a mem7 hook takes one argument, named register")  # the fix
    assert reg.names("llm") == []


def test_register_raising_adds_nothing():
    def mem7_register_llms(register):
        register(DummyLLM)

    def mem7_register_vector_stores(register):
        register(FlatStore)
        raise RuntimeError("boom")

    reg = bare()
    plugin = module("half", mem7_register_llms=mem7_register_llms, mem7_register_vector_stores=mem7_register_vector_stores)
    assert reg.register_plugin(plugin, name="half") is False
    assert reg.failed == {"half": "RuntimeError: boom"}
    assert reg.names("llm") == [] and reg.names("vector_store") == []
    assert "half" not in reg.loaded
    # its hooks are unregistered: a later plugin is not affected by them
    assert reg.register_plugin(vector_plugin(UpstashStore), name="later")
    assert reg.names("vector_store") == ["upstash"]


@pytest.mark.parametrize(
    "registered, fragment",
    [
        (DummyLLM, "has kind 'llm' but was registered as a vector_store"),
        ("not a class", "takes a Provider subclass"),
        (int, "takes a Provider subclass"),
        (type("Nameless", (VectorStore,), {}), "must set a class attribute 'name'"),
    ],
)
def test_wrong_registration_is_a_failure(registered, fragment):
    def mem7_register_vector_stores(register):
        register(FlatStore)
        register(registered)

    reg = bare()
    assert reg.register_plugin(module("wrong", mem7_register_vector_stores=mem7_register_vector_stores), name="wrong") is False
    assert fragment in reg.failed["wrong"]
    assert "TypeError" in reg.failed["wrong"]
    assert reg.names("vector_store") == []


# ------------------------------------------------------------------------------------ lookups
def test_unknown_provider_message_exact():
    reg = bare()
    reg.register_plugin(vector_plugin(FlatStore, UpstashStore), name="vs")
    with pytest.raises(ProviderNotFoundError) as info:
        reg.get("vector_store", "qdrant")
    err = info.value
    assert str(err) == (
        "No vector_store provider named 'qdrant'. Installed: flat, upstash. "
        "Try: pip install 'mem7[qdrant]' (or: pip install mem7-qdrant)"
    )
    assert (err.kind, err.name, err.installed, err.failed) == ("vector_store", "qdrant", ["flat", "upstash"], {})
    assert isinstance(err, ConfigError) and isinstance(err, ValueError)


def test_unknown_provider_lists_failed_plugins():
    reg = bare()
    reg.register_plugin(vector_plugin(FlatStore, UpstashStore), name="vs")
    reg.register_plugin(module("bad", mem7_register_vector_stores=lambda register: 1 / 0), name="bad")
    with pytest.raises(ProviderNotFoundError) as info:
        reg.get("vector_store", "qdrant")
    assert str(info.value) == (
        "No vector_store provider named 'qdrant'. Installed: flat, upstash. "
        "Try: pip install 'mem7[qdrant]' (or: pip install mem7-qdrant). "
        "Plugins that failed to load: bad: ZeroDivisionError: division by zero"
    )


def test_unknown_provider_none_installed_and_no_guessed_distribution():
    with pytest.raises(ProviderNotFoundError) as info:
        bare().get("graph_store", "neo4j_aura")
    assert str(info.value) == (
        "No graph_store provider named 'neo4j_aura'. Installed: none. No plugin of mem7's own provides 'neo4j_aura' "
        "('mem7 plugins' lists those not installed); a third-party plugin's name comes from its documentation"
    )


def test_unknown_kind():
    with pytest.raises(ConfigError, match="Unknown provider kind 'database'"):
        bare().get("database", "x")


def test_create_validates_config():
    reg = PluginRegistry(discover=False)
    assert reg.register_plugin(testing_providers, name="hash")
    emb = reg.create("embedder", "hash", {"dims": 16})
    assert isinstance(emb, HashEmbedder) and emb.dims == 16
    assert reg.create("embedder", "hash").dims == 384
    with pytest.raises(ValidationError) as info:
        reg.create("embedder", "hash", {"dims": 2})
    assert "dims" in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValidationError, match="dimz"):
        reg.create("embedder", "hash", {"dimz": 16})
    with pytest.raises(ValidationError, match="busy_timeout_ms"):
        reg.create("history_store", "sqlite", {"busy_timeout_ms": "soon"})
    with pytest.raises(ValidationError, match="decay_shape"):
        reg.create("scorer", "decay", {"decay_shape": 2})
    with pytest.raises(ProviderNotFoundError):
        reg.create("embedder", "nomic", {})


def test_create_third_party_config():
    reg = bare()
    reg.register_plugin(module("cfg", mem7_register_scorers=lambda register: register(Configured)), name="cfg")
    scorer = reg.create("scorer", "configured", {"weight": 0.5})
    assert isinstance(scorer, Configured) and scorer.config.weight == 0.5
    with pytest.raises(ValidationError, match="weight"):
        reg.create("scorer", "configured", {"weight": "heavy"})


# ------------------------------------------------------------------------------------ entry points
class FakeEntryPoint:
    """Stands in for importlib.metadata.EntryPoint: ``load()`` returns a module or raises."""

    def __init__(self, name: str, target: Any, dist: str | None = None) -> None:
        self.name = name
        self.value = f"{name}_plugin"
        self.group = "mem7"
        self.dist = types.SimpleNamespace(name=dist) if dist else None
        self.target = target
        self.loads = 0

    def load(self) -> Any:
        self.loads += 1
        if isinstance(self.target, BaseException):
            raise self.target
        return self.target


@pytest.fixture
def fake_eps(monkeypatch):
    """Install fake entry points; returns them by name."""
    monkeypatch.delenv("MEM7_DISABLE_PLUGINS", raising=False)
    eps = {
        "flat": FakeEntryPoint("flat", vector_plugin(FlatStore), dist="mem7-flat"),
        "upstash": FakeEntryPoint("upstash", vector_plugin(UpstashStore), dist="mem7-upstash"),
        "qdrant": FakeEntryPoint("qdrant", ImportError("No module named 'qdrant_client'"), dist="mem7-qdrant"),
        "extras": FakeEntryPoint("extras", vector_plugin(PineconeStore), dist="mem7-extras"),
    }
    listed = list(eps.values())
    seen_groups: list[str] = []

    def entry_points(*, group: str):
        seen_groups.append(group)
        return listed if group == "mem7" else []

    monkeypatch.setattr(plugins_mod, "entry_points", entry_points)
    eps["_groups"] = seen_groups  # type: ignore[assignment]
    return eps


def test_entry_points_loaded_lazily_by_name(fake_eps):
    reg = PluginRegistry(builtins=False)
    assert fake_eps["_groups"] == ["mem7"]
    assert reg.pending == ["flat", "upstash", "qdrant", "extras"]
    assert all(ep.loads == 0 for name, ep in fake_eps.items() if name != "_groups")
    assert reg.get("vector_store", "flat") is FlatStore
    assert (fake_eps["flat"].loads, fake_eps["upstash"].loads, fake_eps["qdrant"].loads) == (1, 0, 0)
    assert reg.pending == ["upstash", "qdrant", "extras"]
    assert reg.get("vector_store", "upstash") is UpstashStore
    assert fake_eps["qdrant"].loads == 0
    assert reg.loaded == ["flat", "upstash"]


def test_provider_named_unlike_its_entry_point_found_by_scanning(fake_eps):
    reg = PluginRegistry(builtins=False)
    assert reg.get("vector_store", "pinecone") is PineconeStore
    # scanned one at a time in order; the broken one was tried and recorded, the search went on
    assert [fake_eps[n].loads for n in ("flat", "upstash", "qdrant", "extras")] == [1, 1, 1, 1]
    assert reg.failed == {"qdrant": "ImportError: No module named 'qdrant_client'"}
    assert reg.pending == []


def test_scan_stops_once_found(fake_eps):
    reg = PluginRegistry(builtins=False)
    assert reg.get("vector_store", "upstash") is UpstashStore
    assert reg.pending == ["flat", "qdrant", "extras"]  # the named entry point first, alone


def test_failing_import_recorded_and_others_load(fake_eps):
    reg = PluginRegistry(builtins=False)
    with pytest.raises(ProviderNotFoundError) as info:
        reg.get("vector_store", "qdrant")
    assert fake_eps["qdrant"].loads == 1
    assert reg.failed == {"qdrant": "ImportError: No module named 'qdrant_client'"}
    assert str(info.value) == (
        "No vector_store provider named 'qdrant'. Installed: flat, pinecone, upstash. "
        "It comes from mem7-qdrant, which is installed but failed to load. "
        "Plugins that failed to load: qdrant: ImportError: No module named 'qdrant_client'"
    )
    assert reg.loaded == ["flat", "upstash", "extras"]


def test_providers_loads_everything(fake_eps):
    reg = PluginRegistry(builtins=False)
    everything = reg.providers()
    assert everything["vector_store"] == {"flat": FlatStore, "upstash": UpstashStore, "pinecone": PineconeStore}
    assert reg.pending == [] and "qdrant" in reg.failed


def test_disable_plugins_by_entry_point_and_dist_name(fake_eps, monkeypatch):
    monkeypatch.setenv("MEM7_DISABLE_PLUGINS", "upstash, mem7-extras")
    reg = PluginRegistry(builtins=False)
    assert reg.blocked == ["upstash", "extras"]
    assert reg.pending == ["flat", "qdrant"]
    with pytest.raises(ProviderNotFoundError) as info:
        reg.get("vector_store", "upstash")
    assert fake_eps["upstash"].loads == 0 and fake_eps["extras"].loads == 0
    assert "Installed: flat." in str(info.value)
    assert reg.get("vector_store", "flat") is FlatStore


def test_duplicate_entry_point_names_loaded_once(fake_eps, monkeypatch):
    twin = FakeEntryPoint("flat", vector_plugin(FlatStore), dist="someone-else")
    monkeypatch.setattr(plugins_mod, "entry_points", lambda *, group: [fake_eps["flat"], twin])
    reg = PluginRegistry(builtins=False)
    assert reg.pending == ["flat"]
    reg.load_all()
    assert twin.loads == 0 and fake_eps["flat"].loads == 1


def test_builtins_with_entry_points(fake_eps):
    reg = PluginRegistry()
    assert reg.get("history_store", "sqlite") is SQLiteHistoryStore
    assert reg.pending == ["flat", "upstash", "qdrant", "extras"]  # builtins need no entry point


def test_process_wide_registry(fake_eps):
    reset_registry()
    try:
        first = get_registry()
        assert get_registry() is first
        assert first.get("vector_store", "flat") is FlatStore
        reset_registry()
        assert get_registry() is not first
    finally:
        reset_registry()


def test_create_hands_the_registry_to_from_config():
    seen: list[Any] = []

    class Wants(DummyLLM):
        name = "wants-registry"

        @classmethod
        def from_config(cls, section=None, *, selected_as=None, registry=None):
            seen.append(registry)
            return super().from_config(section, selected_as=selected_as)

    class OldStyle(DummyLLM):  # an override written before the keyword existed
        name = "old-style"

        @classmethod
        def from_config(cls, section=None, *, selected_as=None):
            seen.append("old")
            return cls(cls.Config.model_validate(section or {}))

    def mem7_register_llms(register):
        register(Wants)
        register(OldStyle)

    reg = bare()
    assert reg.register_plugin(module("registry_aware", mem7_register_llms=mem7_register_llms), name="registry_aware")
    assert isinstance(reg.create("llm", "wants-registry"), Wants)
    assert isinstance(reg.create("llm", "old-style"), OldStyle)
    assert seen == [reg, "old"]


# ------------------------------------------------------------------------------------ an author's slips
# Found by the user trial of writing a provider from the docs: each of these was accepted silently and
# failed later (or never), far from its cause. Each is now refused where it is made, naming the fix.
class _VectorBase(VectorStore):
    """Every abstract method implemented (as no-ops): subclasses break one thing each."""

    name = "complete"

    async def insert(self, records):
        return None

    async def search(self, vector, *, scope, limit, filters=None):
        return []

    async def get(self, ids):
        return []

    async def update(self, id, *, vector=None, payload=None):
        return None

    async def delete(self, ids):
        return None

    async def list(self, *, scope, filters=None, limit=None):
        return []

    async def reset(self):
        return None


def test_a_complete_provider_registers_and_builds():
    reg = bare()
    assert reg.register_plugin(vector_plugin(_VectorBase), name="complete"), reg.failed
    assert isinstance(reg.create("vector_store", "complete"), _VectorBase)


def test_a_provider_missing_an_abstract_method_is_not_built():
    """A store without ``delete`` used to be built, and every delete then did nothing: the base
    method's body is a docstring, so ``m.delete(id)`` answered 'deleted' and the memory stayed."""

    class NoDelete(VectorStore):
        name = "no-delete"
        insert, search, get, update, list, reset = (
            _VectorBase.insert, _VectorBase.search, _VectorBase.get, _VectorBase.update, _VectorBase.list,
            _VectorBase.reset,
        )

    reg = bare()
    assert reg.register_plugin(vector_plugin(NoDelete), name="nodel")
    with pytest.raises(TypeError) as info:
        reg.create("vector_store", "no-delete")
    message = str(info.value)
    assert "'no-delete'" in message and "NoDelete" in message and "nodel" in message
    assert "delete" in message.replace("no-delete", "") and "VectorStore" in message
    with pytest.raises(TypeError, match="abstract"):
        NoDelete()  # not only through the registry


@pytest.mark.parametrize("attribute, value", [("name", "MyStore"), ("aliases", ("my-store", "My-Store")), ("name", " mystore")])
def test_a_name_configs_cannot_select_is_refused(attribute, value):
    """Configs select providers by lower-cased, stripped name (``ProviderSpec``): ``name = "MyStore"``
    used to register, be listed by ``mem7 plugins``, and never be found by a config."""
    cls = type("MyStore", (_VectorBase,), {attribute: value})
    reg = bare()
    assert reg.register_plugin(vector_plugin(cls), name="cased") is False
    bad = next(v for v in ([value] if isinstance(value, str) else value) if v != v.strip().lower())
    assert f"{bad!r}" in reg.failed["cased"]
    assert f"{bad.strip().lower()!r}" in reg.failed["cased"] and "lower case" in reg.failed["cased"]
    assert reg.names("vector_store") == []


@pytest.mark.parametrize("aliases", ["my-store", ("ok", ""), ("ok", 3)])
def test_aliases_that_are_not_names_are_refused(aliases):
    """``aliases = ("my-store")`` is a string, not a tuple: each of its letters used to become a
    provider name ("m", "y", "-", ...)."""
    cls = type("Aliased", (_VectorBase,), {"aliases": aliases})
    reg = bare()
    assert reg.register_plugin(vector_plugin(cls), name="aliased") is False
    assert "Aliased.aliases must be a tuple of names" in reg.failed["aliased"]
    assert reg.names("vector_store") == []


def test_a_hook_without_hookimpl_is_reported():
    """pluggy ignores a function not marked ``@hookimpl``: the plugin used to load with no provider,
    and nothing said why."""
    plugin = types.ModuleType("unmarked")

    def mem7_register_vector_stores(register):
        register(_VectorBase)

    plugin.mem7_register_vector_stores = mem7_register_vector_stores  # type: ignore[attr-defined]
    reg = bare()
    assert reg.register_plugin(plugin, name="unmarked") is False
    assert "mem7_register_vector_stores" in reg.failed["unmarked"]
    assert "@mem7_core.plugins.hookimpl" in reg.failed["unmarked"]
    # its hooks are gone: registering it properly afterwards works
    assert reg.register_plugin(vector_plugin(_VectorBase), name="marked")
    assert reg.names("vector_store") == ["complete"]


def test_a_plugin_with_no_hook_is_reported():
    """An entry point naming the package instead of its hook module has no hook at all."""
    reg = bare()
    assert reg.register_plugin(types.ModuleType("mem7_mine"), name="mine") is False
    assert "no hook" in reg.failed["mine"] and "entry point" in reg.failed["mine"]


def test_a_hook_returning_its_classes_is_reported():
    """``return [MyStore]`` (as in some plugin systems) instead of ``register(MyStore)``."""
    reg = bare()
    plugin = module("returns", mem7_register_vector_stores=lambda register: [_VectorBase])
    assert reg.register_plugin(plugin, name="returns") is False
    assert "mem7_register_vector_stores returned" in reg.failed["returns"]
    assert "register(cls)" in reg.failed["returns"]
    assert reg.names("vector_store") == []


class _SyncSearch(_VectorBase):
    name = "sync-search"

    def search(self, vector, *, scope, limit, filters=None):  # type: ignore[override]
        return []


class _AsyncScore(Scorer):
    name = "async-score"

    async def score(self, hits, ctx, state):  # type: ignore[override]
        for hit in hits:
            hit.score *= 2


class _NoFilters(_VectorBase):
    name = "no-filters"

    async def search(self, vector, *, scope, limit):  # type: ignore[override]
        return []


class _PositionalFilters(_VectorBase):
    name = "positional"

    async def list(self, scope, filters=None, limit=None):  # type: ignore[override]
        return []


class _Flexible(_VectorBase):
    """Keyword arguments taken by ``**kwargs``, and an ``async`` method made by a decorator: fine."""

    name = "flexible"

    async def search(self, vector, **kwargs):  # type: ignore[override]
        return []

    @blocking
    def reset(self):  # type: ignore[override]
        return None


class _NoConfigArgument(_VectorBase):
    name = "no-config-argument"

    def __init__(self):  # type: ignore[no-untyped-def]
        super().__init__()


class _PlainModelConfig(_VectorBase):
    """A pydantic model that is not a ProviderConfig: a misspelt key used to be dropped unnoticed."""

    name = "plain-model-config"

    class Config(BaseModel):  # type: ignore[assignment]
        path: str = ":memory:"


@pytest.mark.parametrize(
    "cls, hook, fragments",
    [
        (_NoConfigArgument, "mem7_register_vector_stores", ["_NoConfigArgument.__init__", "positional", "config"]),
        (_PlainModelConfig, "mem7_register_vector_stores", ["_PlainModelConfig.Config", "ProviderConfig"]),
        (_SyncSearch, "mem7_register_vector_stores", ["_SyncSearch.search", "async def", "VectorStore.search"]),
        (_AsyncScore, "mem7_register_scorers", ["_AsyncScore.score", "plain def", "Scorer.score", "awaited"]),
        (_NoFilters, "mem7_register_vector_stores", ["_NoFilters.search", "'filters'", "VectorStore.search"]),
    ],
)
def test_a_method_the_engine_cannot_call_is_refused(cls, hook, fragments):
    """A ``def`` where the engine awaits (a TypeError on the first search, naming no provider), an
    ``async def score`` (never awaited: the scorer silently did nothing), a keyword argument the
    engine passes missing (a TypeError on the first search)."""
    reg = bare()
    assert reg.register_plugin(module("m", **{hook: lambda register: register(cls)}), name="m") is False
    for fragment in fragments:
        assert fragment in reg.failed["m"], reg.failed["m"]


def test_methods_the_engine_can_call_are_accepted():
    reg = bare()
    assert reg.register_plugin(vector_plugin(_Flexible, _PositionalFilters), name="ok"), reg.failed
    assert reg.names("vector_store") == ["flexible", "positional"]


def test_a_blocked_third_party_plugin_is_named_when_its_provider_is_missing(fake_eps, monkeypatch):
    """MEM7_DISABLE_PLUGINS blocking a plugin that is not one of mem7's own: the error says so (it
    used to say only that no plugin of mem7's own provides the name)."""
    acme = FakeEntryPoint("acme", vector_plugin(FlatStore), dist="acme-mem7")
    monkeypatch.setattr(plugins_mod, "entry_points", lambda *, group: [fake_eps["flat"], acme] if group == "mem7" else [])
    monkeypatch.setenv("MEM7_DISABLE_PLUGINS", "acme")
    reg = PluginRegistry(builtins=False)
    with pytest.raises(ProviderNotFoundError) as info:
        reg.get("vector_store", "acme")
    assert acme.loads == 0
    assert "MEM7_DISABLE_PLUGINS blocks the installed plugin whose entry point is named 'acme'" in str(info.value)
    with pytest.raises(ProviderNotFoundError) as other:
        reg.get("vector_store", "acme-store")  # a provider named unlike any entry point
    assert "MEM7_DISABLE_PLUGINS blocks installed plugins ('acme'): one of them may provide it" in str(other.value)
