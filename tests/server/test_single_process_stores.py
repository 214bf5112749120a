"""single_process_stores: each store class declares whether processes may share it (issue 17).

``serve --workers N`` asks the classes found in the registry (``shared_by_processes(config)``),
so a third-party store declares itself without the server knowing its name.
"""

from __future__ import annotations

import types
from typing import Any

import pytest

from mem7_core.config import MemoryConfig
from mem7_core.plugins import PluginRegistry, hookimpl
from mem7_core.providers import GraphStore, ProviderConfig, VectorStore
from mem7_core.server.rest import single_process_stores


class LockedFileStore(VectorStore):
    """A third-party store whose files one process locks (unless it talks to a server)."""

    name = "lockedfile"

    class Config(ProviderConfig):
        file: str | None = None
        server: str | None = None

    @classmethod
    def shared_by_processes(cls, config: ProviderConfig) -> str | None:
        assert isinstance(config, cls.Config)  # validated by its own Config, defaults filled in
        return None if config.server else f"the lockedfile store locks {config.file} to one process"


class SharedGraph(GraphStore):
    name = "sharedgraph"  # declares nothing: the default, safe to share


class ProcessGraph(GraphStore):
    name = "processgraph"

    @classmethod
    def shared_by_processes(cls, config: ProviderConfig) -> str | None:
        return "the processgraph graph store is for one process only"


def registry() -> PluginRegistry:
    reg = PluginRegistry(discover=False)
    plugin = types.ModuleType("third_party_stores")
    plugin.mem7_register_vector_stores = hookimpl(lambda register: register(LockedFileStore))  # type: ignore[attr-defined]

    def graphs(register: Any) -> None:
        register(SharedGraph)
        register(ProcessGraph)

    plugin.mem7_register_graph_stores = hookimpl(graphs)  # type: ignore[attr-defined]
    assert reg.register_plugin(plugin, name="third_party_stores")
    return reg


def cfg(**sections: Any) -> MemoryConfig:
    return MemoryConfig.model_validate({"llm": None, "embedder": {"provider": "hash", "config": {}}, **sections})


def test_a_third_party_store_declares_itself_single_process() -> None:
    reg = registry()
    local = cfg(vector_store={"provider": "lockedfile", "config": {"file": "/data/x.db"}})
    assert single_process_stores(local, reg) == ["the lockedfile store locks /data/x.db to one process"]
    server = cfg(vector_store={"provider": "lockedfile", "config": {"server": "db:1234"}})
    assert single_process_stores(server, reg) == []
    both = cfg(vector_store={"provider": "lockedfile", "config": {"file": "f"}},
               graph_store={"provider": "processgraph", "config": {}})
    assert single_process_stores(both, reg) == [
        "the lockedfile store locks f to one process", "the processgraph graph store is for one process only",
    ]
    assert single_process_stores(cfg(vector_store={"provider": "lockedfile", "config": {"server": "s"}},
                                     graph_store={"provider": "sharedgraph", "config": {}}), reg) == []


def test_unknown_providers_and_invalid_sections_are_left_to_the_engine() -> None:
    reg = registry()
    assert single_process_stores(cfg(vector_store={"provider": "nosuchstore", "config": {}}), reg) == []
    assert single_process_stores(cfg(vector_store={"provider": "lockedfile", "config": {"typo": 1}}), reg) == []


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"vector_store": {"provider": "flat", "config": {}}},
         ["the flat vector store has no path (memories kept in each process's memory)"]),
        ({"vector_store": {"provider": "flat", "config": {"path": "/tmp/x"}}}, []),
        ({"vector_store": {"provider": "flat", "config": {"path": "/tmp/x"}}, "graph_store": {"provider": "flat", "config": {"path": "/tmp/g"}}},
         ["the flat graph store is for one process only"]),
        ({"vector_store": {"provider": "flat", "config": {"path": "/tmp/x"}}, "graph_store": {"provider": "kuzu", "config": {"path": "/tmp/k"}}},
         ["the kuzu graph store is for one process only"]),
        ({"vector_store": {"provider": "qdrant", "config": {"path": "/tmp/q"}}},
         ["Qdrant in local mode (path) locks its directory to one process"]),
        ({"vector_store": {"provider": "qdrant", "config": {}}},
         ["Qdrant in local mode in memory keeps memories in each process's memory"]),
        ({"vector_store": {"provider": "qdrant", "config": {"url": "http://localhost:6333"}}}, []),
        ({"vector_store": {"provider": "qdrant", "config": {"location": "https://q.example:6333"}}}, []),
        ({"vector_store": {"provider": "flat", "config": {"path": "/tmp/x"}},
          "history_store": {"provider": "sqlite", "config": {"path": ":memory:"}}},
         ["the SQLite history is in memory (':memory:', one per process)"]),
    ],
)
def test_the_installed_stores_declarations(sections: dict[str, Any], expected: list[str]) -> None:
    assert single_process_stores(cfg(**sections)) == expected
