"""``mem7``: the command line interface.

Commands: ``add``, ``search``, ``list``, ``get``, ``history``, ``update``, ``delete``, ``plugins``,
``import``, ``export`` and ``config check`` (in :mod:`mem7_core.cli_commands`),
and the servers ``serve`` (REST) and ``mcp`` (MCP over stdio), which need their extras.
Without a config file the CLI runs the *embedded default* (no service needed): the local fastembed
embedder, a flat vector store persisted under ``--data-dir`` and SQLite history beside it, plus the
OpenAI LLM when ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is set. A config file (``--config`` or
``MEM7_CONFIG``) and ``MEM7_*`` variables override that default.

This module imports only the standard library at import time; the engine, pydantic and the
plugins are imported when a command needs them, so ``mem7 --help`` stays fast.

Exit codes: 0 success, 1 runtime failure (not found, a provider failing), 2 usage or configuration
error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import MemoryConfig
    from .engine.sync import Memory
    from .results import ScoreStep

PROG = "mem7"
EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DATA_DIR_ENV = "MEM7_DATA_DIR"
USER_ID_ENV = "MEM7_USER_ID"
LOG_LEVEL_ENV = "MEM7_LOG_LEVEL"
SERVER_ENV_PREFIX = "MEM7_SERVER_"
DEFAULT_DATA_DIR = "~/.mem7"
MEMORY_TYPE_CHOICES = ("factual", "preference", "procedural", "episodic")


class UsageError(Exception):
    """Bad command-line input found after parsing (exit 2)."""


# ------------------------------------------------------------------------------------ helpers
def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _validation_problems(validation: Any) -> str:
    try:
        return "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ())) or '(root)'}: {err.get('msg', '')}"
            + (f" (got {err['input']!r})" if err.get("type") != "missing" and _short_input(err) else "")
            for err in validation.errors()
        )
    except Exception:  # pragma: no cover - fall back to the raw message
        return str(validation)


def _is_validation_error(exc: BaseException | None) -> bool:
    return exc is not None and type(exc).__name__ == "ValidationError" and hasattr(exc, "errors")


def _describe(exc: BaseException) -> str:
    """One readable line for an error; pydantic validation errors become ``field: problem`` lists."""
    if _is_validation_error(exc):
        title = getattr(exc, "title", "")
        return _one_line(f"invalid config{f' ({title})' if title else ''}: {_validation_problems(exc)}")
    message = str(exc) or type(exc).__name__
    head = message.split("\n", 1)[0]
    cut = re.search(r"\d+ validation errors? for ", head)
    if _is_validation_error(exc.__cause__) and cut:
        # "Invalid mem7 config: 1 validation error for MemoryConfig\n..." -> keep our prefix, tidy the rest
        # (a message that already names each field, a provider's config error, is kept as it is)
        return _one_line(f"{head[: cut.start()].rstrip(' :')}: {_validation_problems(exc.__cause__)}")
    if isinstance(getattr(exc, "problems", None), list):  # one problem per line (a bad import file): kept
        head, *rest = [line for line in message.splitlines() if line.strip()] or [message]
        return "\n".join([_one_line(head), *(f"  {_one_line(line)}" for line in rest)])
    return _one_line(message)


def _short_input(err: dict[str, Any]) -> bool:
    value = err.get("input")
    return isinstance(value, (str, int, float, bool)) and len(repr(value)) <= 60


def _parse_json_object(raw: str | None, option: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{option} is not valid JSON ({exc.msg} at position {exc.pos}): {raw!r}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{option} must be a JSON object, e.g. '{{\"topic\": \"food\"}}', got {raw!r}")
    return value


def _finite_float(raw: str) -> float:
    """An option's number: ``float`` without ``nan`` / ``inf`` (a NaN threshold silently drops everything)."""
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, e.g. 0.3; got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number, e.g. 0.3; got {raw!r}")
    return value


def default_user_id() -> str:
    """``MEM7_USER_ID``, else the OS user name, else ``"default"``."""
    env = os.environ.get(USER_ID_ENV, "").strip()
    if env:
        return env
    try:
        name = getpass.getuser()
    except Exception:  # no user name in some containers
        name = ""
    return name or "default"


def _explicit_scope(args: argparse.Namespace) -> dict[str, str]:
    return {
        key: value
        for key, value in (("user_id", getattr(args, "user", None)), ("agent_id", getattr(args, "agent", None)),
                           ("run_id", getattr(args, "run", None)))
        if value is not None
    }


