"""The original mem7's config classes, with its names and fields, so its documented Python runs as is::

    from mem7 import Memory
    from mem7.config import MemoryConfig, LlmConfig, EmbeddingConfig

    config = MemoryConfig(
        llm=LlmConfig(base_url="http://localhost:11434/v1", api_key="ollama", model="qwen2.5:7b"),
        embedding=EmbeddingConfig(base_url="http://localhost:11434/v1", api_key="ollama",
                                  model="mxbai-embed-large", dims=1024),
    )
    m = Memory(config=config)

``Memory`` / ``AsyncMemory`` take these objects (and the same shape as a plain dict or config file)
and map them onto mem7's own config (:class:`mem7_core.MemoryConfig`, also importable as
``from mem7 import MemoryConfig``). The field-by-field mapping, and what differs, is in
:mod:`mem7_core.config_original`.
"""

from __future__ import annotations

from mem7_core.config_original import (
    ContextConfig,
    DecayConfig,
    EmbeddingConfig,
    GraphConfig,
    HistoryConfig,
    LlmConfig,
    MemoryConfig,
    RerankerConfig,
    TelemetryConfig,
    VectorConfig,
)

__all__ = [
    "ContextConfig",
    "DecayConfig",
    "EmbeddingConfig",
    "GraphConfig",
    "HistoryConfig",
    "LlmConfig",
    "MemoryConfig",
    "RerankerConfig",
    "TelemetryConfig",
    "VectorConfig",
]
