"""The TypeScript client's own tests (``clients/typescript``, ``npm test``), run from pytest so CI runs them.

``npm test`` compiles the client with ``tsc`` and runs ``node --test``, which starts a real
``mem7 serve`` (this venv's script, passed as ``MEM7_BIN``) on a free loopback port and drives
every method against it. The original mem7's calling convention (``MemoryEngine.create(configJson)``,
which starts its own ``mem7 serve``) runs the original's quick start against the loopback
OpenAI-compatible server started here (its URL in ``TS_TEST_OPENAI_URL``). Nothing is downloaded
here: ``scripts/setup.sh`` runs ``npm ci``.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from _serve import REPO, mem7_exe

from mem7_core.testing.openai_server import OpenAIServer

CLIENT = REPO / "clients" / "typescript"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"TypeScript client tests: {reason}", pytrace=False)
    pytest.skip(f"TypeScript client tests: {reason}")


def test_typescript_client_against_a_real_server() -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are not installed (CI has them)")
    if not (CLIENT / "node_modules" / "typescript").is_dir():
        _unavailable(f"dependencies not installed: run `npm ci` in {CLIENT} (scripts/setup.sh does)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEM7_", "OPENAI_"))}
    env["MEM7_BIN"] = mem7_exe()
    # 1024: the dims of the original quick start's embedding model (mxbai-embed-large).
    with OpenAIServer(embedding_dims=1024) as openai:
        env["TS_TEST_OPENAI_URL"] = openai.url
        done = subprocess.run([npm, "test"], cwd=CLIENT, env=env, capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, f"npm test failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    assert "# fail 0" in done.stdout and "# pass 0" not in done.stdout, done.stdout[-3000:]
    assert "# skipped 0" in done.stdout, done.stdout[-3000:]