def _scope(args: argparse.Namespace, filters: dict[str, Any] | None = None) -> dict[str, str]:
    """The scope given on the command line, or the default user when none is (nor any id in
    ``--filters``, which counts as scope: ``--filters '{"user_id": "bob"}'`` is bob's)."""
    scope = _explicit_scope(args)
    if scope:
        return scope
    from .filters import split_scope
    from .models import SCOPE_KEYS

    return {} if split_scope(filters, SCOPE_KEYS)[0] else {"user_id": default_user_id()}


def _dump(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json", exclude_none=True)
    if isinstance(obj, list):
        return [_dump(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _dump(v) for k, v in obj.items()}
    return obj


def _print_json(obj: Any) -> None:
    print(json.dumps(_dump(obj), indent=2, ensure_ascii=False))


def _note(message: str) -> None:
    """A one-line notice on stderr (not an error)."""
    print(f"{PROG}: {_one_line(message)}", file=sys.stderr)


# ------------------------------------------------------------------------------------ logging
class _LogState:
    """Configure the ``mem7`` logger for one run and put it back afterwards (main() runs in tests too)."""

    def __init__(self, verbosity: int) -> None:
        self.logger = logging.getLogger("mem7")
        self.saved = (self.logger.level, self.logger.propagate, list(self.logger.handlers))
        env_level = os.environ.get(LOG_LEVEL_ENV, "").strip().upper()
        if verbosity >= 2:
            level = logging.DEBUG
        elif verbosity == 1:
            level = logging.INFO
        elif env_level:
            level = logging.getLevelName(env_level) if not env_level.isdigit() else int(env_level)
            if not isinstance(level, int):
                level = logging.ERROR
        else:
            level = logging.ERROR  # the CLI reports problems itself; engine warnings would repeat them
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s %(name)s: %(message)s"))
        self.logger.handlers = [handler]
        self.logger.setLevel(level)
        self.logger.propagate = False

    def restore(self) -> None:
        level, propagate, handlers = self.saved
        self.logger.handlers = handlers
        self.logger.setLevel(level)
        self.logger.propagate = propagate


# ------------------------------------------------------------------------------------ engine
def resolve_config(args: argparse.Namespace, *, reading: bool = False) -> MemoryConfig:
    """``--config`` (else ``MEM7_CONFIG``) and ``MEM7_*`` variables over the embedded default.

    :param reading: the command only reads: the embedded default's store opens a data dir this
        process cannot write for reading, instead of refusing it (``read_only_ok``)."""
    from .config import MemoryConfig, load_config

    data_dir = args.data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    base = MemoryConfig.embedded(data_dir, **({"vector_store": {"config": {"read_only_ok": True}}} if reading else {}))
    # MEM7_SERVER_* configure `mem7 serve` (tokens, host, port, workers), not the engine.
    environ = {k: v for k, v in os.environ.items() if not k.startswith(SERVER_ENV_PREFIX)}
    return load_config(args.config, base=base, environ=environ)


def _open(args: argparse.Namespace, *, reading: bool = False) -> Memory:
    from .engine.sync import Memory
    from .errors import ConfigError

    config = resolve_config(args, reading=reading)
    try:
        return Memory(config)
    except ConfigError as exc:
        data_dir = args.data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
        embedded = Path(data_dir).expanduser() / "vectors"
        if not isinstance(exc.__cause__, OSError) or config.vector_store.config.get("path") != str(embedded):
            raise
        cause = exc.__cause__  # the embedded default's data dir: name the CLI's ways out, not the config key
        readers = "" if not isinstance(cause, PermissionError) else (
            " (list, search, get, history and export read it as it is)")
        raise UsageError(
            f"cannot use the data dir {data_dir!r} ({cause.strerror or cause}: {cause.filename}); give a writable "
            f"directory with --data-dir DIR or ${DATA_DIR_ENV}{readers}"
        ) from exc


def _with_memory(args: argparse.Namespace, work: Callable[[Memory], int], *, reading: bool = False) -> int:
    memory = _open(args, reading=reading)
    try:
        return work(memory)
    finally:
        memory.close()


# ------------------------------------------------------------------------------------ commands
def _read_text(parts: Sequence[str], what: str) -> str:
    if not parts or list(parts) == ["-"]:
        if sys.stdin is None or (not parts and sys.stdin.isatty()):
            raise UsageError(f"no {what} given: pass it as arguments, or pipe it in with '-'")
        text = sys.stdin.read()
    else:
        text = " ".join(parts)
    if not text.strip():
        raise UsageError(f"the {what} is empty")
    return text.strip()


def _print_actions(results: Sequence[Any]) -> None:
    if not results:
        print("no changes (nothing new to remember)")
        return
    for r in results:
        print(f"{r['event']:<6}  {r['id']}  {r['memory']}")


def cmd_add(args: argparse.Namespace) -> int:
    text = _read_text(args.text, "text to remember")
    metadata = _parse_json_object(args.metadata, "--metadata")
    scope = _scope(args)
    at = _instant_arg(args.at)
    if at is not None:
        from .ids import parse_instant

        try:
            parse_instant(at, "--at")
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def work(memory: Memory) -> int:
        from .errors import LLMOutputError, ProviderError

        kwargs: dict[str, Any] = dict(scope, metadata=metadata, memory_type=args.type, timestamp=at)
        infer = not args.no_infer
        no_llm = infer and memory.engine.llm is None
        if no_llm:
            infer = False
        try:
            result = memory.add(text, infer=infer, **kwargs)
            if no_llm:  # said after the add, so a failing add prints only its error
                _note("no LLM configured (set OPENAI_API_KEY or configure llm); storing verbatim")
        except ProviderError as exc:
            if not infer:
                raise
            # Keep the input: store it verbatim (if that fails too, its error is the one reported).
            result = memory.add(text, infer=False, **kwargs)
            what = "gave no usable answer" if isinstance(exc, LLMOutputError) else "failed"
            _note(f"LLM {what} ({_describe(exc)}); storing verbatim")
        if args.json:
            _print_json(result)
        else:
            _print_actions(result["results"])
        return EXIT_OK

    return _with_memory(args, work)


def _instant_arg(value: str | None) -> str | float | None:
    """A time option as the engine takes it: digits are Unix epoch seconds, anything else ISO-8601
    text — except eight digits that form a calendar date, read as ISO-8601's basic ``YYYYMMDD``
    (``20230508`` is 8 May 2023, not 23 August 1970)."""
    if value is not None and re.fullmatch(r"\s*-?\d+(?:\.\d+)?\s*", value):
        digits = value.strip()
        if len(digits) == 8 and digits.isdigit():
            try:
                date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
            except ValueError:
                pass
            else:
                return digits
        return float(value)
    return value


def cmd_search(args: argparse.Namespace) -> int:
    query = _read_text(args.query, "query")
    filters = _parse_json_object(args.filters, "--filters")
    scope = _scope(args, filters)

    def work(memory: Memory) -> int:
        result = memory.search(
            query, limit=args.limit, filters=filters, threshold=args.threshold, now=_instant_arg(args.now),
            explain=args.explain, **scope,
        )
        if args.json:
            _print_json(result)
            return EXIT_OK
        if not result["results"]:
            print("no memories found")
        for rank, item in enumerate(result["results"], 1):
            print(f"{rank:>3}  {item['score']:.4f}  {item['id']}  {item['memory']}")
            if "score_steps" in item:
                print(f"{'':>5}= {_steps_text(item['score_steps'])}")
        return EXIT_OK

    return _with_memory(args, work, reading=True)


_OP_SIGN = {"add": "+", "multiply": "×", "set": "→"}


def _steps_text(steps: list[ScoreStep]) -> str:
    """``dense 0.5136 + keyword 1.0000 × decay 0.9000``: a result's score steps on one line."""
    text = " ".join(f"{_OP_SIGN[s['op']]} {s['step']} {s['value']:.4f}" for s in steps)
    return text[2:] if text.startswith("+ ") else text


def cmd_list(args: argparse.Namespace) -> int:
    filters = _parse_json_object(args.filters, "--filters")
    scope = _scope(args, filters)

    def work(memory: Memory) -> int:
        result = memory.get_all(limit=args.limit, filters=filters, **scope)
        if args.json:
            _print_json(result)
            return EXIT_OK
        if not result["results"]:
            print("no memories")
        for item in result["results"]:
            print(f"{item['id']}  {item['created_at'] or '':<32}  {item['memory']}")
        return EXIT_OK

    return _with_memory(args, work, reading=True)


def cmd_get(args: argparse.Namespace) -> int:
    def work(memory: Memory) -> int:
        from .errors import MemoryNotFoundError

        item = memory.get(args.id, **_explicit_scope(args))
        if item is None:
            raise MemoryNotFoundError(args.id)
        if args.json:
            _print_json(item)
            return EXIT_OK
        for key, value in item.items():
            if value is None:
                continue
            if isinstance(value, dict):
                value = json.dumps(value, ensure_ascii=False)
            print(f"{key + ':':<17} {value}")
        return EXIT_OK

    return _with_memory(args, work, reading=True)


def cmd_history(args: argparse.Namespace) -> int:
    def work(memory: Memory) -> int:
        events = memory.history(args.id)
        if args.json:
            _print_json(events)
            return EXIT_OK
        if not events:
            print(f"no history for {args.id}")
        for ev in events:
            if ev["event"] == "ADD":
                change = ev["new_memory"] or ""
            elif ev["event"] == "UPDATE":
                change = f"{ev['old_memory'] or ''} -> {ev['new_memory'] or ''}"
            else:
                change = ev["old_memory"] or ""
            stated = ev.get("stated_at")  # an add given --at / timestamp: when it says it happened
            print(f"{ev['created_at']}  {ev['event']:<6}  {change}" + (f"  (said at {stated})" if stated else ""))
        return EXIT_OK

    return _with_memory(args, work, reading=True)


def _print_message(args: argparse.Namespace, result: Mapping[str, Any]) -> int:
    """A ``{"message"}`` result (update, delete, reset): as JSON with ``--json``, else its message."""
    if args.json:
        _print_json(result)
    else:
        print(result["message"])
    return EXIT_OK


def cmd_update(args: argparse.Namespace) -> int:
    text = _read_text(args.text, "new text")
    metadata = _parse_json_object(args.metadata, "--metadata")

    def work(memory: Memory) -> int:
        return _print_message(args, memory.update(args.id, text, metadata=metadata, **_explicit_scope(args)))

    return _with_memory(args, work)


def cmd_delete(args: argparse.Namespace) -> int:
    if args.all and args.id:
        raise UsageError("give either a memory ID or --all, not both")
    if not args.all and not args.id:
        raise UsageError("give the ID of the memory to delete, or --all with --user/--agent/--run")
    if args.filters is not None and not args.all:
        raise UsageError("--filters selects memories for delete --all; to delete one memory give only its ID")
    filters = _parse_json_object(args.filters, "--filters")
    scope = _explicit_scope(args)
    if args.all and not scope:
        raise UsageError("delete --all needs an explicit --user, --agent or --run (the default user is not assumed)")

    def work(memory: Memory) -> int:
        if args.all:
            result = memory.delete_all(filters=filters, **scope)
        else:
            result = memory.delete(args.id, **scope)
        return _print_message(args, result)

    return _with_memory(args, work)


def cmd_reset(args: argparse.Namespace) -> int:
    if not args.yes:
        raise UsageError("reset deletes every memory and all history of the store (every scope); "
                         "pass --yes to do it (mem7 export -o FILE first keeps a copy)")

    def work(memory: Memory) -> int:
        return _print_message(args, memory.reset())

    return _with_memory(args, work)


def _entry_points_by_name() -> dict[str, tuple[str, str, str]]:
    """Entry-point name → (distribution, version, module) for the ``mem7`` group."""
    from importlib.metadata import entry_points

    from .plugins import ENTRY_POINT_GROUP

    out: dict[str, tuple[str, str, str]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in out:
            continue
        dist = ep.dist
        out[ep.name] = (dist.name if dist else "?", dist.version if dist else "?", ep.value)
    return out


def cmd_plugins(args: argparse.Namespace) -> int:
    from . import __version__
    from .plugins import PluginRegistry

    registry = PluginRegistry()
    providers = registry.providers()
    eps = _entry_points_by_name()

    def source(plugin: str | None) -> dict[str, str]:
        if plugin == "mem7_core":
            return {"plugin": "mem7_core", "distribution": "mem7-core", "version": __version__,
                    "module": "mem7_core.builtin"}
        dist, version, module = eps.get(plugin or "", ("?", "?", "?"))
        return {"plugin": plugin or "?", "distribution": dist, "version": version, "module": module}

    listing: dict[str, list[dict[str, Any]]] = {}
    for kind, by_name in providers.items():
        rows: list[dict[str, Any]] = []
        seen: set[type] = set()
        for key in sorted(by_name):
            cls = by_name[key]
            if cls in seen:
                continue
            seen.add(cls)
            primary = cls.name if by_name.get(cls.name) is cls else key
            aliases = sorted(a for a, c in by_name.items() if c is cls and a != primary)
            rows.append({"name": primary, "aliases": aliases, **source(registry.origin(kind, primary))})
        listing[kind] = sorted(rows, key=lambda r: r["name"])
    failed = registry.failed
    blocked = registry.blocked
    missing = _not_installed()

    if args.json:
        _print_json({
            "providers": listing,
            "failed": [{"plugin": name, "error": err} for name, err in sorted(failed.items())],
            "blocked": sorted(blocked),
            "not_installed": missing,
        })
        return EXIT_OK

    for kind, rows in listing.items():
        if not rows:
            continue
        print(f"{kind}:")
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            line = f"  {r['name']:<{width}}  from {r['distribution']} {r['version']} (entry point {r['plugin']})"
            if r["aliases"]:
                line += f"  aliases: {', '.join(r['aliases'])}"
            print(line)
    if failed:
        print("failed to load:")
        for name, err in sorted(failed.items()):
            dist = eps.get(name, ("?",))[0]
            print(f"  {name} ({dist}): {_one_line(err)}")
    if blocked:
        print(f"blocked (MEM7_DISABLE_PLUGINS): {', '.join(sorted(blocked))}")
    if any(missing.values()):
        print("not installed (mem7's own plugins), with the command that adds each:")
        for kind, rows in missing.items():
            if not rows:
                continue
            print(f"  {kind}:")
            table = [(r["name"], r["install"],
                      f"or: {r['install_alone']}" if r["install"] != r["install_alone"] else "",
                      f"aliases: {', '.join(r['aliases'])}" if r["aliases"] else "") for r in rows]
            widths = [max(len(row[i]) for row in table) for i in range(3)]
            for row in table:
                cells = [cell.ljust(w) for cell, w in zip(row, widths)] + [row[3]]
                print(("    " + "  ".join(c for c in cells if c)).rstrip())  # a column no row uses takes no room
    return EXIT_OK


def _not_installed() -> dict[str, list[dict[str, Any]]]:
    """mem7's first-party providers whose distribution is not installed, by kind, with the
    ``pip install`` that adds each (:mod:`mem7_core.catalogue`)."""
    from importlib.metadata import PackageNotFoundError, distribution

    from .catalogue import first_party
    from .providers.base import PROVIDER_KINDS

    out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in PROVIDER_KINDS}
    for plugin in first_party():
        try:
            distribution(plugin.distribution)
            continue
        except PackageNotFoundError:
            pass
        for kind, (name, *aliases) in plugin.provides.items():
            out[kind].append({
                "name": name, "aliases": sorted(aliases), "distribution": plugin.distribution,
                "extra": plugin.extra, "install": plugin.install, "install_alone": plugin.install_alone,
            })
    return {kind: sorted(rows, key=lambda r: r["name"]) for kind, rows in out.items()}


def _missing_extra(exc: ImportError, modules: set[str]) -> bool:
    """True when ``exc`` is one of an optional extra's packages missing (not a bug inside one)."""
    return (exc.name or "").split(".")[0] in modules


def _serve_workers(flag: str | None) -> int:
    """``--workers``, else ``$MEM7_SERVER_WORKERS``, else 1: a whole number >= 1."""
    name, raw = "--workers", flag
    if raw is None:
        name, raw = "MEM7_SERVER_WORKERS", os.environ.get("MEM7_SERVER_WORKERS", "").strip() or "1"
    text = raw.strip()
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"{name} must be a whole number of worker processes, 1 or more; got {raw!r}")
    return int(text)


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import SERVER_EXTRA_HINT

    try:
        from .server import rest
    except ImportError as exc:
        if not _missing_extra(exc, {"fastapi", "uvicorn", "starlette"}):
            raise
        print(SERVER_EXTRA_HINT, file=sys.stderr)
        return EXIT_USAGE
    from .server.auth import TokenTable

    workers = _serve_workers(args.workers)
    tokens = TokenTable.from_sources(tokens_file=args.tokens_file, require_auth=args.require_auth)
    config = resolve_config(args)
    from .server.guard import is_loopback

    if not tokens.enabled and not is_loopback(args.host):
        if not args.insecure_no_auth:  # rest.serve refuses it too; here before the config is opened
            raise UsageError(
                f"refusing to listen on {args.host} without auth: anyone who can reach it could read, change and "
                "reset every memory. Configure tokens (MEM7_SERVER_TOKENS or --tokens-file), listen on 127.0.0.1, "
                "or pass --insecure-no-auth if the network itself is trusted")
        _note(f"serving on {args.host} without auth (--insecure-no-auth): anyone who can reach it can read and "
              "change every memory")
    port = args.port
    if port is None:
        raw = os.environ.get("MEM7_SERVER_PORT", "").strip() or "8000"
        if not raw.isdigit() or int(raw) > 65535:
            raise UsageError(f"MEM7_SERVER_PORT must be a port number (0-65535), got {raw!r}")
        port = int(raw)
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    level = "debug" if args.verbose >= 2 else "info" if args.verbose == 1 else "warning"
    rest.serve(config, host=args.host, port=port, tokens=tokens, log_level=level,
               graceful_timeout=args.graceful_timeout, workers=workers, allowed_hosts=args.allowed_hosts,
               allowed_origins=args.allowed_origins, insecure_no_auth=args.insecure_no_auth,
               max_body_bytes=args.max_body_bytes,
               announce=lambda line: print(f"{PROG} serve: {line}", file=sys.stderr, flush=True))
    return EXIT_OK


def cmd_mcp(args: argparse.Namespace) -> int:
    from .server import MCP_EXTRA_HINT

    try:
        from .server import mcp
    except ImportError as exc:
        if not _missing_extra(exc, {"mcp", "mcp_types"}):
            raise
        print(MCP_EXTRA_HINT, file=sys.stderr)
        return EXIT_USAGE
    pin = {k: v for k, v in (("user_id", args.pin_user), ("agent_id", args.pin_agent), ("run_id", args.pin_run))
           if v is not None}
    for key, value in pin.items():
        if not value.strip():
            raise UsageError(f"--pin-{key[:-3]} needs a non-empty id")
        chosen = _explicit_scope(args).get(key)
        if chosen is not None and chosen != value:
            raise UsageError(f"--{key[:-3]} {chosen} contradicts --pin-{key[:-3]} {value}")
    # pinned: the default scope is the pin (plus any --user/--agent/--run), never the OS user name
    default_scope = {**_explicit_scope(args), **pin} if pin else _scope(args)
    mcp.run_stdio(resolve_config(args), default_scope=default_scope, pin=pin or None)
    return EXIT_OK


# ------------------------------------------------------------------------------------ parser
_SCOPE_HELP = (
    "Scope: --user/--agent/--run; when none is given, the user id is $MEM7_USER_ID or your OS user name."
)


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Global options, accepted before or after the command (sub-parsers don't overwrite with defaults)."""
    d = (lambda value: value) if top else (lambda value: argparse.SUPPRESS)
    parser.add_argument("--config", metavar="PATH", default=d(None),
                        help="config file (.yaml/.toml/.json); default $MEM7_CONFIG, else the embedded default")
    parser.add_argument("--data-dir", metavar="DIR", default=d(None),
                        help=f"where the embedded default keeps its data "
                             f"(default ${DATA_DIR_ENV} or {DEFAULT_DATA_DIR})")
    parser.add_argument("--json", action="store_true", default=d(False), help="print JSON instead of text")
    parser.add_argument("-v", "--verbose", action="count", default=d(0),
                        help=f"log more (-v info, -vv debug; or set ${LOG_LEVEL_ENV}); show tracebacks")


def _add_scope_options(parser: argparse.ArgumentParser, *, default_note: bool = True) -> None:
    group = parser.add_argument_group(
        "scope", _SCOPE_HELP if default_note else "Restrict to a scope (optional; ids are unique anyway)."
    )
    group.add_argument("-u", "--user", metavar="ID", help="user id")
    group.add_argument("--agent", metavar="ID", help="agent id")
    group.add_argument("--run", metavar="ID", help="run (session) id")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="mem7: long-term memory for LLM agents, from the command line.",
        epilog=(
            "Without --config/$MEM7_CONFIG the embedded default is used: local fastembed embeddings, a flat "
            "vector store and SQLite history under --data-dir, and the OpenAI LLM only when OPENAI_API_KEY or "
            "OPENAI_BASE_URL is set (otherwise add stores text verbatim). MEM7_* variables override any "
            "setting, e.g. MEM7_LLM__CONFIG__MODEL=gpt-4.1-mini. " + _SCOPE_HELP
        ),
    )
    _add_global_options(parser, top=True)
    from . import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        name: str, help_text: str, func: Callable[[argparse.Namespace], int], **kw: Any
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, **kw)
        _add_global_options(p, top=False)
        p.set_defaults(func=func)
        return p

    p = command("add", "remember text (LLM fact extraction when an LLM is configured)", cmd_add,
                epilog="Reads stdin when TEXT is '-' or absent.")
    p.add_argument("text", nargs="*", metavar="TEXT", help="what to remember ('-' or nothing: read stdin)")
    p.set_defaults(words_dest="text")
    _add_scope_options(p)
    p.add_argument("--metadata", metavar="JSON", help='metadata stored with each memory, e.g. \'{"topic": "food"}\'')
    p.add_argument("--no-infer", action="store_true", help="store the text verbatim, without the LLM")
    p.add_argument("--type", choices=MEMORY_TYPE_CHOICES, help="memory type of everything stored")
    p.add_argument("--at", metavar="TIME", help="when it was said, for an old conversation (ISO-8601, no offset = "
                   "UTC; a date = its midnight UTC, also as YYYYMMDD; or epoch seconds); default now")

    p = command("search", "find the memories most relevant to a query", cmd_search)
    p.add_argument("query", nargs="*", metavar="QUERY", help="the query ('-' or nothing: read stdin)")
    p.set_defaults(words_dest="query")
    _add_scope_options(p)
    p.add_argument("-n", "--limit", "--top-k", type=int, default=10,
                   help="at most this many results (default 10; --top-k: mem0's name)")
    p.add_argument("--filters", metavar="JSON", help='metadata filters, e.g. \'{"topic": {"in": ["food", "travel"]}}\'')
    p.add_argument("--threshold", type=_finite_float, metavar="X", help="drop results scoring below X")
    p.add_argument("--now", metavar="TIME", help="search as of TIME (ISO-8601, no offset = UTC, or epoch seconds): "
                   "what 'last week' in the query counts from")
    p.add_argument("--explain", action="store_true", help="show how each score was made: its parts (dense, keyword, "
                   "decay, ...) in order; with --json, each result's score_parts and score_steps")

    p = command("list", "list the memories of a scope, oldest first", cmd_list)
    _add_scope_options(p)
    p.add_argument("-n", "--limit", "--top-k", type=int, default=100,
                   help="at most this many (default 100; --top-k: mem0's name)")
    p.add_argument("--filters", metavar="JSON", help="metadata filters (JSON)")

    p = command("get", "show one memory", cmd_get)
    p.add_argument("id", metavar="ID")
    _add_scope_options(p, default_note=False)

    p = command("history", "show the ADD/UPDATE/DELETE events of one memory", cmd_history)
    p.add_argument("id", metavar="ID")

    p = command("update", "replace the text of one memory", cmd_update)
    p.add_argument("id", metavar="ID")
    p.add_argument("text", nargs="*", metavar="TEXT", help="the new text ('-' or nothing: read stdin)")
    p.set_defaults(words_dest="text")
    p.add_argument("--metadata", metavar="JSON", help="metadata merged into the memory's own")
    _add_scope_options(p, default_note=False)

    p = command("delete", "delete one memory, or every memory of a scope with --all", cmd_delete,
                epilog="--all requires an explicit --user, --agent or --run.")
    p.add_argument("id", nargs="?", metavar="ID")
    p.add_argument("--all", action="store_true", help="delete every memory of the given scope")
    p.add_argument("--filters", metavar="JSON", help="with --all: only the scope's memories these metadata filters "
                   "select, e.g. '{\"topic\": \"travel\"}'")
    _add_scope_options(p, default_note=False)

    p = command("reset", "delete every memory and all history of the store (every scope)", cmd_reset)
    p.add_argument("--yes", action="store_true", help="really do it (required)")

    command("plugins", "list installed providers, the plugins they come from, plugins that failed, and mem7's "
            "own plugins not installed with the command that adds each", cmd_plugins)
    from .cli_commands import add_parsers  # import, export, config check (mem7_core/cli_commands.py)

    add_parsers(command, _add_scope_options, _add_global_options)

    p = command("serve", "serve the REST API over HTTP (needs mem7-core[server])", cmd_serve,
                epilog="Auth: MEM7_SERVER_TOKENS (JSON {token: {user_id: ...} | null}, or comma-separated "
                       "tokens) and/or --tokens-file; see docs/server.md. SIGINT/SIGTERM shut down gracefully.")
    p.add_argument("--host", default=os.environ.get("MEM7_SERVER_HOST", "127.0.0.1"),
                   help="address to listen on (default $MEM7_SERVER_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None,
                   help="port (default $MEM7_SERVER_PORT or 8000; 0 picks a free one, printed on stderr)")
    p.add_argument("--tokens-file", metavar="PATH", help="JSON/YAML file mapping bearer token -> pinned scope or null")
    p.add_argument("--require-auth", action="store_true",
                   help="refuse to start without tokens (also $MEM7_SERVER_REQUIRE_AUTH=1)")
    p.add_argument("--graceful-timeout", type=float, default=30.0, metavar="SECS",
                   help="on shutdown, wait this long for in-flight requests (default 30)")
    p.add_argument("--workers", metavar="N", default=None,
                   help="worker processes, each with its own engine (default $MEM7_SERVER_WORKERS or 1); "
                        "only for stores several processes may share, see docs/server.md")
    p.add_argument("--allowed-hosts", metavar="H1,H2", default=os.environ.get("MEM7_SERVER_ALLOWED_HOSTS"),
                   help="Host header names served besides localhost, 127.0.0.1, [::1] and --host; '*' allows any "
                        "(no DNS-rebinding protection). Default $MEM7_SERVER_ALLOWED_HOSTS")
    p.add_argument("--allowed-origins", metavar="O1,O2", default=os.environ.get("MEM7_SERVER_ALLOWED_ORIGINS"),
                   help="browser origins (scheme://host[:port]) allowed to POST/PUT/DELETE besides the server's own "
                        "(default $MEM7_SERVER_ALLOWED_ORIGINS)")
    p.add_argument("--max-body-bytes", metavar="N", default=None,
                   help="larger request bodies get 413 before they are read (default $MEM7_SERVER_MAX_BODY_BYTES "
                        "or 1048576, 1 MiB)")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="allow listening beyond loopback without tokens (anyone who can reach it can do anything)")

    p = command("mcp", "serve memory tools to an MCP client over stdio (needs mem7-core[mcp])", cmd_mcp,
                epilog="For an MCP host, pin the scope (--pin-user ID): the model chooses the tool arguments, "
                       "and without a pin it can read and delete any user's memories by naming their id.")
    _add_scope_options(p)
    group = p.add_argument_group("pin", "Confine every tool call to a scope: a call naming another id is refused, "
                                        "memories of other scopes are not found. Recommended for MCP hosts.")
    group.add_argument("--pin-user", metavar="ID", help="only this user's memories")
    group.add_argument("--pin-agent", metavar="ID", help="only this agent's memories")
    group.add_argument("--pin-run", metavar="ID", help="only this run's memories")
    return parser


