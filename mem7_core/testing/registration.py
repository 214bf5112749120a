"""The registry's checks, for a conformance suite: each suite's first test registers the class of the
provider under test as its plugin's hook would, so an author who builds the provider directly in a
fixture learns there what would otherwise fail only when the plugin loads through its entry point
(a name no config can select, a method the engine cannot call, a ``Config`` that is not a
``ProviderConfig``; :meth:`mem7_core.plugins.PluginRegistry.register_plugin`)."""

from __future__ import annotations

import types
from collections.abc import Callable

from ..hookspecs import REGISTRATION_HOOKS
from ..plugins import PluginRegistry, hookimpl
from ..providers import Provider


def assert_registers(provider: Provider) -> None:
    """Register ``type(provider)`` from a plugin module in a registry of its own, and fail with the
    registry's reason when it refuses the plugin or cannot then find the class by its name."""
    cls = type(provider)
    hook = REGISTRATION_HOOKS[cls.kind]
    plugin = types.ModuleType(cls.__module__)

    def register_it(register: Callable[[type[Provider]], None]) -> None:
        register(cls)

    setattr(plugin, hook, hookimpl(register_it))
    registry = PluginRegistry(discover=False, builtins=False)
    name = cls.__module__.split(".")[0]
    assert registry.register_plugin(plugin, name=name), (
        f"the plugin registering {cls.__name__} from {hook} would fail to load: {registry.failed[name]}")
    assert registry.get(cls.kind, cls.name) is cls
