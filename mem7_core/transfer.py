"""Bulk import and export of memories as JSON Lines (``mem7 import`` / ``mem7 export``).

One JSON object per line; blank lines and lines starting with ``#`` are skipped. A line is one of:

- **a conversation**: ``{"messages": [{"role": "user", "content": "..."}, ...], "user_id": "alice"}``,
  added as one ``add()`` call (facts extracted by the LLM with ``infer``, else stored verbatim);
- **a message**: ``{"role": "user", "content": "...", "user_id": "alice"}``, added like a
  one-message conversation;
- **a memory**, as ``export`` writes it: ``{"id": "...", "memory": "...", "user_id": "alice",
  "created_at": "...", ...}``, stored verbatim with its id, timestamps (converted to UTC), metadata
  and access counters (no LLM; re-embedded), and an ADD history event.

Every kind may carry ``user_id`` / ``agent_id`` / ``run_id`` (a line without any takes the scope
given on the command line) and ``metadata``; conversations and messages may carry ``memory_type``
and ``timestamp`` (when they happened: ``add(timestamp=...)``; ISO-8601, no offset = UTC, or Unix
epoch seconds).

The whole file is read and checked before anything is written, so a bad line (named by its number
and field) stops the import with nothing half-done; ``continue_on_error`` skips bad lines instead
and reports them. Exporting, then importing the file into an empty store, then exporting again
gives the same file: that is the round trip ``tests/test_cli_import_export.py`` checks.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .engine.restore import DERIVED_FIELDS, OnConflict, RestoreItem
from .errors import MemoryConflictError
from .ids import iso, parse_instant
from .models import SCOPE_KEYS, memory_type_of
from .unicode_safe import check_str, check_tree, scrub

if TYPE_CHECKING:
    from .engine.sync import Memory

EXPORT_FIELDS: tuple[str, ...] = tuple(f for f in RestoreItem.model_fields if f not in DERIVED_FIELDS)
"""What one exported memory carries, in this order: the fields of
:class:`~mem7_core.engine.restore.RestoreItem` (``text``, ``hash`` and ``score`` are derived)."""
IMPORT_BATCH = 64
"""Memory lines embedded and written per batch (one embedding call, one history batch)."""

Progress = Callable[[int], None]
"""Called with the number of lines just finished."""


class _Line(BaseModel):
    """What a conversation and a message line share (a memory line is a :class:`RestoreItem`)."""

    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(None, min_length=1)
    agent_id: str | None = Field(None, min_length=1)
    run_id: str | None = Field(None, min_length=1)
    metadata: dict[str, Any] | None = None
    memory_type: str | None = None
    timestamp: str | None = None
    """When the conversation happened (``add(timestamp=...)``), in the canonical UTC form."""

    @field_validator("memory_type")
    @classmethod
    def _type(cls, v: str | None) -> str | None:
        return memory_type_of(v)

    @field_validator("timestamp", mode="before")
    @classmethod
    def _timestamp(cls, v: Any) -> str | None:
        return None if v is None else iso(parse_instant(v, "timestamp"))


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant", "system"]
    content: Any
    name: str | None = None

    @field_validator("content")
    @classmethod
    def _content(cls, v: Any) -> Any:
        if isinstance(v, str) or (isinstance(v, list) and all(isinstance(p, dict) for p in v)):
            return v
        raise ValueError("must be a string or a list of content parts ({\"type\": \"text\", ...})")


class ConversationLine(_Line):
    """``{"messages": [...]}``: one ``add()``."""

    messages: list[_Message] = Field(min_length=1)


class MessageLine(_Message, _Line):
    """``{"role": ..., "content": ...}``: a one-message ``add()``."""


MemoryLine = RestoreItem
"""An exported memory, stored as it is: the model ``import_memories`` checks items with
(``text``/``hash``/``score`` are accepted and ignored)."""


Line = ConversationLine | MessageLine | MemoryLine
_MEMORY_ONLY = frozenset(MemoryLine.model_fields) - frozenset(ConversationLine.model_fields) - frozenset(
    MessageLine.model_fields
) - {"memory", "text"}
"""Fields only an exported memory has (``id``, ``created_at``...): a line with one is a memory line, so one
missing its ``memory`` is told ``memory: Field required`` rather than that its kind is unknown."""


class ImportFormatError(ValueError):
    """Lines of an import file that are not valid; ``problems`` has one ``line N: field: why`` each."""

    def __init__(self, problems: list[str], total: int) -> None:
        self.problems = problems
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        super().__init__(
            f"{len(problems)} bad line(s) of {total}; nothing was imported (--continue-on-error skips them):\n  "
            + "\n  ".join(shown)
        )


@dataclass(slots=True)
class ParsedLine:
    number: int
    line: Line
    scope: dict[str, str]


@dataclass(slots=True)
class ImportReport:
    """What an import did: lines imported, memories written, and the lines skipped with why."""

    lines: int = 0
    imported: int = 0
    memories: int = 0
    already_present: int = 0
    replaced: int = 0
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"imported {self.imported} of {self.lines} line(s)", f"{self.memories} memory change(s)"]
        if self.already_present:
            parts.append(f"{self.already_present} already present (same id, left as they were)")
        if self.replaced:
            parts.append(f"{self.replaced} replaced (same id, overwritten)")
        if self.skipped:
            parts.append(f"{len(self.skipped)} line(s) skipped")
        return ", ".join(parts)


# ---------------------------------------------------------------------- reading
def parse_line(number: int, raw: str, default_scope: Mapping[str, str]) -> ParsedLine | None:
    """One line of the file, validated (``None`` for a blank or comment line).

    :raises ValueError: ``line N: field: problem`` for the first kind the line looks like.
    """
    text = (raw.removeprefix("\ufeff") if number == 1 else raw).strip()  # a BOM (Notepad, PowerShell) is no content
    if not text or text.startswith("#"):
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"line {number}: must be a JSON object, got {type(data).__name__}")
    try:  # valid Unicode only ("\ud800" escapes parse): checked here, before anything is written
        for key, value in data.items():
            check_str(key, f"key {key!a}")
            check_tree(value, key)
    except ValueError as exc:
        raise ValueError(f"line {number}: {exc}") from None
    kind: type[Line]
    if "messages" in data:
        kind = ConversationLine
    elif "memory" in data:
        kind = MemoryLine
    elif "content" in data:
        kind = MessageLine
    elif not _MEMORY_ONLY.isdisjoint(data):  # an exported memory that lost its text (an export has "role" too)
        kind = MemoryLine
    elif "role" in data:
        kind = MessageLine
    else:
        raise ValueError(
            f"line {number}: unknown kind of line: give 'messages' (a conversation), 'role' and 'content' "
            "(a message) or 'memory' (an exported memory)"
        )
    try:
        line = kind.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"line {number}: " + "; ".join(_problem(err) for err in exc.errors())) from None
    own = {k: getattr(line, k) for k in SCOPE_KEYS if getattr(line, k)}
    scope = own or {k: v for k, v in default_scope.items() if v}
    if not scope:
        raise ValueError(
            f"line {number}: no scope: give user_id, agent_id or run_id on the line, or --user/--agent/--run"
        )
    return ParsedLine(number, line, scope)


def _problem(err: Any) -> str:
    """One validation error as ``field: why``; a check's message that names its field itself
    (``metadata key 'user_id' is reserved ...``) is shown as it is."""
    where = ".".join(str(p) for p in err["loc"]) or "(line)"
    cause = err.get("ctx", {}).get("error") if err["type"] == "value_error" else None
    if isinstance(cause, ValueError) and str(cause).startswith(where):
        return str(cause)
    return f"{where}: {err['msg']}"


def read_lines(
    lines: Iterable[str], default_scope: Mapping[str, str], *, continue_on_error: bool = False
) -> tuple[list[ParsedLine], list[str]]:
    """Every line checked before anything is written.

    :returns: the valid lines and, with ``continue_on_error``, the problems of the skipped ones.
    :raises ImportFormatError: listing every bad line (without ``continue_on_error``).
    """
    parsed: list[ParsedLine] = []
    problems: list[str] = []
    total = 0
    for number, raw in enumerate(lines, 1):
        try:
            item = parse_line(number, raw, default_scope)
        except ValueError as exc:
            problems.append(str(exc))
            total += 1
            continue
        if item is not None:
            parsed.append(item)
            total += 1
    if problems and not continue_on_error:
        raise ImportFormatError(problems, total)
    return parsed, problems


class ImportConflictError(MemoryConflictError):
    """``on_conflict="error"``: memory lines whose id is already stored, or given on an earlier line;
    ``problems`` has one ``line N: id ...`` each. Raised before anything is written."""

    def __init__(self, problems: list[str], ids: list[str]) -> None:
        super().__init__(ids)
        self.problems = problems
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        self.args = (
            f"{len(problems)} line(s) name an id already stored or given on an earlier line; nothing was imported "
            "(--on-conflict skip keeps the stored memories, replace overwrites them):\n  " + "\n  ".join(shown),
        )


def check_conflicts(
    memory: Memory, parsed: list[ParsedLine], *, continue_on_error: bool = False
) -> tuple[list[ParsedLine], list[str]]:
    """For ``on_conflict="error"``: every memory line whose id is stored (or on an earlier line), found
    before anything is written.

    :returns: the lines without those and, with ``continue_on_error``, a problem for each one left out.
    :raises ImportConflictError: naming each such line (without ``continue_on_error``).
    """
    first: dict[str, int] = {}
    problems: dict[int, str] = {}
    ids: list[str] = []
    for p in parsed:
        mem_id = p.line.id if isinstance(p.line, MemoryLine) else None
        if mem_id is None:
            continue
        if mem_id in first:
            problems[p.number] = f"line {p.number}: id {mem_id!r} is also line {first[mem_id]}"
        elif memory.get(mem_id) is not None:
            problems[p.number] = f"line {p.number}: id {mem_id!r} is already stored"
        else:
            first[mem_id] = p.number
            continue
        ids.append(mem_id)
    if problems and not continue_on_error:
        raise ImportConflictError(list(problems.values()), ids)
    return [p for p in parsed if p.number not in problems], list(problems.values())


# ---------------------------------------------------------------------- writing
def import_lines(
    memory: Memory,
    parsed: list[ParsedLine],
    *,
    infer: bool = True,
    on_conflict: OnConflict = "skip",
    continue_on_error: bool = False,
    progress: Progress | None = None,
    skipped: list[str] | None = None,
) -> ImportReport:
    """Write checked lines through the engine's public API, in file order.

    Conversations and messages go through ``add()``; runs of memory lines go through
    ``import_memories()`` in batches (one embedding call each), keeping their ids and timestamps;
    an id already stored is left as it is (``on_conflict="skip"``), overwritten (``"replace"``; the
    same id twice in the file: the later line wins) or, with ``"error"``, refused before anything is
    written (:func:`check_conflicts`). A failing line stops the import (the lines before it stay
    imported, as the error says) unless ``continue_on_error``.
    """
    if on_conflict == "error":
        parsed, conflicts = check_conflicts(memory, parsed, continue_on_error=continue_on_error)
        skipped = [*(skipped or []), *conflicts]
    report = ImportReport(lines=len(parsed) + len(skipped or []), skipped=list(skipped or []))
    batch: list[ParsedLine] = []
    at = 0  # the first line of the write in progress (said if Ctrl-C stops the import)

    def flush() -> None:
        nonlocal at
        if not batch:
            return
        todo = list(batch)
        batch.clear()
        at = todo[0].number
        try:
            result = memory.import_memories([_item(p) for p in todo], on_conflict=on_conflict, batch_size=IMPORT_BATCH)
        except Exception as exc:
            if not continue_on_error:
                raise _stopped(report, todo[0].number, exc) from exc
            report.skipped.extend(f"line {p.number}: {type(exc).__name__}: {exc}" for p in todo)
        else:
            report.imported += len(todo)
            report.memories += result["imported"] + result["replaced"]
            report.replaced += result["replaced"]
            report.already_present += result["skipped"]
        if progress:
            progress(len(todo))

    try:
        for item in parsed:
            if isinstance(item.line, MemoryLine):
                mem_id = item.line.id
                if mem_id is not None and any(isinstance(p.line, MemoryLine) and p.line.id == mem_id for p in batch):
                    flush()  # the same id twice: the second is "already present" (or replaces it), as in separate runs
                batch.append(item)
                if len(batch) >= IMPORT_BATCH:
                    flush()
                continue
            flush()
            at = item.number
            try:
                result = _add(memory, item, infer)
            except Exception as exc:
                if not continue_on_error:
                    raise _stopped(report, item.number, exc) from exc
                report.skipped.append(f"line {item.number}: {type(exc).__name__}: {exc}")
            else:
                report.imported += 1
                report.memories += len(result["results"])
            if progress:
                progress(1)
        flush()
    except KeyboardInterrupt:
        raise ImportInterrupted(report, at) from None
    return report


class ImportStopped(RuntimeError):
    """A line failed while writing; the lines before it were imported (``report`` says how many)."""

    def __init__(self, report: ImportReport, number: int, exc: BaseException) -> None:
        self.report = report
        self.line_number = number
        super().__init__(
            f"line {number} failed ({type(exc).__name__}: {exc}); lines before it were imported "
            f"({report.summary()}), it and the lines after it were not"
        )


class ImportInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the import: says where, so the rest can be imported without doing it twice."""

    def __init__(self, report: ImportReport, number: int) -> None:
        self.report = report
        self.line_number = number
        super().__init__(
            f"at line {number}: the lines before it were imported ({report.summary()}); the write in progress "
            f"(from line {number}) may or may not be stored, the lines after it were not"
        )


