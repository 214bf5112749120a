"""The ``mem7`` command line: in-process ``main([...])`` runs and real runs of the installed script.

The real runs use the embedded default (fastembed embedder resolved offline from installed
packages, flat store and SQLite history under a temporary data dir) with no OpenAI variables set.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mem7_core.cli import main

_OPENAI_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL")


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No OpenAI or MEM7_* settings from the outside; a fresh data dir; user id alice."""
    for name in list(os.environ):
        if name in _OPENAI_VARS or name.startswith("MEM7_"):
            monkeypatch.delenv(name)
    data = tmp_path / "data"
    monkeypatch.setenv("MEM7_DATA_DIR", str(data))
    monkeypatch.setenv("MEM7_USER_ID", "alice")
    return data


@pytest.fixture
def hash_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests that are not about ranking use the core's instant hash embedder."""
    monkeypatch.setenv("MEM7_EMBEDDER__PROVIDER", "hash")


@pytest.fixture(scope="session")
def mem7_exe() -> str:
    """The installed console script (next to this interpreter, else on PATH)."""
    exe = shutil.which("mem7", path=str(Path(sys.executable).parent)) or shutil.which("mem7")
    assert exe, "the mem7 console script is not installed (pip install -e . in the venv)"
    return exe


def run(exe: str, *args: str, env: dict[str, str] | None = None, stdin: str | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real ``mem7`` script with the (cleaned) environment plus ``env``."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [exe, *args], input=stdin, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = cli(capsys, "--json", *args)
    assert code == 0, err
    return json.loads(out)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("mem7: error: "), lines[0]
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------------------------ the real script
def test_help_is_fast_and_imports_nothing_heavy(mem7_exe: str) -> None:
    proc = run(mem7_exe, "--help")
    assert proc.returncode == 0, proc.stderr
    for word in ("add", "search", "list", "get", "history", "update", "delete", "plugins", "MEM7_USER_ID"):
        assert word in proc.stdout
    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys; from mem7_core.cli import build_parser; build_parser().format_help(); "
         "heavy = [m for m in ('pydantic', 'numpy', 'openai', 'fastembed', 'pluggy', 'yaml') if m in sys.modules]; "
         "print(heavy)"],
        capture_output=True, text=True, check=True,
    )
    assert probe.stdout.strip() == "[]"
    add_help = run(mem7_exe, "add", "--help")
    assert "MEM7_USER_ID" in add_help.stdout and "OS user name" in add_help.stdout


