"""A real browser: Playwright drives Debian's Chromium against `streamlit run app.py` on loopback.

Skipped when Playwright or /usr/bin/chromium is missing (CI installs both: see .ci/run).
Screenshots land in test-artifacts/ for a human to look at.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
from chromium import ARTIFACTS, NEEDS_CHROMIUM, launched, new_tab, no_exception, wait_idle

from bench.streamlit_server import running_app
from toymae import masks
from toymae.app.catalog import load_manifest
from toymae.app.explore import make_shape
from toymae.config import ShapeWorldConfig

ROOT = Path(__file__).resolve().parents[2]
playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    NEEDS_CHROMIUM,
    pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints"),
]


@pytest.fixture(scope="module")
def server():
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(ARTIFACTS / "streamlit.log") as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser(server):
    with launched() as b:
        yield b


@pytest.fixture()
def page(browser):
    """A fresh tab (and so a fresh Streamlit session) for every test."""
    with new_tab(browser, 1400, 1000) as pg:
        yield pg


def panels_signature(pg) -> str:
    """The reconstruction panel's numbers, as the in-browser panels computed them (docs/browser.md)."""
    pg.wait_for_function("() => window.__toymae && window.__toymae.ready")
    return pg.evaluate("() => JSON.stringify(window.__toymae.result.reconstruction)")


def sideways(pg) -> list[str]:
    """The page's boxes that scroll sideways: the page itself, or a box in the main area. Text fields
    scroll their own text, a data table its columns and a code block its lines (as a terminal does):
    those are not the page overflowing."""
    return pg.evaluate(
        "() => [document.scrollingElement, ...document.querySelectorAll('[data-testid=\"stMain\"] *')]"
        ".filter(e => !['INPUT', 'TEXTAREA'].includes(e.tagName)"
        ' && !e.closest(\'[data-testid="stDataFrame"], [data-testid="stCode"]\')'
        " && e.scrollWidth > e.clientWidth + 1"
        " && (e === document.scrollingElement || ['auto', 'scroll'].includes(getComputedStyle(e).overflowX)))"
        ".map(e => e.dataset.testid || e.className || e.tagName)"
    )


