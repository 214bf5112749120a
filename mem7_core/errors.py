"""The exceptions mem7 raises, so callers can tell bad input from a failing provider.

Configuration problems are ``ValueError`` subclasses (the spec asks for it, and pydantic's own
``ValidationError`` is one too), so ``except ValueError`` keeps working for mem0-style callers.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class Mem7Error(Exception):
    """Base class of every error mem7 raises on purpose."""


class ConfigError(Mem7Error, ValueError):
    """The configuration is wrong: an unknown provider, a bad field, a missing key."""


class ProviderNotFoundError(ConfigError):
    """No installed plugin provides the provider named in the config.

    The message lists what is installed, then what to do: the ``pip install`` that adds the
    missing provider when one of mem7's own plugins provides it (:mod:`mem7_core.catalogue`, so
    ``postgres`` names mem7-pgvector), or why that plugin is not working (it failed to load, it is
    blocked by ``MEM7_DISABLE_PLUGINS``, it provides that name for another kind), or close names;
    then the plugins that failed to import.
    """

    def __init__(self, kind: str, name: str, installed: list[str], failed: dict[str, str],
                 blocked: Sequence[str] = ()) -> None:
        self.kind = kind
        self.name = name
        self.installed = installed
        self.failed = failed
        listed = ", ".join(installed) if installed else "none"
        msg = f"No {kind} provider named {name!r}. Installed: {listed}. {_hint(kind, name, installed, failed, blocked)}"
        if failed:
            broken = "; ".join(f"{plugin}: {err}" for plugin, err in sorted(failed.items()))
            msg += f". Plugins that failed to load: {broken}"
        super().__init__(msg)


def close_names(name: str, choices: Iterable[str], n: int = 1) -> list[str]:
    """The names among ``choices`` that ``name`` most likely misspells (best first, at most ``n``):
    what a "did you mean" hint offers."""
    return difflib.get_close_matches(name, list(choices), n=n, cutoff=0.75)


def _hint(kind: str, name: str, installed: list[str], failed: dict[str, str], blocked: Sequence[str]) -> str:
    """What to do about a missing provider, from the catalogue of mem7's own plugins."""
    from . import catalogue

    plugin = catalogue.providing(kind, name)
    if plugin is not None:
        if plugin.entry_point in blocked:
            return f"It comes from {plugin.distribution}, which MEM7_DISABLE_PLUGINS blocks"
        if plugin.entry_point in failed:
            return f"It comes from {plugin.distribution}, which is installed but failed to load"
        also = f" (or: {plugin.install_alone})" if plugin.install != plugin.install_alone else ""
        return f"Try: {plugin.install}{also}"
    elsewhere: dict[str, list[str]] = {}
    for plugin, other in catalogue.other_kinds(kind, name):
        elsewhere.setdefault(plugin.distribution, []).append(other)
    if elsewhere:
        said = "; ".join(f"{dist} provides {name!r} as a {' and a '.join(kinds)}" for dist, kinds in elsewhere.items())
        return f"{said}, not as a {kind}: check the config section it is under"
    close = close_names(name, sorted({*installed, *catalogue.names(kind)}), n=3)
    shown = []
    for candidate in close:
        source = None if candidate in installed else catalogue.providing(kind, candidate)
        shown.append(repr(candidate) + (f" ({source.install})" if source is not None else ""))
    guess = f"Did you mean {' or '.join(shown)}? " if shown else ""
    if name in blocked:  # a third-party plugin, its entry point named as its provider (the convention)
        return (f"{guess}MEM7_DISABLE_PLUGINS blocks the installed plugin whose entry point is named {name!r}: "
                "take it off that list to use it")
    if blocked:
        others = ", ".join(repr(b) for b in blocked)
        guess += f"MEM7_DISABLE_PLUGINS blocks installed plugins ({others}): one of them may provide it. "
    return (f"{guess}No plugin of mem7's own provides {name!r} ('mem7 plugins' lists those not installed); "
            "a third-party plugin's name comes from its documentation")


