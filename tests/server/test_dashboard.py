"""The memory dashboard (``/ui``) in a real browser against a real ``mem7 serve``.

One headless Chromium (Debian's, driven by Playwright; nothing downloaded) and one server for the
module: tokens (an admin, alice and bob pinned), the loopback OpenAI server as LLM (facts and graph
triples by its deterministic rules), a flat graph store and decay on. Data goes in through the REST
API; every check of the store is made through the API too. Screenshots of each view are written
under the test's ``tmp_path``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _browser import LAPTOP, LAYOUT_SHIFT_JS, PHONE, browser_or_skip
from _serve import ADMIN, ALICE, BOB, TOKENS, ServeProcess, clean_env

from mem7_core.scorers.decay import DecayConfig, retention
from mem7_core.testing.openai_server import OpenAIServer

HALF_LIFE = 3 * 86400.0  # not the default: the curve must follow the server's settings


@pytest.fixture(scope="module")
def llm() -> Iterator[OpenAIServer]:
    with OpenAIServer(api_key="sk-test") as srv:
        yield srv


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm: OpenAIServer) -> Iterator[ServeProcess]:
    env = clean_env(tmp_path_factory.mktemp("dash-data"), {
        "MEM7_SERVER_TOKENS": json.dumps(TOKENS), "OPENAI_BASE_URL": llm.url, "OPENAI_API_KEY": "sk-test",
        "MEM7_LLM__CONFIG__MAX_RETRIES": "0", "MEM7_LLM_RETRIES": "0",
        "MEM7_GRAPH_STORE__PROVIDER": "flat", "MEM7_DECAY__ENABLED": "true",
        "MEM7_DECAY__BASE_HALF_LIFE_SECS": str(HALF_LIFE),
    })
    with ServeProcess(env) as srv:
        seed(srv)
        yield srv


def api(server: ServeProcess, token: str = ADMIN) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


TOPICS = ["food", "travel", "work"]


def seed(server: ServeProcess) -> None:
    with api(server) as http:
        def add(**body: Any) -> dict[str, Any]:
            r = http.post("/memories", json=body)
            assert r.status_code == 200, r.text
            return r.json()  # type: ignore[no-any-return]

        for i in range(23):  # verbatim, three pages of 10
            add(messages=f"alice note number {i:02d} about {TOPICS[i % 3]}", user_id="alice", infer=False,
                metadata={"topic": TOPICS[i % 3], "n": i},
                memory_type="preference" if i % 4 == 0 else "factual")
        add(messages=[{"role": "user", "content": "I drink green tea every morning", "name": "alice-phone"}],
            user_id="alice", agent_id="support", infer=False, metadata={"topic": "food"})
        add(messages="bob secret plan number one", user_id="bob", infer=False)
        add(messages="bob secret plan number two", user_id="bob", run_id="run-7", infer=False)
        # Inferred through the loopback LLM: facts, and graph triples; the second move outdates the first.
        add(messages="I moved to Berlin.", user_id="carol")
        add(messages="I moved to Paris.", user_id="carol")
        add(messages="I work at Acme.", user_id="carol")


# ------------------------------------------------------------------------------------ browser
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with browser_or_skip() as b:
        yield b


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    out = tmp_path / "screenshots"
    out.mkdir()
    return out


def open_page(browser: Any, server: ServeProcess, token: str | None, route: str = "#/scopes",
              viewport: dict[str, int] = LAPTOP) -> Any:
    """A fresh tab (own sessionStorage) on ``route``, signed in with ``token`` through the dialog."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.add_init_script(LAYOUT_SHIFT_JS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # console errors other than the browser's note of an HTTP error status (401 before the token, 403s)
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.js_errors = errors
    page.goto(f"{server.url}/ui/{route}")
    if token is not None:
        page.get_by_label("Token", exact=True).fill(token)
        then_ready(page, lambda: page.get_by_role("button", name="Use this token").click())
    return page


def wait_ready(page: Any, view: str | None = None) -> None:
    page.wait_for_function("view => document.body.dataset.ready && (!view || document.body.dataset.ready === view)",
                           arg=view)


