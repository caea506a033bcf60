"""The dashboard's pure pieces: mask editing, URL encoding, uploads, figures, background training."""

import io
import time

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from conftest import tiny_config
from PIL import Image

from toymae import masks
from toymae.app import figures
from toymae.app.explore import (
    image_from_array,
    image_from_bytes,
    make_shape,
    reconstruct_one,
    uncertainty_map,
)
from toymae.app.images import text_thumbnail
from toymae.app.training_server import MAX_STEPS, BackgroundRun, TrainingSlot
from toymae.config import ShapeWorldConfig
from toymae.model import build_model


@pytest.mark.parametrize("name", masks.PRESETS)
def test_presets(name):
    current = masks.preset_mask("left half", 8)
    m = masks.preset_mask(name, 8, current, ratio=0.5, seed=1)
    assert m.shape == (8, 8) and m.dtype == bool
    expected = {
        "left half": 32,
        "right half": 32,
        "top half": 32,
        "bottom half": 32,
        "clear": 0,
        "invert": 32,
    }
    if name in expected:
        assert int(m.sum()) == expected[name]
    if name == "invert":
        assert not (m & current).any()
    if name == "random":
        assert int(m.sum()) == 32


def test_random_preset_matches_the_model_masking():
    model = build_model(tiny_config().model, device="cpu")
    m = masks.random_mask(4, 0.6, seed=5)
    ref = model.random_masking(1, 0.6, torch.Generator().manual_seed(5))
    assert np.array_equal(m.reshape(-1), ref[0].numpy().astype(bool))


def test_toggle_and_selection_events():
    m = np.zeros((4, 4), dtype=bool)
    sel = {"selection": {"points": [{"customdata": 0}, {"customdata": [5]}, {"x": 1}]}}
    idx = masks.selected_indices(sel)
    assert idx == [0, 5]
    t = masks.toggle(m, idx)
    assert t[0, 0] and t[1, 1] and t.sum() == 2
    assert masks.toggle(t, idx).sum() == 0
    assert masks.toggle(m, [99, -1]).sum() == 0  # out-of-range clicks are ignored
    assert masks.hide(m, [3]).sum() == 1
    assert masks.selected_indices(None) == []


@pytest.mark.parametrize("grid", [2, 4, 8, 16, 32])
def test_mask_text_roundtrip(grid):
    m = np.random.default_rng(grid).random((grid, grid)) > 0.5
    text = masks.to_text(m)
    assert np.array_equal(masks.from_text(text, grid), m)
    assert masks.from_text(text, grid * 2) is None
    assert masks.from_text("zz-not-hex", grid) is None


def test_upload_is_resized_binarised_and_inverted_with_a_note():
    img = Image.new("L", (100, 100), 255)  # white background, black square: should be inverted
    img.paste(0, (25, 25, 75, 75))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    loaded = image_from_bytes(buf.getvalue(), 32)
    assert loaded.image.shape == (1, 1, 32, 32)
    assert set(loaded.image.unique().tolist()) == {0.0, 1.0}
    assert loaded.image[0, 0, 16, 16] == 1 and loaded.image[0, 0, 1, 1] == 0
    assert "resized from 100x100" in loaded.note and "inverted" in loaded.note
    with pytest.raises(ValueError, match="not a picture"):
        image_from_bytes(b"definitely not a png", 32)
    same = image_from_array(np.zeros((32, 32)), 32)
    assert "resized" not in same.note


def test_reconstruct_one_and_uncertainty():
    cfg = tiny_config()
    model = build_model(cfg.model, device="cpu").eval()
    b = make_shape("circle", 0.5, 0.5, cfg.data)
    drawn = masks.preset_mask("left half", 4)
    rec = reconstruct_one(model, b.images, drawn, 0.6, 0)
    assert rec.mask.sum() == 8
    rnd = reconstruct_one(model, b.images, None, 0.75, 3)
    assert rnd.mask.sum() == 12
    unc = uncertainty_map(model, b.images, 0.5, k=8, seed=0)
    assert unc.shape == (16, 16) and (unc >= 0).all() and unc.max() > 0


def test_make_shape_uses_the_dataset_size():
    b = make_shape("square", 0.5, 0.5, ShapeWorldConfig(image_size=32, size=0.5))
    assert int(b.images.sum()) == 256


def test_figures_are_plotly_figures_with_the_data():
    g = 8
    fig = figures.image_panel(np.zeros((32, 32)), "masked", edit_grid=g)
    assert isinstance(fig, go.Figure)
    assert list(fig.data[1].customdata) == list(range(g * g))
    assert fig.data[1].marker.symbol == "square"
    panels = figures.image_panels([np.zeros((4, 4)), np.ones((4, 4))], ["a", "b"])
    assert len(panels.data) == 2 and panels.data[1].z[0][0] == 1.0
    pca = figures.pca_scatter(np.random.default_rng(0).random((10, 2)), ["circle", "square"] * 5)
    assert sorted(t.name for t in pca.data) == ["circle", "square"]
    assert sum(len(t.x) for t in pca.data) == 10
    rows = [{"x": 1, "m": 0.5, "m_ci95": 0.1}, {"x": 2, "m": 0.7, "m_ci95": 0.0}]
    chart = figures.sweep_chart(rows, "x", [("m", "metric")], blog={1: 0.9, 2: 0.8})
    assert list(chart.data[0].y) == [0.5, 0.7] and list(chart.data[0].error_y.array) == [0.1, 0.0]
    assert chart.data[1].name.startswith("blog")
    bins = [
        {"lo": 0.0, "hi": 0.5, "rate": 0.2, "ci95": [0.1, 0.3], "n_decidable": 10},
        {"lo": 0.5, "hi": 1.0, "rate": None, "ci95": [0.0, 1.0], "n_decidable": 0},
    ]
    assert len(figures.rate_by_bin_chart(bins).data[0].x) == 2
    curve = figures.loss_curve([1, 2], [1.0, 0.5], [{"step": 2, "held_out_loss": 0.6, "probe_acc": 0.7}])
    assert len(curve.data) == 3


