"""Uploads as users make them: checkpoints in the sidebar, pictures, broken models, hostile names."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config
from PIL import Image
from streamlit.testing.v1 import AppTest

from toymae.app.catalog import CHECKPOINT_DIR, load_manifest
from toymae.app.explore import PictureError, image_from_bytes, reconstruct_one, uncertainty_map
from toymae.checkpoint import checkpoint_bytes, load_checkpoint_bytes
from toymae.data import eval_set
from toymae.eval.hallucination import evaluate_hallucination, score_reconstructions
from toymae.finite import NonFiniteOutputError, check_model_outputs
from toymae.inference import reconstruct
from toymae.model import build_model

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = load_manifest()
needs_shipped = pytest.mark.skipif(not SHIPPED, reason="no shipped checkpoints in checkpoints/")


def _png(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def _huge_model():
    """Finite weights so large that the first matmuls overflow: loads, but outputs inf / NaN."""
    cfg = tiny_config()
    model = build_model(cfg.model, seed=0, device="cpu").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1e30)
    return cfg, model


# --------------------------------------------------------------------------- pictures
def test_a_shape_drawn_only_in_the_alpha_channel_survives():
    rgba = np.zeros((64, 64, 4), np.uint8)  # black everywhere; the square exists only as opacity
    rgba[16:48, 16:48, 3] = 255
    loaded = image_from_bytes(_png(Image.fromarray(rgba, "RGBA")), 32)
    assert loaded.image[0, 0, 16, 16] == 1 and loaded.image[0, 0, 2, 2] == 0
    assert int(loaded.image.sum()) == 16 * 16
    assert "transparent areas filled with white" in loaded.note


@pytest.mark.parametrize("size", [(64, 128), (128, 64)], ids=["wide", "tall"])
def test_a_picture_that_is_not_square_is_centre_cropped_not_squashed(size):
    h, w = size
    yy, xx = np.mgrid[:h, :w]
    disc = (((yy - h // 2) ** 2 + (xx - w // 2) ** 2) < 20**2).astype(np.uint8) * 255
    loaded = image_from_bytes(_png(Image.fromarray(disc)), 32)
    ys, xs = np.nonzero(loaded.image[0, 0].numpy())
    assert ys.max() - ys.min() == xs.max() - xs.min() == 19  # round: 40 px of 64 -> 20 of 32, both ways
    assert f"centre-cropped from {w}x{h} to 64x64" in loaded.note


def test_a_light_shape_on_transparent_is_composited_onto_black():
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[10:30, 10:30, 3] = 255
    loaded = image_from_bytes(_png(Image.fromarray(rgba, "RGBA")), 32)
    assert loaded.image[0, 0, 16, 16] == 1 and loaded.image[0, 0, 1, 1] == 0
    assert "filled with black" in loaded.note and "inverted" not in loaded.note


def test_a_float_tiff_is_rescaled_from_its_own_range():
    values = np.zeros((64, 64), np.float32)
    values[20:44, 20:44] = 1.0  # 0..1 floats: an 8-bit conversion would make every pixel black
    loaded = image_from_bytes(_png(Image.fromarray(values), "TIFF"), 32)
    assert loaded.image[0, 0, 16, 16] == 1 and int(loaded.image.sum()) == 12 * 12
    assert "rescaled from its value range 0..1" in loaded.note


@pytest.mark.parametrize(
    ("picture", "why"),
    [
        (lambda: _png(Image.new("L", (1, 1), 255)), "every pixel has the same value"),
        (lambda: _png(Image.new("RGBA", (50, 50), (0, 0, 0, 0))), "every pixel has the same value"),
        (
            lambda: _png(Image.fromarray(np.full((64, 64), 0.7, np.float32)), "TIFF"),
            "every pixel has the same value",
        ),
        (lambda: _one_dot(), "only 0 of 1024 pixels"),
    ],
    ids=["1x1 white", "fully transparent", "flat float TIFF", "one dot"],
)
def test_blank_results_are_refused_with_the_reason(picture, why):
    with pytest.raises(PictureError, match="came out blank after conversion") as info:
        image_from_bytes(picture(), 32)
    assert why in str(info.value)


def _one_dot() -> bytes:
    im = Image.new("L", (100, 100), 0)
    im.putpixel((50, 50), 255)
    return _png(im)


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n" + b"x" * 40, b"GIF89a" + bytes(20)])
def test_unreadable_pictures_get_one_plain_sentence(data):
    with pytest.raises(PictureError) as info:
        image_from_bytes(data, 32)
    assert str(info.value) == "not a picture this app can read (PNG, JPEG, GIF, BMP, TIFF or WebP)"


# --------------------------------------------------------------------------- non-finite models
def test_overflowing_model_is_caught_by_every_scoring_path():
    cfg, model = _huge_model()
    with pytest.raises(NonFiniteOutputError, match="NaN or infinite"):
        check_model_outputs(model, cfg.data)
    batch = eval_set(16, cfg.data, 0, "hallucination")
    with pytest.raises(NonFiniteOutputError):
        evaluate_hallucination(model, batch, 0.6)
    rec = reconstruct(model, batch.images, mask_ratio=0.6, generator=torch.Generator().manual_seed(0))
    from toymae.data import counterfactual

    with pytest.raises(NonFiniteOutputError):  # NaN ties everywhere: it must not score as faithful
        score_reconstructions(
            batch.images, counterfactual(batch), rec.reconstruction, rec.pixel_mask, cfg.model.patch_size
        )
    with pytest.raises(NonFiniteOutputError):
        reconstruct_one(model, batch.images[:1], None, 0.6, 0)
    with pytest.raises(NonFiniteOutputError):
        uncertainty_map(model, batch.images[:1], 0.6, k=4)


def test_a_healthy_model_passes_the_output_check():
    cfg = tiny_config()
    model = build_model(cfg.model, seed=0, device="cpu").train()
    check_model_outputs(model, cfg.data)  # raises if anything came out non-finite
    assert model.training  # the check ran in eval mode and put the training mode back
    report = evaluate_hallucination(model, eval_set(16, cfg.data, 0, "hallucination"), 0.6)
    assert torch.isfinite(report.reconstruction).all()


# --------------------------------------------------------------------------- the sidebar upload
def _app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    return at


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.sidebar.file_uploader[0].upload(name, data).run()  # a fresh uploader (new key) after each upload
    return at


@needs_shipped
def test_uploading_a_valid_checkpoint_adds_and_selects_it_without_an_exception():
    data = (CHECKPOINT_DIR / SHIPPED[0]["file"]).read_bytes()  # a byte copy of a shipped model
    at = _app()
    assert at.sidebar.selectbox(key="model").value != "my-model"
    _upload(at, "my model.safetensors", data)
    assert not at.exception, [e.value for e in at.exception]
    picker = at.sidebar.selectbox(key="model")
    assert picker.value == "my-model" and "my-model (uploaded)" in picker.options
    assert not at.sidebar.error
    at.run()  # and it stays selected on the next run
    assert not at.exception and at.sidebar.selectbox(key="model").value == "my-model"
    assert at.title[0].value == "Reconstruct"


@needs_shipped
def test_an_upload_never_shadows_a_shipped_model():
    name = SHIPPED[0]["name"]
    data = (CHECKPOINT_DIR / SHIPPED[0]["file"]).read_bytes()
    at = _upload(_app(), f"{name}.safetensors", data)
    picker = at.sidebar.selectbox(key="model")
    assert not at.exception and picker.value == f"{name}-2"
    # Models trained on this server by other tests in this process are listed too; leave them out.
    own = [o for o in picker.options if not o.endswith("(trained on this server)")]
    assert f"{name}-2 (uploaded)" in own and len(own) == len(SHIPPED) + 1


@needs_shipped
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"not a checkpoint at all", "not a safetensors file"),
        (lambda: _overflowing_bytes(), "NaN or infinite"),
        (lambda: _deep_summary_bytes(), "summary is nested more than 32 levels deep"),
    ],
    ids=["garbage", "overflowing weights", "deep summary"],
)
def test_a_bad_upload_shows_the_reason_as_plain_text(data, expected):
    name = "**bold** [link](http://x) :red[red].safetensors"
    at = _upload(_app(), name, data() if callable(data) else data)
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.error[0].value == "That file was not loaded:"
    shown = at.sidebar.code[0]
    assert shown.value.startswith(name + ": ") and expected in shown.value  # verbatim, not Markdown
    assert shown.language in (None, "", "plaintext", "text")
    assert at.sidebar.selectbox(key="model").value != "bold-link-http-x-red-red"


def _overflowing_bytes() -> bytes:
    cfg, model = _huge_model()
    return checkpoint_bytes(model, cfg)


def _deep_summary_bytes() -> bytes:
    cfg = tiny_config()
    good = checkpoint_bytes(build_model(cfg.model, device="cpu"), cfg)
    n = struct.unpack("<Q", good[:8])[0]
    header = json.loads(good[8 : 8 + n])
    header["__metadata__"]["summary"] = "[" * 100_000 + "]" * 100_000
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + good[8 + n :]


def test_model_names_from_files_are_plain_and_unique():
    from app_pages.uploads import model_name_for

    assert model_name_for("my model.safetensors", set()) == "my-model"
    assert model_name_for("**x** [y](z) :red[a].safetensors", set()) == "x-y-z-red-a"
    assert model_name_for("***.safetensors", set()) == "uploaded"
    assert model_name_for("a.safetensors", {"a", "a-2"}) == "a-3"
    assert len(model_name_for("n" * 500 + ".safetensors", set())) == 48


def test_the_loader_refuses_nan_weights_by_name():
    cfg = tiny_config()
    model = build_model(cfg.model, device="cpu")
    with torch.no_grad():
        model.decoder_pred.weight[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"tensor 'decoder_pred\.weight' holds 1 NaN or infinite"):
        load_checkpoint_bytes(checkpoint_bytes(model, cfg))


def _session_with(model_choice, page: str) -> AppTest:
    """A session whose picker holds ``model_choice`` (selected), opened at ``page``."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["session_models"] = {model_choice.name: model_choice}
    at.session_state["model"] = model_choice.name
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    return at


