"""mem7-voyage: Voyage AI's reranker and embedder as mem7 providers, through the official ``voyageai`` client."""

from .embedder import VoyageEmbedder, VoyageEmbedderConfig
from .reranker import VoyageReranker, VoyageRerankerConfig

__all__ = ["VoyageEmbedder", "VoyageEmbedderConfig", "VoyageReranker", "VoyageRerankerConfig"]
__version__ = "0.1.0"
