"""Server memory: `streamlit run app.py` with every shipped checkpoint loaded and one session open.

Starts the server on a free loopback port, opens every page once in headless Chromium (Playwright,
Debian's /usr/bin/chromium) so all shipped models, features and reports get loaded, then reads the
server's resident set size from /proc.

    python bench/app_memory.py
"""

from __future__ import annotations

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


def main() -> None:
    from playwright.sync_api import sync_playwright

    with running_app() as (url, proc):
        print(f"idle server: {rss_mb(proc.pid):.0f} MB RSS")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page()
            for name in PAGES:
                page.goto(f"{url}/{name}")
                page.wait_for_selector("h1", timeout=120_000)
                page.wait_for_timeout(4000)
                print(f"after opening {name:<16} {rss_mb(proc.pid):.0f} MB RSS")
            page.wait_for_timeout(3000)
            print(
                f"one session, every page visited, every shipped model loaded: {rss_mb(proc.pid):.0f} MB RSS "
                "(target <= 700 MB)"
            )
            browser.close()


if __name__ == "__main__":
    main()
