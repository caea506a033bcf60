"""The dashboard's pure pieces: mask editing, URL encoding, uploads, figures (training: elsewhere)."""

import io

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
from toymae.config import ShapeWorldConfig
from toymae.model import build_model


@pytest.mark.parametrize("name", masks.PRESETS)
def test_presets(name):
    current = masks.preset_mask("left half", 8)
    m = masks.preset_mask(name, 8, current, mask_ratio=0.5, seed=1)
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
    assert sorted(t.name for t in pca.data) == ["circles", "squares"]
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


# ------------------------------------------------------------------ the analysis pages' views
def _tiny_model(seed: int = 0):
    cfg = tiny_config()
    return build_model(cfg.model, seed).requires_grad_(False), cfg


def test_hallucination_table_matches_the_report_and_ranks_the_worst_first():
    from toymae.app import hallucination_view as hv
    from toymae.eval.hallucination import evaluate_hallucination

    model, cfg = _tiny_model()
    heard = []
    table = hv.measure(model, cfg.data, 0.75, lambda done, text: heard.append(done), n=300)
    report = evaluate_hallucination(model, hv.evaluation_set(cfg.data, 300), 0.75, seed=0)
    assert table.summary == report.summary()  # the page's numbers are the CLI's
    assert np.array_equal(table.hidden, report.mask.numpy() > 0.5)
    assert heard == sorted(heard) and heard[-1] == 1.0 and len(heard) == 2  # one report per batch of 256
    shapes = hv.evaluation_set(cfg.data, 300).shape.numpy()
    order = table.ranking(shapes)
    labels = [hv.CODES[c] for c in table.label[order]]
    assert len(order) == table.summary["n_decidable"] and "undecidable" not in labels
    assert labels == sorted(labels, key=hv.WORST_FIRST.index)  # hallucinated, uncertain, faithful
    for name in set(labels):
        scores = np.nan_to_num(table.score[order][np.array(labels) == name], nan=-1.0)
        assert (np.diff(scores) <= 0).all()  # worst first within a label
    squares = table.ranking(shapes, "square", "faithful")
    assert (shapes[squares] == 1).all() and (table.label[squares] == hv.CODES.index("faithful")).all()
    assert hv.pages(0) == 1 and hv.pages(8) == 1 and hv.pages(9) == 2


def test_a_gallery_example_links_to_the_same_image_under_the_same_mask():
    from toymae.app import hallucination_view as hv

    model, cfg = _tiny_model()
    table = hv.measure(model, cfg.data, 0.6, n=100)
    order = table.ranking(hv.evaluation_set(cfg.data, 100).shape.numpy())[:4]
    examples = hv.examples(model, "tiny", cfg.data, table, order, n=100)
    batch = hv.evaluation_set(cfg.data, 100)
    grid = cfg.model.grid_size
    for ex in examples:
        p = ex.link.params
        assert ex.label == hv.CODES[int(table.label[ex.index])]
        assert ex.strip.shape == (16 * 4, 4 * (16 * 4 + 3) - 3, 3) and ex.strip.dtype == np.uint8
        assert p["model"] == "tiny" and p["mask_mode"] == "Draw"
        assert np.array_equal(masks.from_text(p["mask"], grid).reshape(-1), table.hidden[ex.index])
        drawn = make_shape(p["shape"], float(p["x"]), float(p["y"]), cfg.data).images
        assert torch.equal(drawn, batch.images[ex.index : ex.index + 1])  # the very same picture


def test_a_picture_reconstruct_cannot_draw_travels_as_its_pixels():
    from toymae.app.tour import reconstruct_link
    from toymae.config import DATASETS
    from toymae.data import eval_set

    varied = DATASETS["varied"]
    batch = eval_set(20, varied, 0, "probe-test")
    i = int(torch.nonzero((batch.shape == 1) & (batch.angle.abs() > 0.2))[0])  # a rotated square
    link = reconstruct_link("m", batch[i : i + 1], varied, ratio=0.75)
    assert "shape" not in link.params and link.params["ratio"] == "0.75"
    assert np.array_equal(masks.from_text(link.params["img"], 32), batch.images[i, 0].numpy() > 0.5)


