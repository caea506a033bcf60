"""Drive running toymae containers in Chromium, as a visitor would; called by container_smoke.sh.

    python scripts/container_smoke.py --app URL --app-container NAME --space URL --space-container NAME
        [--samesite URL --samesite-container NAME]

``--app`` is the default image (XSRF protection on); ``--space`` the one built for a Hugging Face
Space (XSRF_PROTECTION=false); ``--samesite`` the default image run with Streamlit's XSRF cookie marked
SameSite=None (STREAMLIT_SERVER_XSRF_COOKIE_SAME_SITE=none: protection kept, the cookie sent to a
third-party frame by browsers that allow third-party cookies).

Against the default image: every page opens without an exception, a checkpoint is uploaded in the
sidebar and a picture on Reconstruct, and a 10-step model is trained on the Train page, downloaded and
loaded back. Then each image is embedded in an iframe of a page on another site (http://127.0.0.1:PORT
embeds http://localhost:PORT, a different host, so the browser treats the app as a third party, as in
a Space) and both uploads are made there: the default image refuses them with HTTP 403 (which is why
the Space image exists), the others take them. Prints one line per check and the server's memory
(resident set of the container's PID 1, the Streamlit server, now and at its peak). Exits 1 on the
first failed check.
"""

from __future__ import annotations

import argparse
import http.server
import io
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync", "--disable-quic"]
PAGES = ["", "hallucinations", "representations", "train", "reproduce"]
TRAIN_STEPS = 10


def check(ok: bool, what: str) -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        sys.exit(1)


def ok_status(code: int) -> bool:
    return 200 <= code < 300  # Streamlit answers an upload with 204 No Content


def memory_mb(container: str) -> tuple[float, float]:
    """(resident now, peak resident) of the container's PID 1 in MB."""
    status = subprocess.run(
        ["docker", "exec", container, "cat", "/proc/1/status"], capture_output=True, text=True, check=True
    ).stdout
    kb = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith("Vm")}
    return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024


def wait_idle(frame) -> None:
    """Until Streamlit's 'running' status widget has been gone for a second."""
    quiet, deadline = 0, time.time() + 120
    while quiet < 4 and time.time() < deadline:
        time.sleep(0.25)
        quiet = 0 if frame.locator('[data-testid="stStatusWidget"]').count() else quiet + 1


def no_exception(frame) -> bool:
    return frame.locator('[data-testid="stException"]').count() == 0


def picture_png() -> bytes:
    from PIL import Image

    im = Image.new("L", (64, 64), 0)
    im.paste(255, (16, 16, 48, 48))  # a light square on a dark background
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


class UploadWatch:
    """HTTP statuses of Streamlit's upload requests, from any frame of a page."""

    def __init__(self, page) -> None:
        self.statuses: list[int] = []
        page.on("response", lambda r: "/_stcore/upload_file" in r.url and self.statuses.append(r.status))

    def wait(self, count: int, timeout_s: float = 60) -> list[int]:
        deadline = time.time() + timeout_s
        while len(self.statuses) < count and time.time() < deadline:
            time.sleep(0.2)
        return self.statuses


def upload_checkpoint(frame, path: Path) -> None:
    box = frame.locator('[data-testid="stFileUploader"]').filter(has_text="toymae checkpoint")
    box.locator('input[type="file"]').set_input_files(str(path))


def upload_picture(frame, path: Path) -> None:
    box = frame.locator('[data-testid="stFileUploader"]').filter(has_text="A picture")
    box.locator('input[type="file"]').set_input_files(str(path))


def uploaded_model_selected(frame, timeout_s: float = 60) -> bool:
    picker = frame.locator('[data-testid="stSidebar"] input[aria-label="Model"]')
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if picker.count() and picker.first.input_value().endswith("(uploaded)"):
            return True
        time.sleep(0.5)
    return False


def picture_accepted(frame, timeout_s: float = 60) -> bool:
    try:
        frame.get_by_text("Your picture was").first.wait_for(timeout=timeout_s * 1000)
        return True
    except Exception:
        return False


