"""Fixtures of the server tests: real ``mem7 serve`` / ``mem7 mcp`` processes over loopback.

Helpers live in ``_serve.py`` next to this file. Servers run the embedded default on the core's
hash embedder, with no LLM unless a test points ``OPENAI_BASE_URL`` at the loopback OpenAI server.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # --import-mode=importlib: make ``import _serve`` work from the tests
    sys.path.insert(0, str(HERE))

from _serve import REPO, TOKENS, ServeProcess, clean_env  # noqa: E402

pytest.importorskip("fastapi", reason="the REST server needs mem7-core[server]")

def _load(name: str, path: Path) -> object:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# The multi-process test shares a PostgreSQL between servers: mem7-pgvector's embedded one.
if importlib.util.find_spec("psycopg") is not None and (REPO / "plugins/pgvector/tests/conftest.py").is_file():
    pg_dsn = _load("_mem7_server_pg", REPO / "plugins/pgvector/tests/conftest.py").pg_dsn  # type: ignore[attr-defined]

# And a Redis server with the Query Engine: mem7-redis's (from its test extra's wheels).
if importlib.util.find_spec("mem7_redis") is not None and (REPO / "plugins/redis/tests/conftest.py").is_file():
    redis_url = _load("_mem7_server_redis", REPO / "plugins/redis/tests/conftest.py").redis_url  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def rest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One ``mem7 serve`` for a test module, with an admin token and tokens pinned to alice and bob."""
    data = tmp_path_factory.mktemp("serve-data")
    env = clean_env(data, {"MEM7_SERVER_TOKENS": json.dumps(TOKENS)})
    with ServeProcess(env) as server:
        yield server