def test_end_to_end_with_the_embedded_default(mem7_exe: str, clean_env: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    first = run(mem7_exe, "add", "My favourite drink is green tea", "--metadata", '{"topic": "food"}')
    assert first.returncode == 0, first.stderr
    assert first.stderr.strip() == (
        "mem7: no LLM configured (set OPENAI_API_KEY or configure llm); storing verbatim"
    )
    assert first.stdout.startswith("ADD ") and "My favourite drink is green tea" in first.stdout
    second = run(mem7_exe, "add", "-", stdin="I go hiking in the Alps every summer\n")  # from stdin
    assert second.returncode == 0, second.stderr
    assert (clean_env / "vectors" / "mem7_memories" / "mem7.db").is_file() and not (clean_env / "history.db").exists()

    # Another process sees both, and ranks the relevant one first.
    found = run(mem7_exe, "--json", "search", "what", "do", "I", "like", "to", "drink?")
    assert found.returncode == 0, found.stderr
    results = json.loads(found.stdout)["results"]
    assert next(r["memory"] for r in results) == "My favourite drink is green tea"
    assert len(results) == 2 and results[0]["score"] > results[1]["score"]
    assert results[0]["metadata"] == {"topic": "food"} and results[0]["user_id"] == "alice"

    listed = run(mem7_exe, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)["results"]
    assert [i["memory"] for i in items] == ["My favourite drink is green tea", "I go hiking in the Alps every summer"]
    tea_id = items[0]["id"]

    hist = run(mem7_exe, "history", tea_id)
    assert hist.returncode == 0, hist.stderr
    assert "ADD" in hist.stdout and "green tea" in hist.stdout

    gone = run(mem7_exe, "delete", tea_id)
    assert gone.returncode == 0, gone.stderr
    assert "deleted" in gone.stdout

    code, out, _ = cli(capsys, "list")  # in process: sees what the scripts left
    assert code == 0 and "green tea" not in out and "I go hiking in the Alps every summer" in out


def test_unreachable_llm_falls_back_to_verbatim(mem7_exe: str, capsys: pytest.CaptureFixture[str]) -> None:
    env = {
        "OPENAI_BASE_URL": f"http://127.0.0.1:{closed_port()}/v1",
        "OPENAI_API_KEY": "x",
        # fail fast: no client retries, no engine re-ask, short timeout
        "MEM7_LLM__CONFIG__MAX_RETRIES": "0",
        "MEM7_LLM__CONFIG__TIMEOUT": "5",
        "MEM7_LLM_RETRIES": "0",
    }
    proc = run(mem7_exe, "add", "I", "keep", "bees", "on", "my", "roof", env=env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "unreachable" in lines[0] and lines[0].endswith("storing verbatim")
    assert proc.stdout.startswith("ADD ") and "I keep bees on my roof" in proc.stdout
    # Nothing was lost: it is stored word for word.
    items = cli_json(capsys, "list")["results"]
    assert [i["memory"] for i in items] == ["I keep bees on my roof"]


# ------------------------------------------------------------------------------------ in process
def _fake_plugin_dists(root: Path) -> Path:
    """Two installed-looking distributions: one whose plugin module is missing, one to block."""
    site = root / "site"
    for dist, ep in (("mem7_brokenplug", "brokenplug = mem7_no_such_module_xyz.plugin"),
                     ("mem7_blockedplug", "blockedplug = mem7_blocked_module_xyz.plugin")):
        info = site / f"{dist}-0.0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: 0.0.1\n")
        (info / "entry_points.txt").write_text(f"[mem7]\n{ep}\n")
    return site


def test_plugins_lists_providers_and_broken_ones(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(_fake_plugin_dists(tmp_path)))
    monkeypatch.setenv("MEM7_DISABLE_PLUGINS", "blockedplug")
    code, out, err = cli(capsys, "plugins")
    assert code == 0, err
    for name in ("flat", "openai", "fastembed", "sqlite", "decay", "context"):
        assert f"  {name} " in out, out
    assert "from mem7-flat" in out and "from mem7-openai" in out and "from mem7-fastembed" in out
    assert "from mem7-core" in out
    assert "failed to load:" in out and "brokenplug (mem7-brokenplug)" in out
    assert "ModuleNotFoundError" in out
    assert "blocked (MEM7_DISABLE_PLUGINS): blockedplug" in out


def test_plugins_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(_fake_plugin_dists(tmp_path)))
    monkeypatch.setenv("MEM7_DISABLE_PLUGINS", "blockedplug")
    data = cli_json(capsys, "plugins")
    names = {kind: {row["name"]: row for row in rows} for kind, rows in data["providers"].items()}
    assert names["vector_store"]["flat"]["distribution"] == "mem7-flat"
    assert names["llm"]["openai"]["distribution"] == "mem7-openai"
    assert "ollama" in names["llm"]["openai"]["aliases"]
    assert names["embedder"]["fastembed"]["plugin"] == "fastembed"
    assert names["history_store"]["sqlite"]["distribution"] == "mem7-core"
    assert {"decay", "context"} <= set(names["scorer"])
    failed = {f["plugin"]: f["error"] for f in data["failed"]}
    assert "ModuleNotFoundError" in failed["brokenplug"]
    assert data["blocked"] == ["blockedplug"]


