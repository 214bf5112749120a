"""Retrieval beyond the vector store: the core's BM25 keyword index, fusion and neighbour expansion."""

from ..providers.keywords import STOPWORDS, BM25Index, tokenize
from .fusion import calibrate_bm25, cosine, cosines, expand, lend_keywords, rrf, weighted
from .hybrid import HybridRetriever
from .index import ScopeIndexes

__all__ = [
    "STOPWORDS",
    "BM25Index",
    "HybridRetriever",
    "ScopeIndexes",
    "calibrate_bm25",
    "cosine",
    "cosines",
    "expand",
    "lend_keywords",
    "rrf",
    "tokenize",
    "weighted",
]
