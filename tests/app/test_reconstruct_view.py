"""The Reconstruct page's pure pieces: editing selections, the verdict, what the in-browser panels
receive, the landing links, and the Dockerfile the hosted demo is built from."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from toymae import masks
from toymae.app import reconstruct_browser as rb
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


# ---------------------------------------------------------------- what the browser's panels receive
# The panels, the maps and their editing run in the browser (app_pages/components/reconstruct_panels);
# tests/app/test_browser.py drives them and tests/app/test_browser_reconstruct.py holds their numbers
# against torch. Here: the Python side of that exchange.
def test_editor_state_round_trips_through_the_url_and_refuses_bad_input():
    s = rb.EditorState.from_params({"mask_mode": "Draw", "mask": CORNER_MASK, "tool": "Lasso"}, 8, 32)
    assert s.hidden(8).sum() == 16 and s.tool == "Lasso"
    url = {k: v for k, v in s.to_params().items() if v is not None}
    assert url == {"mask_mode": "Draw", "mask": CORNER_MASK, "tool": "Lasso"}  # defaults stay out
    assert rb.EditorState.from_params(url, 8, 32) == s
    random = rb.EditorState.from_params({"ratio": "0.75", "mseed": "3"}, 8, 32)
    assert (random.ratio, random.mseed, random.mask) == (0.75, 3, None)
    assert np.array_equal(random.hidden(8), masks.random_mask(8, 0.75, 3))
    default = rb.EditorState()
    bad = {"mask_mode": "Paint", "ratio": "nan", "mseed": "1e9", "mask": "zz", "img": "00", "tool": "Hammer"}
    assert rb.EditorState.from_params(bad, 8, 32) == default
    for ratio in ("2", "-0.1", "0.96", "inf", None, [0.5]):
        assert rb.EditorState.from_params({"ratio": ratio}, 8, 32).ratio == default.ratio
    for seed in (-1, 1.5, "x", 10**7):
        assert rb.EditorState.from_params({"mseed": seed}, 8, 32).mseed == default.mseed
    assert rb.EditorState.from_params({"mask_mode": "Draw", "mask": CORNER_MASK}, 16, 32).mask != CORNER_MASK
    drawn_without_mask = rb.EditorState.from_params({"mask_mode": "Draw"}, 8, 32)  # starts from a random one
    assert np.array_equal(drawn_without_mask.hidden(8), masks.random_mask(8, rb.DEFAULT_RATIO, 0))
    # The browser's own form of the state (numbers, not strings) reads the same way.
    assert rb.EditorState.from_params({"ratio": 0.65, "mseed": 4}, 8, 32).ratio == 0.65


def test_model_bytes_hold_exactly_the_float32_values_torch_holds():
    from toymae.config import MAEConfig
    from toymae.model import build_model

    model = build_model(MAEConfig(embed_dim=32, decoder_embed_dim=16, depth=1), seed=3)
    model_id, raw = rb.model_bytes(model)
    n = int.from_bytes(raw[:4], "little")
    header = json.loads(raw[4 : 4 + n])
    assert header["id"] == model_id and (4 + n) % 4 == 0  # the data starts aligned
    data = np.frombuffer(raw[4 + n :], dtype="<f4")
    tensors = {
        **model.state_dict(),
        "pos_embed": model.pos_embed,
        "decoder_pos_embed": model.decoder_pos_embed,
    }
    assert [t["name"] for t in header["tensors"]] == list(tensors)
    for t in header["tensors"]:
        got = data[t["offset"] : t["offset"] + t["length"]].reshape(t["shape"])
        assert np.array_equal(got, tensors[t["name"]].numpy()), t["name"]
    assert header["config"]["embed_dim"] == 32 and rb.model_bytes(model) == (model_id, raw)  # cached


def test_panels_data_carries_the_picture_its_counterfactual_and_the_rule():
    from toymae.eval import hallucination

    cfg = ShapeWorldConfig(image_size=32, size=0.5)
    square = make_shape("square", 0.4, 0.6, cfg)
    data = rb.panels_data("id", cfg, 8, square.images, "key", square, rb.EditorState())
    assert json.loads(json.dumps(data)) == data  # plain JSON
    assert np.array_equal(masks.from_text(data["image"]["bits"], 32), square.images[0, 0].numpy() > 0.5)
    assert np.array_equal(
        masks.from_text(data["image"]["counter"], 32), counterfactual(square)[0, 0].numpy() > 0.5
    )
    assert (
        data["image"]["truth"] == "square" and data["rule"]["min_pixels"] == hallucination.DEFAULT_MIN_PIXELS
    )
    assert data["rule"]["confidence_band"] == hallucination.CONFIDENCE_BAND
    assert data["rule"]["no_true_shape"] == NO_TRUE_SHAPE.reason
    uploaded = rb.panels_data("id", cfg, 8, square.images, "key", None, rb.EditorState())["image"]
    assert uploaded["truth"] is None and uploaded["counter"] is None
    with pytest.raises(ValueError, match="factors"):
        rb.panels_data("id", cfg, 8, torch.zeros(1, 1, 32, 32), "key", square, rb.EditorState())


@pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints in checkpoints/")
def test_the_terminal_command_and_the_server_panels_show_a_try_this_state():
    from toymae.app.catalog import CHECKPOINT_DIR
    from toymae.checkpoint import load_checkpoint

    link = TRY_THIS[0]
    p = link.params
    shape = make_shape(p["shape"], float(p["x"]), float(p["y"]), ShapeWorldConfig(image_size=32, size=0.5))
    state = rb.EditorState.from_params(p, 8, 32)
    entry = next(e for e in load_manifest() if e["name"] == p["model"])
    assert rb.cli_command(p["model"], shape, state) == (
        f"python -m toymae reconstruct checkpoints/{entry['file']} --shape square --x 0.5 --y 0.5 "
        f"--mask-ratio 0.6 --seed {p['mseed']} --json"
    )
    assert rb.cli_command("uploaded-model", shape, state) is None
    assert rb.cli_command(p["model"], shape, rb.EditorState(img="00" * 128)) is None  # a drawing
    model = load_checkpoint(CHECKPOINT_DIR / entry["file"]).model
    pictures, verdict, counts = rb.server_panels(model, shape.images, shape, state)
    assert len(pictures) == 4 and pictures[0].shape == (32, 32)
    assert f"`{link.promise}`" in verdict and counts.startswith("39 of 64 patches hidden")
    drawn = rb.server_panels(model, shape.images, shape, rb.EditorState(img="00" * 128))[1]
    assert NO_TRUE_SHAPE.reason in drawn  # a drawing has no true shape


# ---------------------------------------------------------------- landing-page links
def _open(link, **extra: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for k, v in {**link.params, **extra}.items():
        at.query_params[k] = v
    at.run()
    if link.page:
        at.switch_page(f"app_pages/{link.page}.py")
        at.run()
    return at


@pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints in checkpoints/")
@pytest.mark.parametrize("link", TRY_THIS, ids=lambda t: t.label)
def test_each_try_this_link_opens_in_the_state_it_names(link):
    """Every parameter of a link is one its page binds: the opened page holds that value. Reconstruct's
    verdict is computed in the browser (checked in test_browser_reconstruct.py); here the server's
    panels (``engine=server``) show it."""
    at = _open(link, **({"engine": "server"} if link.page == "" else {}))
    assert not at.exception, [e.value for e in at.exception]
    editor = set(rb.EditorState().as_dict())
    for key, value in link.params.items():
        # Reconstruct's editor state (mask, ratio, seed...) lives in the browser and in "rc_state".
        held = (
            at.session_state["rc_state"][key] if link.page == "" and key in editor else at.session_state[key]
        )
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
    for needed in ("app.py", "app_pages", "toymae", "checkpoints", ".streamlit"):
        assert (ROOT / needed).exists() and needed not in ignored


def test_space_front_matter_is_a_docker_space_on_the_app_port():
    text = (ROOT / "docs" / "space-README.md").read_text()
    front = re.match(r"---\n(.*?)\n---\n", text, flags=re.S)
    assert front, "the file must start with YAML front matter"
    fields = dict(line.split(":", 1) for line in front.group(1).splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    assert fields["sdk"] == "docker" and fields["app_port"] == "8501"
    assert fields.get("title")
