"""mem7-anthropic: Claude through Anthropic's Messages API as a mem7 LLM provider."""

from .llm import AnthropicLLM, AnthropicLLMConfig

__all__ = ["AnthropicLLM", "AnthropicLLMConfig"]
__version__ = "0.1.0"
