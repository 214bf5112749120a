"""Plugin discovery and provider lookup.

Plugins are distributions exposing a module in the ``mem7`` entry-point group. Entry points are
loaded lazily, one at a time, only when a provider is asked for that is not yet known (the entry
point named like the provider first), so building an engine imports only the plugins it uses.

A plugin that fails to import, whose hooks do not match the spec (``check_pending``) or are not
marked ``@hookimpl``, or that registers a class the engine could not use (a name no config can
select, a method of the wrong kind or signature: :func:`_contract_problems`) is recorded with its
error and skipped: the others keep working, and the error shows up in
:class:`~mem7_core.errors.ProviderNotFoundError` messages and in ``mem7 plugins``.
``MEM7_DISABLE_PLUGINS=a,b`` blocks plugins by entry-point or distribution name.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any, TypeVar

import pluggy

from . import hookspecs
from .errors import ConfigError, ProviderNotFoundError
from .providers import LLM, Embedder, GraphStore, HistoryStore, Reranker, Scorer, VectorStore
from .providers.base import PROVIDER_KINDS, Provider, ProviderConfig, ProviderKind

log = logging.getLogger("mem7.plugins")

ENTRY_POINT_GROUP = "mem7"
DISABLE_ENV = "MEM7_DISABLE_PLUGINS"
hookimpl = pluggy.HookimplMarker("mem7")
"""Mark a plugin's hook implementations: ``@hookimpl def mem7_register_llms(register): ...``."""

P = TypeVar("P", bound=Provider)


def disabled_plugins() -> set[str]:
    """Names listed in ``MEM7_DISABLE_PLUGINS`` (comma or space separated)."""
    raw = os.environ.get(DISABLE_ENV, "")
    return {part.strip() for part in raw.replace(",", " ").split() if part.strip()}


