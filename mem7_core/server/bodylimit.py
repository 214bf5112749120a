"""The REST server's request body limit (``mem7 serve --max-body-bytes``, ``MEM7_SERVER_MAX_BODY_BYTES``).

A body larger than the limit gets ``413 {"detail", "limit"}`` before any route runs, so nothing
is parsed as JSON and the engine is never called: a ``Content-Length`` over the limit is refused
before a byte of the body is read, and a body without one (``Transfer-Encoding: chunked``) is
counted as it arrives and refused as soon as it passes the limit. At most ``limit`` bytes are
ever held. This module needs no web framework (plain ASGI).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError

MAX_BODY_BYTES_ENV = "MEM7_SERVER_MAX_BODY_BYTES"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""1 MiB: a conversation of a few hundred messages; an import larger than this is sent in parts."""


def resolve_max_body_bytes(value: int | str | None, environ: Mapping[str, str] | None = None) -> int:
    """``value``, else ``$MEM7_SERVER_MAX_BODY_BYTES``, else 1 MiB, as a whole number of bytes >= 1.

    :raises ConfigError: not a whole number >= 1.
    """
    env = os.environ if environ is None else environ
    where = "--max-body-bytes"
    if value is None:
        value = env.get(MAX_BODY_BYTES_ENV, "").strip() or None
        where = MAX_BODY_BYTES_ENV
    if value is None:
        return DEFAULT_MAX_BODY_BYTES
    try:
        number = int(value) if not isinstance(value, bool) else -1
    except (TypeError, ValueError):
        number = -1
    if number < 1:
        raise ConfigError(f"{where} must be a whole number of bytes >= 1 (e.g. 1048576 for 1 MiB), got {value!r}")
    return number


class BodyLimit:
    """ASGI middleware: refuse request bodies larger than ``max_bytes`` with 413 JSON."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Any) -> None:
        body = json.dumps({
            "detail": f"the request body is larger than {self.max_bytes} bytes, this server's limit "
                      f"(mem7 serve --max-body-bytes / {MAX_BODY_BYTES_ENV}); send less per request",
            "limit": self.max_bytes,
        }).encode()
        await send({
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close")],
        })
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name.lower() == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None  # the HTTP server refuses a malformed length itself
                if declared is not None and declared > self.max_bytes:
                    await self._refuse(send)  # not one byte of the body read
                    return
        # Read the body here, counting (chunked bodies have no length up front), then replay it.
        chunks: list[bytes] = []
        size = 0
        first: dict[str, Any] | None = None
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: pass that on
                first = message
                break
            part = message.get("body", b"")
            size += len(part)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(part)
            if not message.get("more_body", False):
                break
        pending: dict[str, Any] | None = first or {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        async def replay() -> Any:
            nonlocal pending
            if pending is not None:
                message, pending = pending, None
                return message
            return await receive()

        await self.app(scope, replay, send)


__all__ = ["DEFAULT_MAX_BODY_BYTES", "MAX_BODY_BYTES_ENV", "BodyLimit", "resolve_max_body_bytes"]