def _wait(run, states, timeout=120):
    deadline = time.time() + timeout
    while run.progress.state not in states and time.time() < deadline:
        time.sleep(0.05)
    return run.progress.state


def test_background_run_pause_resume_and_finish():
    run = BackgroundRun(tiny_config(steps=40, eval_every=20), owner="a")
    run.start()
    run.pause()
    assert _wait(run, {"paused"}) == "paused"
    time.sleep(0.3)
    held = run.progress.step
    time.sleep(0.5)
    assert run.progress.step == held  # paused means paused
    run.resume()
    assert _wait(run, {"done", "failed"}) == "done", run.progress.error
    p = run.progress
    assert p.step == 40 and len(p.losses) == 40 and [e["step"] for e in p.evals] == [20, 40]
    assert p.preview is not None and len(p.preview) == 8 and p.preview_step == 40


def test_background_stop_and_the_one_run_per_server_slot():
    slot = TrainingSlot()
    first = slot.claim(tiny_config(steps=2000), owner="a")
    assert first is not None
    assert slot.claim(tiny_config(), owner="b") is None  # busy
    assert slot.active() is first
    assert "another visitor" in slot.refusal("b") and "stop it" in slot.refusal("a")
    first.stop()
    assert _wait(first, {"stopped", "done"}) == "stopped"
    assert first.progress.step < 2000
    second = slot.claim(tiny_config(steps=5), owner="b")
    assert second is not None
    assert _wait(second, {"done"}) == "done"
    with pytest.raises(ValueError, match="at most"):
        BackgroundRun(tiny_config(steps=MAX_STEPS + 1), owner="c")


def test_blog_sweep_charts_split_rows_by_sweep():
    rows = [
        {"mask_ratio": r, "decoder_depth": d, "probe_acc": 0.9, "probe_acc_ci95": 0.01}
        for r, d in [(0.1, 2), (0.6, 2), (0.9, 2), (0.6, 1), (0.6, 4)]
    ]
    ratio, depth = figures.blog_sweep_charts(rows, [("probe_acc", "probe")])
    assert list(ratio.data[0].x) == [0.1, 0.6, 0.9] and list(depth.data[0].x) == [1, 2, 4]
    assert ratio.data[1].name.startswith("blog") and len(ratio.data[1].x) == 6
    no_blog, _ = figures.blog_sweep_charts(rows, [("probe_acc", "probe")], with_blog=False)
    assert len(no_blog.data) == 1


def test_text_thumbnail_draws_the_shape_in_half_blocks():
    cfg = ShapeWorldConfig()
    square = text_thumbnail(make_shape("square", 0.5, 0.5, cfg).images[0, 0], max_cols=16)
    circle = text_thumbnail(make_shape("circle", 0.5, 0.5, cfg).images[0, 0], max_cols=16)
    lines = square.split("<br>")
    assert len(lines) == 8 and all(len(line) == 16 for line in lines)  # 32 px pooled 2x, 2 rows a line
    full = "\u2588"
    assert square.count(full) > circle.count(full) > 0  # the circle loses its corners
    assert set(circle) - set("<br>") > {full}  # round edges use half blocks
    blank = text_thumbnail(np.zeros((32, 32)), max_cols=32)
    assert set(blank.replace("<br>", "")) == {"\u00a0"} and len(blank.split("<br>")) == 16


def test_pca_scatter_hover_is_monospace_for_text_pictures():
    fig = figures.pca_scatter(np.zeros((2, 2)), ["circle", "square"], ["a", "b"])
    assert "monospace" in fig.layout.hoverlabel.font.family


def test_no_figure_colour_is_a_streamlit_theme_placeholder():
    """Streamlit swaps #000001-#000040 for theme colours in the browser (Magma's #000004 drew zero pink)."""
    import json
    import re

    placeholder = re.compile(r"#0000(0[1-9]|[1-3][0-9]|40)\b")  # decimal-looking codes, as Streamlit uses
    figs = [
        figures.patch_heatmap(np.zeros((4, 4)), "t"),
        figures.image_panels([np.zeros((4, 4))] * 2, ["a", "b"], colorscales=[None, figures.MAGMA]),
        figures.image_panel(np.zeros((4, 4)), "t", edit_grid=2),
        figures.patch_heatmap(np.zeros((4, 4)), "t", hidden=np.eye(2, dtype=bool)),
        figures.pca_scatter(np.zeros((2, 2)), ["circle", "square"]),
    ]
    for fig in figs:
        spec = fig.to_plotly_json()
        spec["layout"].pop("template", None)  # Streamlit's own template (once imported) uses them on purpose
        assert not placeholder.search(json.dumps(spec, default=str))


def test_image_panels_without_a_colour_scale_are_grey_not_themed():
    fig = figures.image_panels([np.zeros((4, 4))] * 2, ["a", "b"], colorscales=[None, figures.MAGMA])
    first, second = (tuple(tuple(stop) for stop in t.colorscale) for t in fig.data)
    assert first == ((0.0, "black"), (1.0, "white"))
    assert second[0] == (0.0, "#000000")