def then_ready(page: Any, action: Any, view: str | None = None) -> None:
    """Run ``action`` (a click...) and wait for the view it leads to to be drawn."""
    page.evaluate("() => { delete document.body.dataset.ready; }")
    action()
    wait_ready(page, view)


def go(page: Any, route: str) -> None:
    if page.evaluate("() => location.hash") != route:
        then_ready(page, lambda: page.evaluate("r => { location.hash = r; }", route))


def layout_shift(page: Any) -> float:
    return float(page.evaluate("() => window.__cls"))


# ------------------------------------------------------------------------------------ views
def test_scopes_view_lists_every_user_agent_and_run_with_the_api_counts(browser: Any, server: ServeProcess,
                                                                        shots: Path) -> None:
    page = open_page(browser, server, ADMIN)
    with api(server) as http:
        counts = {u: len(http.get("/memories", params={"user_id": u, "limit": 1000}).json()["results"])
                  for u in ("alice", "bob", "carol")}
        support = len(http.get("/memories", params={"agent_id": "support"}).json()["results"])
        run7 = len(http.get("/memories", params={"run_id": "run-7"}).json()["results"])
    users = page.get_by_test_id("scopes-user_id")
    for user, n in counts.items():
        assert users.get_by_role("row", name=user).get_by_role("cell").inner_text() == str(n)
    assert page.get_by_test_id("scopes-agent_id").get_by_role("row", name="support").get_by_role("cell").inner_text() == str(support)
    assert page.get_by_test_id("scopes-run_id").get_by_role("row", name="run-7").get_by_role("cell").inner_text() == str(run7)
    assert page.get_by_test_id("scope-total").inner_text().startswith(f"{sum(counts.values())} memories")
    assert page.get_by_text("unrestricted token").is_visible()
    assert layout_shift(page) < 0.02
    page.screenshot(path=shots / "scopes.png", full_page=True)
    then_ready(page, lambda: page.get_by_role("link", name="bob", exact=True).click(), "memories")
    assert "bob secret plan number one" in page.get_by_test_id("memory-table").inner_text()
    assert not page.js_errors


def test_memory_table_filters_pages_and_exports_the_view(browser: Any, server: ServeProcess, shots: Path,
                                                        tmp_path: Path) -> None:
    page = open_page(browser, server, ADMIN, "#/memories?user_id=alice&size=10")
    table = page.get_by_test_id("memory-table")
    assert page.get_by_test_id("page-status").inner_text() == "Showing 1–10 of 24"
    assert table.locator("tbody tr").count() == 10
    assert "alice note number 00" in table.inner_text() and "number 10" not in table.inner_text()
    page.screenshot(path=shots / "memories.png", full_page=True)
    then_ready(page, lambda: page.get_by_role("link", name="Next").click())
    assert page.get_by_test_id("page-status").inner_text() == "Showing 11–20 of 24"
    assert "alice note number 10" in table.inner_text()

    # filters: metadata and type, through the form
    page.get_by_label("metadata filter (JSON)").fill('{"topic": "travel"}')
    page.get_by_label("memory type").select_option("factual")
    then_ready(page, lambda: page.get_by_role("button", name="Apply").click())
    with api(server) as http:
        expected = http.get("/memories", params={"user_id": "alice", "filters": json.dumps(
            {"topic": "travel", "memory_type": "factual"})}).json()["results"]
    assert page.get_by_test_id("page-status").inner_text() == f"Showing 1–{len(expected)} of {len(expected)}"
    shown = table.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert shown == [m["id"] for m in expected] and len(expected) == 6

    # created range: everything today, nothing before
    today = expected[0]["created_at"][:10]
    page.get_by_label("created from").fill(today)
    then_ready(page, lambda: page.get_by_role("button", name="Apply").click())
    assert table.locator("tbody tr").count() == 6
    page.get_by_label("created from").fill("")
    page.get_by_label("created until").fill("2000-01-01")
    then_ready(page, lambda: page.get_by_role("button", name="Apply").click())
    assert page.get_by_test_id("page-status").inner_text() == "Showing 0–0 of 0"

    # a bad filter: a clear error naming the field, nothing lost
    page.get_by_label("created until").fill("")
    page.get_by_label("metadata filter (JSON)").fill('{"topic": {"regex": "x"}}')
    then_ready(page, lambda: page.get_by_role("button", name="Apply").click())
    assert "filters" in page.get_by_test_id("view-error").inner_text()
    assert "regex" in page.get_by_test_id("view-error").inner_text()
    page.get_by_label("metadata filter (JSON)").fill("{nope")
    then_ready(page, lambda: page.get_by_role("button", name="Apply").click())
    assert "metadata filter: not valid JSON" in page.get_by_test_id("view-error").inner_text()
    assert page.get_by_label("metadata filter (JSON)").input_value() == "{nope"  # kept for fixing

    # export of the current view (all its pages) as JSONL: what the API lists
    view = {"n": {"gte": 5}}  # 18 of alice's memories: two pages of 10
    go(page, "#/memories?user_id=alice&size=10&meta=" + json.dumps(view))
    assert page.get_by_test_id("page-status").inner_text() == "Showing 1–10 of 18"
    with page.expect_download() as info:
        page.get_by_test_id("export").click()
    path = tmp_path / "export.jsonl"
    info.value.save_as(path)
    assert info.value.suggested_filename == "mem7-alice.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    with api(server) as http:
        listed = http.get("/memories", params={"user_id": "alice", "limit": 1000,
                                               "filters": json.dumps(view)}).json()["results"]
    assert lines == listed and len(lines) == 18
    assert not page.js_errors


