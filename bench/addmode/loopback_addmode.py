"""The overhead benchmark's loopback server (``bench/overhead/loopback.py``), extended for the add modes.

Runs in its own process (the engine measured does not share its GIL) and is driven over stdin /
stdout, one JSON object per line, like the original; additions:

- it answers one-call prompts (``add_mode="one_call"``) with the very answers it gives the two-call
  pipeline: ``mem7_core.testing.one_call.as_one_call`` rebuilds the extraction and decision prompts
  and asks the original script (rule-based extraction, ``loopback.decide``'s ADD 50 % / UPDATE 30 % /
  NONE 20 % decisions), so the modes are compared under the same model behaviour;
- it counts chat calls in flight: ``{"cmd": "inflight"}`` → ``{"max": n, "now": n}`` (the most
  chat requests being answered at once since the last ``{"cmd": "inflight_reset"}``).

    .venv/bin/python bench/addmode/loopback_addmode.py [--port 0] [--api-key sk-bench]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from mem7_core.testing.fakes import rule_based_reply
from mem7_core.testing.one_call import as_one_call

ROOT = Path(__file__).resolve().parents[2]


def _load_overhead_loopback() -> Any:
    spec = importlib.util.spec_from_file_location("_mem7_overhead_loopback", ROOT / "bench/overhead/loopback.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_overhead = _load_overhead_loopback()


def two_call_script(messages: list[dict[str, Any]]) -> Any:
    """The overhead benchmark's model: scripted decisions, rule-based everything else."""
    decided = _overhead.decide(messages)
    return decided if decided is not None else rule_based_reply(messages)


class AddModeServer(_overhead.BenchServer):  # type: ignore[misc,name-defined]
    """BenchServer (chat-only latency) that also counts chat calls in flight."""

    inflight = 0
    max_inflight = 0

    async def _dispatch(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
        chat = self._route(method, target.partition("?")[0])[0] == "chat"
        if chat:  # one event loop serves every connection: plain counters are exact
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            return await super()._dispatch(method, target, headers, raw)
        finally:
            if chat:
                self.inflight -= 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--api-key", default="sk-bench")
    p.add_argument("--embedding-dims", type=int, default=384)
    args = p.parse_args()
    srv = AddModeServer(api_key=args.api_key, port=args.port, embedding_dims=args.embedding_dims)
    srv.script(as_one_call(two_call_script))
    srv.start()
    print(json.dumps({"url": srv.url, "api_key": args.api_key}), flush=True)
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            cmd = json.loads(line)
            name = cmd.get("cmd")
            if name == "counts":
                reply: Any = srv.counts
            elif name == "chat_latency":
                srv.chat_latency = float(cmd["value"])
                reply = {"chat_latency": srv.chat_latency}
            elif name == "inflight":
                reply = {"max": srv.max_inflight, "now": srv.inflight}
            elif name == "inflight_reset":
                srv.max_inflight = srv.inflight
                reply = {"max": srv.max_inflight}
            elif name == "errors":
                reply = {"errors": [repr(e) for e in srv.errors]}
            elif name == "stop":
                break
            else:
                reply = {"error": f"unknown command {name!r}"}
            print(json.dumps(reply), flush=True)
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
