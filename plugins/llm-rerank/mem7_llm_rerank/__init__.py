"""mem7-llm-rerank: a reranker scoring all search candidates with one call to any mem7 LLM provider."""

from .reranker import RERANK_MARKER, LLMReranker, LLMRerankerConfig, build_llm, parse_scores

__all__ = ["RERANK_MARKER", "LLMReranker", "LLMRerankerConfig", "build_llm", "parse_scores"]
__version__ = "0.1.0"
