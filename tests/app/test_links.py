"""Links reopen what you saw: every "try this" link, a hallucination example and a PCA point, opened in
Chromium; the address the page shows afterwards, opened in a fresh browser context, shows the same state.

Skipped when Playwright or /usr/bin/chromium is missing (CI installs both: see .ci/run).
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest
from chromium import ARTIFACTS, NEEDS_CHROMIUM, launched

from bench.streamlit_server import running_app
from toymae.app.catalog import load_manifest
from toymae.app.tour import TRY_THIS

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    NEEDS_CHROMIUM,
    pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints"),
]
SCREEN = {"width": 1366, "height": 768}


@pytest.fixture(scope="module")
def server():
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(ARTIFACTS / "streamlit-links.log") as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser(server):
    with launched() as b:
        yield b


def fresh_page(browser):
    context = browser.new_context(viewport=SCREEN)
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    return context, pg


# The time of the page's last change, in its own clock (a MutationObserver over the whole page).
WATCH = """() => { if (window.__changed !== undefined) return; window.__changed = performance.now();
  new MutationObserver(() => { window.__changed = performance.now(); })
    .observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true}); }"""


def settle(pg) -> None:
    """Wait until the script has stopped and the page has not changed for a second; on Reconstruct,
    until its in-browser panels are drawn."""
    pg.wait_for_selector("h1")
    pg.evaluate(WATCH)
    deadline = time.time() + 180
    while time.time() < deadline:
        pg.wait_for_timeout(250)
        running = pg.locator('[data-testid="stStatusWidget"]').count() > 0
        if not running and pg.evaluate("() => performance.now() - window.__changed") > 1000:
            break
    assert pg.locator('[data-testid="stException"]').count() == 0, pg.locator(
        '[data-testid="stException"]'
    ).first.inner_text()
    if pg.locator("h1", has_text="Reconstruct").count():
        pg.wait_for_function("() => window.__toymae && window.__toymae.ready")


# What is on screen: the page, every selector's value, every metric, the sidebar's model and, on
# Reconstruct, the state, mask and verdict of the in-browser panels.
ON_SCREEN = """() => {
  const text = sel => [...document.querySelectorAll(sel)].map(e => e.innerText.trim());
  const t = window.__toymae;
  return JSON.stringify({
    title: text('h1'),
    selects: [...document.querySelectorAll('[data-testid="stSelectbox"] input')].map(e => e.value),
    chosen: text('[data-testid="stButtonGroup"] [aria-checked="true"]'),
    sliders: [...document.querySelectorAll('[data-testid="stSlider"] input[type="range"]')].map(e => e.value),
    radios: [...document.querySelectorAll('input[type="radio"]:checked')].map(e => e.value),
    metrics: text('[data-testid="stMetric"]'),
    panels: t && t.ready ? {state: t.state, mask: t.result.mask, verdict: t.result.verdict} : null,
  });
}"""


def state_of(pg) -> str:
    return pg.evaluate(ON_SCREEN)


def reopened(browser, url: str) -> str:
    """The state a fresh browser shows for ``url``."""
    context, pg = fresh_page(browser)
    try:
        pg.goto(url)
        settle(pg)
        return state_of(pg)
    finally:
        context.close()


def query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(url).query).items()}


def _links() -> list:
    """The landing page's links and the Reproduce page's link for the most decided hypothesis."""
    from toymae.app import reproduce_view as rv

    names = {e["name"] for e in load_manifest()}
    hypothesis = rv.try_hypothesis(rv.most_informative(rv.load_hypotheses()), names)
    return [*TRY_THIS, *([hypothesis] if hypothesis else [])]


LINKS = _links()


@pytest.mark.parametrize("link", LINKS, ids=[t.label[:40] for t in LINKS])
def test_a_try_this_link_leaves_an_address_that_reopens_the_same_state(browser, server, link):
    context, pg = fresh_page(browser)
    try:
        pg.goto(f"{server}/{link.href().removeprefix('./')}")
        settle(pg)
        seen, address = state_of(pg), pg.url
        main = pg.locator('[data-testid="stMain"]').inner_text() + seen  # Reconstruct's verdict is in seen
        pg.screenshot(path=str(ARTIFACTS / f"link-{LINKS.index(link)}.png"))
    finally:
        context.close()
    shown = query(address)
    for key in ("model", "rep_a", "rep_b"):  # the models on screen are in the address, default or not
        if key in link.params:
            assert shown.get(key) == link.params[key], (key, address)
    assert link.promise in main
    assert reopened(browser, address) == seen


def test_a_hallucination_example_opens_in_reconstruct_under_its_mask(browser, server):
    context, pg = fresh_page(browser)
    try:
        pg.goto(f"{server}/hallucinations?model=ratio0.6-dec2&h_label=hallucinated")
        settle(pg)
        pg.get_by_role("button", name="Open in Reconstruct").first.click()
        pg.wait_for_selector("h1:has-text('Reconstruct')")
        settle(pg)
        address, seen = pg.url, state_of(pg)
        pg.screenshot(path=str(ARTIFACTS / "link-hallucination-example.png"))
    finally:
        context.close()
    shown = query(address)
    assert shown["model"] == "ratio0.6-dec2" and shown["mask_mode"] == "Draw" and len(shown["mask"]) == 16
    assert "Reconstruct" in seen
    assert reopened(browser, address) == seen


PCA_CHART = (
    "[...document.querySelectorAll('.js-plotly-plot')]"
    ".find(p => p.layout && p.layout.xaxis && p.layout.xaxis.title && "
    "String(p.layout.xaxis.title.text).startsWith('PC 1'))"
)


def test_a_pca_point_opens_its_image_in_reconstruct(browser, server):
    context, pg = fresh_page(browser)
    try:
        pg.goto(f"{server}/representations?rep_a=ratio0.6-dec4")
        settle(pg)
        pg.evaluate(f"() => {PCA_CHART}.scrollIntoView({{block: 'center'}})")
        pg.wait_for_timeout(300)
        xy = pg.evaluate(
            f"""() => {{
                const gd = {PCA_CHART}, r = gd.getBoundingClientRect(), L = gd._fullLayout;
                const t = gd._fullData[0];
                return [r.left + L._size.l + L.xaxis.l2p(t.x[0]), r.top + L._size.t + L.yaxis.l2p(t.y[0])];
            }}"""
        )
        pg.mouse.click(*xy)
        pg.wait_for_selector("h1:has-text('Reconstruct')")
        settle(pg)
        address, seen = pg.url, state_of(pg)
    finally:
        context.close()
    shown = query(address)
    assert shown["model"] == "ratio0.6-dec4" and ("shape" in shown or "img" in shown)
    assert reopened(browser, address) == seen