@needs_shipped
def test_the_hallucinations_page_reports_an_overflowing_model_instead_of_a_rate():
    from app_pages.models import ModelChoice
    from toymae.checkpoint import Checkpoint

    cfg, model = _huge_model()
    choice = ModelChoice("huge", "huge (uploaded)", Checkpoint(model, cfg, {}), "uploaded")  # unchecked
    at = _session_with(choice, "hallucinations")
    assert not at.exception, [e.value for e in at.exception]
    assert "cannot be scored" in at.error[0].value and "NaN or infinite" in at.error[0].value
    assert not [m for m in at.metric if m.label == "Hallucination rate"]


@needs_shipped
@pytest.mark.parametrize("page", ["reconstruct", "hallucinations", "representations"])
def test_a_model_known_to_be_broken_is_refused_on_every_page(page):
    from app_pages.models import ModelChoice
    from toymae.checkpoint import Checkpoint

    cfg, model = _huge_model()
    choice = ModelChoice("huge", "huge", Checkpoint(model, cfg, {}), "uploaded", problem="it overflows")
    at = _session_with(choice, page)
    assert not at.exception, [e.value for e in at.exception]
    assert at.error[0].value == "This model cannot be used: it overflows."
    assert not at.metric


# --------------------------------------------------------------------------- bounded per input and session
def _small_model_bytes(seed: int, **model) -> bytes:
    cfg = tiny_config()
    cfg = replace(
        cfg, model=replace(cfg.model, **model), data=replace(cfg.data, image_size=model.get("image_size", 16))
    )
    return checkpoint_bytes(build_model(cfg.model, seed=seed, device="cpu"), cfg)