@pytest.mark.usefixtures("hash_embedder")
def test_no_llm_notice_is_one_line_and_default_user(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEM7_USER_ID")
    code, out, err = cli(capsys, "add", "I", "prefer", "window", "seats")
    assert code == 0
    assert err.strip().splitlines() == ["mem7: no LLM configured (set OPENAI_API_KEY or configure llm); storing verbatim"]
    assert "I prefer window seats" in out
    items = cli_json(capsys, "list", "--user", getpass.getuser())["results"]
    assert [i["memory"] for i in items] == ["I prefer window seats"]
    assert cli_json(capsys, "list", "--user", "bob")["results"] == []
    # --no-infer says nothing
    code, _, err = cli(capsys, "add", "--no-infer", "--type", "preference", "-u", "bob", "Aisle seats for bob")
    assert code == 0 and err == ""
    [bob] = cli_json(capsys, "list", "-u", "bob")["results"]
    assert bob["memory_type"] == "preference"


@pytest.mark.usefixtures("hash_embedder")
def test_loopback_llm_extracts_facts(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                     openai_server: Any) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code, out, err = cli(capsys, "--json", "add", "I live in Lisbon. I work as a baker.")
    assert code == 0, err
    assert err == ""  # no fallback, no notice
    results = json.loads(out)["results"]
    assert sorted((r["event"], r["memory"]) for r in results) == [("ADD", "I live in Lisbon"), ("ADD", "I work as a baker")]
    assert openai_server.count("chat") >= 1
    assert openai_server.last_request("chat").body["response_format"] == {"type": "json_object"}
    # Same facts again: already known, nothing changes.
    code, out, err = cli(capsys, "add", "I live in Lisbon.")
    assert code == 0, err
    assert out.strip() == "no changes (nothing new to remember)"
    found = cli_json(capsys, "search", "where do I live", "--limit", "1")["results"]
    assert [r["memory"] for r in found] == ["I live in Lisbon"]


@pytest.mark.usefixtures("hash_embedder")
def test_update_get_history_and_delete_all(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("Cats are my favourite animal\n"))
    [added] = cli_json(capsys, "add", "--no-infer")["results"]  # no TEXT: stdin
    mem_id = added["id"]
    code, out, _ = cli(capsys, "update", mem_id, "Dogs are my favourite animal", "--metadata", '{"v": 2}')
    assert code == 0 and "updated" in out
    item = cli_json(capsys, "get", mem_id)
    assert item["memory"] == "Dogs are my favourite animal" and item["metadata"] == {"v": 2}
    code, out, _ = cli(capsys, "get", mem_id)
    assert code == 0 and "Dogs are my favourite animal" in out
    events = cli_json(capsys, "history", mem_id)
    assert [e["event"] for e in events] == ["ADD", "UPDATE"]
    assert events[1]["old_memory"] == "Cats are my favourite animal"
    code, out, _ = cli(capsys, "history", mem_id)
    assert "Cats are my favourite animal -> Dogs are my favourite animal" in out

    code, out, err = cli(capsys, "search", "pets", "--threshold", "0.99")
    assert code == 0 and out.strip() == "no memories found"
    code, out, err = cli(capsys, "search", "pets", "--filters", '{"v": {"gte": 2}}')
    assert code == 0 and mem_id in out and out.lstrip().startswith("1  ")

    code, _, err = cli(capsys, "delete", "--all")
    assert code == 2 and "--user" in _error_line(err)
    code, out, _ = cli(capsys, "delete", "--all", "--user", "alice")
    assert code == 0 and "Deleted 1 memory" in out
    assert cli_json(capsys, "list")["results"] == []
    code, _, err = cli(capsys, "get", mem_id)
    assert code == 1 and "not found" in _error_line(err)


@pytest.mark.usefixtures("hash_embedder")
def test_delete_all_takes_filters_as_the_api_does(capsys: pytest.CaptureFixture[str]) -> None:
    # User trial: delete_all(filters=...) in Python and DELETE /memories?filters= over REST, but the
    # CLI refused `delete --all --filters` as an unrecognized argument.
    for text, topic in (("Trip to Rome", "travel"), ("Pasta recipe", "food"), ("Trip to Oslo", "travel")):
        code, _, err = cli(capsys, "add", "--no-infer", "--user", "alice", "--metadata", json.dumps({"topic": topic}), text)
        assert code == 0, err
    code, _, err = cli(capsys, "add", "--no-infer", "--user", "bob", "--metadata", '{"topic": "travel"}', "Trip to Nice")
    assert code == 0, err
    code, out, err = cli(capsys, "delete", "--all", "--user", "alice", "--filters", '{"topic": "travel"}')
    assert code == 0, err
    assert out.strip() == "Deleted 2 memories"
    assert [r["memory"] for r in cli_json(capsys, "list", "--user", "alice")["results"]] == ["Pasta recipe"]
    assert [r["memory"] for r in cli_json(capsys, "list", "--user", "bob")["results"]] == ["Trip to Nice"]
    assert cli_json(capsys, "delete", "--all", "--user", "alice", "--filters", '{"topic": "none"}') == {
        "message": "Deleted 0 memories"}
    code, _, err = cli(capsys, "delete", "--all", "--user", "alice", "--filters", '{"topic": {"like": 1}}')
    assert code == 2 and "like" in _error_line(err)
    code, _, err = cli(capsys, "delete", "--all", "--filters", '{"topic": "food"}')  # still needs a scope
    assert code == 2 and "--user" in _error_line(err)
    code, _, err = cli(capsys, "delete", "some-id", "--filters", '{"topic": "food"}')
    assert code == 2 and "--filters" in _error_line(err)
    assert [r["memory"] for r in cli_json(capsys, "list", "--user", "alice")["results"]] == ["Pasta recipe"]


@pytest.mark.usefixtures("hash_embedder")
def test_reset_wipes_every_scope_only_with_yes(capsys: pytest.CaptureFixture[str]) -> None:
    # User trial: reset() in Python and POST /reset over REST, but no `mem7 reset`: emptying a data
    # dir before restoring an export (as docs/cli.md's round trip says) meant deleting files by hand.
    for user in ("alice", "bob"):
        code, _, err = cli(capsys, "add", "--no-infer", "--user", user, f"{user} likes tea")
        assert code == 0, err
    [mem_id] = [r["id"] for r in cli_json(capsys, "list", "--user", "alice")["results"]]
    code, _, err = cli(capsys, "reset")
    assert code == 2 and "--yes" in _error_line(err)
    assert len(cli_json(capsys, "list", "--user", "bob")["results"]) == 1  # nothing deleted without --yes
    code, out, err = cli(capsys, "reset", "--yes")
    assert code == 0, err
    assert out.strip() == "Memory store reset"
    for user in ("alice", "bob"):
        assert cli_json(capsys, "list", "--user", user)["results"] == []
    assert cli_json(capsys, "history", mem_id) == []
    assert cli_json(capsys, "reset", "--yes") == {"message": "Memory store reset"}


@pytest.mark.parametrize(
    ("setup", "named"),
    [
        ("file_top", "decy"),
        ("env_section", "decay.enabld"),
        ("provider_field", "pathx"),
        ("provider_name", "No vector_store provider named 'nosuchstore'"),
    ],
)
def test_bad_config_exits_2_naming_the_field(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path, setup: str, named: str) -> None:
    args: list[str] = []
    if setup == "file_top":
        cfg = tmp_path / "mem7.yaml"
        cfg.write_text(textwrap.dedent("""\
            decy:
              enabled: true
        """))
        args = ["--config", str(cfg)]
    elif setup == "env_section":
        monkeypatch.setenv("MEM7_DECAY__ENABLD", "true")
    elif setup == "provider_field":
        monkeypatch.setenv("MEM7_VECTOR_STORE__CONFIG__PATHX", "1")
    else:
        cfg = tmp_path / "mem7.json"
        cfg.write_text(json.dumps({"vector_store": {"provider": "nosuchstore"}}))
        monkeypatch.setenv("MEM7_CONFIG", str(cfg))
    code, _, err = cli(capsys, *args, "list")
    assert code == 2
    assert named in _error_line(err)


@pytest.mark.usefixtures("hash_embedder")
def test_usage_and_runtime_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "add", "x y", "--metadata", "{not json")
    assert code == 2 and "--metadata is not valid JSON" in _error_line(err)
    code, _, err = cli(capsys, "add", "x y", "--metadata", "[1]")
    assert code == 2 and "must be a JSON object" in _error_line(err)
    code, _, err = cli(capsys, "search", "x", "--filters", '{"k": {"like": 1}}')
    assert code == 2 and "like" in _error_line(err)
    code, _, err = cli(capsys, "add", "x y", "--metadata", '{"user_id": "eve"}')  # reserved key
    assert code == 2 and "user_id" in _error_line(err)
    code, _, err = cli(capsys, "history", "01a20ec9-0000-7000-0000-000000000000")
    assert code == 0
    code, _, err = cli(capsys, "delete", "01a20ec9-0000-7000-0000-000000000000")
    assert code == 1 and "not found" in _error_line(err)
    code, _, err = cli(capsys, "nosuchcommand")
    assert code == 2 and "invalid choice" in err
    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.startswith("mem7 ")


