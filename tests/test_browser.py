"""A real browser: Playwright drives Debian's Chromium against `streamlit run app.py` on loopback.

Skipped when Playwright or /usr/bin/chromium is missing (CI installs both: see .ci/run).
Screenshots land in test-artifacts/ for a human to look at.
"""

from __future__ import annotations

import time
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
def browser(server):
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    """A fresh tab (and so a fresh Streamlit session) for every test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def wait_idle(pg) -> None:
    """Streamlit shows a 'running' status widget while a script runs; wait until it has been gone a while."""
    quiet = 0
    deadline = time.time() + 90
    while quiet < 4 and time.time() < deadline:
        pg.wait_for_timeout(250)
        running = pg.locator('[data-testid="stStatusWidget"]').count() > 0
        quiet = 0 if running else quiet + 1


def no_exception(pg) -> None:
    assert pg.locator('[data-testid="stException"]').count() == 0, pg.locator(
        '[data-testid="stException"]'
    ).first.inner_text()


def metric_value(pg, label: str) -> str:
    return pg.evaluate(
        """(label) => {
            const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
                .filter(e => e.querySelector('[data-testid="stMetricLabel"]').innerText.trim() === label);
            return m.length ? m[m.length - 1].querySelector('[data-testid="stMetricValue"]').innerText : null;
        }""",
        label,
    )


def panels_signature(pg) -> str:
    """The reconstruction panels' data, as plotly holds it in the page."""
    return pg.evaluate(
        "() => { const d = [...document.querySelectorAll('.js-plotly-plot')]"
        ".find(p => p.data.length === 4 && p.data.every(t => t.type === 'heatmap'));"
        " return JSON.stringify(d.data.map(t => t.z)); }"
    )


@pytest.mark.parametrize("path", ["", "hallucinations", "representations", "train", "reproduce"])
def test_every_page_opens(page, server, path):
    page.goto(f"{server}/{path}")
    page.wait_for_selector('[data-testid="stAppViewContainer"]')
    page.wait_for_selector("h1")
    wait_idle(page)
    no_exception(page)
    page.screenshot(path=str(ARTIFACTS / f"page-{path or 'reconstruct'}.png"), full_page=True)


def test_a_shared_link_is_the_first_visit_of_a_fresh_server(browser):
    """A fresh server runs a direct link in Streamlit's legacy multipage mode (menu of pages/ files,
    `_shared` included); the page reruns through app.py, so the app's own menu and the URL's
    settings show."""
    with running_app(ARTIFACTS / "streamlit-fresh.log") as (url, _):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        pg.goto(f"{url}/reproduce?r_metric=held-out+loss")
        pg.wait_for_selector("h1")
        wait_idle(pg)
        nav = pg.locator('[data-testid="stSidebarNav"]').inner_text()
        pg.screenshot(path=str(ARTIFACTS / "fresh-server-direct-link.png"))
        assert "Reproduce" in nav and "Reconstruct" in nav, nav
        assert "shared" not in nav.lower(), nav
        assert pg.locator("h1", has_text="Reproduce the blog").count() == 1
        assert pg.locator("svg text", has_text="MSE on hidden patches").count() >= 1  # URL's metric kept
        no_exception(pg)
        context.close()


def test_slider_changes_reconstruction(page, server):
    page.goto(f"{server}/?ratio=0.6")
    page.wait_for_selector(".js-plotly-plot")
    wait_idle(page)
    before = panels_signature(page)
    slider = page.locator('input[type="range"][aria-label="Mask ratio"]')
    assert slider.get_attribute("value") == "0.6"
    slider.focus()
    for _ in range(4):
        slider.press("ArrowRight")
    page.wait_for_function("() => window.location.search.includes('ratio=0.8')", timeout=60_000)
    deadline = time.time() + 60  # the rerun's new panels replace the old ones
    while panels_signature(page) == before and time.time() < deadline:
        page.wait_for_timeout(250)
    wait_idle(page)
    after = panels_signature(page)
    no_exception(page)
    assert before != after
    page.screenshot(path=str(ARTIFACTS / "reconstruct-ratio-0.8.png"), full_page=True)


