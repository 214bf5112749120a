"""Host and Origin checks of the REST server, and which listening addresses are loopback.

A server on loopback is still reachable from a browser: a page on any site can send requests to
``http://127.0.0.1:8000`` (cross-site "simple" requests need no CORS preflight), and a page whose
DNS name is rebound to 127.0.0.1 reads the answers too. :class:`RequestGuard` closes both:

- **Host allow-list.** A request whose ``Host`` header is not allowed gets 400 (DNS rebinding:
  the browser sends the attacker's name). Default: ``localhost``, ``127.0.0.1``, ``[::1]`` and the
  address the server is bound to (unless a wildcard such as ``0.0.0.0``); ``*`` allows any host.
  Ports are not compared. ``GET /health`` is exempt (liveness probes name the host by its IP).
- **Origin checks on state-changing requests** (POST, PUT, PATCH, DELETE): refused with 403 when
  the request carries an ``Origin`` that is neither the server's own origin (``Host``) nor in the
  allowed origins, or, without an ``Origin``, says ``Sec-Fetch-Site: cross-site`` / ``same-site``.
  Requests without these headers (curl, SDKs, other servers) are not browser requests and pass.
  No CORS headers are ever sent, so browsers also keep other origins from reading the answers.

This module needs no web framework; :meth:`RequestGuard.check` takes the method, path and headers
and returns the refusal (status, message) or ``None``. ``rest.create_app`` wraps it in ASGI.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import ConfigError

ALLOWED_HOSTS_ENV = "MEM7_SERVER_ALLOWED_HOSTS"
ALLOWED_ORIGINS_ENV = "MEM7_SERVER_ALLOWED_ORIGINS"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_WILDCARD_BINDS = {"", "0.0.0.0", "::", "[::]", "*"}
_EXEMPT_PATHS = frozenset({"/health"})


def split_list(value: str | Iterable[str] | None) -> list[str]:
    """A comma-separated option (or a list) as its stripped, non-empty items."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item and item.strip()]


def _host_name(host: str) -> str:
    """A host as the ``Host`` header names it, without the port: lower-case, IPv6 in brackets."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end != -1 else host
    if host.count(":") == 1:  # name:port
        return host.split(":", 1)[0].rstrip(".")
    if ":" in host:  # a bare IPv6 address
        return f"[{host}]"
    return host


def _origin_of(value: str, where: str) -> str:
    text = value.strip().lower().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path or parts.query or parts.fragment:
        raise ConfigError(f"{where}: {value!r} is not an origin; write it as scheme://host[:port], "
                          "e.g. http://localhost:3000")
    return f"{parts.scheme}://{parts.netloc}"


def is_loopback(host: str) -> bool:
    """True when listening on ``host`` is reachable from this machine only (every address it names is loopback)."""
    name = host.strip().strip("[]")
    if name.lower() in {"localhost", "localhost."}:
        return True
    if name in _WILDCARD_BINDS:
        return False
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses)


@dataclass(frozen=True, slots=True)
class RequestGuard:
    """Which ``Host`` names a request may use (``None``: any) and which other origins may change state."""

    allowed_hosts: frozenset[str] | None = frozenset(LOOPBACK_HOSTS)
    allowed_origins: frozenset[str] = frozenset()

    @classmethod
    def for_bind(
        cls, bind_host: str = "127.0.0.1", *, allowed_hosts: str | Iterable[str] | None = None,
        allowed_origins: str | Iterable[str] | None = None,
    ) -> RequestGuard:
        """The guard of a server listening on ``bind_host``.

        :param allowed_hosts: host names (comma-separated or a list) allowed besides the loopback
            names and ``bind_host``; ``*`` allows any host (no DNS-rebinding protection).
        :param allowed_origins: other origins (``scheme://host[:port]``) that may send POST / PUT /
            PATCH / DELETE from a browser. ``*`` is refused: that would be no check at all.
        :raises ConfigError: an origin that is not ``scheme://host[:port]``, or ``*`` among origins.
        """
        hosts = split_list(allowed_hosts)
        names: frozenset[str] | None
        if "*" in hosts:
            names = None
        else:
            found = set(LOOPBACK_HOSTS) | {_host_name(h) for h in hosts}
            if bind_host.strip() not in _WILDCARD_BINDS:
                found.add(_host_name(bind_host))
            names = frozenset(found)
        origins = split_list(allowed_origins)
        if "*" in origins:
            raise ConfigError("--allowed-origins: '*' would let any web page change the memories; "
                              "name each origin (scheme://host[:port])")
        return cls(names, frozenset(_origin_of(o, "--allowed-origins") for o in origins))

    def check(self, method: str, path: str, headers: Mapping[str, str]) -> tuple[int, str] | None:
        """The refusal of a request as ``(status, message)``, or ``None`` when it may proceed.

        ``headers`` maps lower-case header names to values.
        """
        host = headers.get("host", "")
        if self.allowed_hosts is not None and path not in _EXEMPT_PATHS:
            name = _host_name(host)
            if name not in self.allowed_hosts:
                return 400, (f"Host {name or '(none)'!r} is not allowed by this server; add it with --allowed-hosts "
                             f"({ALLOWED_HOSTS_ENV}) if clients reach the server by that name")
        if method.upper() not in UNSAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None:
            given = origin.strip().lower().rstrip("/")
            parts = urlsplit(given)
            same = parts.scheme in {"http", "https"} and bool(host) and parts.netloc == host.strip().lower()
            if same or given in self.allowed_origins:
                return None
            return 403, (f"cross-origin {method.upper()} from {origin.strip()!r} refused; allow that origin with "
                         f"--allowed-origins ({ALLOWED_ORIGINS_ENV})")
        site = headers.get("sec-fetch-site", "").strip().lower()
        if site in {"cross-site", "same-site"}:
            return 403, (f"{method.upper()} from another site (Sec-Fetch-Site: {site}) refused; a browser page may "
                         f"change memories only from an origin allowed with --allowed-origins ({ALLOWED_ORIGINS_ENV})")
        return None


__all__ = [
    "ALLOWED_HOSTS_ENV",
    "ALLOWED_ORIGINS_ENV",
    "LOOPBACK_HOSTS",
    "RequestGuard",
    "is_loopback",
    "split_list",
]
