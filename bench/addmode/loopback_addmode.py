"""The overhead benchmark's loopback server (``bench/overhead/loopback.py``), extended for the add modes.

Runs in its own process (the engine measured does not share its GIL) and is driven over stdin /
stdout, one JSON object per line, like the original (``bench/_common/loopback.py``); additions:

- it answers one-call prompts (``add_mode="one_call"``) with the very answers it gives the two-call
  pipeline: ``mem7_core.testing.one_call.as_one_call`` rebuilds the extraction and decision prompts
  and asks the original script (rule-based extraction, ``loopback.decide``'s ADD 50 % / UPDATE 30 % /
  NONE 20 % decisions), so the modes are compared under the same model behaviour;
- it counts chat calls in flight: ``{"cmd": "inflight"}`` → ``{"max": n, "now": n}`` (the most
  chat requests being answered at once since the last ``{"cmd": "inflight_reset"}``).

    .venv/bin/python bench/addmode/loopback_addmode.py [--port 0] [--api-key sk-bench]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench._common.loopback import BenchServer, serve, server_arguments
from bench.overhead.loopback import decide
from mem7_core.testing.fakes import rule_based_reply
from mem7_core.testing.one_call import as_one_call


def two_call_script(messages: list[dict[str, Any]]) -> Any:
    """The overhead benchmark's model: scripted decisions, rule-based everything else."""
    decided = decide(messages)
    return decided if decided is not None else rule_based_reply(messages)


class AddModeServer(BenchServer):
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


def _inflight(srv: AddModeServer, cmd: dict[str, Any]) -> Any:
    return {"max": srv.max_inflight, "now": srv.inflight}


def _inflight_reset(srv: AddModeServer, cmd: dict[str, Any]) -> Any:
    srv.max_inflight = srv.inflight
    return {"max": srv.max_inflight}


def main() -> None:
    args = server_arguments(__doc__.split("\n\n")[0])
    srv = AddModeServer(api_key=args.api_key, port=args.port, embedding_dims=args.embedding_dims,
                        max_recorded=args.max_recorded)
    srv.script(as_one_call(two_call_script))
    serve(srv, args.api_key, {"inflight": _inflight, "inflight_reset": _inflight_reset})


if __name__ == "__main__":
    main()
