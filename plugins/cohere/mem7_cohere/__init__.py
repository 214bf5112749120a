"""mem7-cohere: Cohere Rerank (v2 API) as a mem7 reranker, through the official ``cohere`` client."""

from .reranker import CohereReranker, CohereRerankerConfig

__all__ = ["CohereReranker", "CohereRerankerConfig"]
__version__ = "0.1.0"
