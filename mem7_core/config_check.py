"""``mem7 config check``: validate a configuration and name *every* problem, not just the first.

Building an engine stops at the first bad section; this walks them all: the file's syntax, the
top-level model (``MemoryConfig``: every field pydantic rejects), then each provider section
(``llm``, ``embedder``, ``vector_store``, ``history_store``, ``graph_store``, ``reranker``,
``scorers[i]``, ``decay``/``context`` when enabled) looked up in the plugin registry and validated
by that provider's own ``Config`` model, and ``telemetry`` against what is installed. With
``build=True`` each provider is also constructed and closed, which catches what only its
constructor knows (a missing API key); clients are lazy, so nothing is contacted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .config import MemoryConfig, ProviderSpec, _deep_merge, config_from_env, read_config_file
from .engine.assembly import AUTO_HISTORY
from .errors import ConfigError
from .plugins import PluginRegistry, get_registry

PROVIDER_SECTIONS: dict[str, str] = {
    "llm": "llm",
    "embedder": "embedder",
    "vector_store": "vector_store",
    "history_store": "history_store",
    "graph_store": "graph_store",
    "reranker": "reranker",
}
"""Top-level section → provider kind."""


@dataclass(slots=True)
class CheckResult:
    """Every problem found (``where: what``) and the providers that passed, by section."""

    problems: list[str] = field(default_factory=list)
    providers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _errors(exc: ValidationError, where: str) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        path = f"{where}.{loc}" if where and loc else (where or loc or "(root)")
        out.append(f"{path}: {err.get('msg')}")
    return out


def load_layers(
    path: str | None, *, base: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The merged raw config (base < file < ``MEM7_*``), unvalidated.

    :raises ConfigError: the file is missing or not valid YAML/TOML/JSON.
    """
    merged: dict[str, Any] = dict(base or {})
    if path:
        merged = _deep_merge(merged, read_config_file(path))
    return _deep_merge(merged, config_from_env(environ))


def check_config(
    raw: Mapping[str, Any], *, registry: PluginRegistry | None = None, build: bool = False
) -> CheckResult:
    """Validate ``raw`` (a mem0-style or typed dict) section by section; collect every problem."""
    registry = registry or get_registry()
    result = CheckResult()
    try:
        config: MemoryConfig | None = MemoryConfig.model_validate(dict(raw))
    except ValidationError as exc:
        config = None
        result.problems.extend(_errors(exc, ""))

    # Provider sections are checked from the raw dict too, so one bad top-level field does not
    # hide a bad provider option elsewhere.
    specs: list[tuple[str, str, Any]] = []  # (where, kind, spec section)
    for section, kind in PROVIDER_SECTIONS.items():
        if config is not None:
            spec = getattr(config, section)
        else:
            spec = _spec_or_none(raw.get(section, _DEFAULT if section in _DEFAULTED else None), section, result)
        if spec is not None:
            specs.append((section, kind, spec))
    scorers = config.scorers if config is not None else [
        s for i, r in enumerate(raw.get("scorers") or []) if (s := _spec_or_none(r, f"scorers.{i}", result)) is not None
    ]
    for i, spec in enumerate(scorers):
        specs.append((f"scorers.{i}", "scorer", spec))
    if config is not None:
        graph_llm = getattr(config.graph_store, "llm", None)
        if graph_llm is not None:  # the graph's own LLM (graph_store.llm)
            specs.append(("graph_store.llm", "llm", graph_llm))
        if config.decay.enabled:
            specs.append(("decay", "scorer", ProviderSpec(provider="decay", config=config.decay.model_dump())))
        if config.context.enabled:
            specs.append(("context", "scorer", ProviderSpec(provider="context", config=config.context.model_dump())))

    built: list[Any] = []
    for where, kind, spec in specs:
        auto = kind == "history_store" and spec.provider == AUTO_HISTORY  # checked as its SQLite fallback
        cls = _lookup(registry, kind, "sqlite" if auto else spec.provider, where, result)
        if cls is None:
            continue
        provider_config = dict(spec.config)
        cfg_where = where if where in ("decay", "context") else f"{where}.config"
        try:
            cls.Config.model_validate(provider_config)
        except ValidationError as exc:
            result.problems.extend(_errors(exc, cfg_where))
            continue
        if build and not auto:
            try:
                built.append(cls.from_config(provider_config, selected_as=spec.provider, registry=registry))
            except ValidationError as exc:
                result.problems.extend(_errors(exc, cfg_where))
                continue
            except Exception as exc:  # a constructor's own check (a missing key, a bad path)
                result.problems.append(f"{where}: {spec.provider}: {exc}")
                continue
        result.providers[where] = spec.provider
    if built:
        asyncio.run(_close(built))

    if config is not None and config.telemetry.enabled:
        from .telemetry import check_installed

        try:
            check_installed(config.telemetry)
        except ConfigError as exc:
            result.problems.append(str(exc))
    return result


_DEFAULTED = {"llm", "embedder", "vector_store", "history_store"}
_DEFAULT = object()


def _spec_or_none(raw: Any, where: str, result: CheckResult) -> ProviderSpec | None:
    if raw is None:
        return None
    if raw is _DEFAULT:
        return ProviderSpec.model_validate({"provider": _default_provider(where)})
    try:
        return ProviderSpec.model_validate(raw)
    except ValidationError:
        return None  # already reported by the MemoryConfig pass


def _default_provider(section: str) -> str:
    return str(MemoryConfig.model_fields[section].get_default(call_default_factory=True).provider)


def _lookup(registry: PluginRegistry, kind: str, name: str, where: str, result: CheckResult) -> Any:
    try:
        return registry.get(kind, name)
    except ConfigError as exc:
        result.problems.append(f"{where}.provider: {exc}")
        return None


async def _close(providers: list[Any]) -> None:
    for p in providers:
        try:
            await p.aclose()
        except Exception:  # closing a provider that was only built to be checked: nothing to report
            pass


__all__ = ["CheckResult", "check_config", "load_layers"]
