"""mem7-gemini: Google Gemini (Gemini Developer API) as mem7 LLM and embedder providers."""

from .embedder import GeminiEmbedder, GeminiEmbedderConfig
from .llm import GeminiLLM, GeminiLLMConfig

__all__ = ["GeminiEmbedder", "GeminiEmbedderConfig", "GeminiLLM", "GeminiLLMConfig"]
__version__ = "0.1.0"
