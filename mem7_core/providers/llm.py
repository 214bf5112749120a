"""The LLM provider interface."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ..models import LLMResponse
from .base import Provider

Message = dict[str, Any]
"""An OpenAI-style chat message: ``{"role": ..., "content": str | list[part]}``."""


@dataclass(frozen=True, slots=True)
class LLMCapabilities:
    """What an LLM provider can do; the engine checks before asking for it."""

    json_mode: bool = True
    tools: bool = False
    vision: bool = False


class LLM(Provider):
    """A chat model. Async-first: ``generate`` is a coroutine doing real async I/O."""

    kind = "llm"
    capabilities: ClassVar[LLMCapabilities] = LLMCapabilities()

    @abstractmethod
    async def generate(
        self,
        messages: Sequence[Message],
        *,
        response_format: Literal["text", "json"] = "text",
        tools: Sequence[dict[str, Any]] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> LLMResponse:
        """Answer a chat.

        :param messages: chat messages, oldest first; ``content`` may be a list of parts with images.
        :param response_format: ``"json"`` asks the server for a JSON object (JSON mode).
        :param tools: OpenAI-style tool definitions; calls come back in ``LLMResponse.tool_calls``.
        :param temperature: overrides the configured temperature for this call.
        :param max_tokens: overrides the configured limit for this call.
        :raises ProviderError: after the provider's bounded retries, naming the provider.
        """
