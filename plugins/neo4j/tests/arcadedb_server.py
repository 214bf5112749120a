"""Run an ArcadeDB server with its Bolt plugin on loopback; started by conftest as a subprocess.

Usage: ``python arcadedb_server.py ROOT BOLT_PORT HTTP_PORT`` with the root password in the
environment variable ``ARCADEDB_ROOT_PASSWORD``. It writes ``ROOT/ready`` once the Bolt listener
is up, then serves until its standard input closes (the test session ended, or died), and stops.

It lives in its own process because the JVM (started through JPype by ``arcadedb_embedded``)
must not share the pytest process with other native libraries.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    root, bolt_port, http_port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    password = os.environ["ARCADEDB_ROOT_PASSWORD"]
    os.chdir(root)  # ArcadeDB writes ./log relative to the working directory

    from arcadedb_embedded.server import ArcadeDBServer

    server = ArcadeDBServer(
        str(root / "server"),
        password,
        config={
            "host": "127.0.0.1",
            "http_port": http_port,
            "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            "bolt_port": bolt_port,
        },
        jvm_kwargs={"heap_size": os.environ.get("ARCADEDB_HEAP", "512m")},
    )
    server.start()
    try:
        (root / "ready").write_text(f"{bolt_port} {http_port}\n")
        sys.stdin.read()  # returns at EOF: the parent closed the pipe or exited
    finally:
        server.stop()


if __name__ == "__main__":
    main()