def test_vote_picture_colours_each_label_and_nothing_else():
    from toymae.app import hallucination_view as hv

    disc = np.array([[True, True, True, False]])
    conf = np.array([[True, True, False, False]])
    vote = np.array([[1.0, 0.0, 0.0, 0.0]])
    pic = hv.vote_picture(disc, conf, vote)
    rgb = ["#{:02X}{:02X}{:02X}".format(*pic[0, j]) for j in range(4)]
    assert rgb == [figures.LABEL_COLOURS[k] for k in ("hallucinated", "faithful", "uncertain")] + ["#000000"]


def _shipped_folder(tmp_path, names=("m-a",)):
    """A checkpoints folder with untrained tiny models and a manifest (seed 0, and seed 1 of the first)."""
    import json

    from toymae.checkpoint import save_checkpoint

    entries, seeds = [], []
    for k, name in enumerate(names):
        model, cfg = _tiny_model(k)
        save_checkpoint(tmp_path / f"{name}.safetensors", model, cfg)
        cell = {"mask_ratio": cfg.model.mask_ratio, "decoder_depth": cfg.model.decoder_depth}
        entries.append(
            {"file": f"{name}.safetensors", "name": name, **cell, "seed": 0, "config": cfg.to_dict()}
        )
    (tmp_path / "seeds").mkdir()
    model, cfg = _tiny_model(7)
    save_checkpoint(tmp_path / "seeds" / f"{names[0]}-seed1.safetensors", model, cfg)
    seeds.append({**entries[0], "file": f"seeds/{names[0]}-seed1.safetensors", "seed": 1})
    manifest = {"checkpoints": entries, "seed_checkpoints": seeds}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def _few_ratios(monkeypatch, pc, ratios):
    """A quicker build: the page cache for ``ratios`` only."""
    monkeypatch.setattr(pc.hv, "RATIOS", ratios)
    hallucination = {**pc.SETTINGS["hallucination"], "ratios": list(ratios)}
    monkeypatch.setattr(pc, "SETTINGS", {**pc.SETTINGS, "hallucination": hallucination})


def test_the_page_cache_records_what_the_pages_would_measure_and_refuses_stale_entries(tmp_path, monkeypatch):
    from toymae.app import hallucination_view as hv
    from toymae.app import page_cache as pc
    from toymae.app import representation_view as rv
    from toymae.checkpoint import load_checkpoint

    _few_ratios(monkeypatch, pc, (0.35, 0.6))
    folder = _shipped_folder(tmp_path)
    pc.build(folder, log=lambda _: None)
    cache = pc.PageCache.open(folder)
    assert cache is not None and set(cache.meta["models"]) == {"m-a/seed0", "m-a/seed1"}
    ckpt = load_checkpoint(folder / "m-a.safetensors", device="cpu")
    live = hv.measure(ckpt.model, ckpt.train_config.data, 0.35)
    recorded = cache.hallucination("m-a", 0.35)
    assert recorded.summary == live.summary and np.array_equal(recorded.hidden, live.hidden)
    assert np.array_equal(recorded.label, live.label)
    assert np.allclose(recorded.score, live.score, atol=1e-3, equal_nan=True)
    assert cache.hallucination("m-a", 0.33) is None  # not a ratio the page offers
    seed1 = load_checkpoint(folder / "seeds" / "m-a-seed1.safetensors", device="cpu")
    raw, std = rv.all_projections(seed1.model, seed1.train_config.data)["visible"]
    got = cache.projections("m-a", 1, "visible")
    assert np.allclose(got[0], raw, atol=2e-2 * np.abs(raw).max()) and got[1].shape == std.shape
    # A re-shipped checkpoint makes its entries stale: the page measures instead of showing old numbers.
    model, cfg = _tiny_model(3)
    from toymae.checkpoint import save_checkpoint

    save_checkpoint(folder / "m-a.safetensors", model, cfg)
    assert pc.PageCache.open(folder).hallucination("m-a", 0.35) is None
    assert pc.PageCache.open(folder).projections("m-a", 1, "mean") is not None  # seed 1 is unchanged


