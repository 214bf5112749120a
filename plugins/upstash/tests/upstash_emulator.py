"""A loopback emulator of the Upstash Vector REST API, for the mem7-upstash tests.

Upstash Vector is hosted only (no local server exists), so the plugin's tests run the real
``upstash-vector`` client against this emulator. It follows the documented REST API:

- ``POST`` (also ``GET``/``PUT``/``DELETE``) ``/<op>`` or ``/<op>/<namespace>`` for ``upsert``,
  ``query``, ``fetch``, ``range``, ``delete``, ``update``, ``reset`` (``?all`` for every namespace)
  and ``/info``; ``/upsert-data`` and ``/query-data`` answer that the index has no embedding model.
- Every answer is a JSON envelope: ``{"result": ...}`` on success, ``{"error": "...", "status": n}``
  otherwise (400 bad request or filter, 401 bad token, 404 unknown path, 405 method, 422 bad vector).
- ``Authorization: Bearer <token>`` on every request.
- Namespaces: the default one is ``""``; others are created by their first upsert.
- Query scores are normalised to [0, 1] as documented for dense indexes: cosine ``(1 + cos) / 2``,
  dot product ``(1 + dot) / 2``, euclidean ``1 / (1 + squared distance)``; vectors are float32.
- ``topK`` and range ``limit`` are capped (1000 by default): larger values are a 400.

The metadata filter strings are parsed by a real recursive-descent parser (:func:`parse_filter`)
of the documented grammar: ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``[NOT] IN (...)``,
``[NOT] GLOB``, ``[NOT] CONTAINS``, ``HAS [NOT] FIELD``, ``AND`` binding tighter than ``OR``,
parentheses, nested keys ``a.b``, array elements ``a[0]`` / ``a[#-1]``, case-insensitive keywords,
single- or double-quoted strings, ``true``/``false``. Where the documentation is silent the
emulator picks the strict reading, so a client relying on undocumented behaviour fails here:

- string literals have no escapes: a backslash inside one is a 400 (the docs define no escape
  sequence), so the delimiter cannot appear inside its own literal;
- numbers are plain decimals (``-4``, ``2.5``); exponents are a 400;
- comparisons on a missing key, or on a value of a type the operator does not apply to, are false,
  including the negated forms (``!=``, ``NOT IN``, ``NOT GLOB``, ``NOT CONTAINS``);
- the literals ``1``/``0`` also equal the booleans ``true``/``false`` ("boolean literals are
  represented as 1 or 0" in older docs), so ``flag = 1`` matches ``{"flag": true}``;
- ``HAS FIELD`` is true for a key holding ``null``;
- ``GLOB`` is case-sensitive; ``*`` ``?`` ``[abc]`` ``[a-z]`` ``[^a]`` as documented; a backslash in a
  pattern is an ordinary character.

Deliberate simplifications (said in the README): search is exact (brute force) rather than
approximate, every upsert is indexed at once (real indexes report ``pendingVectorCount`` for a
while), and filters never run out of Upstash's "filtering budget".

Fault injection and recording, for the tests::

    with UpstashEmulator(token="t", dimension=8) as srv:
        srv.fail_next(2, status=503)              # the next 2 requests get a 503 envelope
        srv.drop_next(1)                          # close the connection without answering
        srv.stall_next(1, seconds=5)              # answer after 5 s (client timeouts)
        srv.count("upsert"); srv.requests("query")[-1].body["filter"]
"""

from __future__ import annotations

import json
import math
import re
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import unquote, urlsplit

__all__ = [
    "TOKEN",
    "FilterSyntaxError",
    "RecordedRequest",
    "UpstashEmulator",
    "glob_match",
    "matches",
    "parse_filter",
]

_MISSING = object()
TOKEN = "test-token"
"""The token the test fixtures' emulators accept."""


# ===================================================================================== filters
class FilterSyntaxError(ValueError):
    """The filter string is not in Upstash's grammar."""


