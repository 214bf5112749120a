"""Provider interfaces: one small async base class per kind."""

from .base import PROVIDER_KINDS, Provider, ProviderConfig, ProviderKind, ProviderSpec
from .embedder import Embedder, EmbedPurpose
from .graph_store import Entity, GraphRelation, GraphStore, GraphStoreCapabilities
from .history import HistoryStore
from .llm import LLM, LLMCapabilities, Message
from .reranker import Reranker
from .scorer import QueryContext, ScoredHit, Scorer
from .vector_store import (
    ChangeBatch,
    EmbeddingSpace,
    StoreChange,
    VectorStore,
    VectorStoreCapabilities,
    WriteBatch,
    check_vector,
)

__all__ = [
    "LLM",
    "PROVIDER_KINDS",
    "ChangeBatch",
    "EmbedPurpose",
    "Embedder",
    "EmbeddingSpace",
    "Entity",
    "GraphRelation",
    "GraphStore",
    "GraphStoreCapabilities",
    "HistoryStore",
    "LLMCapabilities",
    "Message",
    "Provider",
    "ProviderConfig",
    "ProviderKind",
    "ProviderSpec",
    "QueryContext",
    "Reranker",
    "ScoredHit",
    "Scorer",
    "StoreChange",
    "VectorStore",
    "VectorStoreCapabilities",
    "WriteBatch",
    "check_vector",
]
