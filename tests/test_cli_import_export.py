"""``mem7 import`` / ``mem7 export``: the JSONL format, checks before writing, the round trip, progress.

In-process ``main([...])`` runs on the embedded default with the hash embedder (a fresh data dir
per test); the LLM path talks to the loopback OpenAI-compatible server.
"""

from __future__ import annotations

import io
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mem7_core.cli import main
from mem7_core.cli_commands import ProgressBar
from mem7_core.transfer import EXPORT_FIELDS


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name in ("OPENAI_API_KEY", "OPENAI_BASE_URL") or name.startswith("MEM7_"):
            monkeypatch.delenv(name)
    data = tmp_path / "data"
    monkeypatch.setenv("MEM7_DATA_DIR", str(data))
    monkeypatch.setenv("MEM7_USER_ID", "alice")
    monkeypatch.setenv("MEM7_EMBEDDER__PROVIDER", "hash")
    return data


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def listed(capsys: pytest.CaptureFixture[str], *scope: str) -> list[dict[str, Any]]:
    code, out, err = cli(capsys, "--json", "list", *scope)
    assert code == 0, err
    return json.loads(out)["results"]


def exported(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    code, out, err = cli(capsys, "export", *args)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_import_each_kind_of_line_with_scope_from_the_line_or_the_flags(capsys, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [
        {"messages": [{"role": "user", "content": "I live in Lisbon"}, {"role": "system", "content": "ignored"}],
         "user_id": "bob", "metadata": {"source": "chat-1"}},
        "",
        "# comments and blank lines are skipped",
        {"role": "user", "content": "I like green tea", "memory_type": "preference"},
        {"id": "0190c2d2-0000-7000-8000-0000000000aa", "memory": "Surfs on weekends", "agent_id": "coach",
         "created_at": "2024-01-02T03:04:05+00:00", "access_count": 4, "metadata": {"k": [1, 2]}},
    ])
    code, out, err = cli(capsys, "import", str(src), "--user", "carol")
    assert code == 0, err
    assert out.strip() == "imported 3 of 3 line(s), 3 memory change(s)"
    assert err == ""  # not a TTY: no progress bar
    [bob] = listed(capsys, "-u", "bob")
    assert (bob["memory"], bob["metadata"], bob["role"]) == ("I live in Lisbon", {"source": "chat-1"}, "user")
    [carol] = listed(capsys, "-u", "carol")  # the line had no scope: --user applies
    assert (carol["memory"], carol["memory_type"]) == ("I like green tea", "preference")
    [coach] = listed(capsys, "--agent", "coach")
    assert coach["id"] == "0190c2d2-0000-7000-8000-0000000000aa"
    assert coach["created_at"] == coach["updated_at"] == "2024-01-02T03:04:05+00:00"
    assert coach["access_count"] == 4 and coach["metadata"] == {"k": [1, 2]}
    code, out, _ = cli(capsys, "--json", "history", coach["id"])
    [event] = json.loads(out)
    assert (event["event"], event["new_memory"]) == ("ADD", "Surfs on weekends")
    # The event is dated when it happened (the import), the memory keeps its own creation time.
    assert datetime.fromisoformat(event["created_at"]) > datetime.fromisoformat(coach["created_at"])


def test_export_import_round_trip_is_exact(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MEM7_DECAY__ENABLED", "true")  # search then rehearses: access counters to carry over
    for args in (["-u", "alice", "I prefer window seats"], ["-u", "bob", "--agent", "travel", "Bob flies on Mondays"],
                 ["--run", "r1", "Session note: wants a refund"]):
        assert cli(capsys, "add", "--no-infer", *args)[0] == 0
    [window] = listed(capsys, "-u", "alice")
    assert cli(capsys, "update", window["id"], "I prefer aisle seats", "--metadata", '{"topic": "travel"}')[0] == 0
    assert cli(capsys, "search", "-u", "alice", "seats")[0] == 0  # rehearsal: access_count, last_accessed_at

    first = tmp_path / "first.jsonl"
    code, _, err = cli(capsys, "export", "-o", str(first))
    assert code == 0 and "exported 3 memories" in err
    rows = [json.loads(line) for line in first.read_text().splitlines()]
    assert len(rows) == 3 and all(list(r) == [k for k in EXPORT_FIELDS if k in r] for r in rows)
    assert any(r.get("last_accessed_at") and r["access_count"] == 1 for r in rows)

    # reset (a fresh data dir), import, export again: the same bytes.
    monkeypatch.setenv("MEM7_DATA_DIR", str(tmp_path / "other"))
    code, out, err = cli(capsys, "import", str(first))
    assert code == 0, err
    second = exported(capsys)
    assert second == rows
    assert "\n".join(json.dumps(r, ensure_ascii=False) for r in second) + "\n" == first.read_text()
    # Importing the same file again changes nothing (ids already present).
    code, out, _ = cli(capsys, "import", str(first))
    assert code == 0 and "3 already present" in out
    assert exported(capsys) == rows


def test_export_of_one_scope(capsys):
    cli(capsys, "add", "--no-infer", "-u", "alice", "Alice fact")
    cli(capsys, "add", "--no-infer", "-u", "bob", "Bob fact")
    assert [r["memory"] for r in exported(capsys, "-u", "bob")] == ["Bob fact"]
    assert sorted(r["memory"] for r in exported(capsys)) == ["Alice fact", "Bob fact"]


def test_bad_lines_are_named_and_nothing_is_imported(capsys, tmp_path):
    src = write_jsonl(tmp_path / "bad.jsonl", [
        {"role": "user", "content": "fine line", "user_id": "u"},
        {"role": "robot", "content": "x", "user_id": "u"},
        "{not json",
        {"memory": "", "user_id": "u"},
        {"memory": "reserved key", "user_id": "u", "metadata": {"user_id": "eve"}},
        {"memory": "no scope"},
        {"text": "unknown kind", "user_id": "u"},
        [1, 2],
    ])
    code, _out, err = cli(capsys, "import", str(src), "--user", "")  # an empty flag does not count as a scope
    assert code == 2
    assert "7 bad line(s) of 8; nothing was imported" in err
    lines = err.splitlines()
    for expected in ("line 2: role:", "line 3: not valid JSON", "line 4: memory:", "line 5: metadata key 'user_id' is reserved",
                     "line 6: no scope", "line 7: unknown kind of line", "line 8: must be a JSON object"):
        assert any(line.startswith(f"  {expected}") for line in lines), expected  # one problem per line
    assert exported(capsys) == []


def test_an_exported_memory_edited_to_lose_its_text_is_told_memory_is_required(capsys, tmp_path):
    # A hand-edited export: the "memory" key deleted or misspelt. The line is still recognisably an
    # exported memory (id, timestamps, role), so the error names the missing field, not "unknown kind".
    src = write_jsonl(tmp_path / "edited.jsonl", [
        {"id": "m1", "memory": "kept", "user_id": "u"},
        {"id": "m2", "user_id": "u", "role": "user", "created_at": "2024-01-02T03:04:05+00:00", "access_count": 0},
        {"id": "m3", "memroy": "typo", "user_id": "u", "updated_at": "2024-01-02T03:04:05+00:00"},
        {"role": "user", "content": "a message with a stray id", "id": "m4", "user_id": "u"},
    ])
    code, _, err = cli(capsys, "import", str(src))
    assert code == 2
    assert "3 bad line(s) of 4; nothing was imported" in err
    assert "line 2: memory: Field required" in err
    assert "line 3: memory: Field required" in err and "memroy: Extra inputs are not permitted" in err
    assert "line 4: id: Extra inputs are not permitted" in err  # still read as the message it is
    assert "unknown kind of line" not in err
    assert exported(capsys) == []


def test_on_conflict_modes_of_the_cli_import_match_import_memories(capsys, tmp_path):
    # User trial: import_memories(on_conflict=...) and POST /memories/import take skip / replace /
    # error, but `mem7 import` could only skip: a backup could not be restored over edited memories,
    # nor an import refused when it would collide (--on-conflict was an unrecognized argument).
    first = write_jsonl(tmp_path / "first.jsonl", [
        {"id": "m1", "memory": "Lives in Lisbon", "user_id": "u", "created_at": "2024-01-01T00:00:00+00:00"},
        {"id": "m2", "memory": "Likes tea", "user_id": "u", "created_at": "2024-01-02T00:00:00+00:00"},
    ])
    code, _, err = cli(capsys, "import", str(first))
    assert code == 0, err
    second = write_jsonl(tmp_path / "second.jsonl", [
        {"role": "user", "content": "A new message", "user_id": "u"},
        {"id": "m1", "memory": "Lives in Porto", "user_id": "u", "created_at": "2024-01-01T00:00:00+00:00"},
        {"id": "m3", "memory": "Plays chess", "user_id": "u"},
        {"id": "m3", "memory": "Plays chess well", "user_id": "u"},
    ])
    before = exported(capsys)

    code, _, err = cli(capsys, "import", "--on-conflict", "error", str(second))
    assert code == 2
    assert "2 line(s) name an id already stored or given on an earlier line; nothing was imported" in err
    assert "line 2: id 'm1' is already stored" in err and "line 4: id 'm3' is also line 3" in err
    assert "\n  line 4: id 'm3' is also line 3" in err  # each on a line of its own
    assert exported(capsys) == before  # not even the message line nor m3 was written

    code, out, err = cli(capsys, "--json", "import", "--on-conflict", "replace", str(second))
    assert code == 0, err
    assert json.loads(out) == {"lines": 4, "imported": 4, "memories": 4, "already_present": 0, "replaced": 2,
                               "skipped": []}  # m1, then m3 of line 4 over line 3's
    texts = {r["id"]: r["memory"] for r in exported(capsys)}
    assert texts["m1"] == "Lives in Porto" and texts["m2"] == "Likes tea" and texts["m3"] == "Plays chess well"
    code, out, _ = cli(capsys, "--json", "history", "m1")
    assert [(e["event"], e["new_memory"]) for e in json.loads(out)] == [("ADD", "Lives in Lisbon"),
                                                                        ("UPDATE", "Lives in Porto")]

    code, out, err = cli(capsys, "import", "--on-conflict", "error", "--continue-on-error", str(first))
    assert code == 1
    assert out.strip() == "imported 0 of 2 line(s), 0 memory change(s), 2 line(s) skipped"
    assert "skipped line 1: id 'm1' is already stored" in err
    code, out, err = cli(capsys, "import", str(first))  # skip, the default, as before
    assert code == 0 and "2 already present" in out
    assert {r["id"]: r["memory"] for r in exported(capsys)}["m1"] == "Lives in Porto"
    code, _, err = cli(capsys, "import", "--on-conflict", "overwrite", str(first))
    assert code == 2 and "invalid choice: 'overwrite'" in err


def test_a_file_saved_with_a_byte_order_mark_and_crlf_imports(capsys, tmp_path, monkeypatch):
    # User trial: an export edited in Notepad (or written by PowerShell) starts with a UTF-8 BOM and
    # ends its lines with CRLF: line 1 was refused as "not valid JSON (Unexpected UTF-8 BOM ...)".
    rows = [{"id": "b1", "memory": "Saved by Notepad ✓", "user_id": "u"}, {"id": "b2", "memory": "Second", "user_id": "u"}]
    body = "\r\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\r\n"
    src = tmp_path / "bom.jsonl"
    src.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    code, out, err = cli(capsys, "import", str(src))
    assert code == 0, err
    assert out.strip() == "imported 2 of 2 line(s), 2 memory change(s)"
    assert [(r["id"], r["memory"]) for r in exported(capsys)] == [("b1", "Saved by Notepad ✓"), ("b2", "Second")]
    monkeypatch.setattr("sys.stdin", io.StringIO("\ufeff" + json.dumps({"role": "user", "content": "piped", "user_id": "v"})))
    code, out, err = cli(capsys, "import", "-")
    assert code == 0, err
    assert [r["memory"] for r in listed(capsys, "--user", "v")] == ["piped"]
    src.write_bytes(b"\xef\xbb\xbf" + b"\xef\xbb\xbf" + body.encode("utf-8"))  # only one leading BOM is dropped
    code, _, err = cli(capsys, "import", str(src))
    assert code == 2 and "line 1: not valid JSON" in err


def test_memory_lines_are_checked_as_import_memories_checks_items_before_anything_is_written(capsys, tmp_path):
    # One model (RestoreItem) for export_memories items, memory lines and import_memories: a memory
    # line the engine would refuse is refused while reading the file, named by its line.
    src = write_jsonl(tmp_path / "bad.jsonl", [
        {"memory": "fine", "user_id": "u"},
        {"memory": "   ", "user_id": "u"},
        {"memory": "bad time", "user_id": "u", "created_at": "yesterday"},
        {"memory": "typo", "user_id": "u", "metdata": {}},
        {"memory": "bad type", "user_id": "u", "memory_type": "nonsense"},
    ])
    code, _, err = cli(capsys, "import", str(src))
    assert code == 2
    assert "4 bad line(s) of 5; nothing was imported" in err
    for expected in ("line 2: memory: Value error, must not be blank", "line 3: created_at: Value error, must be an ISO-8601",
                     "line 4: metdata:", "line 5: memory_type:"):
        assert expected in err, expected
    assert exported(capsys) == []


def test_continue_on_error_imports_the_good_lines_and_reports_the_rest(capsys, tmp_path):
    src = write_jsonl(tmp_path / "mixed.jsonl", [
        {"role": "user", "content": "kept one", "user_id": "u"},
        {"role": "user", "content": 42, "user_id": "u"},
        {"role": "user", "content": "kept two", "user_id": "u"},
    ])
    code, out, err = cli(capsys, "import", str(src), "--continue-on-error")
    assert code == 1  # not everything was imported
    assert out.strip() == "imported 2 of 3 line(s), 2 memory change(s), 1 line(s) skipped"
    assert "skipped line 2: content: Value error, must be a string or a list of content parts" in err
    assert sorted(r["memory"] for r in exported(capsys)) == ["kept one", "kept two"]


def test_a_failing_line_stops_the_import_and_says_what_was_done(capsys, tmp_path, monkeypatch, openai_server):
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("MEM7_LLM__CONFIG__MAX_RETRIES", "0")
    monkeypatch.setenv("MEM7_LLM_RETRIES", "0")
    src = write_jsonl(tmp_path / "in.jsonl", [
        {"memory": "exported memory", "user_id": "u"},
        {"role": "user", "content": "I live in Porto", "user_id": "u"},
        {"role": "user", "content": "never reached", "user_id": "u"},
    ])
    openai_server.fail_next(5, status=500, endpoint="chat")
    code, _out, err = cli(capsys, "import", str(src))
    assert code == 1
    assert "line 2 failed" in err and "imported 1 of 3 line(s)" in err
    assert [r["memory"] for r in exported(capsys)] == ["exported memory"]


def test_ctrl_c_says_which_lines_were_imported(capsys, tmp_path, monkeypatch):
    # User trial: Ctrl-C during a bulk import printed only "mem7: interrupted": no way to know
    # where to resume, and messages imported twice are stored twice.
    import mem7_core.transfer as transfer

    src = write_jsonl(tmp_path / "in.jsonl", [
        {"role": "user", "content": f"message {k}", "user_id": "u"} for k in range(1, 5)])
    real_add = transfer._add

    def add(memory, item, infer):  # Ctrl-C arrives while line 3 is written
        if item.number == 3:
            raise KeyboardInterrupt
        return real_add(memory, item, infer)

    monkeypatch.setattr(transfer, "_add", add)
    code, _out, err = cli(capsys, "import", str(src))
    assert code == 130
    assert err.strip() == (
        "mem7: interrupted at line 3: the lines before it were imported (imported 2 of 4 line(s), 2 memory change(s)); "
        "the write in progress (from line 3) may or may not be stored, the lines after it were not")
    assert [r["memory"] for r in exported(capsys)] == ["message 1", "message 2"]


def test_infer_uses_the_llm_and_no_infer_stores_verbatim(capsys, tmp_path, monkeypatch, openai_server):
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    src = write_jsonl(tmp_path / "conv.jsonl", [
        {"messages": [{"role": "user", "content": "I live in Lisbon. I work as a baker."}], "user_id": "u"},
    ])
    assert cli(capsys, "import", str(src))[0] == 0  # an LLM is configured: infer by default
    assert sorted(r["memory"] for r in exported(capsys)) == ["I live in Lisbon", "I work as a baker"]
    chats = openai_server.count("chat")
    assert chats >= 1
    assert cli(capsys, "import", str(src), "--no-infer", "--user", "v")[0] == 0
    assert openai_server.count("chat") == chats
    assert "I live in Lisbon. I work as a baker." in [r["memory"] for r in exported(capsys, "-u", "u")]


def test_infer_without_an_llm_is_a_usage_error(capsys, tmp_path):
    src = write_jsonl(tmp_path / "one.jsonl", [{"role": "user", "content": "hi", "user_id": "u"}])
    code, _, err = cli(capsys, "import", str(src), "--infer")
    assert code == 2 and "--infer needs an LLM" in err
    assert exported(capsys) == []


def test_import_reads_stdin(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"role": "user", "content": "from a pipe"}) + "\n"))
    code, out, err = cli(capsys, "import", "-", "-q")
    assert code == 0 and out == "" and err == ""
    assert [r["memory"] for r in listed(capsys)] == ["from a pipe"]


