"""Faults a real browser meets: a models folder with broken files, hostile URL values, a fresh server.

Playwright drives Debian's Chromium against `streamlit run app.py` (skipped without either). The
server reads a temporary copy of the shipped models (``TOYMAE_CHECKPOINT_DIR``) in which one file is
cut short, one is a Git LFS pointer and one is missing: those three are listed as unavailable, with
the reason, and every page still opens without an exception box.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from chromium import ARTIFACTS, NEEDS_CHROMIUM, launched, new_tab, no_exception, wait_idle

from bench.streamlit_server import running_app
from toymae.app.catalog import CHECKPOINT_DIR, load_manifest

ROOT = Path(__file__).resolve().parents[2]
playwright_api = pytest.importorskip("playwright.sync_api")
SHIPPED = load_manifest()
pytestmark = [
    pytest.mark.browser,
    NEEDS_CHROMIUM,
    pytest.mark.skipif(len(SHIPPED) < 4, reason="needs the shipped checkpoints"),
]
TRUNCATED, LFS, MISSING = "ratio0.1-dec2", "ratio0.9-dec2", "ratio0.8-dec2"
LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2143\nsize 466976\n"


@pytest.fixture(scope="module")
def broken_models(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    for name in ("manifest.json", "results.json", "results.md", "convergence.json"):
        if (CHECKPOINT_DIR / name).exists():
            shutil.copy(CHECKPOINT_DIR / name, folder / name)
    for entry in SHIPPED:
        if entry["name"] != MISSING:
            shutil.copy(CHECKPOINT_DIR / entry["file"], folder / entry["file"])
    truncated = folder / f"{TRUNCATED}.safetensors"
    truncated.write_bytes(truncated.read_bytes()[:1000])
    (folder / f"{LFS}.safetensors").write_text(LFS_POINTER)
    return folder


@pytest.fixture(scope="module")
def server(broken_models):
    ARTIFACTS.mkdir(exist_ok=True)
    env = {"TOYMAE_CHECKPOINT_DIR": str(broken_models)}
    with running_app(ARTIFACTS / "streamlit-faults.log", timeout=300, env=env) as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser():
    with launched() as b:
        yield b


@pytest.fixture()
def page(browser):
    with new_tab(browser, timeout_ms=180_000) as pg:
        yield pg


def open_page(pg, url: str) -> None:
    pg.goto(url)
    pg.wait_for_selector("h1")
    wait_idle(pg, seconds=300)  # a broken model's first load and refusal can take a while under load


def picker_options(pg) -> list[str]:
    pg.locator('[data-testid="stSidebar"] input[aria-label="Model"]').click()
    options = pg.locator('[role="option"]').all_inner_texts()
    pg.keyboard.press("Escape")
    return options


@pytest.mark.parametrize("path", ["", "hallucinations", "representations", "train", "reproduce"])
def test_every_page_opens_with_broken_shipped_models(page, server, path):
    open_page(page, f"{server}/{path}")
    no_exception(page)
    page.screenshot(path=str(ARTIFACTS / f"broken-models-{path or 'reconstruct'}.png"), full_page=True)
    picker = page.locator('[data-testid="stSidebar"] input[aria-label="Model"]').input_value()
    assert picker == "ratio 0.6 · decoder depth 1", picker  # the default model is still offered


def test_broken_models_are_refused_with_the_reason_and_then_listed_as_unavailable(page, server):
    expected = {
        TRUNCATED: "not a safetensors file, or a truncated or damaged one",
        LFS: "a Git LFS pointer file, not the weights",
        MISSING: "cannot read it (No such file or directory)",
    }
    for name, why in expected.items():  # models load on first use: picking one is its first use
        open_page(page, f"{server}/?model={name}")
        no_exception(page)
        error = page.locator('[data-testid="stMain"] [data-testid="stAlert"]').first.inner_text()
        assert "This model is unavailable" in error or "This model cannot be used" in error, error
        assert why in error and f"{name}.safetensors" in error, error
        assert str(ROOT) not in error and "/tmp" not in error, error  # names, not the server's paths
    open_page(page, server)
    options = picker_options(page)
    for name in expected:
        assert f"{name} (unavailable)" in options, options
    assert "ratio 0.6 · decoder depth 2" in options


@pytest.mark.parametrize(
    "query",
    [
        "?mseed=1e400",
        "?mseed=inf",
        "?mseed=-1e400",
        "train?t_seed=1e400",
        "train?t_steps=1e400",
        "train?t_steps=inf",
        "hallucinations?h_seed=1e400",
        "hallucinations?h_ratio=inf",
        "representations?rep_seed=1e400",
    ],
)
def test_numbers_no_widget_can_hold_are_dropped_from_the_url(page, server, query):
    open_page(page, f"{server}/{query}")
    no_exception(page)
    assert "1e400" not in page.url and "inf" not in page.url.split("?")[-1], page.url
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert "OverflowError" not in main and "Traceback" not in main


def test_a_fresh_servers_first_action_keeps_the_chosen_model(browser):
    """The first visitor of a new server changes a setting: the model in the picker stays."""
    with running_app(ARTIFACTS / "streamlit-first-action.log", timeout=300) as (url, _):
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        pg = context.new_page()
        pg.set_default_timeout(180_000)
        open_page(pg, f"{url}/hallucinations")
        picker = pg.locator('[data-testid="stSidebar"] input[aria-label="Model"]')
        chosen = picker.input_value()
        assert chosen == "ratio 0.6 · decoder depth 1", chosen
        # The page's first control of its own (a segmented control: buttons).
        pg.locator('[data-testid="stMain"] [data-testid="stButtonGroup"] button').nth(1).click()
        wait_idle(pg)
        no_exception(pg)
        assert picker.input_value() == chosen
        pg.locator('[data-testid="stSidebarNav"] a', has_text="Reconstruct").click()
        wait_idle(pg)
        assert picker.input_value() == chosen
        context.close()