_KEYWORDS = {"AND", "OR", "NOT", "IN", "GLOB", "CONTAINS", "HAS", "FIELD", "TRUE", "FALSE"}
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<op><=|>=|!=|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<word>[A-Za-z_][A-Za-z0-9_.\[\]\#-]*)
  | (?P<quote>['"])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # op lparen rparen comma number word string end
    text: str
    value: Any = None
    pos: int = 0


def _tokenize(src: str) -> list[_Tok]:
    out: list[_Tok] = []
    i, n = 0, len(src)
    while i < n:
        m = _TOKEN.match(src, i)
        if m is None:
            raise FilterSyntaxError(f"unexpected character {src[i]!r} at position {i}")
        kind = m.lastgroup
        assert kind is not None
        if kind == "ws":
            i = m.end()
            continue
        if kind == "quote":
            q = m.group()
            j = i + 1
            while j < n and src[j] != q:
                if src[j] == "\\":
                    raise FilterSyntaxError(
                        f"backslash in string literal at position {j}: escape sequences are not part of "
                        "the documented filter syntax"
                    )
                j += 1
            if j >= n:
                raise FilterSyntaxError(f"unterminated string literal starting at position {i}")
            out.append(_Tok("string", src[i : j + 1], src[i + 1 : j], i))
            i = j + 1
            continue
        text = m.group()
        if kind == "number":
            value: Any = float(text) if "." in text else int(text)
            out.append(_Tok("number", text, value, i))
        else:
            out.append(_Tok(kind, text, None, i))
        i = m.end()
    out.append(_Tok("end", "", None, n))
    return out


# --- AST: ("and", [..]) ("or", [..]) ("cmp", path, op, literal) ("in", path, negated, [literals])
#          ("glob", path, negated, regex) ("contains", path, negated, literal) ("has", path, negated)
_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[#-(\d+)\]")
_PATH_HEAD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _parse_path(text: str, pos: int) -> tuple[Any, ...]:
    m = _PATH_HEAD.match(text)
    if m is None:
        raise FilterSyntaxError(f"invalid identifier {text!r} at position {pos}")
    parts: list[Any] = [m.group()]
    i = m.end()
    while i < len(text):
        p = _PATH_PART.match(text, i)
        if p is None:
            raise FilterSyntaxError(f"invalid identifier {text!r} at position {pos}")
        if p.group(1) is not None:
            parts.append(p.group(1))
        elif p.group(2) is not None:
            parts.append(int(p.group(2)))
        else:
            parts.append(("#", int(p.group(3))))
        i = p.end()
    return tuple(parts)


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = _tokenize(src)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok.kind == "word" and tok.text.upper() == word:
            self.i += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            tok = self.peek()
            raise FilterSyntaxError(f"expected {word} at position {tok.pos}, got {tok.text or 'end'!r}")

    def parse(self) -> Any:
        node = self.or_expr()
        tok = self.peek()
        if tok.kind != "end":
            raise FilterSyntaxError(f"unexpected {tok.text!r} at position {tok.pos}")
        return node

    def or_expr(self) -> Any:
        parts = [self.and_expr()]
        while self.keyword("OR"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def and_expr(self) -> Any:
        parts = [self.primary()]
        while self.keyword("AND"):
            parts.append(self.primary())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def literal(self) -> Any:
        tok = self.next()
        if tok.kind == "string" or tok.kind == "number":
            return tok.value
        if tok.kind == "word" and tok.text.upper() in ("TRUE", "FALSE"):
            return tok.text.upper() == "TRUE"
        raise FilterSyntaxError(f"expected a literal at position {tok.pos}, got {tok.text or 'end'!r}")

    def ident(self) -> tuple[Any, ...]:
        tok = self.next()
        if tok.kind != "word" or tok.text.upper() in _KEYWORDS:
            raise FilterSyntaxError(f"expected an identifier at position {tok.pos}, got {tok.text or 'end'!r}")
        return _parse_path(tok.text, tok.pos)

    def primary(self) -> Any:
        tok = self.peek()
        if tok.kind == "lparen":
            self.next()
            node = self.or_expr()
            close = self.next()
            if close.kind != "rparen":
                raise FilterSyntaxError(f"expected ')' at position {close.pos}")
            return node
        if self.keyword("HAS"):
            negated = self.keyword("NOT")
            self.expect_keyword("FIELD")
            return ("has", self.ident(), negated)
        path = self.ident()
        tok = self.peek()
        if tok.kind == "op":
            self.next()
            return ("cmp", path, tok.text, self.literal())
        negated = self.keyword("NOT")
        if self.keyword("IN"):
            if self.next().kind != "lparen":
                raise FilterSyntaxError(f"expected '(' after IN at position {tok.pos}")
            values = [self.literal()]
            while self.peek().kind == "comma":
                self.next()
                values.append(self.literal())
            if self.next().kind != "rparen":
                raise FilterSyntaxError(f"expected ')' closing IN at position {tok.pos}")
            return ("in", path, negated, values)
        if self.keyword("GLOB"):
            pat = self.next()
            if pat.kind != "string":
                raise FilterSyntaxError(f"GLOB needs a string pattern at position {pat.pos}")
            return ("glob", path, negated, _glob_regex(pat.value))
        if self.keyword("CONTAINS"):
            return ("contains", path, negated, self.literal())
        tok = self.peek()
        raise FilterSyntaxError(f"expected an operator at position {tok.pos}, got {tok.text or 'end'!r}")


@lru_cache(maxsize=4096)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i + 1
            negate = j < n and pattern[j] == "^"
            if negate:
                j += 1
            start = j
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n or j == start:
                raise FilterSyntaxError(f"malformed character class in GLOB pattern {pattern!r}")
            body = pattern[start:j]
            items: list[str] = []
            k = 0
            while k < len(body):
                if k + 2 < len(body) and body[k + 1] == "-":
                    lo, hi = body[k], body[k + 2]
                    if lo > hi:
                        raise FilterSyntaxError(f"bad range {lo}-{hi} in GLOB pattern {pattern!r}")
                    items.append(f"{re.escape(lo)}-{re.escape(hi)}")
                    k += 3
                else:
                    items.append(re.escape(body[k]))
                    k += 1
            out.append(f"[{'^' if negate else ''}{''.join(items)}]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def glob_match(pattern: str, value: str) -> bool:
    """Upstash's GLOB, as the emulator reads it (documented wildcards; case-sensitive)."""
    return _glob_regex(pattern).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def parse_filter(src: str) -> Any:
    """Parse a filter string; :class:`FilterSyntaxError` when it is not in the grammar."""
    return _Parser(src).parse()


def _resolve(path: tuple[Any, ...], metadata: Any) -> Any:
    cur = metadata
    for part in path:
        if isinstance(part, str):
            if not isinstance(cur, dict) or part not in cur:
                return _MISSING
            cur = cur[part]
        else:
            if not isinstance(cur, list):
                return _MISSING
            idx = len(cur) - part[1] if isinstance(part, tuple) else part
            if not 0 <= idx < len(cur):
                return _MISSING
            cur = cur[idx]
    return cur


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _comparable(value: Any, lit: Any) -> bool:
    if isinstance(lit, str):
        return isinstance(value, str)
    if isinstance(lit, bool):
        return isinstance(value, bool)
    if isinstance(value, bool):
        return lit in (0, 1)
    return _is_num(value)


def _equal(value: Any, lit: Any) -> bool:
    if not _comparable(value, lit):
        return False
    if isinstance(value, bool) and not isinstance(lit, bool):
        return value == bool(lit)
    return bool(value == lit)


def _eval(node: Any, metadata: Any) -> bool:
    kind = node[0]
    if kind == "and":
        return all(_eval(c, metadata) for c in node[1])
    if kind == "or":
        return any(_eval(c, metadata) for c in node[1])
    value = _resolve(node[1], metadata)
    if kind == "has":
        return (value is _MISSING) == node[2]
    if value is _MISSING:
        return False
    if kind == "cmp":
        op, lit = node[2], node[3]
        if op == "=":
            return _equal(value, lit)
        if op == "!=":
            return _comparable(value, lit) and not _equal(value, lit)
        if not (_is_num(value) and _is_num(lit)):
            return False
        return {"<": value < lit, "<=": value <= lit, ">": value > lit, ">=": value >= lit}[op]
    if kind == "in":
        lits = node[3]
        if node[2]:
            return all(_comparable(value, x) and not _equal(value, x) for x in lits)
        return any(_equal(value, x) for x in lits)
    if kind == "glob":
        if not isinstance(value, str):
            return False
        return (node[3].fullmatch(value) is not None) != node[2]
    if kind == "contains":
        if not isinstance(value, list):
            return False
        return any(_equal(x, node[3]) for x in value) != node[2]
    raise AssertionError(kind)


def matches(filter_string: str, metadata: Any) -> bool:
    """True when ``metadata`` passes ``filter_string`` ("" passes everything)."""
    if not filter_string.strip():
        return True
    return _eval(parse_filter(filter_string), metadata if metadata is not None else {})


# ===================================================================================== index
class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


@dataclass
class _Vec:
    vector: list[float]
    metadata: Any = None
    data: str | None = None


SIMILARITY = ("COSINE", "EUCLIDEAN", "DOT_PRODUCT")


class _Index:
    """The index state (guarded by the server's lock)."""

    def __init__(self, dimension: int, similarity: str, max_top_k: int, max_range: int) -> None:
        if similarity not in SIMILARITY:
            raise ValueError(f"similarity must be one of {SIMILARITY}")
        self.dimension = dimension
        self.similarity = similarity
        self.max_top_k = max_top_k
        self.max_range = max_range
        self.namespaces: dict[str, dict[str, _Vec]] = {"": {}}

    # ------------------------------------------------------------------ helpers
    def _vector(self, raw: Any) -> list[float]:
        if not isinstance(raw, list) or not all(_is_num(x) for x in raw):
            raise ApiError(400, "vector must be an array of numbers")
        if len(raw) != self.dimension:
            raise ApiError(422, f"Invalid vector dimension: {len(raw)}, expected: {self.dimension}")
        if not all(math.isfinite(x) for x in raw):
            raise ApiError(400, "vector values must be finite")
        return [_f32(float(x)) for x in raw]

    def _score(self, q: list[float], v: list[float]) -> float:
        if self.similarity == "EUCLIDEAN":
            d2 = sum((a - b) ** 2 for a, b in zip(q, v))
            return _f32(1.0 / (1.0 + d2))
        dot = sum(a * b for a, b in zip(q, v))
        if self.similarity == "COSINE":
            nq = math.sqrt(sum(a * a for a in q))
            nv = math.sqrt(sum(b * b for b in v))
            dot = dot / (nq * nv) if nq > 0 and nv > 0 else 0.0
        return _f32(min(1.0, max(0.0, (1.0 + dot) / 2.0)))

    @staticmethod
    def _view(id_: str, rec: _Vec, *, vectors: bool, metadata: bool, data: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"id": id_}
        if vectors:
            out["vector"] = list(rec.vector)
        if metadata and rec.metadata is not None:
            out["metadata"] = json.loads(json.dumps(rec.metadata))
        if data and rec.data is not None:
            out["data"] = rec.data
        return out

    @staticmethod
    def _flag(body: dict[str, Any], name: str) -> bool:
        value = body.get(name, False)
        if not isinstance(value, bool):
            raise ApiError(400, f"{name} must be a boolean")
        return value

    @staticmethod
    def _filter(body: dict[str, Any]) -> str:
        f = body.get("filter", "")
        if f is None:
            return ""
        if not isinstance(f, str):
            raise ApiError(400, "filter must be a string")
        try:
            if f.strip():
                parse_filter(f)
        except FilterSyntaxError as exc:
            raise ApiError(400, f"Invalid filter: {exc}") from None
        return f

    # ------------------------------------------------------------------ operations
    def upsert(self, ns: str, body: Any) -> str:
        items = body if isinstance(body, list) else [body]
        if not items:
            raise ApiError(400, "no vectors to upsert")
        staged: list[tuple[str, _Vec]] = []
        for item in items:
            if not isinstance(item, dict):
                raise ApiError(400, "each vector must be a JSON object")
            id_ = item.get("id")
            if isinstance(id_, bool) or not isinstance(id_, (str, int)):
                raise ApiError(400, "id must be a string")
            if item.get("sparseVector") is not None:
                raise ApiError(422, "This index does not support sparse vectors")
            if "vector" not in item or item["vector"] is None:
                raise ApiError(422, "vector is required for dense indexes")
            metadata = item.get("metadata")
            if metadata is not None and not isinstance(metadata, dict):
                raise ApiError(400, "metadata must be a JSON object")
            data = item.get("data")
            if data is not None and not isinstance(data, str):
                raise ApiError(400, "data must be a string")
            staged.append((str(id_), _Vec(self._vector(item["vector"]), metadata, data)))
        space = self.namespaces.setdefault(ns, {})
        for id_, rec in staged:
            space[id_] = rec
        return "Success"

    def _one_query(self, space: dict[str, _Vec], body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, dict):
            raise ApiError(400, "query must be a JSON object")
        if body.get("sparseVector") is not None:
            raise ApiError(422, "This index does not support sparse vectors")
        if "data" in body:
            raise ApiError(400, "Embedding is not enabled for this index")
        if "vector" not in body:
            raise ApiError(400, "vector is required")
        q = self._vector(body["vector"])
        top_k = body.get("topK", 10)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ApiError(400, "topK must be a positive integer")
        if top_k > self.max_top_k:
            raise ApiError(400, f"topK must be at most {self.max_top_k}")
        flt = self._filter(body)
        vectors, metadata, data = (self._flag(body, n) for n in ("includeVectors", "includeMetadata", "includeData"))
        scored = [
            (self._score(q, rec.vector), id_, rec)
            for id_, rec in space.items()
            if matches(flt, rec.metadata)
        ]
        scored.sort(key=lambda t: (-t[0], t[1]))
        out = []
        for score, id_, rec in scored[:top_k]:
            view = self._view(id_, rec, vectors=vectors, metadata=metadata, data=data)
            view["score"] = score
            out.append(view)
        return out

    def query(self, ns: str, body: Any) -> Any:
        space = self.namespaces.get(ns, {})
        if isinstance(body, list):
            if not body:
                raise ApiError(400, "empty batch query")
            results = [self._one_query(space, b) for b in body]
            return results[0] if len(results) == 1 else results
        return self._one_query(space, body)

    def fetch(self, ns: str, body: Any) -> list[Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "fetch needs a JSON object")
        space = self.namespaces.get(ns, {})
        vectors, metadata, data = (self._flag(body, n) for n in ("includeVectors", "includeMetadata", "includeData"))
        if "prefix" in body and body["prefix"] is not None:
            prefix = body["prefix"]
            return [
                self._view(i, r, vectors=vectors, metadata=metadata, data=data)
                for i, r in space.items()
                if i.startswith(prefix)
            ]
        ids = body.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, (str, int)) for i in ids):
            raise ApiError(400, "ids must be an array of strings")
        out: list[Any] = []
        for id_ in ids:
            rec = space.get(str(id_))
            out.append(None if rec is None else self._view(str(id_), rec, vectors=vectors, metadata=metadata, data=data))
        return out

    def range(self, ns: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "range needs a JSON object")
        limit = body.get("limit")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ApiError(400, "limit must be a positive integer")
        if limit > self.max_range:
            raise ApiError(400, f"limit must be at most {self.max_range}")
        cursor = body.get("cursor", "")
        if cursor in ("", "0", None):
            after = None
        elif isinstance(cursor, str) and cursor.startswith("c") and re.fullmatch(r"c(?:[0-9a-f]{2})*", cursor):
            after = bytes.fromhex(cursor[1:]).decode("utf-8", "surrogatepass")
        else:
            raise ApiError(400, "invalid cursor")
        vectors, metadata, data = (self._flag(body, n) for n in ("includeVectors", "includeMetadata", "includeData"))
        prefix = body.get("prefix") or ""
        space = self.namespaces.get(ns, {})
        # Ids in sorted order; the cursor names the first id of the next page, so a scan sees every
        # id that exists throughout it exactly once, whatever is written meanwhile.
        ids = sorted(i for i in space if i.startswith(prefix) and (after is None or i >= after))
        page, rest = ids[:limit], ids[limit:]
        return {
            "nextCursor": "c" + rest[0].encode("utf-8", "surrogatepass").hex() if rest else "",
            "vectors": [self._view(i, space[i], vectors=vectors, metadata=metadata, data=data) for i in page],
        }

    def delete(self, ns: str, body: Any) -> dict[str, int]:
        space = self.namespaces.get(ns, {})
        if isinstance(body, list):
            body = {"ids": body}
        elif isinstance(body, (str, int)) and not isinstance(body, bool):
            body = {"ids": [body]}
        if not isinstance(body, dict):
            raise ApiError(400, "delete needs ids, a prefix or a filter")
        if body.get("ids") is not None:
            ids = body["ids"]
            if not isinstance(ids, list):
                raise ApiError(400, "ids must be an array")
            victims = [str(i) for i in ids if str(i) in space]
        elif body.get("prefix") is not None:
            victims = [i for i in space if i.startswith(body["prefix"])]
        elif body.get("filter") is not None:
            flt = self._filter(body)
            victims = [i for i, r in space.items() if matches(flt, r.metadata)]
        else:
            raise ApiError(400, "delete needs ids, a prefix or a filter")
        victims = list(dict.fromkeys(victims))
        for i in victims:
            del space[i]
        return {"deleted": len(victims)}

    def update(self, ns: str, body: Any) -> dict[str, int]:
        if not isinstance(body, dict) or not isinstance(body.get("id"), (str, int)):
            raise ApiError(400, "update needs an id")
        if body.get("data") is not None:
            raise ApiError(400, "Embedding is not enabled for this index")
        if body.get("sparseVector") is not None:
            raise ApiError(422, "This index does not support sparse vectors")
        has_vector = body.get("vector") is not None
        has_metadata = "metadata" in body and body["metadata"] is not None
        if not (has_vector or has_metadata):
            raise ApiError(400, "nothing to update: give vector, data or metadata")
        mode = body.get("metadataUpdateMode", "OVERWRITE")
        if mode not in ("OVERWRITE", "PATCH"):
            raise ApiError(400, "metadataUpdateMode must be OVERWRITE or PATCH")
        vector = self._vector(body["vector"]) if has_vector else None
        if has_metadata and not isinstance(body["metadata"], dict):
            raise ApiError(400, "metadata must be a JSON object")
        rec = self.namespaces.get(ns, {}).get(str(body["id"]))
        if rec is None:
            return {"updated": 0}
        if vector is not None:
            rec.vector = vector
        if has_metadata:
            rec.metadata = _merge_patch(rec.metadata or {}, body["metadata"]) if mode == "PATCH" else body["metadata"]
        return {"updated": 1}

    def reset(self, ns: str, all_namespaces: bool) -> str:
        if all_namespaces:
            self.namespaces = {"": {}}
        elif ns in self.namespaces:
            self.namespaces[ns] = {}
        return "Success"

    def info(self) -> dict[str, Any]:
        total = sum(len(s) for s in self.namespaces.values())
        return {
            "vectorCount": total,
            "pendingVectorCount": 0,
            "indexSize": total * (self.dimension * 4 + 64),
            "dimension": self.dimension,
            "similarityFunction": self.similarity,
            "indexType": "DENSE",
            "namespaces": {
                ns: {"vectorCount": len(s), "pendingVectorCount": 0} for ns, s in self.namespaces.items()
            },
        }


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge_patch(out.get(k), v)
    return out


# ===================================================================================== server
@dataclass
class RecordedRequest:
    """One request the emulator received (``body`` parsed JSON, or None)."""

    method: str
    op: str
    namespace: str
    body: Any
    headers: dict[str, str]
    query: str = ""


@dataclass
class _Fault:
    status: int = 503
    message: str = "Service Unavailable"
    retry_after: float | None = None
    raw: bytes | None = None
    drop: bool = False
    delay: float = 0.0
    op: str | None = None
    times: int = 1


_OPS = {"upsert", "upsert-data", "query", "query-data", "fetch", "range", "delete", "update", "reset", "info"}


class UpstashEmulator:
    """A loopback Upstash Vector index. Use as a context manager, or ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        dimension: int = 8,
        similarity: str = "COSINE",
        max_top_k: int = 1000,
        max_range: int = 1000,
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        self.host = host
        self.index = _Index(dimension, similarity, max_top_k, max_range)
        self.latency = 0.0
        self._lock = threading.RLock()
        self._faults: list[_Fault] = []
        self._requests: list[RecordedRequest] = []
        self._counts: Counter[str] = Counter()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        assert self._server is not None, "emulator not started"
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> Self:
        emulator = self

        class Handler(_Handler):
            owner = emulator

        server = ThreadingHTTPServer((self.host, 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False  # type: ignore[attr-defined]
        server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ faults & records
    def fail_next(self, times: int = 1, *, status: int = 503, message: str | None = None,
                  retry_after: float | None = None, raw: bytes | None = None, op: str | None = None) -> None:
        """The next ``times`` requests (to ``op``, or any) get ``status`` with an error envelope,
        or ``raw`` as the body when given (a malformed answer)."""
        with self._lock:
            self._faults.append(_Fault(status=status, message=message or f"injected {status}",
                                       retry_after=retry_after, raw=raw, op=op, times=times))

    def drop_next(self, times: int = 1, *, op: str | None = None) -> None:
        with self._lock:
            self._faults.append(_Fault(drop=True, op=op, times=times))

    def stall_next(self, times: int = 1, *, seconds: float, op: str | None = None) -> None:
        """Answer normally, but only after ``seconds`` (to exercise client timeouts)."""
        with self._lock:
            self._faults.append(_Fault(status=0, delay=seconds, op=op, times=times))

    def _take_fault(self, op: str) -> _Fault | None:
        with self._lock:
            for f in self._faults:
                if f.op is None or f.op == op:
                    f.times -= 1
                    if f.times <= 0:
                        self._faults.remove(f)
                    return f
        return None

    def requests(self, op: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._requests if op is None or r.op == op]

    def count(self, op: str | None = None) -> int:
        with self._lock:
            return sum(self._counts.values()) if op is None else self._counts[op]

    def clear_records(self) -> None:
        with self._lock:
            self._requests.clear()
            self._counts.clear()

    def vectors(self, namespace: str = "") -> dict[str, Any]:
        """What is stored in ``namespace``: id to (vector, metadata)."""
        with self._lock:
            return {i: (list(r.vector), r.metadata) for i, r in self.index.namespaces.get(namespace, {}).items()}

    # ------------------------------------------------------------------ dispatch
    def handle(self, method: str, path: str, query: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any, dict[str, str]]:
        """Returns (status, envelope, extra headers); status 0 means: drop the connection."""
        parts = [unquote(p) for p in path.split("/")[1:]]
        op = parts[0] if parts else ""
        namespace = parts[1] if len(parts) > 1 else ""
        body: Any = None
        parse_error = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as exc:
                parse_error = str(exc)
        with self._lock:
            self._requests.append(RecordedRequest(method, op, namespace, body, headers, query))
            self._counts[op] += 1
        fault = self._take_fault(op)
        if self.latency:
            time.sleep(self.latency)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                return 0, None, {}
            if fault.status:
                extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
                if fault.raw is not None:
                    return fault.status, fault.raw, extra
                return fault.status, {"error": fault.message, "status": fault.status}, extra
        auth = headers.get("authorization", "")
        if auth != f"Bearer {self.token}":
            return 401, {"error": "Unauthorized: Invalid auth token", "status": 401}, {}
        if method not in ("GET", "POST", "PUT", "DELETE"):
            return 405, {"error": "Method Not Allowed", "status": 405}, {}
        if op not in _OPS or len(parts) > 2 or (op == "info" and len(parts) > 1):
            return 404, {"error": f"Not Found: {path}", "status": 404}, {}
        if parse_error is not None:
            return 400, {"error": f"Invalid JSON body: {parse_error}", "status": 400}, {}
        try:
            with self._lock:
                result = self._dispatch(op, namespace, query, body)
        except ApiError as exc:
            return exc.status, {"error": exc.message, "status": exc.status}, {}
        return 200, {"result": result}, {}

    def _dispatch(self, op: str, ns: str, query: str, body: Any) -> Any:
        idx = self.index
        if op in ("upsert-data", "query-data"):
            raise ApiError(400, "Embedding is not enabled for this index")
        if op == "upsert":
            return idx.upsert(ns, body)
        if op == "query":
            return idx.query(ns, body)
        if op == "fetch":
            return idx.fetch(ns, body)
        if op == "range":
            return idx.range(ns, body)
        if op == "delete":
            return idx.delete(ns, body)
        if op == "update":
            return idx.update(ns, body)
        if op == "reset":
            return idx.reset(ns, all_namespaces="all" in query.split("&"))
        return idx.info()


class _Handler(BaseHTTPRequestHandler):
    owner: UpstashEmulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, envelope, extra = self.owner.handle(self.command, split.path, split.query, headers, raw)
        if status == 0:
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        data = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout): nothing to answer to
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve
