"""The dashboard on an open server (no tokens, no graph store, decay off), and its routes' edges.

One ``mem7 serve`` without tokens and one headless Chromium for the module (see test_dashboard.py
for the server with tokens, a graph and decay on).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _browser import LAPTOP, LAYOUT_SHIFT_JS, browser_or_skip
from _serve import ServeProcess, clean_env

from mem7_core.scorers.decay import DecayConfig, retention

HOSTILE = '<img src=x onerror="document.body.dataset.owned=1">'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with ServeProcess(clean_env(tmp_path_factory.mktemp("dash-open"))) as srv:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            for text in ("erin likes sailing", HOSTILE):
                assert http.post("/memories", json={"messages": text, "user_id": "erin", "infer": False}).status_code == 200
        yield srv


@pytest.fixture(scope="module")
def page(server: ServeProcess) -> Iterator[Any]:
    with browser_or_skip() as browser:
        context = browser.new_context(viewport=LAPTOP)
        tab = context.new_page()
        tab.add_init_script(LAYOUT_SHIFT_JS)
        tab.goto(f"{server.url}/ui/")
        tab.wait_for_function("() => document.body.dataset.ready")
        yield tab
        context.close()


def show(page: Any, route: str) -> None:
    page.evaluate("r => { delete document.body.dataset.ready; location.hash = r; }", route)
    page.wait_for_function("() => document.body.dataset.ready")


def test_an_open_server_asks_for_no_token_and_hides_the_graph_it_does_not_have(page: Any, tmp_path: Path) -> None:
    assert not page.get_by_role("dialog").is_visible()
    assert page.get_by_text("open server (no token needed)").is_visible()
    assert not page.get_by_role("button", name="Forget token").is_visible()
    assert not page.get_by_role("link", name="Graph").is_visible()
    users = page.get_by_test_id("scopes-user_id")
    assert users.get_by_role("row", name="erin").get_by_role("cell").inner_text() == "2"
    show(page, "#/graph?user_id=erin")
    assert "No graph store is configured" in page.locator("main").inner_text()
    page.screenshot(path=tmp_path / "open-graph.png")


def test_stored_markup_is_shown_as_text_never_run(page: Any, server: ServeProcess) -> None:
    show(page, "#/memories?user_id=erin")
    assert HOSTILE in page.get_by_test_id("memory-table").inner_text()
    assert page.locator("main img").count() == 0
    assert page.evaluate("() => document.body.dataset.owned") is None


def test_with_decay_off_the_memory_page_says_so_and_plots_the_configured_curve(page: Any, server: ServeProcess,
                                                                               tmp_path: Path) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        item = http.get("/memories", params={"user_id": "erin"}).json()["results"][0]
        at = "2031-01-01T00:00:00Z"
        curve = http.get(f"/ui/api/memories/{item['id']}/retention", params={"now": at}).json()
    assert curve["enabled"] is False and curve["now"] == "2031-01-01T00:00:00+00:00"
    cfg = DecayConfig()
    assert curve["settings"] == {"enabled": False, **cfg.model_dump(exclude={"enabled"})}
    assert curve["anchor"] == item["created_at"]
    assert math.isclose(curve["retention_now"], retention(curve["age_secs"], 0, cfg), rel_tol=1e-12)
    assert curve["retention_now"] < 0.2  # years later: near the floor
    assert [p["retention"] for p in curve["points"]] == sorted((p["retention"] for p in curve["points"]), reverse=True)
    show(page, f"#/memory/{item['id']}")
    assert "Decay is off" in page.get_by_test_id("retention-summary").inner_text()
    assert page.get_by_test_id("now-marker").is_visible()
    page.screenshot(path=tmp_path / "open-memory.png", full_page=True)


def test_static_files_carry_a_strict_content_security_policy(server: ServeProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        root = http.get("/ui")
        assert root.status_code == 308 and root.headers["location"] == "ui/"  # relative to /ui: /ui/
        for path, kind in (("/ui/", "text/html"), ("/ui/app.js", "javascript"), ("/ui/style.css", "text/css")):
            r = http.get(path)
            assert r.status_code == 200 and kind in r.headers["content-type"], path
            assert "default-src 'self'" in r.headers["content-security-policy"]
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["cache-control"] == "no-cache" and r.headers["etag"]
        html = http.get("/ui/").text
        assert "http://" not in html and "https://" not in html  # nothing from elsewhere
        assert http.get("/ui/nope.js").status_code == 404


def test_dashboard_routes_refuse_bad_input_naming_the_field(server: ServeProcess) -> None:
    def loc(r: httpx.Response) -> list[Any]:
        assert r.status_code == 422, r.text
        return [part for d in r.json()["detail"] for part in d["loc"]]

    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert "filters" in loc(http.get("/ui/api/memories", params={"user_id": "erin", "filters": "{bad"}))
        assert "filters" in loc(http.get("/ui/api/memories", params={"user_id": "erin",
                                                                     "filters": json.dumps({"k": {"regex": 1}})}))
        assert "limit" in loc(http.get("/ui/api/memories", params={"user_id": "erin", "limit": 0}))
        assert "offset" in loc(http.get("/ui/api/memories", params={"user_id": "erin", "offset": -1}))
        assert "user_id" in loc(http.get("/ui/api/memories"))  # a scope is required
        some = http.get("/memories", params={"user_id": "erin"}).json()["results"][0]["id"]
        bad_now = http.get(f"/ui/api/memories/{some}/retention", params={"now": "yesterday-ish"})
        assert "now" in loc(bad_now) and "ISO-8601" in bad_now.text
        assert http.get("/ui/api/memories/nope/retention").status_code == 404
        page = http.get("/ui/api/memories", params={"user_id": "erin", "offset": 1, "limit": 5}).json()
        assert page["total"] == 2 and page["offset"] == 1 and len(page["results"]) == 1
        assert http.get("/ui/api/graph", params={"user_id": "erin"}).json() == {
            "enabled": False, "includes_invalid": False, "entities": [], "relations": []}
        # and nothing was lost on the way
        assert len(http.get("/memories", params={"user_id": "erin"}).json()["results"]) == 2
