"""Bearer tokens for the REST server, each optionally pinned to a scope.

A token table maps each accepted token to a :class:`Pin` (or ``None``: an unrestricted token that
may use any scope and ``reset``). A pinned token confines every request to its scope: a request
naming another id for a pinned key is refused (403), an omitted key takes the pinned value, and
by-id operations only see memories of the pin. This module needs no web framework, so it is
tested and reused (MCP, config checks) on its own.

Sources, merged (the file wins on a repeated token):

- ``MEM7_SERVER_TOKENS``: a JSON object ``{"<token>": {"user_id": "alice"} | null}``, or plain
  tokens separated by commas (all unrestricted).
- ``--tokens-file PATH``: a JSON or YAML file holding the same object.

Once any token is configured every request needs one; ``--require-auth`` (``MEM7_SERVER_REQUIRE_AUTH``)
additionally refuses to start without tokens, so a deployment can never run open by mistake.
Tokens are compared in constant time (SHA-256 digests through :func:`hmac.compare_digest`, every
configured token checked), so response timing reveals neither a token's prefix nor its length.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ConfigError
from ..filters import split_scope
from ..models import SCOPE_KEYS

TOKENS_ENV = "MEM7_SERVER_TOKENS"
REQUIRE_AUTH_ENV = "MEM7_SERVER_REQUIRE_AUTH"


class AuthError(Exception):
    """No token, or a token the server does not know (HTTP 401)."""


class ScopeForbidden(Exception):
    """A pinned token asked for a scope outside its pin, or for an operation it may not do (HTTP 403)."""


class Pin(BaseModel):
    """The scope a token is confined to. Keys left ``None`` are free for the caller to choose."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: str | None = Field(None, min_length=1)
    agent_id: str | None = Field(None, min_length=1)
    run_id: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _names_an_id(self) -> Pin:
        # A pin with every key None would confine nothing: every scope reachable, yet read as
        # restricted. A token meant to be unrestricted is written as null instead.
        if not self.items():
            raise ValueError(
                "the pin names no id (all of user_id, agent_id, run_id are null); give at least one, "
                "or map the token to null to make it unrestricted"
            )
        return self

    def items(self) -> list[tuple[str, str]]:
        return [(k, v) for k in SCOPE_KEYS if (v := getattr(self, k)) is not None]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: ``pin`` is ``None`` for an unrestricted token or an open server."""

    pin: Pin | None

    @property
    def restricted(self) -> bool:
        return self.pin is not None


OPEN = Principal(pin=None)
"""The caller on a server without tokens."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _check_token(token: Any, where: str, position: int) -> str:
    # Messages name a token by its position (1-based), never by its text: a log must not leak it.
    if not isinstance(token, str) or not token or token != token.strip() or any(c.isspace() for c in token):
        kind = f"a string of {len(token)} characters" if isinstance(token, str) else type(token).__name__
        raise ConfigError(f"{where}: token #{position}: a token must be a non-empty string without spaces, got {kind}")
    return token


def _parse_mapping(raw: Any, where: str) -> dict[str, Pin | None]:
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f'{where} must map each token to its pinned scope or null, e.g. {{"tok-alice": {{"user_id": "alice"}}, '
            f'"tok-admin": null}}; got {type(raw).__name__}'
        )
    out: dict[str, Pin | None] = {}
    for position, (token, pin) in enumerate(raw.items(), start=1):
        _check_token(token, where, position)
        if pin is None:  # unrestricted is spelled null, only: an empty mapping is no pin, not "everything"
            out[token] = None
            continue
        if isinstance(pin, Mapping) and not pin:
            raise ConfigError(
                f"{where}: token #{position} is mapped to an empty pin ({{}}), which names no id; give at least one "
                "of user_id, agent_id, run_id, or map the token to null to make it unrestricted"
            )
        try:
            out[token] = Pin.model_validate(pin)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(pin)'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(
                f"{where}: the scope pinned to token #{position} is invalid ({problems}); "
                "allowed keys: user_id, agent_id, run_id"
            ) from None
    return out


def parse_tokens_env(value: str) -> dict[str, Pin | None]:
    """``MEM7_SERVER_TOKENS``: a JSON object, or comma-separated unrestricted tokens."""
    text = value.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{TOKENS_ENV} is not valid JSON ({exc.msg} at position {exc.pos})") from None
        return _parse_mapping(raw, TOKENS_ENV)
    plain = [t.strip() for t in text.split(",") if t.strip()]
    return {_check_token(t, TOKENS_ENV, i): None for i, t in enumerate(plain, start=1)}