def test_edit_and_delete_in_the_table_change_the_store_and_the_history(browser: Any, server: ServeProcess,
                                                                       shots: Path) -> None:
    with api(server) as http:
        target = http.post("/memories", json={"messages": "dave likes jazz", "user_id": "dave", "infer": False}).json()
        other = http.post("/memories", json={"messages": "dave likes rock", "user_id": "dave", "infer": False}).json()
    mid, oid = target["results"][0]["id"], other["results"][0]["id"]
    page = open_page(browser, server, ADMIN, "#/memories?user_id=dave")
    row = page.locator(f"tr[data-id='{mid}']")
    row.get_by_role("button", name="Edit").click()
    row.get_by_label("Memory text").fill("dave loves modal jazz")
    then_ready(page, lambda: row.get_by_role("button", name="Save").click())
    assert page.get_by_role("status").inner_text() == "Memory updated."
    with api(server) as http:
        assert http.get(f"/memories/{mid}").json()["memory"] == "dave loves modal jazz"
        events = http.get(f"/memories/{mid}/history").json()
    assert [e["event"] for e in events] == ["ADD", "UPDATE"]
    assert events[1]["old_memory"] == "dave likes jazz" and events[1]["new_memory"] == "dave loves modal jazz"
    assert "dave loves modal jazz" in page.get_by_test_id("memory-table").inner_text()

    # delete asks first; Cancel keeps the memory
    page.locator(f"tr[data-id='{oid}']").get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete this memory?")
    assert "dave likes rock" in dialog.inner_text()
    page.screenshot(path=shots / "delete-confirmation.png")
    dialog.get_by_role("button", name="Cancel").click()
    with api(server) as http:
        assert http.get(f"/memories/{oid}").status_code == 200
    page.locator(f"tr[data-id='{oid}']").get_by_role("button", name="Delete").click()
    then_ready(page, lambda: dialog.get_by_role("button", name="Delete").click())
    assert page.get_by_role("status").inner_text() == "Memory deleted."
    with api(server) as http:
        assert http.get(f"/memories/{oid}").status_code == 404
        assert [e["event"] for e in http.get(f"/memories/{oid}/history").json()] == ["ADD", "DELETE"]
    assert page.locator(f"tr[data-id='{oid}']").count() == 0
    assert not page.js_errors


