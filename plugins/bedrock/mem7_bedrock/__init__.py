"""mem7-bedrock: Amazon Bedrock as mem7 LLM (Converse API) and embedder (InvokeModel) providers, through boto3."""

from .embedder import BedrockEmbedder, BedrockEmbedderConfig
from .llm import BedrockLLM, BedrockLLMConfig

__all__ = ["BedrockEmbedder", "BedrockEmbedderConfig", "BedrockLLM", "BedrockLLMConfig"]
__version__ = "0.1.0"