def test_a_page_cache_made_under_other_settings_or_damaged_is_not_used(tmp_path, monkeypatch):
    from toymae.app import page_cache as pc

    assert pc.PageCache.open(tmp_path) is None  # absent
    (tmp_path / pc.FILE_NAME).write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    assert pc.PageCache.open(tmp_path) is None  # a Git LFS pointer
    folder = _shipped_folder(tmp_path / "f")
    _few_ratios(monkeypatch, pc, (0.6,))
    pc.build(folder, log=lambda _: None)
    assert pc.PageCache.open(folder) is not None
    monkeypatch.setattr(pc, "SETTINGS", {**pc.SETTINGS, "pca": {**pc.SETTINGS["pca"], "n": 1}})
    assert pc.PageCache.open(folder) is None


def test_shipped_models_are_listed_at_once_and_loaded_on_first_use(tmp_path):
    from toymae.app.model_store import ShippedModels

    folder = _shipped_folder(tmp_path, names=("m-a", "m-b", "m-c"))
    (folder / "m-c.safetensors").write_bytes(b"not a checkpoint")
    store = ShippedModels(folder)
    assert list(store.entries) == ["m-a", "m-b", "m-c"] and not any(store.is_loaded(n) for n in store.entries)
    a = store.get("m-a")
    assert a.checkpoint is not None and a.problem is None and store.get("m-a") is a
    assert not store.is_loaded("m-b")
    assert store.failed() == {}
    store.warm().join(timeout=60)
    assert store.is_loaded("m-b") and list(store.failed()) == ["m-c"]
    assert store.get("m-c").checkpoint is None and "m-c.safetensors" in store.failed()["m-c"]


def _view(trained, random_init, delta_ci):
    from toymae.app import representation_view as rv

    keys = rv.KEYS
    t = {k: rv.Score(trained, 0.01) for k in keys}
    r = {k: rv.Score(random_init, 0.01) for k in keys}
    d = {k: rv.Score(trained - random_init, delta_ci) for k in keys}
    empty = np.zeros((2, 2))
    return rv.RepresentationView("mean", None, empty, empty, t, r, d, 2000, "test")


def test_a_difference_gets_an_arrow_only_when_it_is_real_and_not_at_the_ceiling():
    from toymae.app import representation_view as rv

    assert rv.difference(_view(0.998, 0.995, 0.001), "all") == "+0.003, both at the ceiling"
    assert rv.difference(_view(0.80, 0.79, 0.005), "16") == "+0.010"  # under MIN_GAIN
    assert rv.difference(_view(0.85, 0.79, 0.08), "16") == "+0.060"  # its interval includes 0
    assert rv.difference(_view(0.90, 0.79, 0.03), "pca2_std") == "**+0.110 ↑**"
    assert rv.difference(_view(0.60, 0.79, 0.03), "pca2") == "**-0.190 ↓**"
    assert rv.difference(_view(0.90, 0.79, None), "all") == "+0.110"  # one model: no interval, no verdict
    lines = rv.probe_lines(_view(0.90, 0.79, 0.03), "16").splitlines()
    assert lines[0] == "- shape, 16 labels: **0.900** ± 0.010 · random init 0.790 · **+0.110 ↑**"
    assert [line.split(":")[0] for line in lines[1:]] == ["- PCA-2, raw", "- PCA-2, standardised"]