def test_json_import_of_a_file_with_no_lines_prints_json(capsys, tmp_path):
    # User trial: `mem7 --json import empty.jsonl` printed nothing on stdout (not JSON).
    src = tmp_path / "empty.jsonl"
    src.write_text("# nothing yet\n\n", encoding="utf-8")
    code, out, err = cli(capsys, "--json", "import", str(src))
    assert code == 0 and "no lines to import" in err
    assert json.loads(out) == {"lines": 0, "imported": 0, "memories": 0, "already_present": 0, "replaced": 0,
                               "skipped": []}


def test_missing_file_is_named(capsys, tmp_path):
    code, _, err = cli(capsys, "import", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "nope.jsonl" in err and "cannot read" in err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_tty_only_and_not_when_quiet():
    tty = _Tty()
    bar = ProgressBar(4, stream=tty)
    for _ in range(4):
        bar.advance()
    bar.close()
    drawn = tty.getvalue()
    assert "\r" in drawn and drawn.rstrip().endswith("/s") and "4/4 lines" in drawn and "#" * 30 in drawn
    for stream, quiet in ((io.StringIO(), False), (_Tty(), True)):
        bar = ProgressBar(4, stream=stream, quiet=quiet)
        bar.advance(4)
        bar.close()
        assert stream.getvalue() == ""