@pytest.mark.usefixtures("hash_embedder")
def test_text_words_may_go_on_after_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    # User trial: argparse took only the first run of TEXT words and refused the rest as
    # "unrecognized arguments" (`mem7 search where -u bob did I move`).
    [added] = cli_json(capsys, "add", "it was", "-u", "bob", "-5 degrees", "in", "--no-infer", "Lisbon")["results"]
    assert added["memory"] == "it was -5 degrees in Lisbon" and cli_json(capsys, "get", added["id"])["user_id"] == "bob"
    code, _, err = cli(capsys, "update", added["id"], "-u", "bob", "it was", "--metadata", "{}", "warm in Porto")
    assert code == 0, err
    assert cli_json(capsys, "get", added["id"])["memory"] == "it was warm in Porto"
    hits = cli_json(capsys, "search", "warm", "-u", "bob", "Porto", "-n", "1", "--explain")["results"]
    assert [h["id"] for h in hits] == [added["id"]]
    assert hits[0]["score_parts"]["keyword"] == 1.0  # both words of the query matched, so both were the query
    code, _, err = cli(capsys, "add", "x", "-u", "bob", "y", "--bogus")  # an unknown option is still refused
    assert code == 2 and "unrecognized arguments: y --bogus" in err
    code, _, err = cli(capsys, "get", added["id"], "-u", "bob", "extra")  # ID takes one word
    assert code == 2 and "unrecognized arguments: extra" in err
    assert len(cli_json(capsys, "list", "-u", "bob")["results"]) == 1