def test_a_shipped_view_with_recorded_scores_and_points_runs_no_model():
    from toymae.app import representation_view as rv
    from toymae.config import TrainConfig

    study = {
        w: {"mean": {rv.metric_key(k): {"mean": 0.7, "ci95": 0.02, "n": 3} for k in rv.KEYS}}
        for w in ("trained", "random_init", "delta")
    }
    cfg = TrainConfig()
    row = {"mask_ratio": cfg.model.mask_ratio, "decoder_depth": cfg.model.decoder_depth, "study": study}
    run = {"cell": dict(row, dataset="default"), "seed": 2, "eval": {"probe_train": 1234}}
    run["study"] = {
        w: {"mean": {rv.metric_key(k): 0.6 for k in rv.KEYS}} for w in ("protocols", "random_init")
    }
    results = {"datasets": {"default": [row]}, "runs": [run]}
    points = (np.ones((rv.LIVE_IMAGES, 2)), np.zeros((rv.LIVE_IMAGES, 2)))
    view = rv.shipped_view(cfg, 2, "mean", results, points, model=None)
    assert (
        view.trained["all_cv"].mean == 0.7 and view.n_train == 1234 and view.per_seed[2]["16"] == (0.6, 0.6)
    )
    assert view.scatter("standardised") is points[1] and "3 seeds" in view.source
    assert view.label_curve()[0] == [16, 64, 256, 1234]
    assert "seed 2. Its own scores: shape, 16 labels 0.600 (random init 0.600)" in rv.seed_line(view, "16", 2)
    assert rv.seed_line(view, "16", 0, asked=1).startswith("Seed 1 of this model is not shipped")


def test_the_verdict_matrix_tints_each_state_and_the_hypotheses_read_in_words():
    from toymae.app import reproduce_view as rv
    from toymae.reproduce.claims import MARK

    base = {"dataset": "default", "protocol": "mean", "labels": "16", "at_ceiling": False}
    diff = {"mean": 0.2, "ci95": [0.15, 0.25], "n": 3}
    verdicts = [
        {**base, "claim": "depth", "state": "holds", "diff": diff},
        {
            **base,
            "claim": "ratio_0.9",
            "state": "refuted",
            "diff": {**diff, "mean": -0.1, "ci95": [-0.2, 0.0]},
        },
        {**base, "claim": "sweet_spot", "state": "inconclusive", "diff": diff, "at_ceiling": True},
    ]
    styled = rv.verdict_matrix(verdicts)
    html = styled.to_html()
    assert rv.STATE_TINTS["holds"] in html and rv.STATE_TINTS["refuted"] in html
    cells = [c for row in styled.data.values for c in row if isinstance(c, str) and c[:1] in "✓✗?"]
    assert any("+0.200 [+0.150, +0.250]" in c for c in cells) and any("(ceiling)" in c for c in cells)
    noise = {"default": {"sweet_spot": {"single_seed_shows": 1, "of": 9}}}
    pca = {"default": {"state": "refuted", "diff": {"mean": 0.05, "ci95": [0.0, 0.1]}}}
    hyps = [
        {"hypothesis": "seed-noise", "rule": "r0", "by_dataset": noise},
        {
            "hypothesis": "wide-decoder",
            "change": "wider",
            "rule": "r1",
            "state": "inconclusive",
            "judged": None,
        },
        {"hypothesis": "pca-standardised", "rule": "r2", "state": "refuted", "by_dataset": pca},
    ]
    rows = rv.hypothesis_rows(hyps)
    assert [r["state"] for r in rows] == ["estimate, not a verdict", MARK["inconclusive"], MARK["refuted"]]
    assert rows[1]["summary"] == "no finished runs" and "+0.050 [+0.000, +0.100]" in rows[2]["summary"]
    best = rv.most_informative(hyps)
    assert best["hypothesis"] == "pca-standardised"
    link = rv.try_hypothesis(best, {"ratio0.6-dec1", "ratio0.6-dec4"})
    assert link.page == "representations" and link.params["rep_pca"] == "standardised"
    assert rv.try_hypothesis(best, {"ratio0.6-dec1"}) is None  # no link without its models
    assert rv.try_hypothesis(hyps[1], {"ratio0.6-dec1", "ratio0.6-dec4"}) is None  # trains its own


