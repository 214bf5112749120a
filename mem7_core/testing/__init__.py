"""Testing kit shipped with the core (``pip install mem7-core[testing]``).

- Conformance suites a provider's tests subclass, supplying one fixture.
- Fakes: :class:`HashEmbedder`, :class:`ScriptedLLM`.
- A loopback OpenAI-compatible HTTP server (pytest fixture ``openai_server``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .vector_store import VectorStoreConformance

# The suites import pytest, and the core imports ``mem7_core.testing.fakes`` at run time (the
# ``hash`` embedder), so they load lazily: only a test that names them needs pytest.
_LAZY = {"VectorStoreConformance": "mem7_core.testing.vector_store"}

__all__ = ["VectorStoreConformance"]
_LAZY["HistoryConformance"] = "mem7_core.testing.history"; __all__ += ["HistoryConformance"]  # imports pytest: lazy
_LAZY["LLMConformance"] = "mem7_core.testing.llm"; __all__ += ["LLMConformance"]  # imports pytest: lazy

_LAZY["EmbedderConformance"] = "mem7_core.testing.embedder"; __all__ += ["EmbedderConformance"]  # no pytest import, lazy anyway


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mem7_core.testing' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
