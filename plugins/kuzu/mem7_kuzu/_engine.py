"""Choosing the engine package (kuzu or ladybug) and opening a database with clear errors.

Both packages bundle the same native engine under different symbols, and loading both into one
process crashes it. So the chosen package is imported only when a store first opens its database,
and refused with a :class:`~mem7_core.errors.ConfigError` when the other one is already loaded:
a clear message instead of a dead process.
"""

from __future__ import annotations

import importlib
import importlib.util  # kuzu's native module calls importlib.util (for bytes parameters) without importing it
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from mem7_core.errors import ConfigError, ProviderError

EngineName = Literal["kuzu", "ladybug"]
ENGINES: tuple[EngineName, ...] = ("kuzu", "ladybug")
PROVIDER = "kuzu"
"""The provider name errors are tagged with (the engine is named in the message)."""
MEMORY_PATH = ":memory:"


def _other(engine: EngineName) -> EngineName:
    return "ladybug" if engine == "kuzu" else "kuzu"


def check_engine_compatible(engine: EngineName) -> None:
    """Refuse ``engine`` when the other engine package is already imported in this process.

    :raises ConfigError: naming both packages and the way out.
    """
    other = _other(engine)
    if other in sys.modules:
        raise ConfigError(
            f"graph_store kuzu: engine {engine!r} cannot be loaded because {other!r} is already "
            f"imported in this process, and the two native libraries crash when loaded together. "
            f"Use engine: {other!r} for every kuzu graph store of this process, or run the "
            f"{engine!r} one in a separate process."
        )


def load_engine(engine: EngineName) -> ModuleType:
    """Import the engine package (``kuzu`` or ``ladybug``), after checking the other is not loaded.

    :raises ConfigError: the other engine is loaded, or this one is not installed.
    """
    if engine not in ENGINES:
        raise ConfigError(f"graph_store kuzu: engine must be one of {list(ENGINES)}, got {engine!r}")
    check_engine_compatible(engine)
    try:
        return importlib.import_module(engine)
    except ImportError as exc:
        extra = "" if engine == "kuzu" else "[ladybug]"
        raise ConfigError(
            f"graph_store kuzu: engine {engine!r} is not installed ({exc}). "
            f"Install it with: pip install 'mem7-kuzu{extra}'"
        ) from exc


def resolve_path(path: str) -> str:
    """The database file path: ``~`` expanded, parent directories created; ``:memory:`` kept.

    :raises ConfigError: the path is a directory or its parent cannot be created.
    """
    if path == MEMORY_PATH:
        return path
    p = Path(path).expanduser()
    if p.is_dir():
        raise ConfigError(
            f"graph_store kuzu: path {str(p)!r} is a directory; the database is a single file. "
            f"Set path to a file inside it, e.g. {str(p / 'mem7_graph.kuzu')!r}"
        )
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"graph_store kuzu: cannot create the directory of path {str(p)!r} ({exc}). Set path to a writable location"
        ) from exc
    return str(p)


def open_database(module: ModuleType, path: str, **options: Any) -> Any:
    """Open (or create) the database at ``path``, mapping the engine's errors to mem7's.

    :raises ProviderError: another process holds the database lock (retry later or use another path).
    :raises ConfigError: the path cannot be opened, or the file is not a database of this engine.
    """
    try:
        return module.Database(path, **options)
    except RuntimeError as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "lock" in text.lower():
            raise ProviderError(
                PROVIDER,
                f"the database {path!r} is locked by another process ({text}). An embedded "
                f"{module.__name__} database has one writer process: close the other one, or "
                f"give this store its own path",
            ) from exc
        raise ConfigError(
            f"graph_store kuzu: cannot open path {path!r} with engine {module.__name__!r} ({text}). "
            f"Set path to a writable file location (a database written by the other engine, or "
            f"any other file, cannot be opened)"
        ) from exc
