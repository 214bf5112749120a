"""The hook module the ``mem7`` entry point names: it registers the provider class."""

from mem7_core.plugins import hookimpl

from .store import LiteVecStore


@hookimpl
def mem7_register_vector_stores(register):
    register(LiteVecStore)
