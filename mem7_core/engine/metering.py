"""The engine's usage meter: its LLMs and embedder behind a proxy that counts each call (and
checks each answer's shape, :mod:`mem7_core.engine.answers`, since every engine call passes here).

What a call reports and how calls add up (per operation, engine totals, shared embedding
requests) is the contract's :mod:`mem7_core.providers.usage`; this module is the proxy that feeds
it, and the engine's running totals. Per call it costs a context-variable set and reset and a few
dict updates under a lock (microseconds, beside a model call's milliseconds).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from .._proxy import CoroutineProxy
from ..providers import usage as _usage
from ..providers.usage import Usage, UsageKey, UsageKind
from .answers import check_llm_response, check_vectors


class MeteredProvider(CoroutineProxy):
    """``generate`` (an LLM) or ``embed`` (an embedder) counted into ``totals`` and the operation
    in progress, and its answer's shape checked (:mod:`.answers`: every engine call passes here
    once); every other attribute is the provider's own."""

    __slots__ = ("_key", "_kind", "_totals")

    def __init__(self, inner: Any, kind: UsageKind, totals: Usage) -> None:
        super().__init__(inner)
        name = str(getattr(inner, "name", type(inner).__name__))
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_key", (kind, name, _model_of(kind, inner)))
        object.__setattr__(self, "_totals", totals)

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        key: UsageKey = self._key
        totals: Usage = self._totals
        inner = self._inner
        if self._kind == "llm" and name == "generate":

            @functools.wraps(method)
            async def generate(*args: Any, **kwargs: Any) -> Any:
                response = await method(*args, **kwargs)
                used = getattr(response, "usage", None)
                if isinstance(used, dict) and used:
                    prompt = _usage.token_count(used.get("prompt_tokens"))
                    completion = _usage.token_count(used.get("completion_tokens"))
                else:
                    prompt = completion = None
                _usage.add_call(totals, key, 0, prompt, completion, None)
                check_llm_response(response, key[1])  # a call made and counted, but not of the contract's shape
                return response

            return generate
        if self._kind == "embedder" and name == "embed":

            @functools.wraps(method)
            async def embed(texts: Sequence[str], *args: Any, **kwargs: Any) -> Any:
                with _usage.embedding_call() as reported:
                    vectors = await method(texts, *args, **kwargs)
                if texts:  # no texts: no request was made
                    _usage.add_call(totals, key, len(texts), None, None, sum(reported) if reported else None)
                check_vectors(vectors, len(texts), inner.dims, key[1])  # before any of them is stored
                return vectors

            return embed
        return method

    def __repr__(self) -> str:
        return f"<metered {self._inner!r}>"


class UsageMeter:
    """An engine's running totals (``AsyncMemory.usage``) and the proxies that feed them."""

    __slots__ = ("totals",)

    def __init__(self) -> None:
        self.totals = Usage()

    def wrap(self, kind: UsageKind, provider: Any) -> Any:
        """``provider`` behind a :class:`MeteredProvider` (``None`` stays ``None``; never twice)."""
        if provider is None or isinstance(provider, MeteredProvider) or type(provider) is MeteredProvider:
            return provider
        return MeteredProvider(provider, kind, self.totals)


def _model_of(kind: UsageKind, provider: Any) -> str | None:
    """The model a provider calls: an embedder's ``model_name``, else ``model``, else ``config.model``."""
    for value in (
        getattr(provider, "model_name", None) if kind == "embedder" else None,
        getattr(provider, "model", None),
        getattr(getattr(provider, "config", None), "model", None),
    ):
        if isinstance(value, str) and value:
            return value
    return None


__all__ = ["MeteredProvider", "UsageMeter"]
