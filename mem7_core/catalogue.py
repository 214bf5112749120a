"""mem7's first-party plugins, whether installed or not: which distribution provides each provider.

Read from ``catalogue.toml`` beside this module (one line per ``plugins/<name>/`` distribution of
the repository, checked against the repository by ``tests/test_catalogue.py``). ``mem7 plugins``
lists the providers of the plugins that are not installed, with the command that adds each, and
:class:`~mem7_core.errors.ProviderNotFoundError` names the distribution that provides a missing
provider (``postgres`` → ``mem7-pgvector``) instead of guessing one.
"""

from __future__ import annotations

import functools
import json
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from types import MappingProxyType
from typing import Any

from .providers.base import PROVIDER_KINDS

META_DISTRIBUTION = "mem7"
"""The meta package whose extras install the plugins (``pip install 'mem7[chroma]'``)."""


@dataclass(frozen=True)
class FirstPartyPlugin:
    """One first-party plugin distribution and the providers it registers."""

    distribution: str
    """``mem7-pgvector``."""
    entry_point: str
    """Its name in the ``mem7`` entry-point group (what ``MEM7_DISABLE_PLUGINS`` and failures name)."""
    extra: str | None
    """The meta package's extra that installs it; None when plain ``pip install mem7`` does."""
    provides: MappingProxyType[str, tuple[str, ...]]
    """Kind → the provider's name, then its aliases."""

    @property
    def install(self) -> str:
        """The command that adds it: ``pip install 'mem7[pgvector]'``, else ``pip install mem7-openai``."""
        if self.extra is None:
            return f"pip install {self.distribution}"
        return f"pip install '{META_DISTRIBUTION}[{self.extra}]'"

    @property
    def install_alone(self) -> str:
        """The command that adds only this distribution (and mem7-core): ``pip install mem7-pgvector``."""
        return f"pip install {self.distribution}"

    def line(self) -> str:
        """This entry as its line of ``catalogue.toml``."""
        fields = [] if self.extra is None else [f"extra = {json.dumps(self.extra)}"]
        fields.append(f"entry_point = {json.dumps(self.entry_point)}")
        fields += [f"{kind} = {json.dumps(list(names))}" for kind, names in self.provides.items()]
        return f"{self.distribution} = {{ {', '.join(fields)} }}"


def _entry(distribution: str, raw: Any) -> FirstPartyPlugin:
    where = f"mem7_core/catalogue.toml: {distribution}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an inline table, got {raw!r}")
    unknown = set(raw) - {"extra", "entry_point", *PROVIDER_KINDS}
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}; kinds are {', '.join(PROVIDER_KINDS)}")
    entry_point, extra = raw.get("entry_point"), raw.get("extra")
    if not isinstance(entry_point, str) or not entry_point:
        raise ValueError(f"{where}: entry_point must be a non-empty string")
    if extra is not None and (not isinstance(extra, str) or not extra):
        raise ValueError(f"{where}: extra must be a non-empty string when given")
    provides: dict[str, tuple[str, ...]] = {}
    for kind in PROVIDER_KINDS:  # a fixed order, whatever the line's
        names = raw.get(kind)
        if names is None:
            continue
        if not (isinstance(names, list) and names and all(isinstance(n, str) and n for n in names)):
            raise ValueError(f"{where}: {kind} must be a non-empty list of provider names")
        provides[kind] = tuple(names)
    if not provides:
        raise ValueError(f"{where}: names no provider (add e.g. vector_store = [\"name\"])")
    return FirstPartyPlugin(distribution, entry_point, extra, MappingProxyType(provides))


def parse(text: str) -> tuple[FirstPartyPlugin, ...]:
    """The entries of a ``catalogue.toml`` text, sorted by distribution."""
    data = tomllib.loads(text)
    return tuple(_entry(dist, raw) for dist, raw in sorted(data.items()))


@functools.cache
def first_party() -> tuple[FirstPartyPlugin, ...]:
    """Every first-party plugin, sorted by distribution (read once)."""
    return parse(files(__package__).joinpath("catalogue.toml").read_text(encoding="utf-8"))


def providing(kind: str, name: str) -> FirstPartyPlugin | None:
    """The first-party plugin that registers ``name`` (its name or an alias) for ``kind``."""
    for plugin in first_party():
        if name in plugin.provides.get(kind, ()):
            return plugin
    return None


def other_kinds(kind: str, name: str) -> list[tuple[FirstPartyPlugin, str]]:
    """(plugin, kind) of the first-party providers named ``name`` for a kind other than ``kind``."""
    return [
        (plugin, other)
        for plugin in first_party()
        for other, names in plugin.provides.items()
        if other != kind and name in names
    ]


def names(kind: str) -> list[str]:
    """Every first-party provider name and alias of ``kind``, sorted."""
    return sorted({n for plugin in first_party() for n in plugin.provides.get(kind, ())})