def serve_embedder(port: int) -> http.server.ThreadingHTTPServer:
    """A page on http://127.0.0.1:port that iframes the URL in its ?src= (a different site)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            src = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).get("src", [""])[0]
            body = (
                "<!doctype html><title>embedder</title><h1>another site</h1>"
                f'<iframe id="app" src="{src}" style="width:1400px;height:950px;border:0"></iframe>'
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app", required=True, help="URL of the default image (XSRF protection on)")
    ap.add_argument("--app-container", required=True)
    ap.add_argument("--space", required=True, help="URL of the Space image (XSRF_PROTECTION=false)")
    ap.add_argument("--space-container", required=True)
    ap.add_argument("--samesite", help="URL of the default image run with XSRF cookies SameSite=None")
    ap.add_argument("--samesite-container")
    ap.add_argument("--embed-port", type=int, default=8790)
    ap.add_argument("--artifacts", default=str(ROOT / "test-artifacts" / "container"))
    args = ap.parse_args()
    from toymae.app.catalog import CHECKPOINT_DIR, load_manifest
    from toymae.checkpoint import load_checkpoint

    artifacts = Path(args.artifacts)
    artifacts.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="toymae-smoke-"))
    model = work / "smoke upload.safetensors"
    model.write_bytes((CHECKPOINT_DIR / load_manifest()[0]["file"]).read_bytes())
    picture = work / "square.png"
    picture.write_bytes(picture_png())
    embedder = serve_embedder(args.embed_port)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def new_page():
            context = browser.new_context(viewport={"width": 1450, "height": 1000}, accept_downloads=True)
            pg = context.new_page()
            pg.set_default_timeout(120_000)
            return pg

        # ---- every page, directly
        page = new_page()
        for path in PAGES:
            page.goto(f"{args.app}/{path}")
            page.wait_for_selector("h1")
            wait_idle(page)
            page.screenshot(path=str(artifacts / f"page-{path or 'reconstruct'}.png"), full_page=True)
            check(no_exception(page), f"page /{path} opens without an exception")
        rss, peak = memory_mb(args.app_container)
        print(f"     server memory after every page: {rss:.0f} MB (peak {peak:.0f} MB)")

        # ---- both uploads, directly
        watch = UploadWatch(page)
        page.goto(args.app)
        page.wait_for_selector("h1")
        wait_idle(page)
        upload_checkpoint(page, model)
        check(uploaded_model_selected(page), "checkpoint upload (sidebar): selected as '... (uploaded)'")
        page.goto(f"{args.app}/?src=Upload")
        page.wait_for_selector("h1")
        wait_idle(page)
        upload_picture(page, picture)
        check(picture_accepted(page), "picture upload (Reconstruct): accepted")
        wait_idle(page)
        check(no_exception(page), "no exception after the uploads")
        check(
            len(watch.wait(2)) == 2 and all(map(ok_status, watch.statuses)), f"upload HTTP {watch.statuses}"
        )

        # ---- a short training run, downloaded and loaded back
        page.goto(f"{args.app}/train")
        page.wait_for_selector("h1")
        wait_idle(page)
        page.get_by_text("Quick look", exact=True).click()
        wait_idle(page)
        steps = page.get_by_label("Steps")
        steps.fill(str(TRAIN_STEPS))
        steps.press("Enter")
        wait_idle(page)
        t0 = time.perf_counter()
        page.locator(".st-key-start button").click()
        peak_during = 0.0
        deadline = time.time() + 1800
        progress = page.locator('[data-testid="stProgress"]')
        while time.time() < deadline:
            peak_during = max(peak_during, memory_mb(args.app_container)[0])
            text = progress.first.inner_text() if progress.count() else ""
            if text.startswith(("done", "stopped")):
                break
            time.sleep(1)
        train_s = time.perf_counter() - t0
        print(f"     status: {text!r} after {train_s:.0f} s")
        check(text.startswith("done"), f"a {TRAIN_STEPS}-step run on the Train page finishes")
        with page.expect_download() as dl:
            page.locator(".st-key-download button").click()
        saved = work / "trained.safetensors"
        dl.value.save_as(saved)
        trained = load_checkpoint(saved)
        got = trained.summary.get("steps")
        check(got == TRAIN_STEPS, f"its download loads as a checkpoint of {got} steps")
        page.screenshot(path=str(artifacts / "train-done.png"), full_page=True)
        check(no_exception(page), "no exception on the Train page")
        rss, peak = memory_mb(args.app_container)
        print(f"     server memory during the run: {peak_during:.0f} MB at most (sampled each second)")
        print(f"     server memory after the run: {rss:.0f} MB (peak since start {peak:.0f} MB)")
        page.context.close()

        # ---- both uploads from a cross-site iframe
        cases = [
            ("space", "Space image (XSRF off)", args.space, args.space_container, True),
            ("default", "default image (XSRF on)", args.app, args.app_container, False),
        ]
        if args.samesite:
            name = "default image, XSRF on, cookie SameSite=None"
            cases.append(("samesite", name, args.samesite, args.samesite_container, True))
        for key, name, url, container, expect_ok in cases:
            cross = url.replace("127.0.0.1", "localhost")  # a different site from the embedder
            page = new_page()
            watch = UploadWatch(page)
            embed = f"http://127.0.0.1:{args.embed_port}/?src="
            page.goto(embed + urllib.parse.quote(cross + "/", safe=""))
            frame = page.frame_locator("#app")
            frame.locator("h1").first.wait_for()
            upload_checkpoint(frame, model)
            statuses = watch.wait(1)
            ok = uploaded_model_selected(frame, 30 if expect_ok else 5)
            page.goto(embed + urllib.parse.quote(cross + "/?src=Upload", safe=""))
            frame = page.frame_locator("#app")
            frame.locator("h1").first.wait_for()
            upload_picture(frame, picture)
            statuses = watch.wait(2)
            pic = picture_accepted(frame, 30 if expect_ok else 5)
            page.screenshot(path=str(artifacts / f"iframe-{key}.png"))
            took = ok and pic and len(statuses) == 2 and all(map(ok_status, statuses))
            # SameSite=None depends on the browser's third-party cookie policy: observed, not required.
            if key == "samesite":
                verdict = "taken" if took else "refused"
                print(f"info {name} in a cross-site iframe: uploads {verdict}, HTTP {statuses}")
            elif expect_ok:
                check(took, f"{name} in a cross-site iframe: both uploads taken, HTTP {statuses}")
            else:
                refused = not ok and not pic and statuses == [403, 403]
                check(refused, f"{name} in a cross-site iframe: both uploads refused, HTTP {statuses}")
            page.context.close()
            print(f"     {name} server memory: {memory_mb(container)[0]:.0f} MB")
        browser.close()
    embedder.shutdown()
    rss, peak = memory_mb(args.app_container)
    print(json.dumps({"server_rss_mb": round(rss), "server_peak_mb": round(peak), "train_s": round(train_s)}))


if __name__ == "__main__":
    main()
