"""Token parsing and scope pinning (``mem7_core.server.auth``), without a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mem7_core.errors import ConfigError
from mem7_core.server.auth import (
    OPEN,
    AuthError,
    Pin,
    Principal,
    ScopeForbidden,
    TokenTable,
    parse_tokens_env,
    pinned_scope,
    read_tokens_file,
    require_unrestricted,
)


def test_env_accepts_plain_tokens_or_a_json_mapping() -> None:
    assert parse_tokens_env(" a1, b2 ,") == {"a1": None, "b2": None}
    assert parse_tokens_env('{"t1": {"user_id": "u"}, "t2": null}') == {"t1": Pin(user_id="u"), "t2": None}
    assert parse_tokens_env("") == {}


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ('{"t1": {"user": "u"}}', "allowed keys: user_id, agent_id, run_id"),
        ('{"t1": {"user_id": ""}}', "user_id"),
        ('{"t1": ', "MEM7_SERVER_TOKENS is not valid JSON"),
        ('{"has space": null}', "without spaces"),
        ('{"t1": "alice"}', "(pin)"),
        # a pin naming no id would pin nothing (every scope reachable): refused, not read as unrestricted
        ('{"t1": {"user_id": null}}', "names no id"),
        ('{"t1": {"user_id": null, "agent_id": null, "run_id": null}}', "names no id"),
        # an empty pin is refused too (issue 16): unrestricted is spelled null, never {}
        ('{"t1": null, "t2": {}}', "token #2 is mapped to an empty pin"),
    ],
)
def test_bad_token_settings_name_the_problem(raw: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_tokens_env(raw)
    assert needle in str(info.value)


def test_tokens_file_json_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text(json.dumps({"tj": {"agent_id": "bot"}}))
    (tmp_path / "t.yml").write_text("ty: {run_id: r1}\nadmin: null\n")
    assert read_tokens_file(tmp_path / "t.json") == {"tj": Pin(agent_id="bot")}
    assert read_tokens_file(tmp_path / "t.yml") == {"ty": Pin(run_id="r1"), "admin": None}
    with pytest.raises(ConfigError, match="cannot read it"):
        read_tokens_file(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must map each token"):
        read_tokens_file(tmp_path / "list.yaml")


def test_authenticate() -> None:
    table = TokenTable({"tok-a": Pin(user_id="a"), "tok-root": None})
    assert table.enabled
    assert table.authenticate("Bearer tok-a") == Principal(pin=Pin(user_id="a"))
    assert table.authenticate("bearer   tok-root ") == Principal(pin=None)
    for header in (None, "", "Bearer", "Basic tok-a", "Bearer tok-", "Bearer tok-a-x", "tok-a"):
        with pytest.raises(AuthError):
            table.authenticate(header)
    assert TokenTable().authenticate(None) is OPEN
    with pytest.raises(ConfigError, match="--require-auth is set but no token"):
        TokenTable(require_auth=True)
    env = {"MEM7_SERVER_TOKENS": "x1", "MEM7_SERVER_REQUIRE_AUTH": "1"}
    assert TokenTable.from_sources(env=env).authenticate("Bearer x1") == Principal(pin=None)
    with pytest.raises(ConfigError):
        TokenTable.from_sources(env={"MEM7_SERVER_REQUIRE_AUTH": "true"})


def test_pinned_scope() -> None:
    alice = Principal(pin=Pin(user_id="alice"))
    none = {"user_id": None, "agent_id": None, "run_id": None}
    assert pinned_scope(alice, none) == {**none, "user_id": "alice"}
    assert pinned_scope(alice, {"user_id": "alice", "run_id": "r"}) == {"user_id": "alice", "agent_id": None,
                                                                        "run_id": "r"}
    with pytest.raises(ScopeForbidden, match="pinned to user_id='alice'"):
        pinned_scope(alice, {"user_id": "bob"})
    with pytest.raises(ScopeForbidden):
        pinned_scope(alice, none, {"user_id": "bob", "topic": "x"})
    # a nested scope key only narrows (the pinned scope is always applied on top)
    assert pinned_scope(alice, none, {"OR": [{"user_id": "bob"}]})["user_id"] == "alice"
    assert pinned_scope(OPEN, {"user_id": "bob"}) == {**none, "user_id": "bob"}
    require_unrestricted(OPEN, "reset")
    with pytest.raises(ScopeForbidden, match="reset"):
        require_unrestricted(alice, "reset")
