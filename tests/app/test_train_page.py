"""The Train page in a real browser: the shipped-recipe preset starts, pauses, resumes and stops at once.

Playwright drives Debian's Chromium against `streamlit run app.py` on loopback (skipped without
either). Screenshots at 1366 x 768 land in test-artifacts/ for a human to look at.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from chromium import ARTIFACTS, CHROMIUM, launched

from bench.streamlit_server import running_app
from toymae.app.catalog import load_manifest

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
    pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints"),
]
PROGRESS = '[data-testid="stProgress"]'


@pytest.fixture(scope="module")
def browser():
    with launched() as b:  # one Playwright per module: a second one inside it cannot start
        yield b


@pytest.fixture(scope="module")
def page(browser):
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(ARTIFACTS / "streamlit-train.log") as (url, _):
        pg = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
        pg.set_default_timeout(600_000)  # a busy 2-core machine can take minutes to serve the first page
        pg.goto(f"{url}/train")
        pg.wait_for_selector("h1")
        yield pg


def status(pg) -> str:
    return pg.locator(PROGRESS).first.inner_text() if pg.locator(PROGRESS).count() else ""


def wait_status(pg, pattern: str, timeout_s: float = 600) -> float:
    """Wait until the run's status line matches ``pattern``; the seconds it took."""
    t0 = time.perf_counter()
    pg.wait_for_function(
        "([sel, pat]) => new RegExp(pat).test(document.querySelector(sel)?.innerText || '')",
        arg=[PROGRESS, pattern],
        polling=20,
        timeout=timeout_s * 1000,
    )
    return time.perf_counter() - t0


def step_of(pg) -> int:
    return int(re.search(r"step ([\d,]+)", status(pg)).group(1).replace(",", ""))


def button(pg, key: str):
    """A page button by its widget key (the header's own "Stop" has the same label)."""
    return pg.locator(f".st-key-{key} button")


def header_stop_visible(pg) -> bool:
    return pg.locator('[data-testid="stStatusWidget"]').get_by_role("button", name="Stop").count() > 0


def no_exception(pg) -> None:
    assert pg.locator('[data-testid="stException"]').count() == 0, pg.locator(
        '[data-testid="stException"]'
    ).first.inner_text()


def test_the_shipped_recipe_starts_pauses_resumes_and_stops_within_a_second(page):
    pg = page
    assert pg.get_by_role("radio", name="Shipped recipe").is_checked()
    assert pg.get_by_label("Steps").input_value() == "3200"
    button(pg, "start").click()
    wait_status(pg, r"^running · step [1-9]")
    pg.wait_for_selector('[data-testid="stMain"] [data-testid="stImage"] img')
    no_exception(pg)
    assert "3,200 steps of 64 images · lr 0.004" in pg.get_by_text("This run:").inner_text()
    assert button(pg, "start").is_disabled()
    assert pg.get_by_text("Your run has not finished: stop it first.").is_visible()  # beside Start

    # Polling must not keep Streamlit's own "Running… Stop" in the header: sample it for 5 s.
    samples = []
    for _ in range(25):
        samples.append(header_stop_visible(pg))
        pg.wait_for_timeout(200)
    shown = sum(samples) / len(samples)
    print(f"header Stop shown in {shown:.0%} of 25 samples over 5 s of training")
    assert shown <= 0.2, f"the header's Stop showed in {shown:.0%} of samples"
    pg.screenshot(path=str(ARTIFACTS / "train-running.png"))

    t0 = time.perf_counter()
    button(pg, "pause").click()
    wait_status(pg, r"^paused at step")
    pause_s = time.perf_counter() - t0
    at_pause = step_of(pg)
    pg.wait_for_timeout(5000)
    held = step_of(pg)
    assert held <= at_pause + 1  # the step under way finishes; no other starts
    pg.wait_for_timeout(5000)
    assert step_of(pg) == held and "stops by itself in" in status(pg)

    button(pg, "resume").click()
    wait_status(pg, r"^running · step")
    deadline = time.time() + 600
    while step_of(pg) <= held and time.time() < deadline:
        pg.wait_for_timeout(100)
    assert step_of(pg) > held, "the run did not go on after Resume"

    t0 = time.perf_counter()
    button(pg, "stop").click()
    wait_status(pg, r"^stopped at step [\d,]+ of 3,200")
    stop_s = time.perf_counter() - t0
    print(f"click to shown: Pause {pause_s:.2f} s, Stop {stop_s:.2f} s")
    assert stop_s < 5.0, f"Stop took {stop_s:.1f} s to show"
    assert pause_s < 5.0, f"Pause took {pause_s:.1f} s to show"
    pg.get_by_role("button", name="Keep this model").first.wait_for()
    no_exception(pg)
    text = status(pg)
    assert "(with the Stop button)" in text, text
    assert "is yours alone until you keep it" in pg.locator('[data-testid="stMain"]').inner_text()
    assert not button(pg, "start").is_disabled()
    pg.screenshot(path=str(ARTIFACTS / "train-stopped.png"))


def test_sigterm_to_a_server_that_is_training_ends_it_cleanly(browser, tmp_path):
    """What `docker stop` or a Space restart sends: the server exits 0 within seconds, and neither it
    nor its training process prints a traceback or aborts ("terminate called ...")."""
    import signal

    log = tmp_path / "server.log"
    with running_app(log) as (url, proc):
        pg = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
        pg.set_default_timeout(300_000)
        pg.goto(f"{url}/train")
        pg.wait_for_selector("h1")
        button(pg, "start").click()
        wait_status(pg, r"step [1-9]")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    text = log.read_text()
    assert "Traceback" not in text and "terminate called" not in text, text[-2000:]
