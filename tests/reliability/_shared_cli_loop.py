"""CLI-loop writer of the shared-store kill test (run as a script, killed with SIGKILL mid-way).

    python _shared_cli_loop.py DATA_DIR PREFIX COUNT

Runs ``mem7 --data-dir DATA_DIR add --no-infer --user u "<PREFIX> note <i> ..."`` COUNT times through
the CLI's ``main`` in this one process (a fresh engine per call, as separate ``mem7 add`` processes
would open), flushing stdout after each call: an ``ADD  <id>  <text>`` line on stdout means that
add returned. Prints ``READY`` first and ``DONE`` at the end.
"""

from __future__ import annotations

import sys


def main(data_dir: str, prefix: str, count: int) -> int:
    from mem7_core.cli import main as cli_main

    print("READY", flush=True)
    for i in range(count):
        code = cli_main(["--data-dir", data_dir, "add", "--no-infer", "--user", "u", f"{prefix} note {i} about topic {i % 13}"])
        sys.stdout.flush()
        if code != 0:
            print(f"EXIT {code}", flush=True)
            return code
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
