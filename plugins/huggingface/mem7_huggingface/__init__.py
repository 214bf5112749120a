"""mem7-huggingface: a Text Embeddings Inference server (embedder and reranker) and local
sentence-transformers models (embedder) as mem7 providers."""

from .embedder import HuggingFaceEmbedder, HuggingFaceEmbedderConfig
from .reranker import HuggingFaceReranker, HuggingFaceRerankerConfig

__all__ = ["HuggingFaceEmbedder", "HuggingFaceEmbedderConfig", "HuggingFaceReranker", "HuggingFaceRerankerConfig"]
__version__ = "0.1.0"