# ------------------------------------------------------------------------------------ main
def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parse_args``, except that the words of a command's ``TEXT...`` / ``QUERY...`` may go on
    after an option (``mem7 search where -u alice do I travel``): argparse fills a ``nargs="*"``
    positional from the first run of words only and calls the rest unrecognized."""
    args, extras = parser.parse_known_args(argv)
    dest = getattr(args, "words_dest", None)
    if extras and dest and not any(re.match(r"--?[^\W\d]", word) for word in extras):  # no unknown option
        setattr(args, dest, [*getattr(args, dest), *extras])
    elif extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def _exit_code(exc: BaseException) -> int:
    from .errors import MemoryNotFoundError, ProviderError

    if isinstance(exc, (MemoryNotFoundError, ProviderError)):
        return EXIT_RUNTIME
    if isinstance(exc, (UsageError, ValueError)):  # ConfigError, ScopeError, FilterError, pydantic
        return EXIT_USAGE
    return EXIT_RUNTIME


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the ``mem7`` console script passes it to ``sys.exit``)."""
    parser = build_parser()
    try:
        args = _parse(parser, argv)
    except SystemExit as exc:  # --help, --version, argparse usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    verbosity = args.verbose or 0
    logs = _LogState(verbosity)
    try:
        return int(args.func(args))
    except KeyboardInterrupt as exc:  # an import says where it stopped
        print(f"{PROG}: interrupted" + (f" {exc}" if str(exc) else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `mem7 list | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return EXIT_OK
    except Exception as exc:
        from .errors import Mem7Error

        if verbosity:
            import traceback

            traceback.print_exc(file=sys.stderr)
        expected = isinstance(exc, (Mem7Error, UsageError, ValueError))
        message = _describe(exc) if expected else f"unexpected {type(exc).__name__}: {_describe(exc)}"
        hint = "" if expected or verbosity else " (run with -v for the traceback)"
        print(f"{PROG}: error: {message}{hint}", file=sys.stderr)
        return _exit_code(exc)
    finally:
        logs.restore()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
