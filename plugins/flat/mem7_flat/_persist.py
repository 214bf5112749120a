"""On-disk layout of a persisted flat collection: snapshots plus an append-only write-ahead log.

One directory per collection::

    manifest.json            {"format": 1, "generation": g, "dims": d}   (absent: generation 0)
    snapshot-<g>.npy         float32 matrix, one L2-normalised row per live record
    snapshot-<g>.json        {"ids": [...], "payloads": [...]} aligned with the matrix rows
    wal-<g>.jsonl            every mutation acknowledged since snapshot g, one JSON line per call

A mutation is one line (a whole ``insert`` batch is one line, so a batch is all or nothing), written
with a single ``write`` and fsync'd before the call returns. A crash can only leave a torn *last*
line: it was never acknowledged, so loading drops it and truncates the file there.

A snapshot writes generation g+1 next to g (temp file, fsync, ``os.replace``), starts an empty
``wal-<g+1>.jsonl``, and only then switches ``manifest.json`` atomically; files of other generations
are deleted afterwards (and on load, so a crash half-way through a snapshot leaves only debris that
the next open removes). The manifest switch is the commit point: before it the old generation is
complete, after it the new one is.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from mem7_core.errors import ConfigError, StorageConfigError
from mem7_core.providers.sqlite import storage_error

log = logging.getLogger("mem7.flat")

FORMAT = 1
_GEN_FILE = re.compile(r"^(?:snapshot-(\d+)\.(?:npy|json)|wal-(\d+)\.jsonl)$")


def encode_vector(row: np.ndarray) -> str:
    """A float32 row as base64 of its little-endian bytes (exact, and ~3x smaller than decimal text)."""
    return base64.b64encode(np.ascontiguousarray(row, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray:
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) % 4:
        raise ValueError("vector byte length is not a multiple of 4")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _write_atomic(target: Path, write: Any, *, binary: bool, do_fsync: bool) -> None:
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb" if binary else "w", encoding=None if binary else "utf-8") as fh:
        write(fh)
        fh.flush()
        if do_fsync:
            os.fsync(fh.fileno())
    os.replace(tmp, target)


@dataclass
class Loaded:
    """What is on disk: the snapshot's rows, then the log records to replay over them."""

    dims: int | None = None
    ids: list[str] = field(default_factory=list)
    matrix: np.ndarray | None = None
    payloads: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)


