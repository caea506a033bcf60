"""The Reconstruct panels compute in the browser: their numbers against torch's and the CLI's.

For every shipped model (the seed-0 checkpoints in checkpoints/manifest.json) and every "try this"
state of the Reconstruct page, Chromium runs the model's forward pass in the page
(app_pages/components/reconstruct_panels/mae.js) and the test reads what it computed through the
page's test hook ``window.__toymae`` (docs/browser.md): the reconstruction must be within 1e-4 of
torch's, and the mask, the counts and the verdict must be those ``python -m toymae reconstruct ...
--shape ... --json`` prints. One server, one page; the models are switched by URL.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from bench.streamlit_server import CHROMIUM_ARGS, running_app
from toymae import masks
from toymae.app.catalog import CHECKPOINT_DIR, entry_label, load_manifest
from toymae.app.explore import make_shape
from toymae.app.reconstruct_browser import model_bytes
from toymae.app.reconstruct_view import UNCERTAINTY_MASKS, reconstruct_view
from toymae.app.tour import CORNER_MASK, TRY_THIS
from toymae.checkpoint import load_checkpoint
from toymae.cli import main

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
TOLERANCE = 1e-4
playwright_api = pytest.importorskip("playwright.sync_api")
SHIPPED = [e for e in load_manifest() if e.get("seed", 0) == 0]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
    pytest.mark.skipif(not SHIPPED, reason="no shipped checkpoints"),
]


@pytest.fixture(scope="module")
def app():
    """(page, base URL): one server and one page for the module."""
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "streamlit-browser-reconstruct.log"
    with running_app(log) as (url, _), playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1366, "height": 768})
        pg.set_default_timeout(90_000)
        yield pg, url
        browser.close()


def browser_result(pg, model_id: str, mask: str | None = None, uncertainty: bool = False) -> dict:
    """``window.__toymae.result`` once the page shows ``model_id`` (and ``mask``, and the uncertainty
    map when asked for)."""
    pg.wait_for_function(
        """([id, mask, unc]) => { const t = window.__toymae;
            return t && t.ready && t.model === id && (mask === null || t.result.mask === mask)
                && (!unc || t.result.uncertainty !== null); }""",
        arg=[model_id, mask, uncertainty],
    )
    return pg.evaluate("() => window.__toymae.result")


def cli(path: Path, args: list[str], tmp_path: Path, capsys) -> dict:
    """What ``python -m toymae reconstruct PATH --shape ... --json`` prints, run in this process."""
    capsys.readouterr()
    assert main(["reconstruct", str(path), *args, "--json", "--out", str(tmp_path / "cli.png")]) == 0
    return json.loads(capsys.readouterr().out)


def check(got: dict, model, params: dict[str, str], want: dict, uncertainty: bool = False) -> None:
    """The browser's numbers against torch's (``reconstruct_view``, the CLI's call) and the CLI's."""
    x, y = float(params.get("x", 0.5)), float(params.get("y", 0.5))
    shape = make_shape(params.get("shape", "circle"), x, y, model.train_config.data)
    drawn = masks.from_text(params["mask"], model.train_config.model.grid_size) if "mask" in params else None
    ratio, seed = float(params.get("ratio", 0.6)), int(params.get("mseed", 0))
    view = reconstruct_view(
        model.model, shape.images, hidden=drawn, mask_ratio=ratio, seed=seed, shape=shape,
        uncertainty_masks=UNCERTAINTY_MASKS if uncertainty else 0,
    )  # fmt: skip
    rec = np.array(got["reconstruction"], dtype=np.float64)
    torch_rec = view.rec.reconstruction[0, 0].numpy().reshape(-1)
    assert np.abs(rec - torch_rec).max() <= TOLERANCE, np.abs(rec - torch_rec).max()
    assert np.abs(np.array(got["patch_error"]) - view.patch_error.reshape(-1)).max() <= TOLERANCE
    assert got["mask"] == want["mask"] and got["n_hidden"] == want["n_hidden"]
    assert got["loss_hidden"] == pytest.approx(want["loss_hidden"], abs=TOLERANCE)
    v = got["verdict"]
    assert (v["label"], v["reason"]) == (want["verdict"], want["reason"])
    assert (v["score"] is None) == (want["score"] is None)
    if v["score"] is not None:
        assert v["score"] == pytest.approx(want["score"], abs=1e-6)
    if uncertainty:
        unc = np.array(got["uncertainty"], dtype=np.float64)
        assert np.abs(unc - view.uncertainty.reshape(-1)).max() <= TOLERANCE


def pick_model(pg, label: str) -> None:
    """Choose a model in the sidebar's picker, as a visitor does (one rerun; the page stays)."""
    pg.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    pg.get_by_role("option", name=label, exact=True).click()


def test_every_shipped_model_reconstructs_in_the_browser_as_in_torch(app, tmp_path, capsys):
    """Each shipped model, picked in the sidebar, at its training ratio (a random mask drawn as torch
    draws it), then under a drawn mask (the explicit-mask path): the browser's numbers are torch's."""
    page, url = app
    page.goto(f"{url}/?shape=square")
    page.wait_for_function("() => window.__toymae && window.__toymae.ready")
    for i, entry in enumerate(SHIPPED):
        path = CHECKPOINT_DIR / entry["file"]
        model = load_checkpoint(path)
        model_id = model_bytes(model.model)[0]
        pick_model(page, entry_label(entry))
        page.wait_for_function("(id) => window.__toymae && window.__toymae.model === id", arg=model_id)
        params = {"shape": "square", "ratio": f"{entry['mask_ratio']:g}", "mseed": str(i)}  # a mask per model
        page.evaluate(
            "([r, s]) => window.__toymae.apply({mask_mode: 'Random', ratio: r, mseed: s})",
            [entry["mask_ratio"], i],
        )
        want = cli(
            path, ["--shape", "square", "--mask-ratio", params["ratio"], "--seed", str(i)], tmp_path, capsys
        )
        check(browser_result(page, model_id, want["mask"], uncertainty=i == 0), model, params, want, i == 0)
        page.evaluate("(m) => window.__toymae.apply({mask_mode: 'Draw', mask: m})", CORNER_MASK)
        want = cli(path, ["--shape", "square", "--mask", CORNER_MASK], tmp_path, capsys)
        check(browser_result(page, model_id, CORNER_MASK), model, {**params, "mask": CORNER_MASK}, want)
    # The edited state reached Python and the address bar, which now reopens it.
    deadline = time.time() + 30
    while parse_qs(urlparse(page.url).query).get("mask") != [CORNER_MASK] and time.time() < deadline:
        page.wait_for_timeout(250)
    query = parse_qs(urlparse(page.url).query)
    assert query.get("mask") == [CORNER_MASK] and query.get("mask_mode") == ["Draw"], page.url


@pytest.mark.parametrize("link", [t for t in TRY_THIS if t.page == ""], ids=lambda t: t.label)
def test_try_this_states_show_torchs_numbers_and_the_promised_verdict(app, link, tmp_path, capsys):
    page, url = app
    p = link.params
    entry = next(e for e in SHIPPED if e["name"] == p["model"])
    path = CHECKPOINT_DIR / entry["file"]
    model = load_checkpoint(path)
    page.goto(f"{url}/{link.href().removeprefix('./')}")
    got = browser_result(page, model_bytes(model.model)[0], uncertainty=True)
    args = ["--shape", p.get("shape", "circle"), "--x", p.get("x", "0.5"), "--y", p.get("y", "0.5")]
    if p.get("mask_mode") == "Draw":
        args += ["--mask", p["mask"]]
    else:
        args += ["--mask-ratio", p.get("ratio", "0.6"), "--seed", p.get("mseed", "0")]
    want = cli(path, args, tmp_path, capsys)
    check(got, model, p, want, uncertainty=True)
    assert got["verdict"]["label"] == link.promise