class PluginRegistry:
    """Knows every provider class by kind and name; loads plugins on demand.

    :param discover: read the ``mem7`` entry points (off in tests that register plugins by hand).
    :param builtins: register the core's own providers (SQLite history, decay and context scorers).
    """

    def __init__(self, *, discover: bool = True, builtins: bool = True) -> None:
        self._pm = pluggy.PluginManager("mem7")
        self._pm.add_hookspecs(hookspecs)
        self._lock = threading.RLock()
        self._providers: dict[str, dict[str, type[Provider]]] = {k: {} for k in PROVIDER_KINDS}
        self._origin: dict[tuple[str, str], str] = {}
        self._failed: dict[str, str] = {}
        self._loaded: list[str] = []
        self._blocked: list[str] = []
        self._pending: list[EntryPoint] = []
        if discover:
            blocked = disabled_plugins()
            seen: set[str] = set()
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                dist = ep.dist.name if ep.dist is not None else ""
                if ep.name in seen:
                    continue
                seen.add(ep.name)
                if ep.name in blocked or dist in blocked:
                    self._blocked.append(ep.name)
                    continue
                self._pending.append(ep)
        if builtins:
            from . import builtin

            self.register_plugin(builtin, name="mem7_core")

    # ---------------------------------------------------------------- registration
    def register_plugin(self, plugin: ModuleType | object, *, name: str) -> bool:
        """Register a plugin object (module or instance with hookimpls) and collect its providers.

        :returns: False (and records the error) when its hooks are invalid or registering fails.
        """
        with self._lock:
            try:
                self._pm.register(plugin, name=name)
            except Exception as exc:  # pluggy.PluginValidationError: bad hook signature
                fix = "; a mem7 hook takes one argument, named register" if "hookspec" in str(exc) else ""
                self._failed[name] = f"{type(exc).__name__}: {exc}{fix}"
                log.warning("mem7 plugin %r is invalid: %s", name, exc)
                return False
            try:
                self._pm.check_pending()
            except pluggy.PluginValidationError as exc:
                self._pm.unregister(plugin)
                self._failed[name] = f"unknown hook (misspelled?): {exc}"
                log.warning("mem7 plugin %r has a hook no spec knows: %s", name, exc)
                return False
            staged: list[tuple[str, type[Provider]]] = []
            try:
                _check_hooks(plugin, name, self._pm)
                for kind, hook_name in hookspecs.REGISTRATION_HOOKS.items():
                    for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
                        if impl.plugin is plugin:
                            returned = impl.function(register=self._registrar(kind, name, staged))
                            if returned is not None:
                                raise TypeError(
                                    f"{name}: {hook_name} returned {returned!r}; call register(cls) for "
                                    "each provider class instead of returning it"
                                )
                for kind, cls in staged:  # all or nothing: a plugin failing half-way adds none
                    self._add_provider(kind, cls, name)
            except Exception as exc:
                self._pm.unregister(plugin)
                self._failed[name] = f"{type(exc).__name__}: {exc}"
                log.warning("mem7 plugin %r failed while registering: %s", name, exc)
                return False
            self._loaded.append(name)
            return True

    def _registrar(self, kind: str, plugin_name: str, staged: list[tuple[str, type[Provider]]]) -> Any:
        def register(cls: type[Provider]) -> None:
            if not (isinstance(cls, type) and issubclass(cls, Provider)):
                raise TypeError(f"{plugin_name}: register() takes a Provider subclass, got {cls!r}")
            if getattr(cls, "kind", None) != kind:
                raise TypeError(
                    f"{plugin_name}: {cls.__name__} has kind {getattr(cls, 'kind', None)!r} "
                    f"but was registered as a {kind}"
                )
            name = getattr(cls, "name", None)
            if not isinstance(name, str) or not name:
                raise TypeError(f"{plugin_name}: {cls.__name__} must set a class attribute 'name'")
            if isinstance(cls.aliases, str) or not all(isinstance(a, str) and a for a in cls.aliases):
                raise TypeError(
                    f"{plugin_name}: {cls.__name__}.aliases must be a tuple of names, e.g. ('other-name',), "
                    f"not {cls.aliases!r}"
                )
            for key in (name, *cls.aliases):
                if key != key.strip().lower():  # ProviderSpec lower-cases and strips the config's name
                    raise TypeError(
                        f"{plugin_name}: {cls.__name__} is named {key!r}, which no config can select: "
                        f"configs name providers in lower case, without spaces; use {key.strip().lower()!r}"
                    )
            problems = _contract_problems(cls)
            if problems:
                raise TypeError(f"{plugin_name}: " + "; ".join(problems))
            staged.append((kind, cls))

        return register

    def _add_provider(self, kind: str, cls: type[Provider], plugin_name: str) -> None:
        for key in (cls.name, *cls.aliases):
            known = self._providers[kind].get(key)
            if known is not None and known is not cls:
                log.warning(
                    "%s provider %r from %s ignored: already provided by %s",
                    kind, key, plugin_name, self._origin[(kind, key)],
                )
                continue
            self._providers[kind][key] = cls
            self._origin[(kind, key)] = plugin_name

    # ---------------------------------------------------------------- loading
    def _load_entry_point(self, ep: EntryPoint) -> None:
        self._pending.remove(ep)
        try:
            module = ep.load()
        except Exception as exc:
            self._failed[ep.name] = f"{type(exc).__name__}: {exc}"
            log.warning("mem7 plugin %r failed to import: %s", ep.name, exc)
            return
        self.register_plugin(module, name=ep.name)

    def load_all(self) -> None:
        """Import every pending plugin (for listing)."""
        with self._lock:
            while self._pending:
                self._load_entry_point(self._pending[0])

    def _find(self, kind: str, name: str) -> type[Provider] | None:
        with self._lock:
            found = self._providers[kind].get(name)
            if found is not None:
                return found
            # The entry point named like the provider first, then the others one at a time.
            first = [ep for ep in self._pending if ep.name == name]
            for ep in first + [ep for ep in list(self._pending) if ep.name != name]:
                if ep in self._pending:
                    self._load_entry_point(ep)
                found = self._providers[kind].get(name)
                if found is not None:
                    return found
            return None

    # ---------------------------------------------------------------- lookup
    def get(self, kind: ProviderKind | str, name: str) -> type[Provider]:
        """The provider class registered as ``name`` for ``kind``.

        :raises ProviderNotFoundError: listing installed providers, failed plugins, and the pip command.
        """
        if kind not in self._providers:
            raise ConfigError(f"Unknown provider kind {kind!r}; kinds are: {', '.join(PROVIDER_KINDS)}")
        found = self._find(kind, name)
        if found is None:
            raise ProviderNotFoundError(kind, name, self.names(kind), dict(self._failed), self.blocked)
        return found

    def create(self, kind: ProviderKind | str, name: str, config: dict[str, Any] | None = None) -> Provider:
        """Build provider ``name`` of ``kind`` from its config section, validated by its ``Config``.

        The provider's ``from_config`` gets ``registry=self``, so what it builds in turn (an
        LLM-backed reranker's LLM) comes from this registry, not the process-wide one. An override
        of ``from_config`` written before that keyword existed is called without it.
        """
        cls = self.get(kind, name)
        if inspect.isabstract(cls):
            base = next(b for b in cls.__mro__ if b in _CONTRACT_BASES)
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            raise TypeError(
                f"{kind} provider {name!r} ({cls.__name__}, from plugin {self.origin(kind, name)}) cannot be "
                f"built: it does not implement {missing}, abstract in {base.__name__}; implement each "
                "(the conformance suite of its kind, in mem7_core.testing, checks them)"
            )
        if _takes_registry(cls):
            return cls.from_config(config or {}, selected_as=name, registry=self)
        return cls.from_config(config or {}, selected_as=name)

    def names(self, kind: str) -> list[str]:
        """Provider names (and aliases) of ``kind`` known so far, sorted."""
        return sorted(self._providers[kind])

    def providers(self) -> dict[str, dict[str, type[Provider]]]:
        """Every provider by kind, after loading all plugins."""
        self.load_all()
        return {k: dict(v) for k, v in self._providers.items()}

    def origin(self, kind: str, name: str) -> str | None:
        """Which plugin registered ``name``."""
        return self._origin.get((kind, name))

    @property
    def failed(self) -> dict[str, str]:
        """Plugins that failed to import or register, with their error."""
        return dict(self._failed)

    @property
    def loaded(self) -> list[str]:
        return list(self._loaded)

    @property
    def blocked(self) -> list[str]:
        """Plugins skipped because of ``MEM7_DISABLE_PLUGINS``."""
        return list(self._blocked)

    @property
    def pending(self) -> list[str]:
        """Entry points not imported yet."""
        return [ep.name for ep in self._pending]


