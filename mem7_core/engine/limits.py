"""Size limits on what callers pass in, and a fair share of the model providers (``limits`` config).

Sizes (:func:`check_text`, :func:`check_messages`, :func:`check_metadata_size`,
:func:`check_item_count`) are checked before any model call; an input over a limit is a
``ValueError`` whose message starts with the field (the REST server's 422 ``loc``) and names the
limit's setting, so nothing is stored and no model is asked.

Fairness (:class:`ProviderGate`): the engine's LLM, embedder and reranker are each seen through a
gate that lets at most ``limits.max_concurrent_provider_calls`` calls run at once (later calls
wait their turn, first come first served), and sends an embedding batch larger than
``limits.embed_batch_size`` as several calls, one after the other, each waiting its turn. So one
huge ``add`` or import holds an embedder that runs one batch at a time (fastembed) for one chunk
at a time, and another tenant's search gets in between chunks instead of waiting for the whole add.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from .._proxy import CoroutineProxy
from ..config import LimitsConfig
from .messages import text_of


def _over(field: str, size: int, unit: str, limit: int, setting: str) -> ValueError:
    return ValueError(
        f"{field} is too large: {size} {unit}, the limit is {limit} (limits.{setting}); nothing was stored"
    )


def check_text(text: Any, field: str, limits: LimitsConfig) -> None:
    """:raises ValueError: ``text`` has more than ``limits.max_text_chars`` characters."""
    if isinstance(text, str) and len(text) > limits.max_text_chars:
        raise _over(field, len(text), "characters", limits.max_text_chars, "max_text_chars")


def check_messages(msgs: Sequence[Mapping[str, Any]], limits: LimitsConfig, field: str = "messages") -> None:
    """The number of (normalised) messages, then each one's text.

    :raises ValueError: naming ``messages`` or ``messages[i]`` and the limit.
    """
    if len(msgs) > limits.max_messages:
        raise _over(field, len(msgs), "messages", limits.max_messages, "max_messages")
    for i, m in enumerate(msgs):
        content = m.get("content")
        if isinstance(content, str):
            size = len(content)
        elif isinstance(content, list):
            size = len(text_of(content))
        else:
            continue
        if size > limits.max_text_chars:
            raise _over(f"{field}[{i}].content", size, "characters", limits.max_text_chars, "max_text_chars")


def metadata_bytes(metadata: Mapping[str, Any] | None) -> int:
    """``metadata`` as compact JSON, in UTF-8 bytes (what a store keeps, near enough)."""
    if not metadata:
        return 0
    encoded = json.dumps(metadata, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(encoded.encode("utf-8", "surrogatepass"))


def check_metadata_size(metadata: Mapping[str, Any] | None, limits: LimitsConfig, field: str = "metadata") -> None:
    """:raises ValueError: ``metadata`` is larger than ``limits.max_metadata_bytes`` as JSON."""
    size = metadata_bytes(metadata)
    if size > limits.max_metadata_bytes:
        raise _over(field, size, "bytes as JSON", limits.max_metadata_bytes, "max_metadata_bytes")


def check_item_count(count: int, limits: LimitsConfig, field: str = "items") -> None:
    """:raises ValueError: more than ``limits.max_import_items`` items in one import call."""
    if count > limits.max_import_items:
        raise ValueError(
            f"{field} is too large: more than {limits.max_import_items} items in one call "
            "(limits.max_import_items); import them in several calls. Nothing was imported"
        )


# ------------------------------------------------------------------------------------ fairness
class ProviderGate(CoroutineProxy):
    """A provider whose coroutine methods run under a concurrency limit; ``embed`` in chunks.

    Attributes, properties and plain methods (``name``, ``dims``, ``capabilities``, ``aclose``)
    are the provider's own (:class:`~mem7_core._proxy.CoroutineProxy`).
    """

    __slots__ = ("_batch", "_limit", "_loop", "_sem")

    def __init__(self, inner: Any, limit: int, batch: int) -> None:
        super().__init__(inner)
        object.__setattr__(self, "_limit", limit)
        object.__setattr__(self, "_batch", batch)
        object.__setattr__(self, "_sem", None)
        object.__setattr__(self, "_loop", None)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._loop is not loop:  # one per event loop (tests may run several)
            object.__setattr__(self, "_sem", asyncio.Semaphore(self._limit))
            object.__setattr__(self, "_loop", loop)
        return cast(asyncio.Semaphore, self._sem)

    async def _call(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        async with self._semaphore():
            return await fn(*args, **kwargs)

    async def _embed(self, fn: Any, texts: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        batch = list(texts)
        if len(batch) <= self._batch:
            return await self._call(fn, (batch, *args), kwargs)
        out: list[Any] = []
        for start in range(0, len(batch), self._batch):  # one chunk at a time: others get in between
            out.extend(await self._call(fn, (batch[start : start + self._batch], *args), kwargs))
        return out

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        if name == "embed":

            @functools.wraps(method)
            async def gated_embed(texts: Any, *args: Any, **kwargs: Any) -> Any:
                return await self._embed(method, texts, args, kwargs)

            return gated_embed

        @functools.wraps(method)
        async def gated(*args: Any, **kwargs: Any) -> Any:
            return await self._call(method, args, kwargs)

        return gated

    def __repr__(self) -> str:
        return f"<gated {self._inner!r}>"


def gate(provider: Any, limits: LimitsConfig) -> Any:
    """``provider`` behind a :class:`ProviderGate` (``None`` stays ``None``; never gated twice)."""
    if provider is None or isinstance(provider, ProviderGate) or type(provider) is ProviderGate:
        return provider
    return ProviderGate(provider, limits.max_concurrent_provider_calls, limits.embed_batch_size)


__all__ = [
    "ProviderGate",
    "check_item_count",
    "check_messages",
    "check_metadata_size",
    "check_text",
    "gate",
    "metadata_bytes",
]
