"""Print the repo's local distributions as pip install specs, one a line, in install order.

mem7-core first, then the plugins under plugins/ and the tutorial's example plugin under
docs/example-plugin/ (a plugin depending on another local one comes after it), then distributions
registering no ``mem7`` entry point (the ``mem7`` meta dist, the framework integrations under
integrations/). A spec carries the distribution's
``test``/``testing`` extras when it declares them, e.g. ``plugins/openai[testing]`` (the core also
its ``server``/``mcp`` extras: ``.[testing,server,mcp]``).
Used by scripts/setup.sh; run from the repo root.

A distribution whose pyproject says ``[tool.mem7] own-venv = true`` (integrations/crewai,
integrations/llamaindex: their framework pins versions the dev venv cannot share) is left out of
that list. ``--own-venvs`` prints one line per such distribution instead: its venv
(``.venv-<dir name>``), then the specs to install there, in order: the local distributions it
needs (with the extras it asks of them), then itself with its ``test`` extra.
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


def dep_extras(req: str) -> set[str]:
    """The extras a requirement asks for: ``mem7-core[testing]>=0.1`` -> ``{"testing"}``."""
    m = re.match(r"\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*\[([^\]]*)\]", req)
    return {e.strip() for e in m.group(1).split(",") if e.strip()} if m else set()


def main() -> None:
    dists: dict[str, tuple[Path, list[str], set[str], bool]] = {}  # name -> path, extras, deps, plugin?
    requested: dict[str, tuple[list[str], dict[str, list[str]]]] = {}  # name -> dependencies, extras
    own_venv: set[str] = set()  # [tool.mem7] own-venv = true
    # docs/example-plugin: the provider tutorial's finished package, installed and tested like a plugin.
    examples = [p for p in [Path("docs/example-plugin/pyproject.toml")] if p.is_file()]
    # integrations/<name>/: framework integrations (LangGraph, the OpenAI Agents SDK, ...), no entry point.
    integrations = sorted(Path("integrations").glob("*/pyproject.toml"))
    for pp in [Path("pyproject.toml"), *sorted(Path("plugins").glob("*/pyproject.toml")), *examples, *integrations]:
        try:
            data = tomllib.loads(pp.read_text())
            project = data["project"]
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
        requested[name] = (list(project.get("dependencies", [])), optional)
        if data.get("tool", {}).get("mem7", {}).get("own-venv") is True:
            own_venv.add(name)

    order: list[str] = []
    while len(order) < len(dists):
        ready = [n for n, (_, _, deps, _) in dists.items()
                 if n not in order and all(d in order or d not in dists for d in deps)]
        if not ready:
            sys.exit("dependency cycle between " + ", ".join(sorted(set(dists) - set(order))))
        ready.sort(key=lambda n: (n != "mem7-core", not dists[n][3], n))
        order.append(ready[0])

    def spec(name: str, extras: list[str] | set[str]) -> str:
        path = dists[name][0]
        where = "." if path == Path(".") else path.as_posix()
        return f"{where}[{','.join(sorted(extras))}]" if extras else where

    if sys.argv[1:] == ["--own-venvs"]:
        for own in sorted(own_venv):
            needed: dict[str, set[str]] = {}  # local dists it needs -> the extras asked of them
            todo: list[tuple[str, set[str]]] = [(own, set(dists[own][1]))]
            while todo:
                name, extras = todo.pop()
                base, optional = requested[name]
                for req in base + [r for e in sorted(extras) for r in optional.get(e, [])]:
                    dep, asked = dep_name(req), dep_extras(req)
                    if dep in dists and dep != own and (dep not in needed or not asked <= needed[dep]):
                        needed[dep] = needed.get(dep, set()) | asked
                        todo.append((dep, asked))
            specs = [spec(n, needed[n]) for n in order if n in needed] + [spec(own, dists[own][1])]
            print(f".venv-{dists[own][0].name}", *specs)
        return
    if sys.argv[1:]:
        sys.exit(f"usage: {sys.argv[0]} [--own-venvs]")
    excluded = {n for n in dists if n in own_venv or dists[n][2] & own_venv}
    for n in order:
        if n not in excluded:
            print(spec(n, dists[n][1]))


if __name__ == "__main__":
    main()
