"""Child processes of a benchmark: one that speaks JSON lines, and the path that makes one import
another copy of the repository.

:class:`Child` starts a process that prints a hello line (one JSON object) and then answers each
JSON line written to its stdin with one JSON line (the loopback servers, the benches' workers).
:func:`code_path` is the ``PYTHONPATH`` that makes a child import a copy of the repository
(``git archive <rev> | tar -x -C TREE``) before the venv's editable installs: ``TREE`` and every
``TREE/plugins/*`` (the venv's installs are plain path entries, so they come after it).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def code_path(tree: Path) -> str:
    """``PYTHONPATH`` for a child that imports ``tree``'s ``mem7_core`` and plugins first."""
    tree = tree.resolve()
    return os.pathsep.join([str(tree), *sorted(str(p) for p in (tree / "plugins").iterdir() if p.is_dir())])


class Child:
    """A process speaking one JSON object per line on stdin / stdout; ``hello`` is its first line."""

    def __init__(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                                     env=None if env is None else dict(env))
        self.hello: dict[str, Any] = self.read()

    def read(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.proc.args} exited")
        return json.loads(line)

    def ask(self, **kw: Any) -> Any:
        """Write ``kw`` as one line; its answer."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(kw) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def stop(self, last: Mapping[str, Any] | None = None, timeout: float = 10) -> None:
        """Send ``last`` (a stop command) if given, close stdin, wait (killed after ``timeout`` s)."""
        try:
            assert self.proc.stdin is not None
            if last is not None:
                self.proc.stdin.write(json.dumps(dict(last)) + "\n")
                self.proc.stdin.flush()
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
