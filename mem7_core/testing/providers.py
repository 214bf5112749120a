"""The testing kit's providers as a mem7 plugin: the ``hash`` embedder (:class:`~.fakes.HashEmbedder`).

Registered through the ``hash`` entry point of the ``mem7`` group (mem7-core's ``pyproject.toml``),
so the registry imports this module only when a config asks for ``embedder: {provider: hash}`` (or
when every plugin is listed, as ``mem7 plugins`` does): production code never imports the testing
kit. A registry built with ``discover=False`` registers it by hand::

    from mem7_core.testing import providers as testing_providers
    registry.register_plugin(testing_providers, name="hash")
"""

from __future__ import annotations

from collections.abc import Callable

from ..plugins import hookimpl
from ..providers import Embedder


@hookimpl
def mem7_register_embedders(register: Callable[[type[Embedder]], None]) -> None:
    from .fakes import HashEmbedder

    register(HashEmbedder)