_CONTRACT_BASES: tuple[type[Provider], ...] = (
    LLM, Embedder, VectorStore, GraphStore, Reranker, Scorer, HistoryStore, Provider,
)
"""The base classes whose methods the engine calls: the contract a provider's methods must fit."""


def _check_hooks(plugin: object, name: str, pm: pluggy.PluginManager) -> None:
    """Refuse a plugin none of whose hooks pluggy will call: a ``mem7_register_*`` function not
    marked ``@hookimpl`` (pluggy skips it silently), or no hook at all (an entry point naming the
    package instead of its hook module)."""
    marked = {
        hook_name
        for hook_name in hookspecs.REGISTRATION_HOOKS.values()
        if any(impl.plugin is plugin for impl in getattr(pm.hook, hook_name).get_hookimpls())
    }
    unmarked = sorted(
        attr for attr in dir(plugin)
        if attr.startswith("mem7_register") and attr not in marked and callable(getattr(plugin, attr, None))
    )
    if unmarked:
        raise TypeError(
            f"{name}: {', '.join(unmarked)} is not marked as a hook, so it is never called; decorate it "
            "with @mem7_core.plugins.hookimpl"
        )
    if not marked:
        raise TypeError(
            f"{name}: {getattr(plugin, '__name__', type(plugin).__name__)} has no hook (no @hookimpl "
            "function named mem7_register_*); make the entry point name the module that defines them"
        )


