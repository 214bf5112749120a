"""The loopback OpenAI server of ``bench_engine_per_request.py``: ``bench/_common/loopback``'s protocol,
plain HTTP or, with ``--tls-cert`` / ``--tls-key``, HTTPS; ``{"cmd": "connections"}`` answers how many
connections it has accepted."""

from __future__ import annotations

import argparse
import ssl
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._common.loopback import BenchServer, serve  # noqa: E402 - after the sys.path line


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--embedding-dims", type=int, default=384)
    p.add_argument("--tls-cert", type=Path, default=None)
    p.add_argument("--tls-key", type=Path, default=None)
    a = p.parse_args()
    ctx = None
    if a.tls_cert is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
    srv = BenchServer(api_key="sk-bench", embedding_dims=a.embedding_dims, max_recorded=16, ssl_context=ctx)
    serve(srv, "sk-bench", {"connections": lambda s, c: {"connections": s.connections}})


if __name__ == "__main__":
    main()