class Persistence:
    """Owns the files of one collection directory. Not thread-safe: the store's lock guards it."""

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self.dir = directory
        self.fsync = fsync
        self.generation = 0
        self.records_since_snapshot = 0
        self._wal: IO[bytes] | None = None

    # ------------------------------------------------------------------ paths
    def _snap_npy(self, gen: int) -> Path:
        return self.dir / f"snapshot-{gen}.npy"

    def _snap_json(self, gen: int) -> Path:
        return self.dir / f"snapshot-{gen}.json"

    def _wal_path(self, gen: int) -> Path:
        return self.dir / f"wal-{gen}.jsonl"

    @property
    def manifest(self) -> Path:
        return self.dir / "manifest.json"

    # ------------------------------------------------------------------ load
    def load(self) -> Loaded:
        """Read the current generation, replay its log (dropping a torn tail), remove debris."""
        self.dir.mkdir(parents=True, exist_ok=True)
        out = Loaded()
        if self.manifest.exists():
            meta = json.loads(self.manifest.read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT:
                raise ValueError(f"flat: {self.dir} has unknown format {meta.get('format')!r}")
            self.generation = int(meta["generation"])
            out.dims = meta.get("dims")
        gen = self.generation
        if gen > 0:
            matrix = np.load(self._snap_npy(gen), allow_pickle=False)
            snap = json.loads(self._snap_json(gen).read_text(encoding="utf-8"))
            out.ids = list(snap["ids"])
            out.payloads = list(snap["payloads"])
            if matrix.ndim != 2 or matrix.shape[0] != len(out.ids) or len(out.payloads) != len(out.ids):
                raise ValueError(f"flat: snapshot {gen} in {self.dir} is inconsistent")
            out.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
            if out.ids and out.dims is None:
                out.dims = int(matrix.shape[1])
        out.records = list(self._read_wal(self._wal_path(gen)))
        self.records_since_snapshot = len(out.records)
        self._remove_debris()
        return out

    def _read_wal(self, path: Path) -> Iterator[dict[str, Any]]:
        if not path.exists():
            return
        data = path.read_bytes()
        pos = 0
        size = len(data)
        while pos < size:
            end = data.find(b"\n", pos)
            last = end == -1
            line = data[pos:] if last else data[pos:end]
            record: Any = None
            try:
                record = json.loads(line) if line.strip() else None
            except ValueError:
                record = ValueError
            if record is ValueError or (record is not None and not isinstance(record, dict)):
                if last or not data[end + 1 :].strip():
                    # A torn tail: never acknowledged. Cut it off so appends start on a clean line.
                    log.warning("flat: dropping a torn last log record in %s (%d bytes)", path, size - pos)
                    with open(path, "r+b") as fh:
                        fh.truncate(pos)
                        fh.flush()
                        os.fsync(fh.fileno())
                    return
                log.warning("flat: skipping an unreadable log record in %s at byte %d", path, pos)
            elif record is not None:
                if last:  # complete record whose newline did not make it: finish the line
                    with open(path, "ab") as fh:
                        fh.write(b"\n")
                yield record
            if last:
                return
            pos = end + 1

    def _remove_debris(self) -> None:
        for entry in self.dir.iterdir():
            name = entry.name
            if name.endswith(".tmp"):
                entry.unlink(missing_ok=True)
                continue
            m = _GEN_FILE.match(name)
            if m and int(m.group(1) or m.group(2)) != self.generation:
                entry.unlink(missing_ok=True)

    # ------------------------------------------------------------------ write
    def _handle(self) -> IO[bytes]:
        if self._wal is None or self._wal.closed:
            self._wal = open(self._wal_path(self.generation), "ab")  # noqa: SIM115 - held open across appends
        return self._wal

    def append(self, record: dict[str, Any]) -> None:
        """Append one record and make it durable. On failure the file is cut back to where it was."""
        line = json.dumps(record, separators=(",", ":")).encode("ascii") + b"\n"
        fh = self._handle()
        start = fh.seek(0, os.SEEK_END)
        try:
            fh.write(line)
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        except BaseException:
            try:
                fh.truncate(start)
                fh.flush()
            except OSError:  # pragma: no cover - the disk is gone; load() will drop the torn tail
                pass
            raise
        self.records_since_snapshot += 1

    def snapshot(self, dims: int | None, ids: list[str], matrix: np.ndarray, payloads: list[Any]) -> None:
        """Write generation g+1 with exactly these rows and switch to it (see the module docstring)."""
        new = self.generation + 1
        _write_atomic(
            self._snap_npy(new),
            lambda fh: np.save(fh, np.ascontiguousarray(matrix, dtype=np.float32), allow_pickle=False),
            binary=True,
            do_fsync=self.fsync,
        )
        _write_atomic(
            self._snap_json(new),
            lambda fh: json.dump({"ids": ids, "payloads": payloads}, fh, separators=(",", ":")),
            binary=False,
            do_fsync=self.fsync,
        )
        _write_atomic(self._wal_path(new), lambda fh: None, binary=True, do_fsync=self.fsync)
        _write_atomic(
            self.manifest,
            lambda fh: json.dump({"format": FORMAT, "generation": new, "dims": dims}, fh),
            binary=False,
            do_fsync=self.fsync,
        )
        if self.fsync:
            _fsync_dir(self.dir)
        self.close()
        self.generation = new
        self.records_since_snapshot = 0
        self._remove_debris()

    def snapshot_due(self, every: int) -> bool:
        """Whether the log has grown to ``every`` records since the last snapshot."""
        return self.records_since_snapshot >= every

    def close_after_snapshot(self, snapshot: Callable[[], None]) -> None:
        """A store's ``aclose``: ``snapshot()`` if the log has grown since the last one (the next open
        then replays nothing), and close the log (it reopens on the next write)."""
        if self.records_since_snapshot:
            snapshot()
        self.close()

    def close(self) -> None:
        if self._wal is not None:
            self._wal.close()
            self._wal = None


def expand_path(cls: type, v: str | None) -> str | None:
    """The stores' ``path`` validator: ``~`` expanded, so the directory is the one the user meant."""
    return None if v is None else str(Path(v).expanduser())


@contextmanager
def path_errors(section: str, path: str, in_memory: str, *, writing: bool = False) -> Iterator[None]:
    """While a store opens its directory: an ``OSError`` (not a directory, not writable, missing
    parent...) becomes a ``ConfigError`` naming ``<section>.config.path`` and the fix.

    :param in_memory: what leaving the path unset keeps in memory ("memories", "the graph").
    :param writing: a write is opening it (not startup): the error is also a
        :class:`~mem7_core.errors.StorageError` (REST 507, not a 422 about the request).
    """
    try:
        yield
    except OSError as exc:
        message = (
            f"{section} flat: cannot use path {path!r} ({exc.strerror or exc}: {exc.filename}); "
            f"set {section}.config.path to a writable directory, or leave it unset to keep {in_memory} in memory"
        )
        if writing:
            raise StorageConfigError(f"{section}:flat", message) from exc
        raise ConfigError(message) from exc
    except sqlite3.Error as exc:  # creating the database on a full disk or a read-only file
        mapped = storage_error(exc, f"{section}:flat", f"{section}.config.path {path!r}")
        if mapped is None:
            raise
        raise mapped from exc


def persistence_stats(p: Persistence | None) -> dict[str, Any]:
    """The persistence part of a store's ``stats()``."""
    return {
        "persistent": p is not None,
        "generation": None if p is None else p.generation,
        "log_records": None if p is None else p.records_since_snapshot,
    }
