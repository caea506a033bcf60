"""The analysis pages' answer time and the cold start, in a real browser.

Chromium (Debian's, through Playwright) at 1366 x 768 against ``streamlit run app.py``:

- cold start: from launching the server process to the landing page usable (its title drawn and the
  Reconstruct panels ready in the browser: ``window.__toymae.ready``), on a server nobody has visited,
  and the server's CPU time by then (on a busy machine, nearer what an idle one would take);
- control changes on Hallucinations, Representations and Reproduce: from the input (a key press on a
  slider, a click on a segmented control or the pager) to the page settled (Streamlit's "running"
  indicator gone and no change to the page for 300 ms; the time is taken when the last change was
  seen). Each action runs ``--repeats`` times, alternating two values, after one unmeasured warm-up
  of each value, so a shipped model's numbers come from the page cache or, without one, from what
  the page measured on first use.

Target (issue 18): about a second for any control change on a shipped model; cold start at most 5 s.
The machine's load is printed beside the numbers: on a busy machine every figure grows.

    python bench/page_latency.py [--repeats 5] [--skip-cold]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from bench.streamlit_server import CHROMIUM_ARGS, running_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1366, "height": 768}
# In the page: the time of the last change to the main area, in the page's clock.
WATCH = """() => { window.__changed = performance.now();
    new MutationObserver(() => { window.__changed = performance.now(); })
        .observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true}); }"""


def settle(pg: Page, quiet_ms: float = 300, timeout: float = 180) -> float:
    """Wait until the script stopped and nothing changed for ``quiet_ms``; the page's time of the last
    change (ms, ``performance.now``)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pg.wait_for_timeout(50)
        running = pg.locator('[data-testid="stStatusWidget"]').count() > 0
        now, last = pg.evaluate("() => [performance.now(), window.__changed]")
        if not running and now - last >= quiet_ms:
            return last
    raise TimeoutError("the page did not settle")


def timed(pg: Page, act) -> float:
    """Milliseconds from ``act(pg)`` (an input) to the page settled."""
    start = pg.evaluate("() => performance.now()")
    act(pg)
    pg.wait_for_timeout(60)  # let the rerun begin: a settled page before it is not the answer
    return settle(pg) - start


def press_slider(pg: Page, label: str, key: str) -> None:
    # Streamlit 1.67 draws its slider with react-aria: the keyboard goes to a hidden range input.
    slider = pg.locator('[data-testid="stSlider"]').filter(has_text=label).locator('input[type="range"]')
    slider.first.press(key)


def click_option(pg: Page, group: str, option: str) -> None:
    """Click ``option`` in the segmented control labelled ``group``."""
    box = pg.locator('[data-testid="stButtonGroup"]').filter(has=pg.get_by_text(group, exact=True)).first
    # A required segmented control's options are buttons with the radio role (Streamlit 1.67).
    box.locator("button").filter(has_text=re.compile(f"^{re.escape(option)}$")).first.click()


ACTIONS = {  # name -> (page query, two inputs alternated)
    "Hallucinations: mask ratio": (
        "hallucinations",
        lambda pg: press_slider(pg, "Mask ratio", "ArrowRight"),
        lambda pg: press_slider(pg, "Mask ratio", "ArrowLeft"),
    ),
    "Hallucinations: gallery label": (
        "hallucinations",
        lambda pg: click_option(pg, "Gallery shows", "uncertain"),
        lambda pg: click_option(pg, "Gallery shows", "any"),
    ),
    "Hallucinations: next page": (
        "hallucinations",
        lambda pg: pg.get_by_role("button", name="Page 2", exact=True).first.click(),
        lambda pg: pg.get_by_role("button", name="Page 1", exact=True).first.click(),
    ),
    "Representations: protocol": (
        "representations",
        lambda pg: click_option(pg, "Protocol", "cls"),
        lambda pg: click_option(pg, "Protocol", "mean"),
    ),
    "Representations: seed": (
        "representations",
        lambda pg: click_option(pg, "Seed", "1"),
        lambda pg: click_option(pg, "Seed", "0"),
    ),
    "Representations: PCA variant": (
        "representations",
        lambda pg: click_option(pg, "PCA of", "standardised"),
        lambda pg: click_option(pg, "PCA of", "raw"),
    ),
    "Reproduce: metric": (
        "reproduce",
        lambda pg: click_option(pg, "Metric", "PCA-2 probe"),
        lambda pg: click_option(pg, "Metric", "shape probe"),
    ),
}


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cold_start(browser) -> tuple[float, float, float]:
    """(seconds to a healthy server, seconds to the landing page usable, the server's CPU seconds by
    then: about what the wait would be on an idle core), from the server's launch."""
    t0 = time.perf_counter()
    with running_app() as (url, proc):
        healthy = time.perf_counter() - t0
        context = browser.new_context(viewport=VIEWPORT)
        pg = context.new_page()
        pg.set_default_timeout(120_000)
        pg.goto(url)
        pg.wait_for_selector("h1")
        pg.wait_for_function("() => window.__toymae && window.__toymae.ready")
        usable = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid)
        context.close()
    return healthy, usable, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-cold", action="store_true")
    ap.add_argument("--only", help="actions whose name contains this text")
    args = ap.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        if not args.skip_cold:
            print(load())
            healthy, usable, cpu = cold_start(browser)
            print(
                f"cold start: server healthy {healthy:.1f} s, landing page usable {usable:.1f} s "
                f"(the server's CPU time by then: {cpu:.1f} s)"
            )
        with running_app() as (url, _):
            for name, (page, first, second) in ACTIONS.items():
                if args.only and args.only not in name:
                    continue
                context = browser.new_context(viewport=VIEWPORT)
                pg = context.new_page()
                pg.set_default_timeout(180_000)
                pg.goto(f"{url}/{page}")
                pg.wait_for_selector("h1")
                pg.evaluate(WATCH)
                settle(pg)
                for act in (first, second):  # warm-up: each value once
                    timed(pg, act)
                ms = [timed(pg, (first, second)[k % 2]) for k in range(args.repeats)]
                p95 = sorted(ms)[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
                print(
                    f"{name:<34} median {statistics.median(ms):7.0f} ms   p95 {p95:7.0f} ms   (n={len(ms)})"
                )
                context.close()
            print(load())
        browser.close()


if __name__ == "__main__":
    main()