def test_memory_page_shows_history_metadata_access_and_the_retention_curve(browser: Any, server: ServeProcess,
                                                                           shots: Path) -> None:
    with api(server) as http:
        tea = http.get("/memories", params={"agent_id": "support"}).json()["results"][0]
        mid = tea["id"]
        assert http.put(f"/memories/{mid}", json={"text": "I drink green tea twice a day"}).status_code == 200
        http.post("/memories/search", json={"query": "green tea", "agent_id": "support"})  # rehearses it
    page = open_page(browser, server, ADMIN, f"#/memory/{mid}?agent_id=support")
    with api(server) as http:
        item = http.get(f"/memories/{mid}").json()
        events = http.get(f"/memories/{mid}/history").json()
        curve = http.get(f"/ui/api/memories/{mid}/retention").json()
    assert page.get_by_role("heading", level=1).inner_text() == "I drink green tea twice a day"
    facts = page.get_by_test_id("memory-facts")
    assert facts.locator("dd[data-key='access count']").inner_text() == str(item["access_count"])
    assert item["access_count"] >= 1 and item.get("last_accessed_at")
    assert facts.locator("dd[data-key='last access']").inner_text().startswith(item["last_accessed_at"][:10])
    assert "topic" in page.get_by_test_id("memory-metadata").inner_text()
    timeline = page.get_by_test_id("history").locator("li")
    assert timeline.evaluate_all("li => li.map(x => x.dataset.event)") == [e["event"] for e in events] == ["ADD", "UPDATE"]
    assert "by actor alice-phone, role user" in timeline.nth(0).inner_text()
    assert "I drink green tea every morning" in timeline.nth(1).locator("del").inner_text()
    assert "twice a day" in timeline.nth(1).locator("ins").inner_text()

    # the curve: the decay scorer's retention under the server's settings, marker at "now"
    cfg = DecayConfig(enabled=True, base_half_life_secs=HALF_LIFE)
    assert curve["settings"]["enabled"] is True and curve["settings"]["base_half_life_secs"] == HALF_LIFE
    for p in curve["points"]:
        assert math.isclose(p["retention"], retention(p["age_secs"], item["access_count"], cfg), rel_tol=1e-12)
    assert curve["points"][-1]["retention"] < 0.5 < curve["points"][0]["retention"] == 1.0
    plot = page.get_by_test_id("retention-plot")
    assert plot.is_visible()
    marker = page.get_by_test_id("now-marker")
    cy = float(marker.get_attribute("cy"))
    # the plot maps retention r to y = 16 + 204 * (1 - r): the marker sits at the API's retention now
    assert math.isclose(cy, 16 + 204 * (1 - curve["retention_now"]), abs_tol=1.0)
    assert "Decay is on" in page.get_by_test_id("retention-summary").inner_text()
    assert layout_shift(page) < 0.02
    page.screenshot(path=shots / "memory.png", full_page=True)
    assert not page.js_errors


def test_graph_view_draws_relations_and_the_invalidated_one_as_such(browser: Any, server: ServeProcess,
                                                                    shots: Path) -> None:
    with api(server) as http:
        graph = http.get("/ui/api/graph", params={"user_id": "carol"}).json()
    assert graph["includes_invalid"] is True
    invalid = [r for r in graph["relations"] if not r["valid"]]
    valid = [r for r in graph["relations"] if r["valid"]]
    assert [(r["relationship"], r["destination"]) for r in invalid] == [("moved_to", "berlin")]
    assert ("moved_to", "paris") in [(r["relationship"], r["destination"]) for r in valid]
    page = open_page(browser, server, ADMIN, "#/graph?user_id=carol")
    edges = page.get_by_test_id("graph-edge")
    assert edges.count() == len(graph["relations"])
    assert page.get_by_test_id("graph-node").count() == len(graph["entities"])
    drawn_invalid = page.locator("[data-testid=graph-edge][data-valid=false]")
    assert drawn_invalid.count() == 1
    assert drawn_invalid.locator("text").text_content() == "moved_to (invalid)"
    line = drawn_invalid.locator("line")
    assert line.evaluate("l => getComputedStyle(l).strokeDasharray") not in ("", "none")
    assert page.locator("[data-testid=graph-edge][data-valid=true] line").first.evaluate(
        "l => getComputedStyle(l).strokeDasharray") == "none"
    assert "no (invalidated)" in page.get_by_test_id("relations").inner_text()
    page.screenshot(path=shots / "graph.png", full_page=True)
    assert not page.js_errors


