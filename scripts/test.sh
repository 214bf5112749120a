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
exit "$rc"