def read_tokens_file(path: str | Path) -> dict[str, Pin | None]:
    """A JSON or YAML file mapping token → pinned scope (or null)."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--tokens-file {p}: cannot read it ({exc.strerror or exc})") from None
    import yaml

    try:
        raw = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:  # JSONDecodeError is a ValueError
        raise ConfigError(f"--tokens-file {p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'} "
                          f"({' '.join(str(exc).split())})") from None
    if p.suffix.lower() != ".json":
        _refuse_blank_yaml_values(text, f"--tokens-file {p}")
    return _parse_mapping(raw, f"--tokens-file {p}")


def _refuse_blank_yaml_values(text: str, where: str) -> None:
    """``tok-alice:`` with nothing after it loads as null (unrestricted): a forgotten pin must not
    fail open, so unrestricted must be written ``null`` (or ``~``) in a YAML tokens file."""
    import yaml

    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(node, yaml.MappingNode):
        return
    for position, (_, value) in enumerate(node.value, start=1):
        if isinstance(value, yaml.ScalarNode) and value.tag == "tag:yaml.org,2002:null" and value.value == "":
            raise ConfigError(
                f"{where}: token #{position} has no value; write its pin (e.g. {{user_id: alice}}), or null to make "
                "it unrestricted"
            )


class TokenTable:
    """The accepted tokens and what each may touch."""

    def __init__(self, tokens: Mapping[str, Pin | None] | None = None, *, require_auth: bool = False) -> None:
        self._entries: list[tuple[bytes, Pin | None]] = [(_digest(t), pin) for t, pin in (tokens or {}).items()]
        if require_auth and not self._entries:
            raise ConfigError(
                f"--require-auth is set but no token is configured: set {TOKENS_ENV} or pass --tokens-file"
            )

    @classmethod
    def from_sources(
        cls, *, env: Mapping[str, str] | None = None, tokens_file: str | Path | None = None, require_auth: bool = False
    ) -> TokenTable:
        """Tokens from ``MEM7_SERVER_TOKENS`` and ``tokens_file``; ``require_auth`` also read from the env."""
        env = os.environ if env is None else env
        tokens = parse_tokens_env(env.get(TOKENS_ENV, ""))
        if tokens_file is not None:
            tokens.update(read_tokens_file(tokens_file))
        required = require_auth or env.get(REQUIRE_AUTH_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
        return cls(tokens, require_auth=required)

    @property
    def enabled(self) -> bool:
        """True when requests must carry a token."""
        return bool(self._entries)

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller named by an ``Authorization: Bearer <token>`` header.

        :raises AuthError: auth is on and the header is missing, malformed or names no known token.
        """
        if not self._entries:
            return OPEN
        if not authorization:
            raise AuthError("missing bearer token: send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("malformed Authorization header: expected 'Bearer <token>'")
        given = _digest(token)
        found: Principal | None = None
        for digest, pin in self._entries:  # no early exit: the time taken does not depend on the match
            if hmac.compare_digest(given, digest) and found is None:
                found = Principal(pin=pin)
        if found is None:
            raise AuthError("unknown bearer token")
        return found


class ScopeIds(TypedDict):
    """A request's scope as keyword arguments of the engine's methods (``**scope``)."""

    user_id: str | None
    agent_id: str | None
    run_id: str | None


def pinned_scope(
    principal: Principal,
    scope: Mapping[str, str | None],
    filters: Mapping[str, Any] | None = None,
) -> ScopeIds:
    """The scope a request runs in, after the caller's pin is applied.

    Scope ids given directly or at the top level of ``filters`` (the mem0 way) must equal the pin;
    a pinned key left out takes the pinned value. Unpinned keys pass through unchanged.

    :raises ScopeForbidden: a pinned key names another id.
    """
    out = {k: scope.get(k) for k in SCOPE_KEYS}
    if principal.pin is None:
        return _ids(out)
    in_filters, _ = split_scope(filters if isinstance(filters, Mapping) else None, SCOPE_KEYS)
    for key, pinned in principal.pin.items():
        for given in (out.get(key), in_filters.get(key)):
            if given is not None and given != pinned:
                raise ScopeForbidden(f"this token is pinned to {key}={pinned!r}; it cannot use {key}={given!r}")
        out[key] = pinned
    return _ids(out)


def _ids(scope: Mapping[str, str | None]) -> ScopeIds:
    return ScopeIds(user_id=scope.get("user_id"), agent_id=scope.get("agent_id"), run_id=scope.get("run_id"))


def require_unrestricted(principal: Principal, operation: str) -> None:
    """Operations that reach beyond one scope (``reset``) need an unrestricted token.

    :raises ScopeForbidden: the token is pinned.
    """
    if principal.pin is not None:
        raise ScopeForbidden(f"{operation} touches every scope; a token pinned to a scope may not call it")


__all__ = [
    "OPEN",
    "REQUIRE_AUTH_ENV",
    "TOKENS_ENV",
    "AuthError",
    "Pin",
    "Principal",
    "ScopeForbidden",
    "ScopeIds",
    "TokenTable",
    "parse_tokens_env",
    "pinned_scope",
    "read_tokens_file",
    "require_unrestricted",
]