def test_search_playground_shows_each_results_score_parts_as_the_api_gave_them(browser: Any, server: ServeProcess,
                                                                                shots: Path) -> None:
    with api(server) as http:
        before = {m["id"]: m["access_count"] for m in http.get("/memories", params={"user_id": "alice"}).json()["results"]}
    page = open_page(browser, server, ADMIN, "#/search")
    page.get_by_label("query").fill("notes about travel")
    page.get_by_label("user_id").fill("alice")
    page.get_by_label("results").fill("5")
    with page.expect_response(lambda r: r.url.endswith("/memories/search")) as info:
        then_ready(page, lambda: page.get_by_role("button", name="Search").click())
    body = info.value.request.post_data_json
    assert body["explain"] is True and body["user_id"] == "alice" and body["limit"] == 5
    assert body["rehearse"] is False  # the playground looks without stamping accesses (decay is on here)
    answer = info.value.json()["results"]
    assert len(answer) == 5
    cards = page.locator("[data-testid=results] > li")
    assert cards.evaluate_all("li => li.map(x => x.dataset.id)") == [r["id"] for r in answer]
    for card, result in zip(cards.all(), answer):
        parts = result["score_parts"]
        assert parts, result
        shown = {row.get_attribute("data-part"): float(row.locator("td.value").get_attribute("data-value"))
                 for row in card.locator("tr[data-part]").all()}
        assert shown == parts
        assert float(card.get_by_test_id("score").get_attribute("data-value")) == result["score"]
        # the steps the page shows combine (from 0: add / multiply / set) into the API's score
        steps = result["score_steps"]
        total = 0.0
        for st in steps:
            total = total + st["value"] if st["op"] == "add" else total * st["value"] if st["op"] == "multiply" else st["value"]
        assert math.isclose(total, result["score"], rel_tol=1e-9, abs_tol=1e-12)
        assert card.get_by_test_id("steps-total").inner_text() == f"= {result['score']:.4f}"
        assert card.locator(".step").count() == len(steps)
    assert layout_shift(page) < 0.02
    page.screenshot(path=shots / "search.png", full_page=True)
    with api(server) as http:  # looking changed nothing: a rehearsal would have bumped the results' counts
        after = {m["id"]: m["access_count"] for m in http.get("/memories", params={"user_id": "alice"}).json()["results"]}
    assert after == before
    assert not page.js_errors


# ------------------------------------------------------------------------------------ auth
def test_a_pinned_token_sees_and_reaches_only_its_scope(browser: Any, server: ServeProcess, shots: Path) -> None:
    page = open_page(browser, server, ALICE)
    assert page.get_by_text("pinned to user_id=alice", exact=True).is_visible()
    assert page.get_by_test_id("scopes-user_id").locator("tbody tr").all_inner_texts() == ["alice\t24"]
    assert "bob" not in page.locator("main").inner_text() and "carol" not in page.locator("main").inner_text()

    go(page, "#/memories?user_id=bob")
    assert "pinned to user_id=alice" in page.get_by_role("alert").inner_text()
    assert "bob secret" not in page.locator("main").inner_text()
    go(page, "#/memories?agent_id=support")
    assert page.get_by_label("user_id").input_value() == "alice"
    assert page.get_by_label("user_id").get_attribute("readonly") is not None
    assert "green tea" in page.get_by_test_id("memory-table").inner_text()
    page.screenshot(path=shots / "pinned.png", full_page=True)

    with api(server) as http:
        bob_id = http.get("/memories", params={"user_id": "bob"}).json()["results"][0]["id"]
    go(page, "#/search?q=plan&user_id=bob")
    assert "bob secret" not in page.locator("main").inner_text()
    go(page, f"#/memory/{bob_id}")  # no scope asked: the pin applies, bob's memory is not found
    assert "404" in page.get_by_test_id("view-error").inner_text()
    # the API itself refuses the page's token outside the pin
    statuses = page.evaluate("""async (bob) => {
        const h = {Authorization: 'Bearer ' + sessionStorage.getItem('mem7.dashboard.token')};
        const get = async (p) => (await fetch(p, {headers: h})).status;
        return [await get('/ui/api/memories?user_id=bob'), await get('/ui/api/graph?user_id=bob'),
                await get('/ui/api/memories/' + bob + '/retention'), await get('/ui/api/scopes'),
                await get('/memories?user_id=bob')];
    }""", bob_id)
    assert statuses == [403, 403, 404, 200, 403]
    with api(server, BOB) as http:  # the scope counts of a pinned token: its pin's only
        counts = http.get("/ui/api/scopes").json()
    assert counts["users"] == [{"id": "bob", "count": 2}] and counts["total"] == 2
    assert {(r["user_id"], r.get("run_id")) for r in counts["scopes"]} == {("bob", None), ("bob", "run-7")}
    assert not page.js_errors