def test_a_read_only_data_dir_is_read_and_a_write_names_the_data_dir(mem7_exe: str, clean_env: Path) -> None:
    # User trial: every command on a data dir the user cannot write (a backup, another user's)
    # failed with "set vector_store.config.path to a writable directory, or leave it unset".
    hashed = {"MEM7_EMBEDDER__PROVIDER": "hash"}
    added = run(mem7_exe, "add", "I keep bees in Porto", "--user", "ro", env=hashed)
    assert added.returncode == 0, added.stderr
    mem_id = added.stdout.split()[1]
    paths = [clean_env, *clean_env.rglob("*")]
    for p in paths:
        p.chmod(0o555 if p.is_dir() else 0o444)
    prefix: list[str] = []
    if os.geteuid() == 0:  # root writes anything: drop the capabilities that override permissions
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv (util-linux): no directory is read-only to this process")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    command = [*prefix, mem7_exe]
    try:
        for args in (["list", "--user", "ro"], ["search", "bees", "--user", "ro"], ["get", mem_id],
                     ["history", mem_id], ["export"]):
            proc = run(*command, *args, env=hashed)
            assert proc.returncode == 0 and "I keep bees in Porto" in proc.stdout, (args, proc.stderr)
        for args in (["add", "I keep wasps", "--user", "ro"], ["delete", mem_id]):
            proc = run(*command, *args, env=hashed)
            assert proc.returncode == 2
            line = _error_line(proc.stderr)
            assert "cannot use the data dir" in line and "--data-dir" in line and "read it as it is" in line
        assert sorted(p.name for p in clean_env.rglob("*") if p.is_file()) == ["mem7.db"]  # nothing written
    finally:
        for p in paths:
            p.chmod(0o755 if p.is_dir() else 0o644)
    a_file = clean_env.parent / "a-file"
    a_file.write_text("not a directory")
    for args in (["list"], ["add", "x"]):  # a reader is not told "no memories" by a data dir that is a file
        proc = run(mem7_exe, "--data-dir", str(a_file), *args, env=hashed)
        assert proc.returncode == 2 and "Not a directory" in _error_line(proc.stderr)


