"""mem7-openai: OpenAI, Azure OpenAI and OpenAI-compatible servers (Ollama, vLLM, LM Studio, Groq,
Together, xAI, DeepSeek) as mem7 LLM and embedder providers."""

from ._common import ALIASES, Alias
from .config import OpenAIEmbedderConfig, OpenAILLMConfig
from .embedder import OpenAIEmbedder
from .llm import OpenAILLM

__all__ = ["ALIASES", "Alias", "OpenAIEmbedder", "OpenAIEmbedderConfig", "OpenAILLM", "OpenAILLMConfig"]
__version__ = "0.1.0"