def _contract_problems(cls: type[Provider]) -> list[str]:
    """How ``cls`` overrides a method of its base classes (``__init__`` included) so that the engine
    cannot call it: a plain ``def`` where the base's is ``async def`` (the engine awaits it), an
    ``async def`` where the base's is plain (it would never be awaited), fewer positional parameters,
    or a keyword-only parameter of the base's missing (the engine passes those by name); and a
    ``Config`` that is not a :class:`ProviderConfig` (unknown keys would pass unnoticed)."""
    problems: list[str] = []
    config = getattr(cls, "Config", None)
    if not (isinstance(config, type) and issubclass(config, ProviderConfig)):
        problems.append(f"{cls.__name__}.Config must be a subclass of mem7_core.providers.ProviderConfig (a "
                        f"pydantic model refusing unknown keys), not {config!r}")
    for base in cls.__mro__:
        if base not in _CONTRACT_BASES:
            continue
        for attr, contract in vars(base).items():
            if (attr.startswith("__") and attr != "__init__") or not inspect.isfunction(contract):
                continue
            owner = next(k for k in cls.__mro__ if attr in vars(k))
            own = vars(owner)[attr]
            if owner in _CONTRACT_BASES or not inspect.isfunction(own):
                continue  # not overridden, or a staticmethod, property, ...: not checked
            where = f"{cls.__name__}.{attr}"
            if inspect.iscoroutinefunction(contract) and not inspect.iscoroutinefunction(inspect.unwrap(own)) \
                    and not inspect.iscoroutinefunction(own):
                problems.append(f"{where} must be an async def, as {base.__name__}.{attr} is: the engine awaits it")
                continue
            if not inspect.iscoroutinefunction(contract) and inspect.iscoroutinefunction(own):
                problems.append(f"{where} must be a plain def, as {base.__name__}.{attr} is: the engine calls it "
                                "without await, so an async def is never awaited and does nothing")
                continue
            problems.extend(_signature_problems(where, own, f"{base.__name__}.{attr}", contract))
    return problems


def _signature_problems(where: str, own: Any, contract_name: str, contract: Any) -> list[str]:
    try:
        have, want = inspect.signature(own), inspect.signature(contract)
    except (TypeError, ValueError):  # pragma: no cover - a C-level or odd callable
        return []
    kinds = [p.kind for p in have.parameters.values()]
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    fix = f"match {contract_name}{want}"
    if inspect.Parameter.VAR_POSITIONAL not in kinds and (
        sum(k in positional for k in kinds) < sum(p.kind in positional for p in want.parameters.values())
    ):
        return [f"{where}{have} takes fewer positional arguments than the engine passes: {fix}"]
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return []
    by_name = {p.name for p in have.parameters.values() if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
    return [
        f"{where}{have} does not take the keyword argument {p.name!r} that the engine passes: {fix}"
        for p in want.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in by_name
    ]


def _takes_registry(cls: type[Provider]) -> bool:
    """Whether ``cls.from_config`` accepts ``registry=`` (the base's does; an old override may not)."""
    try:
        params = inspect.signature(cls.from_config).parameters
    except (TypeError, ValueError):  # pragma: no cover - a C-level or odd callable
        return True
    return "registry" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


_default: PluginRegistry | None = None
_default_lock = threading.Lock()


def get_registry() -> PluginRegistry:
    """The process-wide registry (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PluginRegistry()
        return _default


def reset_registry() -> None:
    """Forget the process-wide registry (tests changing ``MEM7_DISABLE_PLUGINS`` use it)."""
    global _default
    with _default_lock:
        _default = None


def iter_kinds() -> Iterable[str]:
    return iter(PROVIDER_KINDS)
