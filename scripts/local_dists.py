"""Print the repo's local distributions as pip install specs, one a line, in install order.

mem7-core first, then the plugins under plugins/ and the tutorial's example plugin under
docs/example-plugin/ (a plugin depending on another local one comes after it), then distributions
registering no ``mem7`` entry point (the ``mem7`` meta dist, the framework integrations under
integrations/). A spec carries the distribution's
``test``/``testing`` extras when it declares them, e.g. ``plugins/openai[testing]`` (the core also
its ``server``/``mcp`` extras: ``.[testing,server,mcp]``).
Used by scripts/setup.sh; run from the repo root.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dep_name(req: str) -> str:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    return norm(m.group(1)) if m else ""


def main() -> None:
    dists: dict[str, tuple[Path, list[str], set[str], bool]] = {}  # name -> path, extras, deps, plugin?
    # docs/example-plugin: the provider tutorial's finished package, installed and tested like a plugin.
    examples = [p for p in [Path("docs/example-plugin/pyproject.toml")] if p.is_file()]
    # integrations/<name>/: framework integrations (LangGraph, the OpenAI Agents SDK, ...), no entry point.
    integrations = sorted(Path("integrations").glob("*/pyproject.toml"))
    for pp in [Path("pyproject.toml"), *sorted(Path("plugins").glob("*/pyproject.toml")), *examples, *integrations]:
        try:
            project = tomllib.loads(pp.read_text())["project"]
            name = norm(project["name"])
        except Exception as exc:  # noqa: BLE001
            sys.exit(f"{pp}: no readable [project] name ({exc})")
        if name in dists:
            sys.exit(f"{pp}: distribution {name} is defined twice")
        optional = project.get("optional-dependencies", {})
        # The core also gets its server extras, so `mem7 serve` / `mem7 mcp` and their tests work.
        wanted = ("test", "testing", "server", "mcp") if pp.parent == Path(".") else ("test", "testing")
        extras = [e for e in wanted if e in optional]
        reqs = list(project.get("dependencies", []))
        for e in extras:
            reqs += optional[e]
        is_plugin = "mem7" in project.get("entry-points", {})
        dists[name] = (pp.parent, extras, {dep_name(r) for r in reqs} - {name}, is_plugin)

    order: list[str] = []
    while len(order) < len(dists):
        ready = [n for n, (_, _, deps, _) in dists.items()
                 if n not in order and all(d in order or d not in dists for d in deps)]
        if not ready:
            sys.exit("dependency cycle between " + ", ".join(sorted(set(dists) - set(order))))
        ready.sort(key=lambda n: (n != "mem7-core", not dists[n][3], n))
        order.append(ready[0])

    for n in order:
        path, extras, _, _ = dists[n]
        spec = "." if path == Path(".") else path.as_posix()
        print(f"{spec}[{','.join(extras)}]" if extras else spec)


if __name__ == "__main__":
    main()
