"""Load: N browser sessions on one `streamlit run app.py`, each visiting the pages as a person would.

Every session is a Chromium tab of its own (Playwright's async API, Debian's /usr/bin/chromium), so
the server holds N Streamlit sessions at once. Each opens the app, then moves through the pages by
the sidebar menu (one session throughout); an action lasts from the click until the page has stopped
running. Reported: p50 / p95 / max seconds per action, how many actions showed the dashboard's
"busy, number N in line" notice, the health endpoint's answer times meanwhile (a container's health
check), and the server's resident memory (peak and at the end).

    python bench/load.py [--sessions 12] [--rounds 1] [--slots 2]

``--slots`` sets how many pages may compute at once (TOYMAE_WORK_SLOTS; the dashboard's default is 2):
``--slots 99`` is the server without a line, for comparison in the same run of this script.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.app_memory import rss_mb
from bench.streamlit_server import CHROMIUM_ARGS, running_app

CHROMIUM = "/usr/bin/chromium"
PAGES = ["Hallucinations", "Representations", "Reproduce", "Reconstruct"]  # menu order after the landing
BUSY_TEXT = "The server is busy"
ACTION_TIMEOUT_S = 600


async def _until_idle(pg) -> bool:
    """Wait until the page's script has stopped for a second; True if the busy notice showed meanwhile."""
    busy, quiet, deadline = False, 0, time.monotonic() + ACTION_TIMEOUT_S
    while quiet < 4 and time.monotonic() < deadline:
        await pg.wait_for_timeout(250)
        busy = busy or await pg.get_by_text(BUSY_TEXT).count() > 0
        running = await pg.locator('[data-testid="stStatusWidget"]').count() > 0
        quiet = 0 if running else quiet + 1
    return busy


async def _session(browser, url: str, rounds: int, out: list[tuple[str, float, bool]]) -> None:
    ctx = await browser.new_context(viewport={"width": 1366, "height": 768})
    pg = await ctx.new_page()
    pg.set_default_timeout(ACTION_TIMEOUT_S * 1000)
    t0 = time.perf_counter()
    await pg.goto(url)
    await pg.wait_for_selector("h1")
    out.append(("open /", time.perf_counter() - t0, await _until_idle(pg)))
    for _ in range(rounds):
        for name in PAGES:
            t0 = time.perf_counter()
            await pg.locator('[data-testid="stSidebarNav"] a', has_text=name).click()
            # The title is the page's first element: until it shows, the page has not started.
            busy = await pg.get_by_text(BUSY_TEXT).count() > 0
            await pg.locator("h1", has_text=name).wait_for()
            busy = await _until_idle(pg) or busy
            out.append((name, time.perf_counter() - t0, busy))
    await ctx.close()


def _sample(stop: threading.Event, url: str, pid: int, health: list[float], rss: list[float]) -> None:
    """Twice a second: the server's RSS; every two seconds: how long /_stcore/health takes to answer."""
    tick = 0
    while not stop.is_set():
        rss.append(rss_mb(pid))
        if tick % 4 == 0:
            t0 = time.perf_counter()
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=30).read()
                health.append(time.perf_counter() - t0)
            except OSError:
                health.append(float("inf"))
        tick += 1
        stop.wait(0.5)


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def _load(url: str, sessions: int, rounds: int) -> list[tuple[str, float, bool]]:
    from playwright.async_api import async_playwright

    out: list[tuple[str, float, bool]] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        await asyncio.gather(*(_session(browser, url, rounds, out) for _ in range(sessions)))
        await browser.close()
    return out


def run(sessions: int, rounds: int, slots: int) -> None:
    with running_app(env={"TOYMAE_WORK_SLOTS": str(slots)}) as (url, proc):
        # One visit first, so the shipped models are loaded before the crowd arrives (a warm server).
        asyncio.run(_load(url, 1, 0))
        idle_rss = rss_mb(proc.pid)
        stop, health, rss = threading.Event(), [], []
        sampler = threading.Thread(target=_sample, args=(stop, url, proc.pid, health, rss), daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        results = asyncio.run(_load(url, sessions, rounds))
        wall = time.perf_counter() - t0
        stop.set()
        sampler.join()
        end_rss = rss_mb(proc.pid)
    print(f"{sessions} sessions x (open + {rounds} x {len(PAGES)} pages), {slots} work slots: {wall:.0f} s")
    print(f"{'action':<16} {'n':>3} {'p50 s':>7} {'p95 s':>7} {'max s':>7} {'busy shown':>11}")
    for action in ["open /", *PAGES]:
        times = [t for a, t, _ in results if a == action]
        shown = sum(b for a, _, b in results if a == action)
        p50, p95 = _pct(times, 50), _pct(times, 95)
        print(f"{action:<16} {len(times):>3} {p50:>7.1f} {p95:>7.1f} {max(times):>7.1f} {shown:>11}")
    times = [t for _, t, _ in results]
    print(f"{'all':<16} {len(times):>3} {_pct(times, 50):>7.1f} {_pct(times, 95):>7.1f} {max(times):>7.1f}")
    print(
        f"health answers: p50 {_pct(health, 50):.2f} s, max {max(health):.2f} s "
        f"({sum(h > 10 for h in health)} of {len(health)} over 10 s)"
    )
    peak = max(rss)
    print(
        f"server RSS: {idle_rss:.0f} MB warm and idle, peak {peak:.0f} MB under load, {end_rss:.0f} MB after"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=1, help="passes through the pages per session")
    ap.add_argument("--slots", type=int, nargs="+", default=[2], help="one run per value, in order")
    args = ap.parse_args()
    for slots in args.slots:
        run(args.sessions, args.rounds, slots)


if __name__ == "__main__":
    main()