@pytest.mark.usefixtures("hash_embedder")
def test_a_scope_id_in_filters_is_the_scope_not_the_default_user(capsys: pytest.CaptureFixture[str]) -> None:
    # User trial: with no --user, the default user (alice) was added to mem0-style filters naming
    # bob: "user_id is 'alice' but filters say 'bob'", though the user never said alice.
    [bobs] = cli_json(capsys, "add", "bob likes kites", "-u", "bob", "--no-infer")["results"]
    cli_json(capsys, "add", "alice likes kites", "--no-infer")  # the default user
    by_filter = '{"user_id": "bob"}'
    assert [m["id"] for m in cli_json(capsys, "list", "--filters", by_filter)["results"]] == [bobs["id"]]
    assert [m["id"] for m in cli_json(capsys, "search", "kites", "--filters", by_filter)["results"]] == [bobs["id"]]
    # nested, or "any value", an id is a filter, not a scope: the default user's scope, narrowed by it
    assert cli_json(capsys, "list", "--filters", '{"OR": [{"user_id": "bob"}]}')["results"] == []
    assert [m["memory"] for m in cli_json(capsys, "list", "--filters", '{"user_id": "*"}')["results"]] == [
        "alice likes kites"]
    code, _, err = cli(capsys, "list", "-u", "alice", "--filters", by_filter)  # two scopes given: refused
    assert code == 2 and "filters say 'bob'" in _error_line(err)


def test_threshold_must_be_a_finite_number(capsys: pytest.CaptureFixture[str]) -> None:
    # User trial: --threshold nan was taken, and every result dropped without a word.
    for raw in ("nan", "inf", "abc"):
        code, _, err = cli(capsys, "search", "tea", "--threshold", raw)
        assert code == 2 and "argument --threshold: must be a" in err and repr(raw) in err


def test_verbose_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "get", "no-such-id", "-v")
    assert code == 1
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("mem7: error: ")


