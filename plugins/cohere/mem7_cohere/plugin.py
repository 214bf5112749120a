"""mem7 plugin entry point: registers the Cohere reranker."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import Reranker

from .reranker import CohereReranker


@hookimpl
def mem7_register_rerankers(register: Callable[[type[Reranker]], None]) -> None:
    register(CohereReranker)
