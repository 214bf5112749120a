"""mem7 filter trees -> Qdrant filters over the ``_mem7`` index fields (see :mod:`._encoding`).

Every node is translated into two Qdrant filters: ``upper`` (matches at least the records the node
matches) and ``lower`` (at most those). They are equal (``exact``) wherever Qdrant can express the
node exactly; negation swaps them. The store sends ``upper`` to Qdrant, and when the translation is
not exact it re-checks every candidate with :func:`mem7_core.filters.evaluate` (fetching more until
it has ``limit`` hits), so no condition is ever dropped or approximated in an answer.

Exact in Qdrant: ``eq``, ``ne``, ``in``, ``nin``, ``"*"`` (exists), ``gt``/``gte``/``lt``/``lte``
with a number (below 2**53 in magnitude), ``contains`` with a non-string value (list membership)
or ``""``, ``icontains`` with ``""``. Narrowed in Qdrant, then re-checked: ``gt``/``gte``/``lt``/
``lte`` with a string (Qdrant has no string ranges), ``contains``/``icontains`` with a non-empty
string (substring and case folding: Qdrant's text match is token based, not mem7's substring).
A ``created_at`` range with a bound in mem7's own timestamp form (what ``parse_filters`` makes of
every time bound) runs on the integer order key (``_mem7.o``, string order = key order) in Qdrant,
so only the records in range (and any whose ``created_at`` is a string of another form) come back
to be re-checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeAlias

from qdrant_client.http import models

from mem7_core.filters import And, Condition, Filter, Not

from ._encoding import RESERVED_KEY, Unmatchable, key_token, order_key, scalar_token, value_token

KEYS = f"{RESERVED_KEY}.k"
TYPES = f"{RESERVED_KEY}.y"
TOKENS = f"{RESERVED_KEY}.t"
MEMBERS = f"{RESERVED_KEY}.m"
NUMBERS = f"{RESERVED_KEY}.n"
ORDER = f"{RESERVED_KEY}.o"

_EXACT_FLOAT = 2.0**53
_ORDER_SLACK = 1024
"""How far an order-key range bound is moved (outwards for ``upper``, inwards for ``lower``): Qdrant
ranges travel as f64, so keys past 2**53 (times after the year 2112; at most about 2**59, the year
9999) are rounded on the way, by at most 32."""


class _Const:
    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "TRUE" if self.value else "FALSE"


TRUE = _Const(True)
FALSE = _Const(False)

QCond: TypeAlias = models.FieldCondition | models.Filter | models.NestedCondition
Approx: TypeAlias = QCond | _Const


@dataclass(frozen=True, slots=True)
class Translation:
    """``upper`` is TRUE (no condition), FALSE (nothing can match) or a Qdrant condition."""

    upper: Approx
    exact: bool


# ------------------------------------------------------------------------------------ builders
def _match(field: str, token: str) -> models.FieldCondition:
    return models.FieldCondition(key=field, match=models.MatchValue(value=token))


def _match_any(field: str, tokens: list[str]) -> Approx:
    tokens = list(dict.fromkeys(tokens))
    if not tokens:
        return FALSE
    if len(tokens) == 1:
        return _match(field, tokens[0])
    return models.FieldCondition(key=field, match=models.MatchAny(any=tokens))


def _and(parts: list[Approx]) -> Approx:
    out: list[QCond] = []
    for p in parts:
        if p is FALSE:
            return FALSE
        if p is not TRUE:
            out.append(p)  # type: ignore[arg-type]
    if not out:
        return TRUE
    return out[0] if len(out) == 1 else models.Filter(must=out)


def _or(parts: list[Approx]) -> Approx:
    out: list[QCond] = []
    for p in parts:
        if p is TRUE:
            return TRUE
        if p is not FALSE:
            out.append(p)  # type: ignore[arg-type]
    if not out:
        return FALSE
    return out[0] if len(out) == 1 else models.Filter(should=out)


def _not(part: Approx) -> Approx:
    if part is TRUE:
        return FALSE
    if part is FALSE:
        return TRUE
    return models.Filter(must_not=[part])


def _is_type(kt: str, t: str) -> models.FieldCondition:
    return _match(TYPES, f"{kt}={t}")


def _range(kt: str, op: str, bound: float) -> models.NestedCondition:
    return models.NestedCondition(
        nested=models.Nested(
            key=NUMBERS,
            filter=models.Filter(
                must=[_match("k", kt), models.FieldCondition(key="v", range=models.Range(**{op: bound}))]
            ),
        )
    )


# ------------------------------------------------------------------------------------ leaves
def _leaf(cond: Condition) -> tuple[Approx, Approx, bool]:
    """``(upper, lower, exact)`` of one condition."""
    kt = key_token(cond.key)
    op, want = cond.op, cond.value
    if op == "exists":
        present = _match(KEYS, kt)
        return present, present, True
    if op in ("eq", "ne", "in", "nin"):
        wants = list(want) if op in ("in", "nin") else [want]
        tokens = []
        for w in wants:
            try:
                tokens.append(f"{kt}={value_token(w)}")
            except Unmatchable:
                pass
        c = _match_any(TOKENS, tokens)
        if op in ("ne", "nin"):
            c = _not(c)  # holds when the key is absent: must_not of a missing field is true
        return c, c, True
    if op in ("gt", "gte", "lt", "lte"):
        if cond.key == "created_at" and isinstance(want, str) and (key := order_key(want)) is not None:
            return _created_range(kt, op, key)
        return _ordering(kt, op, want)
    if op == "contains":
        return _contains(kt, want)
    if op == "icontains":
        return _icontains(kt, want)
    # Unknown operators cannot come out of parse_filters; be safe: re-check everything.
    return TRUE, FALSE, False


def _ordering(kt: str, op: str, want: Any) -> tuple[Approx, Approx, bool]:
    if isinstance(want, bool) or not isinstance(want, (int, float, str)):
        return FALSE, FALSE, True  # reference: only number-number and string-string compare
    if isinstance(want, str):
        return _is_type(kt, "s"), FALSE, False  # Qdrant has no string ranges: narrow to strings
    try:
        bound = float(want)
    except OverflowError:  # an int beyond every float: compares like an infinity
        bound = math.inf if want > 0 else -math.inf
    if math.isnan(bound):
        return FALSE, FALSE, True
    upward = op in ("gt", "gte")
    if math.isinf(bound):
        # Stored numbers are finite: x > +inf never, x < +inf always (and mirrored for -inf).
        everything = (bound < 0) == upward
        c: Approx = _is_type(kt, "n") if everything else FALSE
        return c, c, True
    if abs(bound) < _EXACT_FLOAT and (isinstance(want, float) or bound == want):
        c = _range(kt, op, bound)
        return c, c, True
    # |bound| >= 2**53: the server compares as f64, so stored ints near the bound may round onto
    # it (local mode compares exactly). A non-strict comparison with the rounded bound moved one
    # ulp outwards holds for every match under either comparison (rounding is monotone).
    widened = math.nextafter(bound, -math.inf if upward else math.inf)
    wide = _range(kt, "gte" if upward else "lte", widened)
    return wide, FALSE, False


def _created_range(kt: str, op: str, key: int) -> tuple[Approx, Approx, bool]:
    """A ``created_at`` range with a mem7 timestamp bound (its order ``key``), on the order key.

    Records with an order key compare as their strings do; records whose ``created_at`` is a string
    without one (another form) are kept for the re-check; anything else never matches a string bound.
    """
    upward = op in ("gt", "gte")
    outer = key - _ORDER_SLACK if upward else key + _ORDER_SLACK
    inner = key + _ORDER_SLACK if upward else key - _ORDER_SLACK
    side = "gte" if upward else "lte"
    keyed = models.FieldCondition(key=ORDER, range=models.Range(**{side: outer}))
    unkeyed = models.Filter(must=[_is_type(kt, "s"), models.IsEmptyCondition(is_empty=models.PayloadField(key=ORDER))])
    surely = models.FieldCondition(key=ORDER, range=models.Range(**{side: inner}))
    return _or([keyed, unkeyed]), surely, False


def _contains(kt: str, want: Any) -> tuple[Approx, Approx, bool]:
    if isinstance(want, (list, dict, tuple, set)):
        return _is_type(kt, "l"), FALSE, False  # parse_filters rejects these; re-check if built by hand
    try:
        member: Approx = _match(MEMBERS, f"{kt}={scalar_token(want)}")
    except Unmatchable:
        member = FALSE
    if not isinstance(want, str):
        return member, member, True  # a non-string is never a substring: list membership only
    if want == "":
        c = _or([member, _is_type(kt, "s")])  # "" is in every string
        return c, c, True
    return _or([member, _is_type(kt, "s")]), member, False


def _icontains(kt: str, want: Any) -> tuple[Approx, Approx, bool]:
    if isinstance(want, str) and want == "":
        # "" is in every string; a list element casefolds to "" only when it is "".
        c = _or([_is_type(kt, "s"), _match(MEMBERS, f"{kt}=s:")])
        return c, c, True
    return _or([_is_type(kt, "s"), _is_type(kt, "l")]), FALSE, False


# ------------------------------------------------------------------------------------ trees
def _approx(node: Filter) -> tuple[Approx, Approx, bool]:
    if isinstance(node, Condition):
        return _leaf(node)
    if isinstance(node, Not):
        upper, lower, exact = _approx(node.child)
        return _not(lower), _not(upper), exact
    parts = [_approx(child) for child in node.children]
    combine = _and if isinstance(node, And) else _or
    return (
        combine([p[0] for p in parts]),
        combine([p[1] for p in parts]),
        all(p[2] for p in parts),
    )


def translate(node: Filter | None) -> Translation:
    """The Qdrant filter for a parsed mem7 filter, and whether it is exact."""
    if node is None:
        return Translation(TRUE, True)
    upper, _lower, exact = _approx(node)
    return Translation(upper, exact)


def scope_conditions(scope_items: list[tuple[str, str]]) -> list[QCond]:
    """Conditions for a scope: the raw keyword field (indexed) AND its exact whole-value token.

    The raw ``user_id`` match lets Qdrant use the payload index; the token makes it exact (a raw
    match would also accept a list containing the id).
    """
    out: list[QCond] = []
    for key, value in scope_items:
        out.append(_match(key, value))
        out.append(_match(TOKENS, f"{key_token(key)}={value_token(value)}"))
    return out


def combine(scope: list[QCond], upper: Approx, *extra: QCond | models.IsEmptyCondition) -> models.Filter | None:
    """``scope AND upper AND extra``; ``None`` when that is no condition (callers handle FALSE)."""
    must: list[QCond | models.IsEmptyCondition] = [*scope, *extra]
    if isinstance(upper, _Const):
        assert upper is TRUE
    else:
        must.append(upper)
    return models.Filter(must=must) if must else None