def test_selecting_patches_on_the_mask_grid(page, server):
    page.goto(f"{server}/?mask_mode=Draw&mask_tool=Box")
    page.wait_for_selector(".js-plotly-plot")
    wait_idle(page)
    hidden_before = metric_value(page, "Hidden patches")
    before = panels_signature(page)
    box, _ = patch_grid_area(page)
    # Drag a small box over the top-left patch (box selection), as a user selecting patches would.
    page.mouse.move(box["x"] + box["width"] * 0.02, box["y"] + box["height"] * 0.02)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.08, box["y"] + box["height"] * 0.08, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.14, box["y"] + box["height"] * 0.14, steps=5)
    page.mouse.up()
    wait_idle(page)
    deadline = time.time() + 30
    while metric_value(page, "Hidden patches") == hidden_before and time.time() < deadline:
        page.wait_for_timeout(250)
    page.screenshot(path=str(ARTIFACTS / "reconstruct-drawn-mask.png"), full_page=True)
    assert metric_value(page, "Hidden patches") != hidden_before
    no_exception(page)
    assert panels_signature(page) != before
    page.screenshot(path=str(ARTIFACTS / "reconstruct-drawn-mask.png"), full_page=True)


def patch_grid_area(pg):
    """The patch grid's plot area (the one scatter chart) and its grid size, scrolled into view."""
    index = pg.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot')].findIndex(p => p.data[0].type === 'scatter')"
    )
    grid = pg.locator(".js-plotly-plot").nth(index)
    grid.scroll_into_view_if_needed()
    size = pg.evaluate(
        # _fullData: plotly's decoded copy (numpy arrays arrive base64-packed in data).
        "(i) => Math.round(Math.sqrt("
        "[...document.querySelectorAll('.js-plotly-plot')][i]._fullData[0]._length))",
        index,
    )
    return grid.locator(".nsewdrag").first.bounding_box(), size


def click_patch(pg, row: int, col: int) -> None:
    """Point at a patch, let plotly register the hover (as a hand on a mouse does), then click."""
    box, g = patch_grid_area(pg)
    # Axis ranges are [-0.6, g - 0.4]: patch c's centre lies (c + 0.6) / g of the way across.
    x = box["x"] + box["width"] * (col + 0.6) / g
    y = box["y"] + box["height"] * (row + 0.6) / g
    pg.mouse.move(x - 3, y - 3)
    pg.mouse.move(x, y, steps=3)
    pg.wait_for_timeout(400)
    pg.mouse.down()
    pg.mouse.up()


def wait_metric_change(pg, label: str, old: str, seconds: float = 30) -> str:
    deadline = time.time() + seconds
    while metric_value(pg, label) == old and time.time() < deadline:
        pg.wait_for_timeout(250)
    wait_idle(pg)
    return metric_value(pg, label)


def test_clicking_a_patch_toggles_it_and_a_second_click_toggles_it_back(page, server):
    page.goto(f"{server}/?mask_mode=Draw")
    page.wait_for_selector(".js-plotly-plot")
    wait_idle(page)
    start = metric_value(page, "Hidden patches")
    click_patch(page, 3, 5)
    once = wait_metric_change(page, "Hidden patches", start)
    assert once != start, "a single click on a patch changed nothing"
    assert abs(int(once.split("/")[0]) - int(start.split("/")[0])) == 1  # exactly one patch flipped
    click_patch(page, 3, 5)
    twice = wait_metric_change(page, "Hidden patches", once)
    no_exception(page)
    page.screenshot(path=str(ARTIFACTS / "reconstruct-clicked-patch.png"), full_page=True)
    assert twice == start, "clicking the same patch again did not undo the first click"


PCA_CHART = (
    "[...document.querySelectorAll('.js-plotly-plot')]"
    ".find(p => p.layout && p.layout.xaxis && p.layout.xaxis.title && p.layout.xaxis.title.text === 'PC 1')"
)


def test_hovering_a_pca_point_shows_a_picture_of_its_image(page, server):
    page.goto(f"{server}/representations")
    page.wait_for_function(f"() => !!{PCA_CHART}", timeout=90_000)
    wait_idle(page)
    page.evaluate(f"() => {PCA_CHART}.scrollIntoView({{block: 'center'}})")
    page.wait_for_timeout(300)
    xy = page.evaluate(
        f"""() => {{
            const gd = {PCA_CHART}, r = gd.getBoundingClientRect(), L = gd._fullLayout;
            const t = gd._fullData[0];  // decoded arrays (numpy data arrives base64-packed)
            return [r.left + L._size.l + L.xaxis.l2p(t.x[0]), r.top + L._size.t + L.yaxis.l2p(t.y[0])];
        }}"""
    )
    page.mouse.move(xy[0] - 4, xy[1] - 4)
    page.mouse.move(xy[0], xy[1], steps=3)
    page.wait_for_function(
        "() => /[\u2580\u2584\u2588]/.test(document.querySelector('.hoverlayer')?.textContent || '')",
        timeout=10_000,
    )
    text = page.locator(".hoverlayer").first.text_content()
    page.screenshot(path=str(ARTIFACTS / "representations-hover.png"))
    assert "circle" in text or "square" in text  # the factors, then the picture
    assert text.count("\u2588") >= 10  # a picture of an object covers many full cells
    no_exception(page)
