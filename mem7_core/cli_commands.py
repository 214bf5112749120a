"""The bulk-data and config commands of the CLI: ``mem7 import``, ``mem7 export``, ``mem7 config check``.

Kept out of :mod:`mem7_core.cli` (which holds the parser and the everyday commands) and imported
only when one of them runs. The file format is :mod:`mem7_core.transfer`'s; the checks are
:mod:`mem7_core.config_check`'s.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from typing import IO, Any

from . import cli
from .cli import EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, UsageError


class ProgressBar:
    """A one-line progress bar on a terminal (``\\r``-redrawn); silent when not a TTY or ``quiet``.

    No dependency: a bulk import should not need tqdm. Redraws at most ten times a second.
    """

    def __init__(
        self, total: int, *, stream: IO[str] | None = None, quiet: bool = False, label: str = "import"
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total = max(total, 0)
        self.done = 0
        self.label = label
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = not quiet and self.total > 0 and callable(isatty) and bool(isatty())
        self._last = 0.0
        self._start = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        now = time.monotonic()
        if self.enabled and (now - self._last >= 0.1 or self.done == self.total):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        width = 30
        filled = int(width * self.done / self.total) if self.total else width
        rate = self.done / max(now - self._start, 1e-9)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} lines  {rate:,.1f}/s"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _open_input(path: str, stack: ExitStack) -> IO[str]:
    if path == "-":
        return sys.stdin
    try:
        return stack.enter_context(open(path, encoding="utf-8"))  # noqa: SIM115 - closed by the stack
    except OSError as exc:
        raise UsageError(f"cannot read {path!r}: {exc.strerror or exc}") from None


def cmd_import(args: argparse.Namespace) -> int:
    """Read the whole file, check every line, then write; report counts (exit 1 if any line failed)."""
    from .transfer import ImportReport, ImportStopped, import_lines, read_lines

    def print_json(report: ImportReport) -> None:
        cli._print_json({"lines": report.lines, "imported": report.imported, "memories": report.memories,
                         "already_present": report.already_present, "replaced": report.replaced,
                         "skipped": report.skipped})

    with ExitStack() as stack:
        lines = list(_open_input(args.file, stack))
    parsed, problems = read_lines(lines, cli._scope(args), continue_on_error=args.continue_on_error)
    if not parsed and not problems:
        cli._note(f"{args.file}: no lines to import")
        if args.json:  # stdout stays JSON for a script reading it
            print_json(ImportReport())
        return EXIT_OK

    def work(memory: Any) -> int:
        infer = args.infer
        if infer is None:
            infer = memory.engine.llm is not None
        elif infer and memory.engine.llm is None:
            raise UsageError(
                "--infer needs an LLM (set OPENAI_API_KEY or configure llm); use --no-infer to store verbatim"
            )
        bar = ProgressBar(len(parsed), quiet=args.quiet)
        try:
            report = import_lines(memory, parsed, infer=infer, on_conflict=args.on_conflict,
                                  continue_on_error=args.continue_on_error, progress=bar.advance, skipped=problems)
        except ImportStopped as exc:
            bar.close()
            print(f"{cli.PROG}: error: {exc}", file=sys.stderr)
            return EXIT_RUNTIME
        except KeyboardInterrupt:  # ImportInterrupted: main() says where it stopped, on a line of its own
            bar.close()
            raise
        bar.close()
        if args.json:
            print_json(report)
        elif not args.quiet or report.skipped:
            print(report.summary())
        for problem in report.skipped:
            print(f"{cli.PROG}: skipped {problem}", file=sys.stderr)
        return EXIT_RUNTIME if report.skipped else EXIT_OK

    return cli._with_memory(args, work)


def cmd_export(args: argparse.Namespace) -> int:
    """Every memory (of the scope given, else all) as JSON Lines that ``mem7 import`` reads back."""
    from .transfer import export_lines, write_export

    scope = cli._explicit_scope(args)

    def work(memory: Any) -> int:
        rows = list(export_lines(memory, scope))
        if args.output in (None, "-"):
            for row in rows:
                print(row)
        else:
            try:
                write_export(args.output, rows)  # all or nothing: a temp file, renamed at the end
            except OSError as exc:
                raise UsageError(f"cannot write {args.output!r}: {exc.strerror or exc}") from None
            cli._note(f"exported {len(rows)} memories to {args.output}")
        return EXIT_OK

    return cli._with_memory(args, work, reading=True)


def cmd_config_check(args: argparse.Namespace) -> int:
    """Validate a config file (or the config the CLI would use) and list every problem; exit 0/1."""
    import os

    from .config import CONFIG_PATH_ENV, MemoryConfig
    from .config_check import check_config, load_layers
    from .errors import ConfigError

    path = args.file or args.config or os.environ.get(CONFIG_PATH_ENV)
    # What the CLI runs on: the file (if any) and MEM7_* variables over the embedded default, as
    # cli.resolve_config layers them; not the file alone over mem0's defaults.
    data_dir = args.data_dir or os.environ.get(cli.DATA_DIR_ENV) or cli.DEFAULT_DATA_DIR
    base = MemoryConfig.embedded(data_dir).model_dump(exclude_unset=True)
    try:
        raw = load_layers(path, base=base)
    except ConfigError as exc:
        problems, providers = [str(exc)], {}
    else:
        result = check_config(raw, build=args.build)
        problems, providers = result.problems, result.providers
    source = path or "the embedded default"
    if args.json:
        cli._print_json({"source": source, "ok": not problems, "problems": problems, "providers": providers})
    elif problems:
        print(f"{source}: {len(problems)} problem(s):")
        for p in problems:
            print(f"  - {cli._one_line(p)}")
    else:
        names = ", ".join(f"{where}={name}" for where, name in providers.items())
        print(f"{source}: ok ({names})")
    return EXIT_RUNTIME if problems else EXIT_OK


def add_parsers(command: Any, add_scope_options: Any, add_global_options: Any) -> None:
    """Register ``import``, ``export`` and ``config check`` on the CLI's sub-parser factory."""
    p = command("import", "bulk-load a JSONL file of conversations, messages or exported memories", cmd_import,
                epilog="One JSON object per line: {\"messages\": [...]} (a conversation), {\"role\", \"content\"} "
                       "(a message) or an exported memory ({\"id\", \"memory\", ...}); scope ids on a line win over "
                       "--user/--agent/--run. Every line is checked before anything is written. See docs/cli.md.")
    p.add_argument("file", metavar="FILE", help="the JSONL file ('-': stdin)")
    add_scope_options(p)
    p.add_argument("--infer", action=argparse.BooleanOptionalAction, default=None,
                   help="extract facts with the LLM (default: when an LLM is configured); "
                        "exported memories are always stored verbatim")
    p.add_argument("--on-conflict", choices=("skip", "replace", "error"), default="skip",
                   help="an exported memory whose id is already stored: leave the stored one (skip, the default: "
                        "importing a file twice changes nothing), overwrite it (replace), or refuse the import "
                        "before anything is written (error)")
    p.add_argument("--continue-on-error", action="store_true",
                   help="skip bad or failing lines (listed on stderr; exit 1) instead of stopping")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")

    p = command("export", "write memories as JSONL (that mem7 import reads back)", cmd_export)
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    group = p.add_argument_group("scope", "Only this scope (default: every memory in the store).")
    group.add_argument("-u", "--user", metavar="ID", help="user id")
    group.add_argument("--agent", metavar="ID", help="agent id")
    group.add_argument("--run", metavar="ID", help="run (session) id")

    p = command("config", "configuration tools", None)
    sub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate a config and name every problem (exit 0 ok, 1 problems)",
                           description="Validate every section with each provider's own model and list every problem.")
    check.add_argument("file", nargs="?", metavar="FILE",
                       help="config file (default --config / $MEM7_CONFIG, else the embedded default)")
    check.add_argument("--build", action="store_true",
                       help="also construct each provider (catches a missing API key; contacts nothing)")
    add_global_options(check, top=False)
    check.set_defaults(func=cmd_config_check)


__all__ = ["EXIT_USAGE", "ProgressBar", "add_parsers", "cmd_config_check", "cmd_export", "cmd_import"]