class ScopeError(Mem7Error, ValueError):
    """A call that needs a scope got none, or touched a memory outside the caller's scope."""


class FilterError(Mem7Error, ValueError):
    """A metadata filter is malformed: unknown operator, wrong value type, bad nesting."""


class MemoryNotFoundError(Mem7Error, KeyError, ValueError):
    """No memory with this id (in the caller's scope, when one was given).

    Both a ``KeyError`` (mem7's own callers) and a ``ValueError`` (what mem0 raises for an unknown
    id), so ``except KeyError`` and ``except ValueError`` both catch it. ``str()`` is the plain
    message, not KeyError's quoted repr.
    """

    def __init__(self, memory_id: str) -> None:
        self.memory_id = memory_id
        super().__init__(f"Memory {memory_id!r} not found")

    def __str__(self) -> str:  # KeyError would repr() the message otherwise
        return str(self.args[0])


class ProviderError(Mem7Error):
    """A provider failed (server down, timeout, 429 after retries, bad response).

    ``provider`` names it, so a log line says which of the LLM, embedder, store... broke.
    """

    def __init__(self, provider: str, message: str, *, retryable: bool = False) -> None:
        self.provider = provider
        self.retryable = retryable
        super().__init__(f"[{provider}] {message}")


class ProviderTimeoutError(ProviderError):
    """The operation's time budget ran out while a provider was still working (the LLM never
    answered, retries included). Retryable; the REST server answers 504."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(provider, message, retryable=True)


class StorageError(ProviderError):
    """A store could not write: the disk is full, or the file or its directory is read-only.

    ``store`` names it (``vector_store:flat``, ``history_store:sqlite``...); the REST server answers
    507 with a JSON body naming it. Nothing of the failed write was kept.
    """

    storage = True

    def __init__(self, store: str, message: str) -> None:
        self.store = store
        super().__init__(store, message)


class StorageConfigError(StorageError, ConfigError):
    """A store's configured path cannot be written (read-only, not a directory...): a
    ``ConfigError`` when found at startup, and a :class:`StorageError` (REST 507, not a 422 about
    the request) when only a write finds it."""


class LLMOutputError(ProviderError):
    """The LLM answered, but not with JSON of the expected shape, even after the bounded retry.

    Raised before anything is written, so the store is unchanged.
    """


class MemoryConflictError(Mem7Error, ValueError):
    """``import_memories(..., on_conflict="error")`` met ids already stored (``ids`` lists them).

    Raised before anything of the batch is written; ``written`` memories of earlier batches were
    (0: nothing of the import was: the ids are checked before the first batch, so only a concurrent
    writer storing one of them meanwhile stops an import half-way).
    """

    MAX_SHOWN = 20

    def __init__(self, ids: list[str], *, written: int = 0) -> None:
        self.ids = ids
        self.written = written
        shown = ", ".join(ids[: self.MAX_SHOWN])
        if len(ids) > self.MAX_SHOWN:
            shown += f" and {len(ids) - self.MAX_SHOWN} more"
        outcome = (
            "nothing was written"
            if not written
            else f"nothing of this batch was written ({written} memories of earlier batches were)"
        )
        super().__init__(
            f"items name {len(ids)} id(s) already stored ({shown}); {outcome}. "
            "Pass on_conflict='skip' to keep the stored ones or 'replace' to overwrite them"
        )


class StoreConflictError(Mem7Error):
    """A :meth:`VectorStore.commit` found records no longer as the engine read them: another
    process changed, deleted or stored them in between (``ids`` lists them). Nothing of the batch
    was written; the engine reads them again and retries the operation.
    """

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        super().__init__(
            f"{len(ids)} record(s) changed since they were read ({', '.join(ids[:5])}{'...' if len(ids) > 5 else ''}); "
            "nothing was written. Read them again and retry"
        )