SIZES = [(1366, 768), (1920, 1080), (390, 844)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("path", ["hallucinations", "representations", "train", "reproduce"])
def test_every_page_opens_at_three_window_sizes_and_overflows_nothing(browser, server, path, size):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{server}/{path}")
        page.wait_for_selector('[data-testid="stAppViewContainer"]')
        page.wait_for_selector("h1")
        wait_idle(page)
        no_exception(page)
        page.screenshot(path=str(ARTIFACTS / f"page-{path}-{size[0]}x{size[1]}.png"), full_page=True)
        assert not sideways(page), sideways(page)
    finally:
        context.close()


def test_a_shared_link_is_the_first_visit_of_a_fresh_server(browser):
    """A fresh server's first visit is a deep link: the app's own menu (not an automatic one of file
    names, which a folder named ``pages/`` beside app.py would start) and the URL's settings show."""
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
    before = panels_signature(page)
    slider = page.locator('input[type="range"]#tm-ratio')
    assert slider.input_value() == "0.6"
    assert page.get_by_text("Mask ratio", exact=False).first.is_visible()  # a visible label
    slider.focus()
    for _ in range(4):
        slider.press("ArrowRight")
    page.wait_for_function("() => window.location.search.includes('ratio=0.8')", timeout=60_000)
    after = panels_signature(page)
    no_exception(page)
    assert before != after
    page.screenshot(path=str(ARTIFACTS / "reconstruct-ratio-0.8.png"), full_page=True)


def hidden_count(pg) -> int:
    """N from the page's "N of 64 patches hidden" line."""
    text = pg.get_by_text(re.compile(r"\d+ of \d+ patches hidden")).first.inner_text()
    return int(re.search(r"(\d+) of \d+ patches hidden", text).group(1))


PANELS = {"original": "original", "masked": "masked", "reconstruction": "reconstruction",
          "reconstruction + visible": "pasted"}  # fmt: skip


def panel_area(pg, title: str) -> dict:
    """The picture of the panel titled ``title``: where clicks and drags land."""
    pg.wait_for_function("() => window.__toymae && window.__toymae.ready")
    return pg.locator(f'canvas[data-panel="{PANELS[title]}"]').bounding_box()


def click_at(pg, x: float, y: float) -> None:
    pg.mouse.move(x, y)
    pg.mouse.down()
    pg.mouse.up()


def drag(pg, points: list[tuple[float, float]]) -> None:
    pg.mouse.move(*points[0])
    pg.mouse.down()
    for xy in points[1:]:
        pg.mouse.move(*xy, steps=6)
    pg.mouse.up()


def wait_count_change(pg, old: int, seconds: float = 30) -> int:
    deadline = time.time() + seconds
    while hidden_count(pg) == old and time.time() < deadline:
        pg.wait_for_timeout(250)
    wait_idle(pg)
    return hidden_count(pg)


def click_patch(pg, row: int, col: int, grid: int = 8) -> None:
    box = panel_area(pg, "masked")
    click_at(pg, box["x"] + box["width"] * (col + 0.5) / grid, box["y"] + box["height"] * (row + 0.5) / grid)


def test_clicking_a_patch_toggles_it_and_a_second_click_toggles_it_back(page, server):
    page.goto(f"{server}/?mask_mode=Draw")
    panel_area(page, "masked")
    start = hidden_count(page)
    click_patch(page, 3, 5)
    once = wait_count_change(page, start)
    assert abs(once - start) == 1, "a single click on a patch did not flip exactly one patch"
    click_patch(page, 3, 5)
    twice = wait_count_change(page, once)
    no_exception(page)
    page.screenshot(path=str(ARTIFACTS / "reconstruct-clicked-patch.png"))
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


# ---------------------------------------------------------------- one screen at 1366 x 768 (issue 12)
SMALL_SCREEN = {"width": 1366, "height": 768}
PANEL_TITLES = ["original", "masked", "reconstruction", "reconstruction + visible"]


@pytest.fixture()
def small_page(browser):
    """A fresh tab in a 1366 x 768 window, the size the Reconstruct page must fit without scrolling."""
    context = browser.new_context(viewport=SMALL_SCREEN)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def open_reconstruct(pg, server, query: str) -> None:
    pg.goto(f"{server}/?{query}")
    pg.wait_for_function("() => window.__toymae && window.__toymae.ready")
    wait_idle(pg)


def scrolled(pg) -> float:
    """How far the main area has scrolled (Streamlit scrolls an inner container, not the window)."""
    return pg.evaluate(
        "() => Math.max(window.scrollY, ...[...document.querySelectorAll('*')]"
        ".filter(e => e.scrollTop > 0).map(e => e.scrollTop))"
    )


def test_a_click_in_the_middle_of_the_masked_panel_edits_the_mask_without_scrolling(small_page, server):
    pg = small_page
    open_reconstruct(pg, server, "mask_mode=Draw")
    box = panel_area(pg, "masked")
    assert box["y"] + box["height"] <= SMALL_SCREEN["height"], box  # on screen as the page opens
    before_count, before_rec = hidden_count(pg), panels_signature(pg)
    click_at(pg, box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    after = wait_count_change(pg, before_count)
    pg.screenshot(path=str(ARTIFACTS / "small-click-masked-panel.png"))
    no_exception(pg)
    assert abs(after - before_count) == 1
    assert panels_signature(pg) != before_rec, "the reconstruction did not change"
    assert scrolled(pg) == 0


def test_a_box_on_the_masked_panel_hides_the_region_under_it(small_page, server):
    pg = small_page
    open_reconstruct(pg, server, "mask_mode=Draw&tool=Box&mask=0000000000000000")
    assert hidden_count(pg) == 0
    box = panel_area(pg, "masked")
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    # From the top-left corner to the middle: the top-left quarter, 4 x 4 of the 8 x 8 patches.
    drag(pg, [(x0 + 2, y0 + 2), (x0 + w * 0.3, y0 + h * 0.3), (x0 + w * 0.49, y0 + h * 0.49)])
    after = wait_count_change(pg, 0)
    pg.screenshot(path=str(ARTIFACTS / "small-box-masked-panel.png"))
    no_exception(pg)
    assert after == 16, after
    # Rows 0-3, columns 0-3: the box's region, nothing else; in the address bar once the edit settles.
    assert wait_url(pg, "mask", "f0f0f0f000000000") == "f0f0f0f000000000"


def test_a_lasso_on_the_masked_panel_hides_patches_and_reveal_shows_them(small_page, server):
    pg = small_page
    open_reconstruct(pg, server, "mask_mode=Draw&tool=Lasso&mask=0000000000000000")
    box = panel_area(pg, "masked")
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    # A triangle round the centre: it covers the centres of the four middle patches.
    lasso = [(x0 + w * 0.5, y0 + h * 0.2), (x0 + w * 0.8, y0 + h * 0.75), (x0 + w * 0.2, y0 + h * 0.75)]
    drag(pg, [*lasso, lasso[0]])
    hidden = wait_count_change(pg, 0)
    no_exception(pg)
    assert hidden >= 4, hidden
    pg.get_by_text("Drag reveals / erases").click()
    drag(pg, [*lasso, lasso[0]])  # the same region again, now revealing
    shown = wait_count_change(pg, hidden)
    pg.screenshot(path=str(ARTIFACTS / "small-lasso-reveal.png"))
    assert shown == 0, shown


def test_controls_panels_and_verdict_fit_a_1366_by_768_window(small_page, server):
    pg = small_page
    open_reconstruct(pg, server, "mask_mode=Draw")
    pg.screenshot(path=str(ARTIFACTS / "small-reconstruct.png"))
    boxes = {
        "controls": [pg.get_by_text(label).first for label in ("Mask ratio", "Edit by", "Presets")],
        "verdict": [
            pg.get_by_text("Verdict", exact=True).first,
            pg.get_by_text(re.compile("patches hidden")).first,
        ],
    }
    for name, locs in boxes.items():
        for loc in locs:
            b = loc.bounding_box()
            assert b and b["y"] >= 0 and b["y"] + b["height"] <= SMALL_SCREEN["height"], (name, b)
    for title in PANEL_TITLES:
        b = panel_area(pg, title)
        assert b["x"] >= 0 and b["x"] + b["width"] <= SMALL_SCREEN["width"], (title, b)
        assert b["y"] >= 0 and b["y"] + b["height"] <= SMALL_SCREEN["height"], (title, b)
    tops = [round(panel_area(pg, t)["y"]) for t in PANEL_TITLES]
    assert max(tops) - min(tops) <= 2, tops  # one row
    assert scrolled(pg) == 0


def wait_url(pg, key: str, want: str | None = None, seconds: float = 30) -> str | None:
    """The address bar's ``key`` once it reads ``want`` (any value when ``want`` is None; edits reach
    the URL after a short pause and the page's rerun), or what it reads after ``seconds``."""
    read = "(k) => new URLSearchParams(window.location.search).get(k)"
    deadline = time.time() + seconds
    while time.time() < deadline:
        got = pg.evaluate(read, key)
        if got is not None and (want is None or got == want):
            break
        pg.wait_for_timeout(250)
    return got


def ink(img: str, side: int = 32) -> np.ndarray:
    return masks.from_text(img, side)


def test_a_click_on_the_original_panel_flips_a_pixel_of_the_picture_into_a_drawing(small_page, server):
    pg = small_page
    open_reconstruct(pg, server, "shape=square")
    assert pg.evaluate("() => new URLSearchParams(window.location.search).get('img')") is None
    box = panel_area(pg, "original")
    click_at(pg, box["x"] + box["width"] * 2.5 / 32, box["y"] + box["height"] * 2.5 / 32)  # pixel (2, 2)
    img = wait_url(pg, "img")
    no_exception(pg)
    assert img and ink(img)[2, 2]  # the background pixel clicked is now ink
    square = make_shape("square", 0.5, 0.5, ShapeWorldConfig()).images[0, 0].numpy() > 0.5
    assert (ink(img) != square).sum() == 1  # the rest is the square it started from
    assert pg.evaluate("() => window.__toymae.result.verdict.label") == "undecidable"  # no true shape


def test_brush_keyboard_touch_presets_and_drawing_starts(browser, server):
    """The other editing paths: a brush stroke, arrow keys and Space, a tap on a touch screen, the
    presets, and starting a drawing from a circle, a square or nothing."""
    context = browser.new_context(viewport=SMALL_SCREEN, has_touch=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    open_reconstruct(pg, server, "mask_mode=Draw&tool=Brush&mask=0000000000000000")
    box = panel_area(pg, "masked")
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    drag(pg, [(x0 + w * 0.06, y0 + h * 0.06), (x0 + w * 0.94, y0 + h * 0.06)])  # along the top row
    assert wait_count_change(pg, 0) == 8
    pg.locator('canvas[data-panel="masked"]').focus()  # the focus starts at the middle patch (4, 4)
    for key in ("ArrowUp", "ArrowLeft", " "):
        pg.keyboard.press(key)
    assert wait_count_change(pg, 8) == 9
    assert wait_url(pg, "mask", "ff00001000000000") == "ff00001000000000"  # row 0, and (3, 3)
    pg.locator('input[name="tm-tool"][value="Click"]').check()
    pg.touchscreen.tap(x0 + w * 7.5 / 8, y0 + h * 7.5 / 8)  # the bottom-right patch
    assert wait_count_change(pg, 9) == 10
    for preset, n in (("left half", 32), ("invert", 32), ("clear", 0), ("block", 36)):
        pg.locator(".tm-presets summary").click()
        pg.locator(f'button[data-preset="{preset}"]').click()
        assert hidden_count(pg) == n, preset  # block: a centred 6 x 6 square at ratio 0.6
    pg.locator("#tm-reseed").click()  # back to a random mask, with the next seed
    state = pg.evaluate("() => window.__toymae.state")
    assert (state["mask_mode"], state["mseed"], hidden_count(pg)) == ("Random", 1, 64 - int(64 * (1 - 0.6)))
    inked = {}
    for start in ("circle", "square", "blank"):
        pg.locator(f'button[data-start="{start}"]').click()
        inked[start] = pg.evaluate("() => window.__toymae.state.img")
    assert wait_url(pg, "img", inked["blank"]) == inked["blank"]  # the last drawing reached the URL
    counts = {k: int(ink(v).sum()) for k, v in inked.items()}
    assert counts["square"] > counts["circle"] > 0 == counts["blank"]  # a square covers more than its circle
    pg.screenshot(path=str(ARTIFACTS / "small-brush-keyboard-touch.png"))
    no_exception(pg)
    context.close()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_reconstruct_at_three_window_sizes_overflows_nothing(browser, server, size):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    open_reconstruct(pg, server, "shape=square&mseed=17")
    pg.wait_for_function("() => window.__toymae.result.uncertainty !== null")
    pg.screenshot(path=str(ARTIFACTS / f"reconstruct-{size[0]}x{size[1]}.png"))
    component = pg.locator('[data-testid="toymae-reconstruct"]')
    component.screenshot(path=str(ARTIFACTS / f"reconstruct-panels-{size[0]}x{size[1]}.png"))
    no_exception(pg)
    assert not sideways(pg), sideways(pg)
    b = component.bounding_box()
    assert b["x"] >= 0 and b["x"] + b["width"] <= size[0], b
    for name in ("original", "masked", "reconstruction", "pasted", "error", "uncertainty"):
        c = pg.locator(f'canvas[data-panel="{name}"]').bounding_box()
        assert c["width"] >= 100 and c["x"] + c["width"] <= size[0], (name, c)
    context.close()


EMOJI = re.compile("[\U0001f000-\U0001ffff\u2600-\u27bf\u2b00-\u2bff\ufe0f]")


@pytest.mark.parametrize("path", ["", "hallucinations", "representations", "train", "reproduce"])
def test_pages_show_material_icons_not_emoji(small_page, server, path):
    pg = small_page
    pg.goto(f"{server}/{path}")
    pg.wait_for_selector("h1")
    wait_idle(pg)
    nav = pg.locator('[data-testid="stSidebarNav"]')
    text = nav.inner_text() + pg.locator("h1").first.inner_text()
    buttons = " ".join(pg.locator("button").all_inner_texts())
    assert not EMOJI.search(text + buttons), EMOJI.findall(text + buttons)
    # Each page link carries a Material icon: a ligature drawn from the bundled icon font.
    assert nav.locator('[data-testid="stIconMaterial"]').count() == 5
    no_exception(pg)


def test_every_try_this_link_opens(browser, server):
    """Each landing-page link opens without an exception and shows the state it promises."""
    from toymae.app.tour import TRY_THIS

    assert all(t.promise for t in TRY_THIS)
    context = browser.new_context(viewport=SMALL_SCREEN)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    for i, link in enumerate(TRY_THIS):
        pg.goto(f"{server}/{link.href().removeprefix('./')}")
        pg.wait_for_selector("h1")
        wait_idle(pg)
        if link.page == "":  # Reconstruct's verdict is computed in the browser, in the panels' shadow DOM
            pg.wait_for_function("() => window.__toymae && window.__toymae.ready")
        pg.screenshot(path=str(ARTIFACTS / f"try-this-{i}.png"))
        no_exception(pg)
        main = pg.locator('[data-testid="stMain"]').inner_text()
        if link.page == "":
            main += " " + pg.locator('[data-testid="toymae-reconstruct"]').inner_text()
        assert link.promise in main, (link.label, main[:600])
    context.close()


def test_a_click_on_the_masked_panel_under_a_random_mask_starts_a_drawn_mask_from_it(small_page, server):
    pg = small_page
    open_reconstruct(pg, server, "ratio=0.5")
    start = hidden_count(pg)
    click_patch(pg, 0, 0)
    after = wait_count_change(pg, start)
    no_exception(pg)
    assert abs(after - start) == 1  # the random mask, with one patch flipped
    assert wait_url(pg, "mask_mode", "Draw") == "Draw"


def test_uploading_a_checkpoint_in_the_sidebar_selects_it_without_an_exception(page, server, tmp_path):
    """A byte copy of a shipped model: added and selected, no exception box; then a
    broken file whose name is Markdown: refused, its name shown verbatim."""
    good = tmp_path / "my upload.safetensors"
    good.write_bytes((ROOT / "checkpoints" / load_manifest()[0]["file"]).read_bytes())
    page.goto(server)
    page.wait_for_selector("h1")
    wait_idle(page)
    uploader = page.locator('[data-testid="stSidebar"] input[type="file"]')
    uploader.set_input_files(str(good))
    picker = page.locator('[data-testid="stSidebar"] input[aria-label="Model"]')
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stSidebar"] input[aria-label="Model"]')]
            .some(e => e.value === 'my-upload (uploaded)')""",
        timeout=60_000,
    )
    wait_idle(page)
    playwright_api.expect(picker).to_have_count(1)  # the rerun's picker replaced the old one
    page.screenshot(path=str(ARTIFACTS / "sidebar-upload.png"), full_page=True)
    no_exception(page)
    assert picker.input_value() == "my-upload (uploaded)"
    assert page.locator("h1", has_text="Reconstruct").count() == 1

    bad = tmp_path / "**bold** _x_.safetensors"
    bad.write_bytes(b"not a checkpoint")
    uploader.set_input_files(str(bad))
    page.locator('[data-testid="stSidebar"] [data-testid="stAlert"]').wait_for()
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "sidebar-upload-refused.png"))
    no_exception(page)
    shown = page.locator('[data-testid="stSidebar"] [data-testid="stCode"]').first.inner_text()
    assert shown.startswith("**bold** _x_.safetensors: ") and "not a safetensors file" in shown, shown
    assert page.locator('[data-testid="stSidebar"] strong', has_text="bold").count() == 0
    assert picker.input_value() == "my-upload (uploaded)"  # the refused file changed nothing


def test_the_ratio_slider_of_a_small_uploaded_grid_stops_before_it_hides_every_patch(page, server, tmp_path):
    from dataclasses import replace

    from toymae.checkpoint import save_checkpoint
    from toymae.config import RECIPES
    from toymae.model import build_model

    cfg = RECIPES["tiny"]  # 16 px in 4 x 4 patches: 0.95 would leave int(16 * 0.05) = 0 visible
    cfg = replace(cfg, model=replace(cfg.model, mask_ratio=0.6))
    small = save_checkpoint(tmp_path / "small.safetensors", build_model(cfg.model, seed=0, device="cpu"), cfg)
    page.goto(f"{server}/?ratio=0.95")
    page.wait_for_selector("h1")
    wait_idle(page)
    page.locator('[data-testid="stSidebar"] input[type="file"]').set_input_files(str(small))
    page.wait_for_function(  # the mask as hex: 4 digits for 16 patches (16 for the shipped 64)
        "() => window.__toymae && window.__toymae.ready && window.__toymae.result.mask.length === 4",
        timeout=60_000,
    )
    no_exception(page)
    assert page.locator("#tm-ratio").get_attribute("max") == "0.9"
    state, mask = page.evaluate("() => [window.__toymae.state, window.__toymae.result.mask]")
    assert state["ratio"] == 0.9 and masks.from_text(mask, 4).sum() == 15  # one patch stays visible
