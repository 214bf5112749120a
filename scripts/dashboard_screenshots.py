"""Regenerate the dashboard screenshots of docs/server.md (docs/images/dashboard/*.png).

    .venv/bin/python scripts/dashboard_screenshots.py [--out docs/images/dashboard]

Starts a real ``mem7 serve`` on a free loopback port over a temporary data directory (the core's
``hash`` test embedder, the testing kit's loopback OpenAI server as the LLM, a flat graph store,
decay on), adds demo memories through the REST API, and photographs each view in headless
Chromium (Debian's ``/usr/bin/chromium`` driven by Playwright, as the tests do; nothing is
downloaded). The PNGs are reduced to a 64-colour palette with Pillow (installed with mem7-fastembed)
to keep them small.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "server"))

import httpx  # noqa: E402
from _browser import CHROMIUM, CHROMIUM_ARGS, skip_reason  # noqa: E402
from _serve import ServeProcess, clean_env  # noqa: E402

from mem7_core.testing.openai_server import OpenAIServer  # noqa: E402

TOKEN = "tok-demo-admin"
SIZE = {"width": 1100, "height": 720}
MAX_HEIGHT = 1100  # pixels of a full-page shot kept


def demo_data(url: str) -> str:
    """Memories for the screenshots; returns the id of the one whose page is shown."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as http:
        def add(**body: Any) -> dict[str, Any]:
            r = http.post("/memories", json=body)
            r.raise_for_status()
            return r.json()  # type: ignore[no-any-return]

        verbatim = [
            ("I am vegetarian and allergic to nuts", "preference", {"topic": "food"}),
            ("My favourite editor theme is solarized dark", "preference", {"topic": "tools"}),
            ("I run 10 km every Saturday morning", "factual", {"topic": "sport"}),
            ("The staging database is called atlas-stg", "factual", {"topic": "work"}),
            ("Deploys go out on Tuesdays after the standup", "procedural", {"topic": "work"}),
            ("Flight to Lisbon booked for the 14th of May", "episodic", {"topic": "travel"}),
        ]
        for text, kind, meta in verbatim:
            add(messages=text, user_id="alice", infer=False, memory_type=kind, metadata=meta)
        # said six days ago: its retention curve is six days along
        tea = add(messages=[{"role": "user", "content": "I drink green tea every morning", "name": "alice-phone"}],
                  user_id="alice", agent_id="support", infer=False, metadata={"topic": "food"},
                  timestamp=time.time() - 6 * 86400)
        tea_id = tea["results"][0]["id"]
        add(messages="I moved to Berlin. I work at Acme.", user_id="alice", agent_id="planner")
        add(messages="I moved to Lisbon.", user_id="alice", agent_id="planner")
        add(messages="Prefers email over phone calls", user_id="bob", infer=False, memory_type="preference")
        add(messages="Asked about the refund policy", user_id="bob", run_id="chat-2291", infer=False,
            memory_type="episodic")
        return tea_id


def shoot(page: Any, path: Path) -> int:
    from PIL import Image

    raw = page.screenshot(full_page=True)
    image = Image.open(io.BytesIO(raw))
    if image.height > MAX_HEIGHT:
        image = image.crop((0, 0, image.width, MAX_HEIGHT))
    image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "dashboard")
    args = parser.parse_args(argv)
    reason = skip_reason()
    if reason is not None:
        print(f"dashboard_screenshots: {reason}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data, OpenAIServer(api_key="sk-demo") as llm:
        env = clean_env(Path(data), {
            "MEM7_SERVER_TOKENS": json.dumps({TOKEN: None}), "OPENAI_BASE_URL": llm.url, "OPENAI_API_KEY": "sk-demo",
            "MEM7_GRAPH_STORE__PROVIDER": "flat", "MEM7_DECAY__ENABLED": "true",
        })
        with ServeProcess(env) as server:
            tea_id = demo_data(server.url)
            views = {
                "scopes": "#/scopes",
                "memories": "#/memories?user_id=alice&size=10",
                "memory": f"#/memory/{tea_id}",
                "search": "#/search?q=what+does+alice+drink&user_id=alice&limit=3",
                "graph": "#/graph?user_id=alice&agent_id=planner",
            }
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=SIZE, color_scheme="light")
                page.goto(f"{server.url}/ui/")
                page.get_by_label("Token", exact=True).fill(TOKEN)
                page.get_by_role("button", name="Use this token").click()
                page.wait_for_function("() => document.body.dataset.ready")
                total = 0
                for name, route in views.items():
                    page.evaluate("r => { delete document.body.dataset.ready; location.hash = r; }", route)
                    page.wait_for_function("() => document.body.dataset.ready")
                    page.evaluate("() => document.activeElement.blur()")
                    size = shoot(page, args.out / f"{name}.png")
                    total += size
                    print(f"{args.out / f'{name}.png'}: {size // 1024} KiB")
                browser.close()
    print(f"total {total // 1024} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
