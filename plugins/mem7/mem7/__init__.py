"""mem7: long-term memory for LLM agents.

A thin alias of :mod:`mem7_core`: every public name of ``mem7_core`` is available here and is the
very same object (``mem7.Memory is mem7_core.Memory``). Lookups are delegated lazily, so
``import mem7`` is as cheap as ``import mem7_core``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mem7_core as _core

__version__ = "0.1.0"

# The same names as mem7_core.__all__ (tests/test_mem7_meta.py checks it), spelled out so type
# checkers and linters see them.
__all__ = [
    "ActionResult",
    "AddResponse",
    "AsyncMemory",
    "ConfigError",
    "ContextConfig",
    "DecayConfig",
    "EmbedderConfig",
    "FilterError",
    "GraphRelationResult",
    "GraphStoreConfig",
    "HistoryEntry",
    "HistoryEvent",
    "HistoryStoreConfig",
    "ImportResponse",
    "ImportResult",
    "Item",
    "LLMOutputError",
    "LLMResponse",
    "ListResponse",
    "LlmConfig",
    "Mem7Error",
    "Memory",
    "MemoryAction",
    "MemoryConfig",
    "MemoryConflictError",
    "MemoryItem",
    "MemoryNotFoundError",
    "MessageResponse",
    "ModelUsage",
    "PluginRegistry",
    "ProviderError",
    "ProviderNotFoundError",
    "Relation",
    "RerankResult",
    "RerankerConfig",
    "Scope",
    "ScopeError",
    "ScoreStep",
    "ScoredRecord",
    "SearchResponse",
    "TemporalConfig",
    "UsageReport",
    "VectorRecord",
    "VectorStoreConfig",
    "get_registry",
    "hookimpl",
    "load_config",
]


def __getattr__(name: str) -> Any:
    if name not in _core.__all__:
        raise AttributeError(f"module 'mem7' has no attribute {name!r}")
    value = getattr(_core, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from mem7_core import (
        ActionResult,
        AddResponse,
        AsyncMemory,
        ConfigError,
        ContextConfig,
        DecayConfig,
        EmbedderConfig,
        FilterError,
        GraphRelationResult,
        GraphStoreConfig,
        HistoryEntry,
        HistoryEvent,
        HistoryStoreConfig,
        ImportResponse,
        ImportResult,
        Item,
        ListResponse,
        LlmConfig,
        LLMOutputError,
        LLMResponse,
        Mem7Error,
        Memory,
        MemoryAction,
        MemoryConfig,
        MemoryConflictError,
        MemoryItem,
        MemoryNotFoundError,
        MessageResponse,
        ModelUsage,
        PluginRegistry,
        ProviderError,
        ProviderNotFoundError,
        Relation,
        RerankerConfig,
        RerankResult,
        Scope,
        ScopeError,
        ScoredRecord,
        ScoreStep,
        SearchResponse,
        TemporalConfig,
        UsageReport,
        VectorRecord,
        VectorStoreConfig,
        get_registry,
        hookimpl,
        load_config,
    )
