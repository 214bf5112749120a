"""The core's own providers, registered through the same hooks as any plugin.

The test fake ``hash`` embedder is not one of them: the testing kit registers it through its own
entry point (:mod:`mem7_core.testing.providers`), loaded only when a config asks for it."""

from __future__ import annotations

from collections.abc import Callable

from .plugins import hookimpl
from .providers import HistoryStore, Scorer


@hookimpl
def mem7_register_history_stores(register: Callable[[type[HistoryStore]], None]) -> None:
    from .history.sqlite import SQLiteHistoryStore

    register(SQLiteHistoryStore)


@hookimpl
def mem7_register_scorers(register: Callable[[type[Scorer]], None]) -> None:
    from .scorers.context import ContextScorer
    from .scorers.decay import DecayScorer
    from .scorers.temporal import TemporalScorer

    register(DecayScorer)
    register(TemporalScorer)
    register(ContextScorer)