def _stopped(report: ImportReport, number: int, exc: BaseException) -> ImportStopped:
    return ImportStopped(report, number, exc)


def _add(memory: Memory, item: ParsedLine, infer: bool) -> Any:
    line = item.line
    if isinstance(line, ConversationLine):
        messages = [m.model_dump(exclude_none=True) for m in line.messages]
    else:
        assert isinstance(line, MessageLine)
        messages = [{"role": line.role, "content": line.content, **({"name": line.name} if line.name else {})}]
    return memory.add(
        messages, infer=infer and memory.engine.llm is not None, metadata=line.metadata, memory_type=line.memory_type,
        timestamp=line.timestamp, **item.scope,
    )


def _item(parsed: ParsedLine) -> dict[str, Any]:
    """A memory line as an ``import_memories`` item, in the scope the line resolved to."""
    item = parsed.line.model_dump(exclude_none=True, exclude=set(SCOPE_KEYS))
    return {**item, **parsed.scope}


# ---------------------------------------------------------------------- export
def export_lines(memory: Memory, scope: Mapping[str, str] | None = None) -> Iterator[str]:
    """Every memory (of ``scope``, or of the whole store), oldest first, one JSON line each.

    Metadata keys are written sorted, at every depth: stores keep them in different orders
    (PostgreSQL's ``jsonb`` reorders them), and the same memories must give the same file from any
    store, so an export after moving to another one can be compared with ``diff``.
    """
    out: list[str] = []
    for item in memory.export_memories(**(scope or {})):
        row = scrub({k: v for k, v in item.items() if v is not None})  # stored bad Unicode: escaped
        if "metadata" in row:
            row["metadata"] = _sorted_keys(row["metadata"])
        out.append(json.dumps({k: row[k] for k in EXPORT_FIELDS if k in row}, ensure_ascii=False, sort_keys=False))
    return iter(out)


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def write_export(path: str | os.PathLike[str], rows: Iterable[str]) -> int:
    """Write export lines to ``path`` all or nothing: into a temporary file beside it, renamed over
    ``path`` at the end, so a failure (a full disk, an error while reading) never leaves a partial file.

    :returns: the number of lines written.
    :raises OSError: the file could not be written (``path`` is left as it was).
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            count = 0
            for row in rows:
                out.write(row + "\n")
                count += 1
            out.flush()
            os.fsync(out.fileno())
        try:  # the permissions open() would have given (mkstemp makes 0600)
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return count


__all__ = [
    "EXPORT_FIELDS",
    "ConversationLine",
    "ImportConflictError",
    "ImportFormatError",
    "ImportInterrupted",
    "ImportReport",
    "ImportStopped",
    "MemoryLine",
    "MessageLine",
    "ParsedLine",
    "check_conflicts",
    "export_lines",
    "import_lines",
    "parse_line",
    "read_lines",
    "write_export",
]
