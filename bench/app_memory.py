"""Server memory: `streamlit run app.py` with every shipped checkpoint loaded and one session open.

Starts the server on a free loopback port, opens every page once in headless Chromium (Playwright,
Debian's /usr/bin/chromium) so all shipped models, features and reports get loaded, then reads the
server's resident set size from /proc.

    python bench/app_memory.py [--compare]

``--compare`` measures the server with and without app.py's ``malloc_trim`` after every script run
(``TOYMAE_MALLOC_TRIM=0``), alternating, ``--rounds`` times each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.streamlit_server import CHROMIUM_ARGS, running_app

PAGES = ["reconstruct", "hallucinations", "representations", "train", "reproduce"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def visit_every_page(env: dict[str, str] | None = None, quiet: bool = False) -> tuple[float, float]:
    """(highest, final) server RSS in MB over one session that opens every page."""
    from playwright.sync_api import sync_playwright

    readings = []
    with running_app(env=env) as (url, proc):
        if not quiet:
            print(f"idle server: {rss_mb(proc.pid):.0f} MB RSS")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page()
            for name in PAGES:
                page.goto(f"{url}/{name}")
                page.wait_for_selector("h1", timeout=120_000)
                page.wait_for_timeout(4000)
                readings.append(rss_mb(proc.pid))
                if not quiet:
                    print(f"after opening {name:<16} {readings[-1]:.0f} MB RSS")
            page.wait_for_timeout(3000)
            readings.append(rss_mb(proc.pid))
            browser.close()
    return max(readings), readings[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", action="store_true", help="with and without malloc_trim")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    if not args.compare:
        _, final = visit_every_page()
        print(
            f"one session, every page visited, every shipped model loaded: {final:.0f} MB RSS "
            "(target <= 700 MB)"
        )
        return
    runs: dict[str, list[tuple[float, float]]] = {"malloc_trim": [], "no trim": []}
    for _ in range(args.rounds):
        for name, flag in (("malloc_trim", "1"), ("no trim", "0")):
            env = {"TOYMAE_MALLOC_TRIM": flag}
            runs[name].append(visit_every_page(env, quiet=True))
            high, final = runs[name][-1]
            print(f"{name:<12} highest {high:.0f} MB, final {final:.0f} MB", flush=True)
    for name, rs in runs.items():
        print(
            f"{name:<12} median highest {statistics.median(r[0] for r in rs):.0f} MB, "
            f"median final {statistics.median(r[1] for r in rs):.0f} MB RSS ({len(rs)} runs)"
        )


if __name__ == "__main__":
    main()
