"""Plugin discovery and provider lookup.

Plugins are distributions exposing a module in the ``mem7`` entry-point group. Entry points are
loaded lazily, one at a time, only when a provider is asked for that is not yet known (the entry
point named like the provider first), so building an engine imports only the plugins it uses.

A plugin that fails to import, or whose hooks do not match the spec (``check_pending``), is
recorded with its error and skipped: the others keep working, and the error shows up in
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
from .providers.base import PROVIDER_KINDS, Provider, ProviderKind

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
                self._failed[name] = f"{type(exc).__name__}: {exc}"
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
                for kind, hook_name in hookspecs.REGISTRATION_HOOKS.items():
                    for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
                        if impl.plugin is plugin:
                            impl.function(register=self._registrar(kind, name, staged))
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
