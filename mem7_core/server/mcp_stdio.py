"""The stdio transport of ``mem7 mcp``: the SDK's, with every malformed line answered.

The SDK's stdio reader hands a line it cannot parse to the session as an exception, which the
session only logs (at debug level): the client of a malformed request never gets a response and
waits forever. That happens for invalid JSON, invalid UTF-8, a lone UTF-16 surrogate escape
(``"\\ud800"``, valid JSON grammar but not Unicode) and nesting deeper than the SDK's parser allows
(~200 levels). Here each line is checked before the SDK sees it; a line the SDK would drop gets a
JSON-RPC error response instead, carrying the request's id whenever it can be recovered:

- ``-32700`` parse error: not UTF-8, not JSON (id ``null``);
- ``-32600`` invalid request: JSON, but not a JSON-RPC message (a batch, a missing ``method``...),
  or nested too deep;
- ``-32602`` invalid params: a lone surrogate in ``params`` (e.g. a tool argument).

The server keeps serving the following lines. Valid lines go to the SDK's own stdio transport
unchanged (stdout stays claimed by it: stray prints go to stderr, responses are written by one writer).
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

try:  # mcp >= 2
    import mcp_types as _types

    def _validate(line: str) -> None:
        _types.jsonrpc_message_adapter.validate_json(line, by_name=False)

except ImportError:  # mcp 1.x
    import mcp.types as _types  # type: ignore[no-redef]

    def _validate(line: str) -> None:
        _types.JSONRPCMessage.model_validate_json(line)  # type: ignore[attr-defined]

from mcp.server.stdio import stdio_server

try:
    from mcp.shared.message import SessionMessage
except ImportError:  # mcp < 1.7: the streams carry bare messages
    SessionMessage = None  # type: ignore[assignment,misc]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
MAX_DEPTH = 100
"""Deeper JSON is refused before any parser recurses into it (the SDK's own parser stops near 200)."""


def _structure(text: str) -> Iterator[tuple[int, str, int]]:
    """``(index, char, depth)`` of each character of JSON text outside strings (a string's opening
    quote included), ``depth`` counting the arrays/objects open after it. No recursion, no parse."""
    depth = 0
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        yield i, ch, depth


def _depth(text: str) -> int:
    """The deepest nesting of arrays/objects in JSON text (strings skipped), without recursion."""
    return max((depth for _, _, depth in _structure(text)), default=0)


def _top_level_id(text: str) -> Any:
    """The ``id`` member of a top-level JSON object, read without parsing the (deep) rest; else None."""
    decoder = json.JSONDecoder()
    s = text.lstrip()
    if not s.startswith("{"):
        return None
    for i, ch, depth in _structure(s):
        if ch != '"' or depth != 1:  # only a member name of the top-level object
            continue
        try:
            key, end = decoder.raw_decode(s, i)
        except ValueError:
            return None
        rest = s[end:].lstrip()
        if key == "id" and rest.startswith(":"):
            try:
                value, _ = decoder.raw_decode(rest[1:].lstrip())
            except (ValueError, RecursionError):
                return None
            return _usable_id(value)
    return None


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)


def _usable_id(value: Any) -> Any:
    """A request id that can be echoed back: a string (valid Unicode) or an integer; else None."""
    if isinstance(value, str):
        return None if _has_surrogate(value) else value
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _printable(key: str) -> str:
    """A member name fit for an error message: lone surrogates written as ``\\udXXX`` escapes."""
    return key.encode("utf-8", "backslashreplace").decode("utf-8")


