#!/usr/bin/env bash
# Lint and type gates, in the dev venv made by scripts/setup.sh (ruff and mypy come from the
# pyproject's "dev" dependency group; their configuration is the root pyproject's [tool.ruff] and
# [tool.mypy]). Runs every check, then exits non-zero if any of them found something:
#   - ruff check over mem7_core, plugins, tests, bench, scripts, docs/example-plugin and integrations;
#   - import-linter's contracts (lint-imports): the dependency rules of docs/architecture.md;
#   - mypy (strict) over mem7_core, then over each plugin's package(s) on its own (mypy -p, as the
#     plugins are installed editable), the tutorial's example plugin, and each framework integration
#     under integrations/ the same way (one with a venv of its own, e.g. .venv-crewai, against that
#     venv's packages: mypy --python-executable).
#
#   scripts/lint.sh               # everything
#   scripts/lint.sh --fix         # let ruff apply its safe fixes first (then checks as above)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VPY="$ROOT/.venv/bin/python"
[[ -x "$VPY" ]] || { echo "lint.sh: error: no .venv; run scripts/setup.sh first" >&2; exit 1; }

RUFF_PATHS=(mem7_core plugins tests bench scripts docs/example-plugin integrations)
ruff_args=()
[[ "${1:-}" == "--fix" ]] && ruff_args+=(--fix)

failed=()
run() {
    local label=$1; shift
    echo "==> $label"
    "$@" || failed+=("$label")
}

run "ruff" "$VPY" -m ruff check --output-format concise "${ruff_args[@]}" "${RUFF_PATHS[@]}"

# The layers (docs/architecture.md): plugins and scorers import only the contract, the testing kit
# stays out of production modules ([tool.importlinter] in the root pyproject).
# Integrations in venvs of their own (scripts/local_dists.py --own-venvs) are not installed here:
# lint-imports reads their sources from PYTHONPATH (it imports nothing).
own_paths="$("$VPY" scripts/local_dists.py --own-venvs | awk -v root="$ROOT" '{ s = $NF; sub(/\[.*/, "", s); printf "%s%s/%s", (NR > 1 ? ":" : ""), root, s }')"
run "import rules" env PYTHONPATH="$own_paths" "$ROOT/.venv/bin/lint-imports" --no-cache

run "mypy mem7_core" "$VPY" -m mypy -p mem7_core

# Each plugin's (and each integration's) import packages: [tool.hatch.build.targets.wheel] packages.
plugin_packages="$("$VPY" - <<'PY'
import tomllib
from pathlib import Path
for pp in [*sorted(Path("plugins").glob("*/pyproject.toml")), Path("docs/example-plugin/pyproject.toml"),
           *sorted(Path("integrations").glob("*/pyproject.toml"))]:
    if not pp.is_file():
        continue
    data = tomllib.loads(pp.read_text())
    pkgs = data.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {}).get("packages")
    if not pkgs:
        pkgs = [p.name for p in pp.parent.iterdir() if (p / "__init__.py").is_file() and p.name != "tests"]
    # "-", or the venv of its own an integration is installed in ([tool.mem7] own-venv = true)
    venv = f".venv-{pp.parent.name}" if data.get("tool", {}).get("mem7", {}).get("own-venv") is True else "-"
    print(venv, pp.parent.as_posix(), *(Path(p).name for p in pkgs))
PY
)" || { echo "lint.sh: error: could not read the plugins' pyproject.toml files" >&2; exit 1; }

while read -r venv dir pkgs; do
    [[ -n "$dir" ]] || continue
    args=()
    for p in $pkgs; do args+=(-p "$p"); done
    if [[ "$venv" != "-" ]]; then  # checked against what its own venv has installed
        if [[ ! -x "$ROOT/$venv/bin/python" ]]; then
            echo "==> mypy $dir: SKIPPED, no $venv (scripts/setup.sh warned why)"
            continue
        fi
        args+=(--python-executable "$ROOT/$venv/bin/python")
    fi
    run "mypy $dir" "$VPY" -m mypy "${args[@]}"
done <<<"$plugin_packages"

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "lint.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "lint.sh: ok"
