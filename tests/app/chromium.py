"""What the browser tests share: Debian's Chromium driven by Playwright, where screenshots go, and
how to wait for a Streamlit page to finish and check it shows no exception box."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.streamlit_server import CHROMIUM_ARGS

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"  # screenshots, for a human to look at
NEEDS_CHROMIUM = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")


@contextmanager
def launched() -> Iterator:
    """A headless Chromium (the caller skips the module when Playwright is missing)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_tab(browser, width: int = 1366, height: int = 768, timeout_ms: int = 60_000) -> Iterator:
    """A page in a fresh browser context (and so a fresh Streamlit session), closed afterwards."""
    context = browser.new_context(viewport={"width": width, "height": height})
    pg = context.new_page()
    pg.set_default_timeout(timeout_ms)
    try:
        yield pg
    finally:
        context.close()


def wait_idle(pg, seconds: float = 90) -> None:
    """Streamlit shows a 'running' status widget while a script runs; wait until it has been gone a
    second (four looks 250 ms apart), or ``seconds`` have passed."""
    quiet, deadline = 0, time.time() + seconds
    while quiet < 4 and time.time() < deadline:
        pg.wait_for_timeout(250)
        quiet = 0 if pg.locator('[data-testid="stStatusWidget"]').count() else quiet + 1


def no_exception(pg) -> None:
    boxes = pg.locator('[data-testid="stException"]')
    assert boxes.count() == 0, boxes.first.inner_text()
