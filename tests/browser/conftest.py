"""Browser tests: Debian's Chromium driven by Playwright's sync API (never `playwright install`).

Tests marked `@pytest.mark.browser` are skipped without Chromium (and fail under CI=true): see
tests/conftest.py. Screenshots go to `test-artifacts/` at the repo root (git-ignored).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 420, "height": 860}
DEFAULT_TIMEOUT_MS = 10_000


def chromium_path() -> str:
    for path in CHROMIUM_PATHS:
        if os.path.exists(path):
            return path
    pytest.skip("needs Chromium (apt-get install chromium)")
    raise AssertionError  # unreachable


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True, timeout=30_000
        )
        try:
            yield browser
        finally:
            browser.close()


def new_page(
    browser: Any, viewport: dict[str, int] = VIEWPORT, timeout_ms: int = DEFAULT_TIMEOUT_MS
) -> Any:
    """A fresh page in its own context: bounded waits, JavaScript errors collected in
    `page.js_errors`. Close it with `page.context.close()`."""
    context = browser.new_context(viewport=viewport, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    page.set_default_navigation_timeout(timeout_ms)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def on_console(message: Any) -> None:
        # A 4xx answer the page handles (422 form check, 409...) is logged by Chromium too.
        if message.type == "error" and "Failed to load resource" not in message.text:
            errors.append(message.text)

    page.on("console", on_console)
    page.js_errors = errors
    return page


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh 420x860 page; JavaScript errors on it fail the test."""
    from playwright.sync_api import expect

    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    page = new_page(chromium)
    try:
        yield page
    finally:
        page.context.close()
