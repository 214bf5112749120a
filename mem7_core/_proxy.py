"""One base for the engine's provider proxies (telemetry spans, the fairness gate).

A proxy stands in for a provider: attributes, properties and plain methods (``name``, ``dims``,
``capabilities``, ``aclose``) are the provider's own; ``isinstance(proxy, Embedder)`` holds, as
``__class__`` reports the provider's class; setting an attribute sets it on the provider. Only
its public coroutine methods are wrapped, by :meth:`CoroutineProxy._wrap`, once per method.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


class CoroutineProxy:
    """Subclasses set ``__slots__`` for their own state and implement :meth:`_wrap`."""

    __slots__ = ("_inner", "_methods")

    def __init__(self, inner: Any) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_methods", {})

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: D105 - isinstance() falls back to __class__
        cls: type = self._inner.__class__
        return cls

    @property
    def wrapped(self) -> Any:
        """The provider underneath."""
        return self._inner

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        raise NotImplementedError

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name.startswith("_") or name == "aclose" or not inspect.iscoroutinefunction(value):
            return value
        cached = self._methods.get(name)
        if cached is None or cached.__wrapped__ != value:
            self._methods[name] = cached = self._wrap(name, value)
        return cached

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)