def test_the_token_is_asked_once_and_a_wrong_one_is_refused(browser: Any, server: ServeProcess) -> None:
    page = open_page(browser, server, None)  # the dialog comes up (once the page's first call is refused)
    dialog = page.get_by_role("dialog", name="Bearer token")
    dialog.wait_for(state="visible")  # not is_visible() at once: it raced the page's script on a loaded machine
    assert dialog.is_visible()
    page.keyboard.press("Escape")  # the dialog stays: there is nothing to show without a token
    assert dialog.is_visible()
    page.get_by_label("Token", exact=True).fill("not-a-token")
    page.get_by_role("button", name="Use this token").click()
    assert "unknown bearer token" in page.get_by_role("alert").inner_text()
    page.get_by_label("Token", exact=True).fill(ADMIN)
    then_ready(page, lambda: page.get_by_role("button", name="Use this token").click(), "scopes")
    go(page, "#/memories?user_id=bob")  # no more prompts; the token stays in this tab
    assert not dialog.is_visible()
    page.reload()
    wait_ready(page, "memories")
    assert not dialog.is_visible() and "bob secret plan number one" in page.get_by_test_id("memory-table").inner_text()


# ------------------------------------------------------------------------------------ accessibility and layout
def test_keyboard_alone_reaches_the_main_controls_with_a_visible_focus(browser: Any, server: ServeProcess) -> None:
    page = open_page(browser, server, ADMIN, "#/memories?user_id=dave")
    page.locator("body").focus()
    reached: list[str] = []
    for _ in range(60):
        page.keyboard.press("Tab")
        info = page.evaluate("""() => {
            const el = document.activeElement;
            if (el === document.body) return null;  // past the last control: focus left the page
            const name = el.getAttribute('aria-label') || el.labels?.[0]?.textContent || el.textContent.trim();
            return {name, outline: getComputedStyle(el).outlineStyle, width: getComputedStyle(el).outlineWidth};
        }""")
        if info is None:
            break
        assert info["outline"] != "none" and info["width"] != "0px", info
        reached.append(info["name"])
    for control in ("Skip to content", "Scopes", "Memories", "Search", "Forget token", "user_id",
                    "metadata filter (JSON)", "memory type", "created from", "Apply", "Export this view (JSONL)"):
        assert control in reached, (control, reached)
    assert any(n.startswith("Edit: ") for n in reached) and any(n.startswith("Delete: ") for n in reached)
    # Enter on a navigation link changes the view
    page.get_by_role("link", name="Scopes", exact=True).focus()
    then_ready(page, lambda: page.keyboard.press("Enter"), "scopes")
    assert page.get_by_role("heading", level=1).inner_text() == "Scopes"


def test_every_view_fits_a_phone_without_horizontal_overflow(browser: Any, server: ServeProcess, shots: Path) -> None:
    with api(server) as http:
        mid = http.get("/memories", params={"user_id": "alice"}).json()["results"][0]["id"]
    page = open_page(browser, server, ADMIN, viewport=PHONE)
    routes = {"scopes": "#/scopes", "memories": "#/memories?user_id=alice", "memory": f"#/memory/{mid}",
              "search": "#/search?q=travel&user_id=alice", "graph": "#/graph?user_id=carol"}
    for name, route in routes.items():
        go(page, route)
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], (name, width)
        page.screenshot(path=shots / f"phone-{name}.png", full_page=True)
    assert len(list(shots.glob("phone-*.png"))) == 5
    assert not page.js_errors
