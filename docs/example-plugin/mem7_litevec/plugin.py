"""The hook module the ``mem7`` entry point names: it registers the provider class."""

from __future__ import annotations

from collections.abc import Callable

from mem7_core.plugins import hookimpl
from mem7_core.providers import VectorStore

from .store import LiteVecStore


@hookimpl
def mem7_register_vector_stores(register: Callable[[type[VectorStore]], None]) -> None:
    register(LiteVecStore)
