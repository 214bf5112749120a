"""The plugin contract: one registration hook per provider kind.

A plugin is a module with functions marked ``@mem7_core.hookimpl`` and named as below, listed in
its distribution's ``mem7`` entry-point group::

    [project.entry-points.mem7]
    flat = "mem7_flat.plugin"

Each hook receives a ``register`` callback; call it once per provider class::

    @hookimpl
    def mem7_register_vector_stores(register):
        register(FlatVectorStore)

The class's ``name`` (and ``aliases``) is what a config selects it by; its ``Config`` model
validates its config section. Built-in parts of the core register through these same hooks.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from .providers import LLM, Embedder, GraphStore, HistoryStore, Reranker, Scorer, VectorStore

hookspec = pluggy.HookspecMarker("mem7")


@hookspec
def mem7_register_llms(register: Callable[[type[LLM]], None]) -> None:
    """Register LLM providers (chat models used for extraction, dedup decisions, classification).

    :param register: call ``register(cls)`` for each :class:`~mem7_core.providers.LLM` subclass.
    """


@hookspec
def mem7_register_embedders(register: Callable[[type[Embedder]], None]) -> None:
    """Register embedders (text to vector).

    :param register: call ``register(cls)`` for each :class:`~mem7_core.providers.Embedder` subclass.
    """


@hookspec
def mem7_register_vector_stores(register: Callable[[type[VectorStore]], None]) -> None:
    """Register vector stores (where memories and their embeddings live).

    :param register: call ``register(cls)`` for each :class:`~mem7_core.providers.VectorStore`
        subclass. It must pass ``mem7_core.testing.VectorStoreConformance``.
    """


@hookspec
def mem7_register_graph_stores(register: Callable[[type[GraphStore]], None]) -> None:
    """Register graph stores (entities and relations, per scope).

    :param register: call ``register(cls)`` for each :class:`~mem7_core.providers.GraphStore` subclass.
    """


@hookspec
def mem7_register_rerankers(register: Callable[[type[Reranker]], None]) -> None:
    """Register rerankers (reorder search candidates; their score replaces the vector score).

    :param register: call ``register(cls)`` for each :class:`~mem7_core.providers.Reranker` subclass.
    """


@hookspec
def mem7_register_scorers(register: Callable[[type[Scorer]], None]) -> None:
    """Register scorers (post-retrieval score adjustments such as decay and context).

    :param register: call ``register(cls)`` for each :class:`~mem7_core.providers.Scorer` subclass.
    """


@hookspec
def mem7_register_history_stores(register: Callable[[type[HistoryStore]], None]) -> None:
    """Register history stores (the audit log of every change).

    :param register: call ``register(cls)`` for each :class:`~mem7_core.providers.HistoryStore` subclass.
    """


#: Hook name for each provider kind: the single table the registry and the docs meta-test read.
REGISTRATION_HOOKS: dict[str, str] = {
    "llm": "mem7_register_llms",
    "embedder": "mem7_register_embedders",
    "vector_store": "mem7_register_vector_stores",
    "graph_store": "mem7_register_graph_stores",
    "reranker": "mem7_register_rerankers",
    "scorer": "mem7_register_scorers",
    "history_store": "mem7_register_history_stores",
}