def test_a_session_keeps_at_most_its_cap_of_uploads_and_says_which_went():
    from app_pages.uploads import MAX_SESSION_UPLOADS

    at = _app()
    for i in range(MAX_SESSION_UPLOADS + 1):
        _upload(at, f"m{i}.safetensors", _small_model_bytes(i))
        assert not at.exception, [e.value for e in at.exception]
    assert list(at.session_state["session_models"]) == [f"m{i}" for i in range(1, MAX_SESSION_UPLOADS + 1)]
    assert at.sidebar.selectbox(key="model").value == f"m{MAX_SESSION_UPLOADS}"
    assert any("Removed m0: a session keeps at most" in c.value for c in at.sidebar.caption)


def test_an_upload_over_the_dashboards_budget_is_refused_with_the_reason():
    data = _small_model_bytes(0, image_size=64, patch_size=2)  # 32 x 32 = 1,024 patches, few weights
    at = _upload(_app(), "wide.safetensors", data)
    assert not at.exception, [e.value for e in at.exception]
    shown = at.sidebar.code[0].value
    assert shown == "wide.safetensors: this model needs 1,024 patches per image; the dashboard allows 256", (
        shown
    )


def test_a_ratio_that_hides_every_patch_of_an_uploaded_grid_is_refused_with_its_reason():
    at = _upload(_app(), "small.safetensors", _small_model_bytes(0))  # 4 x 4 patches
    at.query_params["h_ratio"] = "0.95"  # 0 of 16 visible: nothing for the encoder to see
    at.switch_page("app_pages/hallucinations.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [
        "Mask ratio 0.95 leaves 0 of 16 patches visible; the encoder needs at least one (at most 15 of 16"
        " may be hidden)."
    ]
    assert not at.metric  # nothing scored