def test_charts_keep_accuracy_at_or_below_one_and_name_the_label_budgets():
    from toymae.app import reproduce_view as rv

    curves = [("a", [16, 64, 256, 2000], [0.8, 0.9, 0.95, 0.99], [0.05, 0.04, 0.03, 0.02], False)]
    fig = figures.label_efficiency_chart(curves)
    assert list(fig.layout.xaxis.tickvals) == [16, 64, 256, 2000]
    assert list(fig.layout.xaxis.ticktext) == ["16", "64", "256", "all (2,000)"]
    assert fig.layout.yaxis.range[1] == 1.0
    rows = [
        {"mask_ratio": 0.6, "decoder_depth": d, "probe": 0.99, "probe_ci95": 0.03, "probe_random": 0.98}
        for d in (1, 2, 3, 4)
    ]
    depth = figures.sweep_chart(rows, "decoder_depth", rv.METRICS["shape probe"][0])
    assert list(depth.layout.xaxis.tickvals) == [1, 2, 3, 4] and depth.layout.yaxis.range[1] == 1.0
    assert depth.data[1].line.dash == "dash" and depth.data[1].line.color == depth.data[0].line.color
    bins = figures.rate_by_bin_chart(
        [{"lo": 0.0, "hi": 1.0, "rate": 0.5, "ci95": [0.4, 0.6], "n_decidable": 9}]
    )
    assert (
        tuple(bins.layout.yaxis.range) == (0, 1) and "n=9" in bins.data[0].x[0] and bins.data[0].text is None
    )
    pca = figures.pca_scatter(np.zeros((2, 2)), ["circle", "square"])
    assert [t.marker.symbol for t in pca.data] == ["circle", "square"]  # shape not by colour alone
    shares = figures.fraction_chart([("x", {"faithful": 0.5, "hallucinated": 0.2, "uncertain": 0.3})])
    assert [t.marker.pattern.shape for t in shares.data] == ["", "x", "/"]


def _contrast(a: str, b: str) -> float:
    def lum(c: str) -> float:
        rgb = [int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_chart_text_and_matrix_cells_have_at_least_4_5_to_1_contrast():
    from toymae.app import reproduce_view as rv

    assert _contrast(figures.TEXT, "#ffffff") >= 4.5
    for tint in rv.STATE_TINTS.values():
        assert _contrast("#1a1a1a", tint) >= 4.5
    fig = figures.sweep_chart([{"x": 1, "m": 0.5}], "x", [("m", "metric")])
    assert fig.layout.xaxis.tickfont.color == figures.TEXT and fig.layout.font.color == figures.TEXT


def test_seed_files_offer_only_the_seeds_that_are_there(tmp_path):
    from toymae.app.catalog import seed_files

    folder = _shipped_folder(tmp_path, names=("m-a", "m-b"))
    assert set(seed_files(folder)) == {("m-a", 0), ("m-b", 0), ("m-a", 1)}
    (folder / "seeds" / "m-a-seed1.safetensors").unlink()  # as in a wheel, which ships seed 0 only
    assert set(seed_files(folder)) == {("m-a", 0), ("m-b", 0)}


def test_a_training_hypothesis_links_to_the_train_page_only_when_the_form_can_express_it():
    from toymae.app import reproduce_view as rv
    from toymae.app import train_form as tf

    assert tf.values_from_params({"decoder_embed_dim": "64", "lr": "0.004", "steps": "0", "data": "x"}) == {
        "decoder_embed_dim": 64,
        "lr": 4e-3,
    }
    wide = {
        "hypothesis": "wide-decoder",
        "state": "refuted",
        "dataset": "varied",
        "edits": {"decoder_embed_dim": 64},
    }
    link = rv.try_hypothesis(wide, set())
    assert link.page == "train" and link.promise == tf.LINKED
    assert link.params == {
        "data": "varied",
        "mask_ratio": "0.6",
        "decoder_depth": "4",
        "decoder_embed_dim": "64",
    }
    assert rv.try_hypothesis({**wide, "edits": {"train_pool": 2000}}, set()) is None  # not on the form
    assert rv.try_hypothesis({**wide, "edits": {"image_size": 64}}, set()) is None
    assert rv.try_hypothesis({k: v for k, v in wide.items() if k != "edits"}, set()) is None
