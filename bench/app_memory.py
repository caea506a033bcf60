"""Server memory: `streamlit run app.py` with every shipped checkpoint loaded and one session open.

Starts the server on a free loopback port, opens every page once in headless Chromium (Playwright,
Debian's /usr/bin/chromium) so all shipped models, features and reports get loaded, then reads the
server's resident set size from /proc.

    python bench/app_memory.py [--compare] [--train]

``--train`` then runs the Train page's "Quick look" preset to the end in the same session and samples
memory twice a second: the server's resident set, and the whole process tree's (the run trains in a
child process), as RSS (shared pages counted in each process) and PSS (shared pages split among
them: what the tree costs a host's memory limit).

``--compare`` measures the server with and without app.py's ``malloc_trim`` after every script run
(``TOYMAE_MALLOC_TRIM=0``), alternating, ``--rounds`` times each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.streamlit_server import CHROMIUM_ARGS, running_app

PAGES = ["reconstruct", "hallucinations", "representations", "train", "reproduce"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == pid:  # fields[1]: the parent's pid
            kids.append(int(stat.parent.name))
    return kids


def tree_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MB summed over ``pid`` and all its descendants."""
    rss = pss = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) / 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024
        except OSError:
            continue
        todo += _children(p)
    return rss, pss


def train_run(page, url: str, pid: int) -> dict[str, float]:
    """Run the Train page's Quick look preset to its end; peak memory readings in MB."""
    page.goto(f"{url}/train")
    page.wait_for_selector("h1", timeout=120_000)
    page.get_by_text("Quick look", exact=True).click()
    page.wait_for_timeout(2000)
    page.locator(".st-key-start button").click()
    peak = {"server_rss": 0.0, "tree_rss": 0.0, "tree_pss": 0.0}
    t0, text = time.time(), ""
    progress = page.locator('[data-testid="stProgress"]')
    while time.time() - t0 < 900 and not text.startswith(("done", "stopped")):
        page.wait_for_timeout(500)
        rss, pss = tree_mb(pid)
        peak = {"server_rss": max(peak["server_rss"], rss_mb(pid)), "tree_rss": max(peak["tree_rss"], rss),
                "tree_pss": max(peak["tree_pss"], pss)}  # fmt: skip
        text = progress.first.inner_text() if progress.count() else ""
    peak["seconds"] = time.time() - t0
    print(f"train run: {text!r} after {peak['seconds']:.0f} s")
    page.wait_for_timeout(3000)
    peak["server_rss_after"] = rss_mb(pid)
    return peak


def visit_every_page(
    env: dict[str, str] | None = None, quiet: bool = False, train: bool = False
) -> tuple[float, float]:
    """(highest, final) server RSS in MB over one session that opens every page (and trains)."""
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
            if train:
                print(f"before training: server {readings[-1]:.0f} MB RSS")
                peak = train_run(page, url, proc.pid)
                print(
                    f"during the run, at most: server {peak['server_rss']:.0f} MB RSS; server and training "
                    f"process together {peak['tree_pss']:.0f} MB PSS ({peak['tree_rss']:.0f} MB RSS)"
                )
                print(f"after the run: server {peak['server_rss_after']:.0f} MB RSS")
                readings.append(peak["server_rss_after"])
            browser.close()
    return max(readings), readings[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", action="store_true", help="with and without malloc_trim")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--train", action="store_true", help="then a Train-page run (Quick look preset)")
    args = ap.parse_args()
    if not args.compare:
        _, final = visit_every_page(train=args.train)
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
