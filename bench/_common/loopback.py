"""The loopback OpenAI server in a process of its own, and the client that drives it.

``mem7_core.testing.openai_server.OpenAIServer`` serves from a thread of the process that starts
it; a benchmark that ran it in-process would share the GIL (and its CPU time) with the engine it
measures. A server script (``bench/overhead/loopback.py``, ``bench/addmode/loopback_addmode.py``)
builds its server and hands it to :func:`serve`, which speaks this protocol on stdin / stdout, one
JSON object per line:

- on start it prints ``{"url": "http://127.0.0.1:<port>/v1", "api_key": ...}``;
- ``{"cmd": "counts"}`` → ``{"chat": n, "embeddings": n, ...}`` (cumulative; diff them);
- ``{"cmd": "chat_latency", "value": 0.05}`` → seconds added to every chat call only
  (``OpenAIServer.latency`` would delay embeddings too);
- ``{"cmd": "errors"}`` → ``{"errors": [...]}`` (exceptions the server caught);
- a script's own commands (``extra``);
- ``{"cmd": "stop"}`` (or EOF) stops it.

:class:`Loopback` starts such a script and sends the commands.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench._common.procs import Child
from mem7_core.testing.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[2]
#: The overhead benchmark's server: rule-based extraction, scripted update decisions.
DEFAULT_SERVER = ROOT / "bench" / "overhead" / "loopback.py"


class BenchServer(OpenAIServer):
    """OpenAIServer with a latency that applies to chat calls only."""

    chat_latency = 0.0

    async def _dispatch(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
        resp = await super()._dispatch(method, target, headers, raw)
        if self.chat_latency and self._route(method, target.partition("?")[0])[0] == "chat":
            await asyncio.sleep(self.chat_latency)
        return resp


def server_arguments(description: str) -> argparse.Namespace:
    """A server script's command line: ``--port``, ``--api-key``, ``--embedding-dims``, ``--max-recorded``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--api-key", default="sk-bench")
    p.add_argument("--embedding-dims", type=int, default=384)
    p.add_argument("--max-recorded", type=int, default=256,
                   help="recent requests the server keeps (a long run wants few: they hold memory)")
    return p.parse_args()


Command = Callable[[Any, dict[str, Any]], Any]


def serve(srv: BenchServer, api_key: str, extra: Mapping[str, Command] | None = None) -> None:
    """Start ``srv``, print its address, answer commands from stdin until ``stop`` or EOF, stop it.

    ``extra`` maps a script's own command names to ``fn(srv, cmd) -> reply``.
    """
    commands: dict[str, Command] = {
        "counts": lambda s, c: s.counts,
        "chat_latency": _set_chat_latency,
        "errors": lambda s, c: {"errors": [repr(e) for e in s.errors]},
        **(extra or {}),
    }
    srv.start()
    print(json.dumps({"url": srv.url, "api_key": api_key}), flush=True)
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            cmd = json.loads(line)
            name = cmd.get("cmd")
            if name == "stop":
                break
            fn = commands.get(name)
            reply = fn(srv, cmd) if fn else {"error": f"unknown command {name!r}"}
            print(json.dumps(reply), flush=True)
    finally:
        srv.stop()


def _set_chat_latency(srv: BenchServer, cmd: dict[str, Any]) -> Any:
    srv.chat_latency = float(cmd["value"])
    return {"chat_latency": srv.chat_latency}


class Loopback(Child):
    """A server script (default: the overhead bench's) in its own process, driven over its stdin / stdout."""

    def __init__(self, script: Path = DEFAULT_SERVER, *args: str) -> None:
        super().__init__([sys.executable, str(script), "--embedding-dims", "384", *args])
        self.url: str = self.hello["url"]
        self.api_key: str = self.hello["api_key"]

    def cmd(self, **kw: Any) -> Any:
        return self.ask(**kw)

    def counts(self) -> Counter[str]:
        return Counter(self.cmd(cmd="counts"))

    def stop(self, last: Mapping[str, Any] | None = None, timeout: float = 10) -> None:
        super().stop({"cmd": "stop"} if last is None else last, timeout)


def peers_harness(peers: Path) -> Any:
    """The peers harness's orchestrator (``<peers>/bench.py``: its engines, drivers and synthetic
    inputs), loaded as module ``peers_bench`` (this repository's ``bench`` package has its name). Its
    engines read ``OURS_PYTHON`` when it is loaded: this interpreter unless set."""
    import importlib.util
    import os

    os.environ.setdefault("OURS_PYTHON", sys.executable)
    spec = importlib.util.spec_from_file_location("peers_bench", peers / "bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PeersLoopback:
    """The peers harness's server (``<peers>/loopback_server.py``: a stdlib ``ThreadingHTTPServer``,
    the server every engine of the side-by-side figures talks to) in its own process, with
    :class:`Loopback`'s ``url`` / ``api_key`` / ``cmd(cmd="chat_latency", value=s)`` / ``stop()``."""

    def __init__(self, peers: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, str(peers / "loopback_server.py"), "--port", "0", "--dims", "384"],
                                     stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the peers loopback server did not start: {line!r}")
        self.base = f"http://127.0.0.1:{int(line.split()[1])}"
        self.url = self.base + "/v1"
        self.api_key = "sk-bench"

    def cmd(self, **kw: Any) -> Any:
        if kw.get("cmd") != "chat_latency":
            raise ValueError(f"the peers server takes only chat_latency, not {kw}")
        body = json.dumps({"chat_latency_ms": float(kw["value"]) * 1e3}).encode()
        with urllib.request.urlopen(urllib.request.Request(self.base + "/_ctl", data=body), timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
