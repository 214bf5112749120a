#!/usr/bin/env bash
# Run the whole test suite (mem7-core and every plugin under plugins/, including the wheel
# combination test) in the dev venv made by scripts/setup.sh. Extra arguments go to pytest:
#   scripts/test.sh -x -k flat
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VPY="$ROOT/.venv/bin/python"
[[ -x "$VPY" ]] || { echo "test.sh: error: no .venv; run scripts/setup.sh first" >&2; exit 1; }

# Every plugin and integration ships tests; one without any would silently not be tested.
missing=()
for pp in plugins/*/pyproject.toml integrations/*/pyproject.toml; do
    [[ -f "$pp" ]] || continue
    dir="$(dirname "$pp")"
    compgen -G "$dir/tests/test_*.py" >/dev/null || missing+=("$dir")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "test.sh: error: no tests/test_*.py in: ${missing[*]}" >&2
    exit 1
fi

# The root pyproject's testpaths (tests/, plugins/, integrations/...): one run covers them all.
rc=0
"$VPY" -m pytest -ra "$@" || rc=$?
if [[ $rc -eq 5 ]]; then
    echo "test.sh: error: pytest collected no tests" >&2
fi

# Integrations in venvs of their own (scripts/local_dists.py --own-venvs; the dev venv does not
# collect them: their conftest.py leaves their tests out where the framework is not installed),
# each with its venv's pytest. Arguments go to the run above only; without arguments (CI, the
# README) these run too, and fail the script when they fail.
if [[ $# -eq 0 ]]; then
    own_out="$("$VPY" scripts/local_dists.py --own-venvs)" || { echo "test.sh: error: could not read the pyproject.toml files" >&2; exit 1; }
    while read -r own_venv own_specs; do
        [[ -n "$own_venv" ]] || continue
        own_dir="${own_specs##* }"; own_dir="${own_dir%%[*}"
        OPY="$ROOT/$own_venv/bin/python"
        if ! [[ -x "$OPY" ]] || ! "$OPY" -c "import pytest, mem7_core" 2>/dev/null; then
            echo "test.sh: SKIPPED $own_dir: $own_venv is missing or incomplete (scripts/setup.sh warned why; run it again)"
            continue
        fi
        echo "==> $own_dir, with $own_venv's pytest"
        own_rc=0
        "$OPY" -m pytest -ra "$own_dir" || own_rc=$?
        [[ $own_rc -eq 0 ]] || { echo "test.sh: error: $own_dir failed (exit $own_rc)" >&2; [[ $rc -ne 0 ]] || rc=$own_rc; }
    done <<<"$own_out"
fi
exit "$rc"
