"""The core's own providers, registered through the same hooks as any plugin."""

from __future__ import annotations

from collections.abc import Callable

from .plugins import hookimpl
from .providers import Embedder, HistoryStore, Scorer


@hookimpl
def mem7_register_history_stores(register: Callable[[type[HistoryStore]], None]) -> None:
    from .history.sqlite import SQLiteHistoryStore

    register(SQLiteHistoryStore)


@hookimpl
def mem7_register_scorers(register: Callable[[type[Scorer]], None]) -> None:
    from .scorers.context import ContextScorer
    from .scorers.decay import DecayScorer

    register(DecayScorer)
    register(ContextScorer)


@hookimpl
def mem7_register_embedders(register: Callable[[type[Embedder]], None]) -> None:
    from .testing.fakes import HashEmbedder

    register(HashEmbedder)
