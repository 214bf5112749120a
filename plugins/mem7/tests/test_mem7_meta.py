"""The ``mem7`` meta distribution: an alias of ``mem7_core`` that pulls in the default providers."""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path

import pytest

import mem7
import mem7_core
from mem7_core.plugins import PluginRegistry


def test_is_the_installed_package_not_a_namespace_or_test_module() -> None:
    # pytest runs with --import-mode=importlib and plugins/mem7/ holds a tests/ dir: make sure the
    # name resolves to the real package.
    assert mem7.__file__ is not None
    assert Path(mem7.__file__).name == "__init__.py"
    assert Path(mem7.__file__).parent.name == "mem7"


def test_all_mirrors_core() -> None:
    assert sorted(mem7.__all__) == sorted(mem7_core.__all__)
    for name in ("Memory", "AsyncMemory", "MemoryConfig", "PluginRegistry", "ProviderNotFoundError"):
        assert name in mem7.__all__


@pytest.mark.parametrize("name", sorted(mem7_core.__all__))
def test_reexport_is_the_same_object(name: str) -> None:
    assert getattr(mem7, name) is getattr(mem7_core, name)


def test_main_names() -> None:
    assert mem7.Memory is mem7_core.Memory
    assert mem7.AsyncMemory is mem7_core.AsyncMemory
    assert mem7.MemoryConfig is mem7_core.MemoryConfig
    from mem7 import Memory, MemoryConfig  # noqa: F401  (the documented spelling)


def test_unknown_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mem7.nope  # noqa: B018
    assert not hasattr(mem7, "_EXPORTS")


def test_dir_lists_exports() -> None:
    assert set(mem7_core.__all__) <= set(dir(mem7))


def test_type_checking_imports_match_all() -> None:
    """The TYPE_CHECKING block (for type checkers and IDEs) names exactly ``__all__``."""
    tree = ast.parse(Path(mem7.__file__).read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "mem7_core":
            names |= {alias.name for alias in node.names}
    assert names == set(mem7_core.__all__)


def test_distribution_depends_on_core_and_default_plugins() -> None:
    requires = importlib.metadata.requires("mem7") or []
    deps = {r.split(">")[0].split("=")[0].split("<")[0].strip() for r in requires if "extra ==" not in r}
    assert {"mem7-core", "mem7-flat", "mem7-openai"} <= deps
    assert importlib.metadata.version("mem7") == mem7.__version__


def test_registers_no_entry_point_of_its_own() -> None:
    dist = importlib.metadata.distribution("mem7")
    assert [ep for ep in dist.entry_points if ep.group == "mem7"] == []


def test_default_config_providers_are_installed() -> None:
    """``pip install mem7`` is enough for ``MemoryConfig()``'s providers."""
    cfg = mem7.MemoryConfig()
    registry = PluginRegistry()
    assert cfg.llm is not None
    for kind, spec in (
        ("llm", cfg.llm),
        ("embedder", cfg.embedder),
        ("vector_store", cfg.vector_store),
        ("history_store", cfg.history_store),
    ):
        registry.get(kind, spec.provider)


def test_config_module_has_the_original_classes() -> None:
    """``from mem7.config import ...`` (the original mem7's documented import) works."""
    import mem7.config
    from mem7_core import config_original

    for name in ("MemoryConfig", "LlmConfig", "EmbeddingConfig", "VectorConfig", "HistoryConfig", "GraphConfig",
                 "RerankerConfig", "TelemetryConfig", "DecayConfig", "ContextConfig"):
        assert getattr(mem7.config, name) is getattr(config_original, name)
    assert mem7.config.DecayConfig is mem7_core.DecayConfig and mem7.config.ContextConfig is mem7_core.ContextConfig
    cfg = mem7.config.MemoryConfig(embedding=mem7.config.EmbeddingConfig(dims=1024))
    assert mem7_core.load_config(cfg, environ={}).embedder.config["embedding_dims"] == 1024