def _surrogate_path(value: Any) -> str | None:
    """Where the first lone surrogate sits in parsed JSON (``params.arguments.text``), else None."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _has_surrogate(item):
                return path or "(the message)"
        elif isinstance(item, dict):
            for key, child in item.items():
                name = f"{path}.{_printable(key)}" if path else _printable(key)
                if _has_surrogate(key):
                    return f"{name} (a member name)"
                stack.append((name, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{n}]", child) for n, child in enumerate(item))
    return None


def _error(code: int, message: str, request_id: Any = None) -> dict[str, Any]:
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")  # the response must be encodable
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def check_line(raw: bytes) -> tuple[str | None, dict[str, Any] | None]:
    """One stdin line → (the text to hand to the SDK, None) or (None, the JSON-RPC error to answer).

    A blank line is neither: ``(None, None)``.
    """
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, _error(PARSE_ERROR, f"Parse error: the line is not valid UTF-8 (byte {exc.start})")
    line = line.strip()
    if not line:
        return None, None
    brackets = line.count("[") + line.count("{")  # cheap bound: no char-by-char scan for most lines
    depth = _depth(line) if brackets > MAX_DEPTH else brackets
    if depth > MAX_DEPTH:
        return None, _error(INVALID_REQUEST, f"Invalid Request: JSON nested {depth} levels deep; "
                                             f"at most {MAX_DEPTH} are accepted", _top_level_id(line))
    try:
        _validate(line)
        return line, None
    except ValueError as exc:  # a pydantic ValidationError: why, is worked out below
        reason = " ".join(str(exc).split())
    try:
        parsed = json.loads(line)
    except (ValueError, RecursionError) as exc:
        where = f" ({exc.msg} at column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        return None, _error(PARSE_ERROR, f"Parse error: the line is not valid JSON{where}")
    request_id = _usable_id(parsed.get("id")) if isinstance(parsed, dict) else None
    path = _surrogate_path(parsed)
    if path is not None:
        code = INVALID_PARAMS if path.startswith("params") else INVALID_REQUEST
        return None, _error(code, f"{'Invalid params' if code == INVALID_PARAMS else 'Invalid Request'}: "
                                  f"{path} contains a lone UTF-16 surrogate (not valid Unicode)", request_id)
    if not isinstance(parsed, dict):
        return None, _error(INVALID_REQUEST, "Invalid Request: expected one JSON-RPC message (a JSON object); "
                                             "batches are not supported", request_id)
    return None, _error(INVALID_REQUEST, f"Invalid Request: not a JSON-RPC 2.0 message ({reason[:300]})", request_id)


class _CheckedStdin:
    """stdin lines for the SDK's reader; a malformed line is answered here and never reaches it."""

    def __init__(self) -> None:
        self.write_stream: Any = None
        self.ready = anyio.Event()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        await self.ready.wait()
        async for raw in anyio.wrap_file(sys.stdin.buffer):
            line, error = check_line(raw)
            if line is not None:
                yield line
            elif error is not None:
                try:
                    message = _types.JSONRPCError.model_validate(error)
                except ValueError:  # mcp 1.x types refuse a null id, which JSON-RPC prescribes here
                    message = _types.JSONRPCError.model_construct(
                        jsonrpc="2.0", id=error["id"], error=_types.ErrorData(**error["error"]))
                if SessionMessage is None:
                    await self.write_stream.send(_types.JSONRPCMessage(message))  # type: ignore[operator]
                else:
                    await self.write_stream.send(SessionMessage(message))


@asynccontextmanager
async def checked_stdio_server() -> AsyncIterator[tuple[Any, Any]]:
    """The SDK's ``stdio_server()`` reading through :class:`_CheckedStdin`."""
    stdin = _CheckedStdin()
    async with stdio_server(stdin=stdin) as (read_stream, write_stream):  # type: ignore[arg-type]
        stdin.write_stream = write_stream
        stdin.ready.set()
        yield read_stream, write_stream


async def serve_stdio(server: Any) -> None:
    """Run an ``MCPServer`` (mcp 2) / ``FastMCP`` (mcp 1) on :func:`checked_stdio_server`."""
    lowlevel = getattr(server, "_lowlevel_server", None) or server._mcp_server
    async with checked_stdio_server() as (read_stream, write_stream):
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


__all__ = ["MAX_DEPTH", "check_line", "checked_stdio_server", "serve_stdio"]
