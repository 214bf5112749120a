"""The Rust client's own tests (``clients/rust``, ``cargo test``), run from pytest so CI runs them.

``cargo test`` builds the crate offline from Debian's packaged crates (``clients/rust/.cargo/
config.toml`` points crates-io at ``/usr/share/cargo/registry``; ``scripts/setup.sh`` installs
them with apt when cargo is on PATH) and runs, both ways:

- ``tests/remote.rs`` against the real ``mem7 serve`` started here on loopback (hash embedder; an
  unrestricted token and one pinned to user ``alice``), given as ``RUST_CLIENT_TEST_URL`` and tokens;
- ``tests/local.rs``, where the crate starts ``mem7 serve`` itself from a config (``MEM7_BIN``:
  this venv's script), the original's Rust quick start among them, its LLM and embedder the
  loopback OpenAI-compatible server started here (``RUST_CLIENT_TEST_OPENAI_URL``).

Skipped, with the reason, when cargo or Debian's crates are missing. Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from _serve import ADMIN, ALICE, REPO, TOKENS, ServeProcess, clean_env, mem7_exe

from mem7_core.testing.openai_server import OpenAIServer

CLIENT = REPO / "clients" / "rust"
REGISTRY = Path("/usr/share/cargo/registry")
DEBIAN_CRATES = ("reqwest-0.11", "serde-1", "serde_derive-1", "serde_json-1", "tokio-1", "libc-0.2")
APT = (
    "apt-get install librust-reqwest-dev librust-serde-json-dev librust-tokio-dev librust-serde-dev"
    " librust-serde-derive-dev librust-libc-dev"
)
RESULT = re.compile(r"^test result: (\w+)\. (\d+) passed; (\d+) failed; (\d+) ignored", re.MULTILINE)
# Test binaries and how many tests each must run (at least): unit tests, tests/local.rs,
# tests/remote.rs, doc-tests (the quick start, compiled).
RUNNING = re.compile(r"^\s+Running (\S+)|^\s+Doc-tests (\S+)", re.MULTILINE)
EXPECTED = {"unittests": 16, "local": 4, "remote": 7, "doc": 2}


def _missing_crates() -> list[str]:
    names = [p.name for p in REGISTRY.iterdir()] if REGISTRY.is_dir() else []
    return [c for c in DEBIAN_CRATES if not any(n.startswith(c) for n in names)]


def test_rust_client_against_a_real_server(tmp_path: Path) -> None:
    cargo = shutil.which("cargo")
    if not cargo:
        pytest.skip("cargo is not on PATH: the Rust client (clients/rust) is not built or tested")
    missing = _missing_crates()
    if missing:
        pytest.skip(
            f"Debian's packaged crates are not installed (none of {', '.join(missing)} under {REGISTRY}): "
            f"{APT} (scripts/setup.sh does when cargo and apt are present)"
        )

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEM7_", "OPENAI_"))}
    env.update({
        "MEM7_BIN": mem7_exe(),
        "MEM7_DATA_DIR": str(tmp_path / "local-data"),
        "CARGO_TERM_COLOR": "never",
        "RUST_BACKTRACE": "1",
    })
    (tmp_path / "local-data").mkdir()
    server_env = clean_env(tmp_path / "remote-data", {"MEM7_SERVER_TOKENS": json.dumps(TOKENS)})
    # 1024: the dims of the original quick start's embedding model (mxbai-embed-large).
    with OpenAIServer(embedding_dims=1024) as openai, ServeProcess(server_env) as server:
        env.update({
            "RUST_CLIENT_TEST_URL": server.url,
            "RUST_CLIENT_TEST_TOKEN": ADMIN,
            "RUST_CLIENT_TEST_ALICE_TOKEN": ALICE,
            "RUST_CLIENT_TEST_OPENAI_URL": openai.url,
        })
        started = time.monotonic()
        done = subprocess.run(
            [cargo, "test", "--offline"], cwd=CLIENT, env=env, capture_output=True, text=True, timeout=1500,
            check=False,
        )
        took = time.monotonic() - started
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"cargo test failed ({took:.0f} s):\n{done.stdout[-8000:]}\n{done.stderr[-4000:]}"

    # Every test binary ran, with at least its tests, none failed or ignored.
    binaries = [m.group(1) or m.group(2) for m in RUNNING.finditer(out)]
    results = RESULT.findall(out)
    assert len(binaries) == len(results) == len(EXPECTED), (binaries, results, out[-3000:])
    for binary, (verdict, passed, failed, ignored) in zip(binaries, results, strict=True):
        kind = next((k for k in EXPECTED if k in Path(binary).name or (k == "doc" and binary == "mem7")), None)
        assert kind, f"unexpected test binary {binary}"
        assert verdict == "ok" and failed == "0" and ignored == "0", (binary, verdict, failed, ignored)
        assert int(passed) >= EXPECTED[kind], f"{binary}: only {passed} tests ran (expected {EXPECTED[kind]}+)"
