"""A real browser: Playwright drives Debian's Chromium against `streamlit run app.py` on loopback.

Skipped when Playwright or /usr/bin/chromium is missing (CI installs both: see .ci/run).
Screenshots land in test-artifacts/ for a human to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.streamlit_server import CHROMIUM_ARGS, running_app
from toymae.catalog import load_manifest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
    pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints"),
]


@pytest.fixture(scope="module")
def server():
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(ARTIFACTS / "streamlit.log") as (url, _):
        yield url


@pytest.fixture(scope="module")
def page(server):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def wait_idle(pg) -> None:
    """Streamlit shows a 'running' status widget while a script runs; wait until it is gone."""
    pg.wait_for_timeout(300)
    pg.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    pg.wait_for_timeout(300)


def no_exception(pg) -> None:
    assert pg.locator('[data-testid="stException"]').count() == 0, pg.locator(
        '[data-testid="stException"]'
    ).first.inner_text()


def panels_signature(pg) -> str:
    """The reconstruction panels' data, as plotly holds it in the page."""
    return pg.evaluate(
        "() => { const d = document.querySelectorAll('.js-plotly-plot')[0];"
        " return JSON.stringify(d.data.map(t => t.z)); }"
    )


@pytest.mark.parametrize("path", ["reconstruct", "hallucinations", "representations", "train", "reproduce"])
def test_every_page_opens(page, server, path):
    page.goto(f"{server}/{path}")
    page.wait_for_selector('[data-testid="stAppViewContainer"]')
    page.wait_for_selector("h1")
    wait_idle(page)
    no_exception(page)
    page.screenshot(path=str(ARTIFACTS / f"page-{path}.png"), full_page=True)


def test_slider_changes_reconstruction(page, server):
    page.goto(f"{server}/reconstruct?ratio=0.6")
    page.wait_for_selector(".js-plotly-plot")
    wait_idle(page)
    before = panels_signature(page)
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Mask ratio").locator('[role="slider"]')
    slider.focus()
    for _ in range(4):
        slider.press("ArrowRight")
    wait_idle(page)
    page.wait_for_function("() => window.location.search.includes('ratio=0.8')", timeout=20_000)
    after = panels_signature(page)
    no_exception(page)
    assert before != after
    page.screenshot(path=str(ARTIFACTS / "reconstruct-ratio-0.8.png"), full_page=True)


def test_clicking_patches_on_the_mask_grid(page, server):
    page.goto(f"{server}/reconstruct?mask_mode=Draw")
    page.wait_for_selector(".js-plotly-plot")
    wait_idle(page)
    hidden_before = page.locator('[data-testid="stMetric"]').filter(has_text="Hidden patches").inner_text()
    before = panels_signature(page)
    grid = page.locator(".js-plotly-plot").nth(1)  # the mask grid is the second chart on the page
    box = grid.locator(".nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.1)  # top-left patch
    wait_idle(page)
    page.wait_for_function(
        "(t) => ![...document.querySelectorAll('[data-testid=\"stMetric\"]')].some(e => e.innerText === t)",
        arg=hidden_before,
        timeout=20_000,
    )
    no_exception(page)
    assert panels_signature(page) != before
    page.screenshot(path=str(ARTIFACTS / "reconstruct-drawn-mask.png"), full_page=True)
