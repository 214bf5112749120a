"""mem7-jina: Jina AI's reranker and embedder as mem7 providers, over Jina's documented HTTP API."""

from .embedder import JinaEmbedder, JinaEmbedderConfig
from .reranker import JinaReranker, JinaRerankerConfig

__all__ = ["JinaEmbedder", "JinaEmbedderConfig", "JinaReranker", "JinaRerankerConfig"]
__version__ = "0.1.0"