def test_logging_is_restored_after_main(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    logger = logging.getLogger("mem7")
    before = (logger.level, logger.propagate, list(logger.handlers))
    cli(capsys, "-vv", "plugins")
    assert (logger.level, logger.propagate, list(logger.handlers)) == before



@pytest.mark.usefixtures("hash_embedder")
def test_llm_server_error_falls_back_in_process(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                                openai_server: Any) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("MEM7_LLM__CONFIG__MAX_RETRIES", "0")
    monkeypatch.setenv("MEM7_LLM_RETRIES", "0")
    openai_server.fail_next(1, status=500)
    code, _out, err = cli(capsys, "add", "The deploy key rotates monthly.")
    assert code == 0, err
    [line] = err.strip().splitlines()
    assert "server error 500" in line and line.endswith("storing verbatim")
    assert openai_server.count("chat") == 1
    assert [i["memory"] for i in cli_json(capsys, "list")["results"]] == ["The deploy key rotates monthly."]


# ------------------------------------------------------------------------------------ config check
def test_config_check_names_every_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = tmp_path / "mem7.yaml"
    cfg.write_text(textwrap.dedent("""
        llm:
          provider: openai
          config: {modell: gpt-4.1-mini, temperature: 9}
        embedder: {provider: nosuch}
        vector_store:
          provider: flat
          config: {pathh: /tmp/x}
        decay: {enabled: true, base_half_life_secs: -1}
        candidates_per_fact: 0
        bogus: 1
    """))
    code, out, _ = cli(capsys, "config", "check", str(cfg))
    assert code == 1
    assert "7 problem(s)" in out
    for expected in ("llm.config.modell: Extra inputs are not permitted", "llm.config.temperature:",
                     "embedder.provider: No embedder provider named 'nosuch'", "No plugin of mem7's own provides 'nosuch'",
                     "vector_store.config.pathh: Extra inputs are not permitted", "decay.base_half_life_secs:",
                     "candidates_per_fact:", "bogus: Extra inputs are not permitted"):
        assert expected in out, expected
    code, out, _ = cli(capsys, "config", "check", "--json", str(cfg))
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and len(report["problems"]) == 7


def test_config_check_passes_a_good_config_and_the_embedded_default(capsys: pytest.CaptureFixture[str],
                                                                    tmp_path: Path) -> None:
    cfg = tmp_path / "mem7.toml"
    cfg.write_text('[embedder]\nprovider = "hash"\n[vector_store]\nprovider = "flat"\n[decay]\nenabled = true\n')
    code, out, _ = cli(capsys, "config", "check", str(cfg))
    assert code == 0, out
    assert "ok (" in out and "embedder=hash" in out and "decay=decay" in out
    code, out, _ = cli(capsys, "config", "check")  # nothing given: the embedded default the CLI runs on
    assert code == 0 and out.startswith("the embedded default: ok")


def test_config_check_reports_syntax_errors_and_missing_files(capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"llm": ')
    code, out, _ = cli(capsys, "config", "check", str(bad))
    assert code == 1 and "is not valid JSON" in out
    code, out, _ = cli(capsys, "config", "check", str(tmp_path / "absent.yaml"))
    assert code == 1 and "does not exist" in out


def test_config_check_build_catches_what_only_a_constructor_knows(capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path) -> None:
    cfg = tmp_path / "mem7.yaml"
    cfg.write_text("llm: {provider: openai}\nembedder: {provider: hash}\n")
    code, out, _ = cli(capsys, "config", "check", str(cfg))
    assert code == 0, out  # the model alone accepts it
    code, out, _ = cli(capsys, "config", "check", "--build", str(cfg))
    assert code == 1 and "no api_key" in out and "OPENAI_API_KEY" in out


def test_config_check_telemetry_without_the_extra(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "mem7.yaml"
    cfg.write_text("embedder: {provider: hash}\ntelemetry: {enabled: true}\n")
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)
    code, out, _ = cli(capsys, "config", "check", str(cfg))
    assert code == 1 and "pip install 'mem7-core[otel]'" in out


def test_config_check_validates_the_graph_llm_section(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = tmp_path / "mem7.yaml"
    cfg.write_text("embedder: {provider: hash}\ngraph_store:\n  provider: flat\n  llm: {provider: openai, config: {modelz: x}}\n")
    code, out, _ = cli(capsys, "config", "check", str(cfg))
    assert code == 1 and "graph_store.llm.config.modelz: Extra inputs are not permitted" in out


def test_a_provider_config_error_names_the_field_once_with_the_near_miss(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, hash_embedder: None
) -> None:
    """A bad provider field fails the command with one line that names it once and the field meant
    (it used to be printed twice: the provider's message, then pydantic's again)."""
    cfg = tmp_path / "mem7.yaml"
    cfg.write_text("llm: {provider: openai, config: {api_key: k, modell: gpt-4.1-nano}}\n")
    code, _, err = cli(capsys, "--config", str(cfg), "search", "tea", "--user", "alice")
    line = _error_line(err)
    assert code != 0 and line.count("modell") == 1
    assert "llm.config.modell: Extra inputs are not permitted (did you mean model?)" in line
    cfg.write_text("vectorstore: {provider: flat}\n")
    code, _, err = cli(capsys, "--config", str(cfg), "search", "tea", "--user", "alice")
    assert code != 0 and "(vectorstore: did you mean vector_store?)" in _error_line(err)


def test_config_check_checks_a_file_as_the_cli_runs_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A file given to the CLI is layered over the embedded default (local fastembed, flat in the data
    dir): `config check FILE` checks that, not the file over mem0's defaults (OpenAI, no key here)."""
    cfg = tmp_path / "mem7.yaml"
    cfg.write_text("decay: {enabled: true}\n")
    code, _, err = cli(capsys, "--config", str(cfg), "add", "Likes green tea")
    assert code == 0, err  # the CLI runs on it
    code, out, _ = cli(capsys, "config", "check", "--build", str(cfg))
    assert code == 0, out
    assert "embedder=fastembed" in out and "decay=decay" in out


@pytest.mark.usefixtures("hash_embedder")
def test_top_k_is_mem0s_name_for_limit(capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(3):
        assert cli(capsys, "add", "--no-infer", f"I keep tool number {i} in the shed")[0] == 0
    assert len(cli_json(capsys, "search", "tool in the shed", "--top-k", "2")["results"]) == 2
    assert len(cli_json(capsys, "list", "--top-k", "1")["results"]) == 1
