"""Generate docs/reference/config.md from the pydantic models: the core's config and every provider's.

    .venv/bin/python scripts/gen_config_docs.py           # write docs/reference/config.md
    .venv/bin/python scripts/gen_config_docs.py --check   # exit 1 if the committed file is stale

Sources: ``mem7_core.config.MemoryConfig`` and its sections, then the ``Config`` model of every
provider registered by the core (``mem7_core.builtin``) and by each plugin under ``plugins/`` (its
``[project.entry-points.mem7]`` hook module, called with a collecting ``register``). Field
descriptions come from ``Field(description=...)`` or the docstring under the field. Defaults
computed at run time (from the environment) are shown as "(computed)", so the page does not depend
on the machine it is generated on. ``tests/test_docs.py`` fails when the committed page is stale.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import itertools
import json
import re
import sys
import textwrap
import tomllib
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "reference" / "config.md"

KIND_TITLES = {
    "llm": "LLMs (`llm`)",
    "embedder": "Embedders (`embedder`)",
    "vector_store": "Vector stores (`vector_store`)",
    "history_store": "History stores (`history_store`)",
    "graph_store": "Graph stores (`graph_store`)",
    "reranker": "Rerankers (`reranker`)",
    "scorer": "Scorers (`scorers`, `decay`, `temporal`, `context`)",
}


# ---------------------------------------------------------------------- field docs
def _attribute_docs(model: type[BaseModel]) -> dict[str, str]:
    """``field: docstring`` for fields documented by a string right under them (any base class)."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, nxt in itertools.pairwise(body):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                docs[node.target.id] = inspect.cleandoc(nxt.value.value)
    return docs


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation)
    text = re.sub(r"\b(typing|pydantic(\.[a-z_]+)*|mem7_core(\.[a-z_]+)*|collections\.abc)\.", "", text)
    text = text.replace("NoneType", "None")
    return text


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        factory = field.default_factory
        if factory in (dict, list):
            return f"`{factory()}`"
        if isinstance(factory, type) and issubclass(factory, BaseModel):
            from mem7_core.config import ProviderSpec

            made = factory()
            if isinstance(made, ProviderSpec):  # a default provider: a constant, safe to show
                return f"`{json.dumps({'provider': made.provider, 'config': made.config})}`"
            return "(its section's defaults)"
        return "(computed)"
    value = field.default
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, BaseModel):
        return "(see below)"
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except TypeError:
        shown = repr(value)
    return f"`{shown}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def model_table(model: type[BaseModel]) -> str:
    docs = _attribute_docs(model)
    rows = ["| field | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        description = field.description or docs.get(name, "")
        type_name = _cell(_type_name(field.annotation))
        rows.append(f"| `{name}` | `{type_name}` | {_cell(_default(field))} | {_cell(description)} |")
    extra = model.model_config.get("extra")
    note = "Unknown keys are errors." if extra == "forbid" else ""
    return "\n".join(rows) + (f"\n\n{note}" if note else "")


def _doc(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip()


# ---------------------------------------------------------------------- providers
def _plugin_modules() -> list[str]:
    modules = []
    for pp in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        eps = tomllib.loads(pp.read_text())["project"].get("entry-points", {}).get("mem7", {})
        modules.extend(eps.values())
    return modules


def collect_providers() -> dict[str, list[tuple[str, type]]]:
    """Kind → [(module it comes from, provider class)], sorted by provider name."""
    from mem7_core.hookspecs import REGISTRATION_HOOKS

    found: dict[str, dict[str, tuple[str, type]]] = {k: {} for k in REGISTRATION_HOOKS}
    for module_name in ["mem7_core.builtin", *_plugin_modules()]:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            sys.exit(
                f"gen_config_docs: cannot import {module_name} ({exc}); run scripts/setup.sh to install every plugin"
            )
        for kind, hook in REGISTRATION_HOOKS.items():
            fn = getattr(module, hook, None)
            if fn is None:
                continue
            dist = module_name.split(".")[0].replace("_", "-")
            fn(lambda cls, _kind=kind, _dist=dist: found[_kind].setdefault(cls.name, (_dist, cls)))
    return {k: [v[n] for n in sorted(v)] for k, v in found.items()}


# ---------------------------------------------------------------------- page
def render() -> str:
    from mem7_core import config as cfg

    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by scripts/gen_config_docs.py from the pydantic models; do not edit by hand. -->",
        "",
        "Every setting of a `MemoryConfig`, then every provider's own `config` section. Any shape works: "
        "`MemoryConfig(...)`, a mem0-style dict, a YAML / TOML / JSON file (`MEM7_CONFIG`), and `MEM7_*` "
        "variables (`MEM7_DECAY__ENABLED=true`); see [Configuration](../index.md#configuration). "
        "`mem7 config check FILE` validates a file against all of these and names every problem.",
        "",
        "## MemoryConfig (top level)",
        "",
        _doc(cfg.MemoryConfig),
        "",
        model_table(cfg.MemoryConfig),
        "",
        "## Provider sections",
        "",
        "`llm`, `embedder`, `vector_store`, `history_store`, `graph_store`, `reranker` and each entry of "
        "`scorers` have this shape; `config` is validated by the chosen provider's own model (below). "
        "Keys beside `provider` are folded into `config` (`{provider: openai, model: gpt-4.1-nano}`).",
        "",
        model_table(cfg.ProviderSpec),
        "",
    ]
    sections = [
        ("decay", cfg.DecayConfig),
        ("temporal", cfg.TemporalConfig),
        ("context", cfg.ContextConfig),
        ("retrieval", cfg.RetrievalConfig),
        ("telemetry", cfg.TelemetryConfig),
        ("limits", cfg.LimitsConfig),
    ]
    for name, model in sections:
        out += [f"## `{name}`", "", _doc(model), "", model_table(model), ""]
        for fname, field in model.model_fields.items():
            sub = field.annotation
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                out += [f"### `{name}.{fname}`", "", _doc(sub), "", model_table(sub), ""]
    out += ["## Providers", "", "Each provider's `config` section, by kind. Aliases select the same class "
            "(some with their own defaults).", ""]
    for kind, providers in collect_providers().items():
        if not providers:
            continue
        out += [f"### {KIND_TITLES.get(kind, kind)}", ""]
        for dist, cls in providers:
            aliases = f" (aliases: {', '.join(f'`{a}`' for a in cls.aliases)})" if cls.aliases else ""
            out += [f"#### `{cls.name}`{aliases}", "", f"From `{dist}`. {_doc(cls)}".rstrip(), "",
                    model_table(cls.Config), ""]
    return "\n".join(line.rstrip() for line in out).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed page differs")
    args = parser.parse_args()
    page = render()
    if args.check:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != page:
            print(f"{OUT.relative_to(ROOT)} is stale: run .venv/bin/python scripts/gen_config_docs.py", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(page, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