def test_a_huge_picture_is_decoded_without_a_gigabyte(tmp_path):
    """A 4096 x 4096 RGBA PNG (70 KB) once cost 1.1 GB of float64 arrays; measured in a fresh process."""
    script = """
import io, resource
import numpy as np
from PIL import Image
from toymae.app.explore import image_from_bytes
a = np.zeros((4096, 4096, 4), np.uint8); a[1000:3000, 1000:3000] = 255
buf = io.BytesIO(); Image.fromarray(a, "RGBA").save(buf, "PNG"); data = buf.getvalue(); del a, buf
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
loaded = image_from_bytes(data, 32)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, int(loaded.image.sum()))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    grew_mb, lit = out.stdout.split()
    assert float(grew_mb) < 300, out.stdout  # the 64 MB decode and PNG buffers; 1,097 MB before
    assert int(lit) == 15 * 15  # the square, shrunk to the model's 32 px


# --------------------------------------------------------------------------- URL values
URL_PAGE = """
import sys
sys.path.insert(0, {root!r})
import streamlit as st
from app_pages.sidebar import drop_unreadable_numbers_from_url
if st.query_params.get("clean") == "yes":
    drop_unreadable_numbers_from_url()
st.number_input("Seed", 0, 10_000, 0, key="n", bind="query-params")
"""


@pytest.mark.parametrize("value", ["1e400", "inf", "-Infinity"])
def test_an_infinite_number_in_the_url_is_dropped_before_a_number_box_reads_it(tmp_path, value):
    """Streamlit 1.67 seeds a bound integer box by int(float(value)): OverflowError on inf. The shared
    sidebar runs drop_unreadable_numbers_from_url first on every page; without it, the box crashes."""
    script = tmp_path / "page.py"
    script.write_text(URL_PAGE.format(root=str(ROOT)))
    outcomes = {}
    for clean in ("no", "yes"):
        at = AppTest.from_file(str(script), default_timeout=120)
        at.query_params["n"], at.query_params["clean"] = value, clean
        at.run()
        outcomes[clean] = (bool(at.exception), at.number_input[0].value if at.number_input else None)
    assert outcomes == {"no": (True, None), "yes": (False, 0)}  # the crash is real, and the fix holds
    assert "n" not in at.query_params
