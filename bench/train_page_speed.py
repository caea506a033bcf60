"""The Train page trains as fast as the CLI: images/s of the same recipe, page and CLI, side by side.

One Streamlit server; in each round, Chromium (Playwright) opens the Train page in a fresh tab, sets
the shipped recipe's Steps to ``--steps``, starts it and reads the page's images/s when the run is
done; and ``python -m toymae train --recipe shipped --steps N`` runs the same config, whose progress
bar's last images/s is read. Both figures leave out start-up and the final evaluation. Rounds
alternate the order (page first, then CLI first), so a background load that drifts hits both alike.
Prints every figure, the medians and page / CLI (the target: at least 0.9), and how often
Streamlit's own "Running... Stop" showed in the page's header while it trained.

    python bench/train_page_speed.py [--steps 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.streamlit_server import CHROMIUM_ARGS, running_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PROGRESS = '[data-testid="stProgress"]'
IDLE = '[data-test-script-state="notRunning"]'  # Streamlit marks its app view so between script runs


def page_run(browser, url: str, steps: int, timeout_s: float) -> tuple[float, float, float]:
    """(images/s the page shows when done, wall seconds from Start to done, share of header samples
    with Streamlit's running indicator) for one run of the shipped recipe at ``steps`` steps."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    pg = context.new_page()
    pg.set_default_timeout(timeout_s * 1000)
    try:
        pg.goto(f"{url}/train")
        pg.get_by_text("Settings (change any").click()  # open the form's settings
        field = pg.get_by_label("Steps")
        field.fill(str(steps))
        field.press("Enter")  # commits the value: the page reruns
        pg.wait_for_timeout(500)
        pg.wait_for_function(f"() => document.querySelector('{IDLE}')")
        t0 = time.perf_counter()
        pg.locator(".st-key-start button").click()
        header, samples = 0, 0
        done = re.compile(r"^done · ([\d,]+) steps · (\d+) img/s")
        while time.perf_counter() - t0 < timeout_s:
            text = pg.locator(PROGRESS).first.inner_text() if pg.locator(PROGRESS).count() else ""
            if m := done.match(text):
                if int(m.group(1).replace(",", "")) != steps:
                    raise RuntimeError(f"the page ran {m.group(1)} steps, not {steps}: {text}")
                return float(m.group(2)), time.perf_counter() - t0, header / max(samples, 1)
            if text.startswith(("failed", "stopped")):
                raise RuntimeError(f"the page's run ended: {text}")
            if text.startswith("running"):
                samples += 1
                header += pg.locator('[data-testid="stStatusWidget"]').get_by_role("button").count() > 0
            pg.wait_for_timeout(250)
        raise RuntimeError(f"the page's run did not finish within {timeout_s:.0f} s")
    finally:
        context.close()


def cli_run(steps: int, out: Path) -> tuple[float, float]:
    """(images/s of the CLI's progress bar at its last step, wall seconds of the command)."""
    cmd = [sys.executable, "-m", "toymae", "train", "--recipe", "shipped", "--steps", str(steps)]
    t0 = time.perf_counter()
    proc = subprocess.run([*cmd, "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the CLI failed ({proc.returncode}): {proc.stderr[-2000:]}")
    speeds = re.findall(r"img/s=(\d+)", proc.stderr)
    if not speeds:
        raise RuntimeError("the CLI's progress bar showed no img/s")
    return float(speeds[-1]), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200, help="steps of each run (few: the machine is shared)")
    ap.add_argument("--rounds", type=int, default=3, help="page + CLI pairs, order alternating")
    ap.add_argument("--timeout", type=float, default=900, help="seconds one page run may take")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"recipe shipped, {args.steps} steps a run, {args.rounds} rounds; load average {os.getloadavg()}")
    page, cli, header = [], [], []
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_app(Path(tmp) / "streamlit.log") as (url, _),
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for r in range(args.rounds):
            order = ("page", "cli") if r % 2 == 0 else ("cli", "page")
            for which in order:
                if which == "page":
                    speed, wall, shown = page_run(browser, url, args.steps, args.timeout)
                    page.append(speed)
                    header.append(shown)
                    extra = f", header running indicator in {shown:.0%} of samples"
                else:
                    speed, wall = cli_run(args.steps, Path(tmp) / "cli.safetensors")
                    cli.append(speed)
                    extra = ""
                print(f"round {r + 1} {which:4s}: {speed:6.0f} img/s ({wall:5.0f} s wall{extra})", flush=True)
        browser.close()
    ratio = statistics.median(page) / statistics.median(cli)
    pairs = [p / c for p, c in zip(page, cli, strict=True)]
    print(f"median page {statistics.median(page):.0f} img/s, CLI {statistics.median(cli):.0f} img/s")
    print(
        f"page / CLI: {ratio:.2f} (medians; per round: {', '.join(f'{x:.2f}' for x in pairs)}, their median "
        f"{statistics.median(pairs):.2f}; target >= 0.90)"
    )
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
