"""Headless Chromium for the dashboard tests: Debian's ``/usr/bin/chromium`` driven by Playwright.

Nothing is downloaded: Playwright launches the system browser by path (``playwright install`` is
never run). :func:`browser_or_skip` skips the module, saying why, when either is missing.
``MEM7_TEST_CHROMIUM`` names another Chromium binary (default ``/usr/bin/chromium``).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("MEM7_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

LAYOUT_SHIFT_JS = """
window.__cls = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (!e.hadRecentInput) window.__cls += e.value;
}).observe({type: "layout-shift", buffered: true});
"""
"""Sums the page's layout shifts (Chromium's Layout Instability API) into ``window.__cls``."""


def skip_reason() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install 'playwright>=1.50,<2'; scripts/setup.sh installs it)"
    if not CHROMIUM.is_file():
        return (f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; scripts/setup.sh does when apt-get "
                "is usable)")
    return None


@contextmanager
def browser_or_skip() -> Iterator[Any]:
    """One headless Chromium (a Playwright ``Browser``) for a test module."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
