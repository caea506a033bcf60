"""The Reconstruct page's pure pieces: editing on the panels, the verdict, the maps, the landing links,
and the Dockerfile the hosted demo is built from."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from toymae import masks
from toymae.app import figures
from toymae.app.catalog import load_manifest
from toymae.app.explore import make_shape
from toymae.app.tour import CORNER_MASK, TRY_THIS
from toymae.config import ShapeWorldConfig
from toymae.data import counterfactual
from toymae.eval.hallucination import (
    DEFAULT_MIN_PIXELS,
    NO_TRUE_SHAPE,
    image_verdict,
    score_reconstructions,
)

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- editing with selection events
def _event(indices, box=False, lasso=False) -> dict:
    return {
        "selection": {
            "points": [{"customdata": i} for i in indices],
            "box": [{"x": [0, 1], "y": [0, 1]}] if box else [],
            "lasso": [{"x": [0, 1, 0], "y": [0, 0, 1]}] if lasso else [],
        }
    }


def test_a_click_flips_and_a_drag_hides_or_reveals():
    m = np.zeros((4, 4), dtype=bool)
    m[0, 0] = True
    clicked = masks.apply_selection(m, _event([0, 5]))
    assert not clicked[0, 0] and clicked[1, 1] and clicked.sum() == 1  # flipped both ways
    boxed = masks.apply_selection(m, _event([0, 5], box=True))
    assert boxed[0, 0] and boxed[1, 1] and boxed.sum() == 2  # hidden stays hidden: no holes punched
    revealed = masks.apply_selection(boxed, _event([0, 1, 5], lasso=True), reveal=True)
    assert revealed.sum() == 0
    assert masks.apply_selection(m, None) is not m and np.array_equal(masks.apply_selection(m, None), m)
    assert (
        masks.dragged(_event([1], lasso=True)) and not masks.dragged(_event([1])) and not masks.dragged(None)
    )


# ---------------------------------------------------------------- the verdict
def _square_with_hidden_corner(value_at_corners: float):
    """A centred square with its top-left quarter hidden, reconstructed as the square itself except
    that its hidden corner pixels are drawn at ``value_at_corners``; returns (scores, n corner pixels)."""
    cfg = ShapeWorldConfig(image_size=32, size=0.5)
    square = make_shape("square", 0.5, 0.5, cfg)
    hidden = torch.zeros(1, 1, 32, 32)
    hidden[..., :16, :16] = 1
    circle = counterfactual(square)
    corner = (hidden > 0) & (square.images != circle)
    recon = torch.where(corner, torch.tensor(value_at_corners), square.images)
    h = score_reconstructions(square.images, circle, recon, hidden, 4)
    return h, int(corner.sum())


def test_verdict_for_a_square_drawn_round():
    h, n = _square_with_hidden_corner(0.0)
    assert n >= DEFAULT_MIN_PIXELS
    v = image_verdict(h, "square")
    assert v.label == "hallucinated" and v.score == pytest.approx(1.0)
    assert v.reason == f"{n} of {n} clearly drawn hidden corner pixels drawn round ({n} hidden in all)"


def test_verdict_for_a_faithful_square():
    h, n = _square_with_hidden_corner(0.9)
    v = image_verdict(h, "square")
    assert v.label == "faithful" and v.score == pytest.approx(0.0)
    assert v.reason.startswith(f"0 of {n} clearly drawn")


@pytest.mark.parametrize("grey", [0.5, 0.49, 0.6])
def test_grey_corners_are_uncertain_not_a_shape(grey):
    """Protocol v1 counted a constant 0.49 as a circle at every square corner; v2 calls it hedging."""
    h, n = _square_with_hidden_corner(grey)
    v = image_verdict(h, "square")
    assert v.label == "uncertain" and v.score is None
    assert v.reason == f"only 0 of {n} hidden corner pixels drawn clearly (the rest grey): the decoder hedges"


def test_verdict_undecidable_says_how_many_pixels_it_had():
    cfg = ShapeWorldConfig(image_size=32, size=0.5)
    square = make_shape("square", 0.5, 0.5, cfg)
    hidden = torch.zeros(1, 1, 32, 32)
    hidden[..., 14:18, 14:18] = 1  # the middle: no corner pixel hidden
    h = score_reconstructions(square.images, counterfactual(square), square.images, hidden, 4)
    v = image_verdict(h, "square")
    assert v.label == "undecidable" and v.score is None
    assert "only 0 hidden pixels" in v.reason and f"at least {DEFAULT_MIN_PIXELS}" in v.reason
    assert NO_TRUE_SHAPE.label == "undecidable" and NO_TRUE_SHAPE.score is None
    with pytest.raises(ValueError, match="true_shape"):
        image_verdict(h, "triangle")


# ---------------------------------------------------------------- panels and maps
@pytest.mark.parametrize(("tool", "dragmode"), [("click", "pan"), ("box", "select"), ("lasso", "lasso")])
def test_an_editable_panel_puts_a_selectable_point_on_every_cell(tool, dragmode):
    fig = figures.image_panel(np.zeros((32, 32)), "masked", edit_grid=8, tool=tool)
    picture, cells = fig.data
    assert picture.type == "heatmap" and picture.hoverinfo == "skip"  # clicks reach the points
    assert list(cells.customdata) == list(range(64))
    # Patch (row 1, col 2) spans pixels 4-7 down and 8-11 across: centre (9.5, 5.5).
    assert (cells.x[10], cells.y[10]) == (9.5, 5.5)
    assert fig.layout.dragmode == dragmode
    assert fig.layout.xaxis.fixedrange and fig.layout.yaxis.fixedrange
    pixels = figures.image_panel(np.zeros((32, 32)), "original", edit_grid=32, tool=tool).data[1]
    assert len(pixels.customdata) == 1024 and (pixels.x[33], pixels.y[33]) == (1.0, 1.0)


def test_a_plain_panel_is_one_picture_and_a_bad_tool_is_refused():
    fig = figures.image_panel(np.ones((8, 8)), "reconstruction")
    assert len(fig.data) == 1 and fig.layout.title.text == "reconstruction"
    with pytest.raises(ValueError, match="tool"):
        figures.image_panel(np.ones((8, 8)), "x", edit_grid=2, tool="brush")


def test_error_maps_grey_out_visible_patches_and_say_so():
    values = np.arange(16, dtype=float).reshape(4, 4)  # per pixel, 2 x 2 patches of 2 x 2 pixels
    hidden = np.array([[True, False], [False, True]])
    fig = figures.patch_heatmap(values, "error", hidden=hidden)
    grey, scale, legend = fig.data
    assert grey.colorscale[0][1] == figures.VISIBLE_GREY == grey.colorscale[-1][1]
    scaled = np.array(scale.z, dtype=float)
    covered = np.array(grey.z, dtype=float)
    assert np.isnan(scaled[0, 2]) and scaled[0, 0] == 0.0 and scaled[3, 3] == 15.0  # visible: no colour
    assert np.isnan(covered[0, 0]) and covered[0, 2] == 0.0  # and grey exactly there
    assert legend.showlegend and "visible" in legend.name
    assert len(figures.patch_heatmap(values, "error").data) == 1  # without a mask: as before


# ---------------------------------------------------------------- landing-page links
def _open(link):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app.py", default_timeout=120)
    for k, v in link.params.items():
        at.query_params[k] = v
    at.run()
    if link.page:
        at.switch_page(f"app_pages/{link.page}.py")
        at.run()
    return at


@pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints in checkpoints/")
@pytest.mark.parametrize("link", TRY_THIS, ids=lambda t: t.label)
def test_each_try_this_link_opens_in_the_state_it_names(link):
    """Every parameter of a link is one its page binds: the opened page holds that value."""
    at = _open(link)
    assert not at.exception, [e.value for e in at.exception]
    for key, value in link.params.items():
        if key in ("mask", "img"):  # read from the URL by the page, not a widget
            assert at.query_params[key] in (value, [value])
            continue
        held = at.session_state[key]
        assert str(held) == value or (isinstance(held, float) and held == float(value)), (key, held, value)
    if link.page == "":  # the Reconstruct links promise a verdict
        assert any(link.promise in m.value for m in at.markdown if "Verdict" in m.value)
    assert masks.from_text(CORNER_MASK, 8)[:4, :4].all() and masks.from_text(CORNER_MASK, 8).sum() == 16
    assert link.href().startswith(f"./{link.page}?")


# ---------------------------------------------------------------- the hosted demo's image
def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_dockerfile_installs_what_the_app_imports():
    text = _dockerfile()
    assert re.search(r"^COPY requirements\.txt", text, flags=re.M)
    assert re.search(r"pip install -r requirements\.txt", text)
    pinned = re.search(r"^torch==([\d.]+)", (ROOT / "requirements.txt").read_text(), flags=re.M)
    assert pinned and f"torch=={pinned.group(1)}" in text  # the CPU wheel of the version the app pins
    assert "download.pytorch.org/whl/cpu" in text


def test_dockerfile_runs_the_app_as_a_non_root_user_on_8501_with_a_health_check():
    text = _dockerfile()
    user = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert user and user[-1] not in {"root", "0"}
    assert re.search(r"^EXPOSE 8501\b", text, flags=re.M)
    health = re.search(r"^HEALTHCHECK .*?(?=^\S)", text + "\nEND", flags=re.M | re.S)
    assert health and "/_stcore/health" in health.group(0) and ":8501" in health.group(0)
    cmd = re.search(r"^CMD (\[.*\])", text, flags=re.M)
    assert cmd and cmd.group(1).startswith('["streamlit", "run", "app.py"')
    port = re.search(r"STREAMLIT_SERVER_PORT=(\d+)", text)
    assert port and port.group(1) == "8501"  # the port streamlit listens on is the one exposed
    assert re.search(r"STREAMLIT_SERVER_ADDRESS=0\.0\.0\.0", text)  # reachable from outside the container
    copied = re.search(r"^COPY --chown=\S+ \. \.", text, flags=re.M)
    assert copied  # app.py, pages/, toymae/, checkpoints/ and .streamlit/ all go in
    ignored = (ROOT / ".dockerignore").read_text().split()
    for needed in ("app.py", "pages", "toymae", "checkpoints", ".streamlit"):
        assert (ROOT / needed).exists() and needed not in ignored


def test_space_front_matter_is_a_docker_space_on_the_app_port():
    text = (ROOT / "docs" / "space-README.md").read_text()
    front = re.match(r"---\n(.*?)\n---\n", text, flags=re.S)
    assert front, "the file must start with YAML front matter"
    fields = dict(line.split(":", 1) for line in front.group(1).splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    assert fields["sdk"] == "docker" and fields["app_port"] == "8501"
    assert fields.get("title")


@pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints in checkpoints/")
def test_drawing_starts_from_a_circle_a_square_or_nothing():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app.py", default_timeout=120)
    at.query_params["src"] = "Draw"
    at.run()
    inked = {}
    for label in ("Circle", "Square", "Clear"):
        next(b for b in at.button if b.label == label).click().run()
        assert not at.exception
        img = at.query_params["img"]
        inked[label] = int(masks.from_text(img if isinstance(img, str) else img[0], 32).sum())
    assert inked["Square"] > inked["Circle"] > 0 == inked["Clear"]  # a square covers more than its circle
    assert any("no true shape" in m.value for m in at.markdown)  # a drawing gets no verdict
