"""mem7 plugin entry point: registers the LLM reranker (``llm_rerank``, aliases ``llm``, ``llm-rerank``,
``llm_reranker``)."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import Reranker

from .reranker import LLMReranker


@hookimpl
def mem7_register_rerankers(register: Callable[[type[Reranker]], None]) -> None:
    register(LLMReranker)
