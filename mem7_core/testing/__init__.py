"""Testing kit shipped with the core (``pip install mem7-core[testing]``).

- Conformance suites a provider's tests subclass, supplying one fixture (LangChain's
  standard-tests are the model): :class:`VectorStoreConformance`, :class:`EmbedderConformance`,
  :class:`LLMConformance`, :class:`HistoryConformance`, :class:`GraphStoreConformance`,
  :class:`RerankerConformance`, :class:`ScorerConformance`, and :class:`KeywordSearchConformance`
  for a vector store declaring ``keyword_search``.
- Fakes: :class:`~mem7_core.testing.fakes.HashEmbedder`, :class:`~mem7_core.testing.fakes.ScriptedLLM`.
- A loopback OpenAI-compatible HTTP server (pytest fixtures ``openai_server``, ``openai_server_session``).
- For framework integrations' tests (:mod:`mem7_core.testing.integration`): engine configs with no
  LLM or with the loopback server's, and the docs examples a test runs as written.
- The ``hash`` embedder as a plugin (:mod:`mem7_core.testing.providers`, entry point ``hash``), so
  ``embedder: {provider: hash}`` works in any config while production code never imports this kit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

if TYPE_CHECKING:
    from .embedder import EmbedderConformance
    from .graph_store import GraphStoreConformance
    from .history import HistoryConformance
    from .keywords import KeywordSearchConformance
    from .llm import LLMConformance
    from .reranker import RerankerConformance
    from .scorer import ScorerConformance
    from .vector_store import VectorStoreConformance

# The suites import pytest, and the registry imports ``mem7_core.testing.providers`` (the ``hash``
# embedder's entry point) at run time, so they load lazily: only a test that names them needs pytest.
_LAZY = {
    "VectorStoreConformance": "mem7_core.testing.vector_store",
    "EmbedderConformance": "mem7_core.testing.embedder",
    "LLMConformance": "mem7_core.testing.llm",
    "HistoryConformance": "mem7_core.testing.history",
    "GraphStoreConformance": "mem7_core.testing.graph_store",
    "RerankerConformance": "mem7_core.testing.reranker",
    "ScorerConformance": "mem7_core.testing.scorer",
    "KeywordSearchConformance": "mem7_core.testing.keywords",
}

__all__ = [
    "EmbedderConformance",
    "GraphStoreConformance",
    "HistoryConformance",
    "KeywordSearchConformance",
    "LLMConformance",
    "RerankerConformance",
    "ScorerConformance",
    "VectorStoreConformance",
]
assert sorted(__all__) == sorted(_LAZY)

__getattr__ = lazy_getattr("mem7_core.testing", _LAZY, globals())
