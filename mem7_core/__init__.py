"""mem7 core: the memory engine and the plugin contract its providers implement.

Imports are lazy (PEP 562), so ``import mem7_core`` stays cheap and touches no network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_getattr

__version__ = "0.1.0"

_EXPORTS = {
    "AsyncMemory": "mem7_core.engine.memory",
    "Memory": "mem7_core.engine.sync",
    "MemoryConfig": "mem7_core.config",
    "LlmConfig": "mem7_core.config",
    "EmbedderConfig": "mem7_core.config",
    "VectorStoreConfig": "mem7_core.config",
    "HistoryStoreConfig": "mem7_core.config",
    "GraphStoreConfig": "mem7_core.config",
    "RerankerConfig": "mem7_core.config",
    "DecayConfig": "mem7_core.config",
    "ContextConfig": "mem7_core.config",
    "TemporalConfig": "mem7_core.config",
    "load_config": "mem7_core.config",
    "hookimpl": "mem7_core.plugins",
    "get_registry": "mem7_core.plugins",
    "PluginRegistry": "mem7_core.plugins",
    "Scope": "mem7_core.models",
    "VectorRecord": "mem7_core.models",
    "ScoredRecord": "mem7_core.models",
    "LLMResponse": "mem7_core.models",
    "RerankResult": "mem7_core.models",
    "Item": "mem7_core.models",
    "ActionResult": "mem7_core.models",
    "Relation": "mem7_core.models",
    "HistoryEvent": "mem7_core.models",
    "Mem7Error": "mem7_core.errors",
    "ConfigError": "mem7_core.errors",
    "ProviderNotFoundError": "mem7_core.errors",
    "ProviderError": "mem7_core.errors",
    "LLMOutputError": "mem7_core.errors",
    "MemoryNotFoundError": "mem7_core.errors",
    "FilterError": "mem7_core.errors",
    "ScopeError": "mem7_core.errors",
    "MemoryConflictError": "mem7_core.errors",
    "ImportResult": "mem7_core.engine.restore",
    "AddResponse": "mem7_core.results",
    "GraphRelationResult": "mem7_core.results",
    "HistoryEntry": "mem7_core.results",
    "ImportResponse": "mem7_core.results",
    "ListResponse": "mem7_core.results",
    "MemoryAction": "mem7_core.results",
    "MemoryItem": "mem7_core.results",
    "MessageResponse": "mem7_core.results",
    "ModelUsage": "mem7_core.results",
    "UsageReport": "mem7_core.results",
    "ScoreStep": "mem7_core.results",
    "SearchResponse": "mem7_core.results",
}

# The public names: exactly _EXPORTS' keys (tests/test_exports.py checks it), spelled out so
# type checkers and linters see them.
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


__getattr__ = lazy_getattr("mem7_core", _EXPORTS, globals())


if TYPE_CHECKING:
    from .config import (
        EmbedderConfig,
        GraphStoreConfig,
        HistoryStoreConfig,
        LlmConfig,
        MemoryConfig,
        RerankerConfig,
        VectorStoreConfig,
        load_config,
    )
    from .engine.memory import AsyncMemory
    from .engine.restore import ImportResult
    from .engine.sync import Memory
    from .errors import (
        ConfigError,
        FilterError,
        LLMOutputError,
        Mem7Error,
        MemoryConflictError,
        MemoryNotFoundError,
        ProviderError,
        ProviderNotFoundError,
        ScopeError,
    )
    from .models import (
        ActionResult,
        HistoryEvent,
        Item,
        LLMResponse,
        Relation,
        RerankResult,
        Scope,
        ScoredRecord,
        VectorRecord,
    )
    from .plugins import PluginRegistry, get_registry, hookimpl
    from .results import (
        AddResponse,
        GraphRelationResult,
        HistoryEntry,
        ImportResponse,
        ListResponse,
        MemoryAction,
        MemoryItem,
        MessageResponse,
        ModelUsage,
        ScoreStep,
        SearchResponse,
        UsageReport,
    )
    from .scorers.context import ContextConfig  # mem7_core.config imports them from here
    from .scorers.decay import DecayConfig
    from .scorers.temporal import TemporalConfig
