"""What the Reconstruct page's in-browser component receives from Python and sends back.

The component (``app_pages/components/reconstruct_panels/``, docs/browser.md) runs the model's forward
pass in the visitor's browser. Python sends it three things:

- the model, as bytes (``model_bytes``): a JSON header (config, tensor names, shapes and offsets)
  followed by every parameter and both position embeddings as little-endian float32, exactly the
  values the loaded torch model holds (shipped checkpoints are float16 on disk; loading casts them to
  float32, and these are those float32 values);
- the picture and what the verdict needs (``panels_data``): the image's bits, the counterfactual's
  bits and the true shape for ShapeWorld pictures, the verdict rule's constants;
- the editor state to start from (``EditorState``), read from the URL.

The browser sends back the editor state (mask, drawing, ratio, seed), which Python validates
(``EditorState.from_browser``: it is the visitor's input) and writes into the URL
(``EditorState.to_params``). Nothing here imports Streamlit.
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
import struct
import weakref
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from toymae import masks
from toymae.app.catalog import load_manifest
from toymae.app.explore import make_shape
from toymae.app.images import reconstruction_panels
from toymae.app.reconstruct_view import MAX_UNCERTAINTY_RATIO, UNCERTAINTY_MASKS, reconstruct_view
from toymae.config import SHAPE_NAMES, ShapeWorldConfig
from toymae.data import ShapeBatch, counterfactual
from toymae.eval import hallucination as h
from toymae.model import MaskedAutoencoder

MODEL_FORMAT = "toymae-browser-model-1"
MASK_MODES = ("Random", "Draw")
TOOLS = ("Click", "Box", "Lasso", "Brush")
DEFAULT_RATIO = 0.6  # the page's slider default (the blog's best ratio), whatever the model
MAX_RATIO = 0.95  # the slider's top: at least one patch stays visible in an 8 x 8 grid
MAX_SEED = 1_000_000
# What the browser's forward pass reads of MAEConfig (mae.js decodeModel)
_CONFIG_FIELDS = (
    "image_size",
    "patch_size",
    "in_chans",
    "embed_dim",
    "num_heads",
    "depth",
    "decoder_embed_dim",
    "decoder_num_heads",
    "decoder_depth",
    "mask_ratio",
    "norm_pix_loss",
)
_BYTES: weakref.WeakKeyDictionary[MaskedAutoencoder, tuple[str, bytes]] = weakref.WeakKeyDictionary()


def model_bytes(model: MaskedAutoencoder) -> tuple[str, bytes]:
    """(id, bytes) of ``model`` for the browser: ``[u32 header length][JSON header][float32 data]``.

    The id is a hash of the bytes, so the browser decodes each model once. Cached per model object
    (loaded models are read-only; a weak reference lets uploaded models go).
    """
    if model in _BYTES:
        return _BYTES[model]
    tensors = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    tensors["pos_embed"] = model.pos_embed.detach().float().cpu()
    tensors["decoder_pos_embed"] = model.decoder_pos_embed.detach().float().cpu()
    index, chunks, offset = [], [], 0
    for name, t in tensors.items():
        index.append({"name": name, "shape": list(t.shape), "offset": offset, "length": t.numel()})
        chunks.append(t.contiguous().numpy().astype("<f4").tobytes())
        offset += t.numel()
    data = b"".join(chunks)
    digest = hashlib.sha256(data).hexdigest()[:16]
    config = {k: getattr(model.config, k) for k in _CONFIG_FIELDS}
    header = {"format": MODEL_FORMAT, "id": digest, "config": config, "tensors": index}
    raw = json.dumps(header).encode()
    raw += b" " * (-(4 + len(raw)) % 4)  # the float32 data starts 4-byte aligned
    out = (digest, struct.pack("<I", len(raw)) + raw + data)
    _BYTES[model] = out
    return out


def bits(image: torch.Tensor | np.ndarray) -> str:
    """A binary (H, W) picture (or (1, 1, H, W)) as the hex text of its row-major bits."""
    a = image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    return masks.to_text(a.reshape(a.shape[-2], a.shape[-1]) > 0.5)


@dataclass(frozen=True)
class EditorState:
    """What the visitor edits in the browser; the URL holds it (defaults left out)."""

    mask_mode: str = "Random"  # "Random": a mask drawn from (ratio, mseed); "Draw": ``mask``
    ratio: float = DEFAULT_RATIO
    mseed: int = 0
    mask: str | None = None  # hex of the (grid, grid) mask, True = hidden, when mask_mode is "Draw"
    img: str | None = None  # hex of a drawn (H, W) picture; None: the page's ShapeWorld or uploaded one
    tool: str = "Click"

    @classmethod
    def from_params(cls, params: dict[str, Any], grid: int, image_size: int) -> EditorState:
        """From URL query parameters (or the browser's state): anything invalid takes its default."""
        d = cls()
        mode = params.get("mask_mode")
        mode = mode if mode in MASK_MODES else d.mask_mode
        mask = params.get("mask")
        if not isinstance(mask, str) or masks.from_text(mask, grid) is None:
            mask = None
        if mode == "Draw" and mask is None:  # a drawn mask starts from the random one it replaces
            mask = masks.to_text(masks.random_mask(grid, DEFAULT_RATIO, 0))
        img = params.get("img")
        if not isinstance(img, str) or masks.from_text(img, image_size) is None:
            img = None
        tool = params.get("tool")
        return cls(
            mask_mode=mode,
            ratio=_ratio(params.get("ratio"), d.ratio),
            mseed=_seed(params.get("mseed"), d.mseed),
            mask=mask if mode == "Draw" else None,
            img=img,
            tool=tool if tool in TOOLS else d.tool,
        )

    def to_params(self) -> dict[str, str | None]:
        """The URL's query parameters for this state; None = leave the parameter out (a default)."""
        d = EditorState()
        return {
            "mask_mode": None if self.mask_mode == d.mask_mode else self.mask_mode,
            "ratio": None if self.ratio == d.ratio else f"{self.ratio:g}",
            "mseed": None if self.mseed == d.mseed else str(self.mseed),  # also seeds the uncertainty map
            "mask": self.mask,
            "img": self.img,
            "tool": None if self.tool == d.tool else self.tool,
        }

    def hidden(self, grid: int) -> np.ndarray:
        """The (grid, grid) mask this state shows (True = hidden)."""
        if self.mask_mode == "Draw" and self.mask is not None:
            drawn = masks.from_text(self.mask, grid)
            if drawn is not None:
                return drawn
        return masks.random_mask(grid, self.ratio, self.mseed)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(value: Any, default: float) -> float:
    try:
        r = float(value)
    except (TypeError, ValueError):
        return default
    if not math.isfinite(r) or not 0.0 <= r <= MAX_RATIO:
        return default
    return round(r, 2)  # the slider's steps; the same float Python reads from "0.65"


def _seed(value: Any, default: int) -> int:
    try:
        s = int(value)
    except (TypeError, ValueError, OverflowError):
        return default
    if isinstance(value, float) and value != s:
        return default
    return s if 0 <= s <= MAX_SEED else default


def panels_data(
    model_id: str,
    config: ShapeWorldConfig,
    grid: int,
    image: torch.Tensor,
    image_key: str,
    shape: ShapeBatch | None,
    state: EditorState,
) -> dict[str, Any]:
    """The component's JSON data: model id, picture (with what the verdict needs), the rule, the state.

    ``image_key`` names the picture Python chose (ShapeWorld factors or an upload): when it changes,
    the browser drops its own drawing and shows the new picture. ``shape`` holds the ShapeWorld factors
    of ``image`` (None for uploads): with it the browser scores hallucination as
    ``toymae.eval.hallucination`` does.
    """
    if shape is not None and not torch.equal(shape.images, image):
        raise ValueError("shape must hold the factors of image itself")
    side = image.shape[-1]
    starts = {name: bits(make_shape(name, 0.5, 0.5, config).images) for name in SHAPE_NAMES}
    return {
        "model": model_id,
        "grid": grid,
        "image_size": side,
        "image": {
            "key": image_key,
            "bits": bits(image),
            "truth": None if shape is None else SHAPE_NAMES[int(shape.shape[0])],
            "counter": None if shape is None else bits(counterfactual(shape)),
        },
        "starts": starts,  # the brush's starting pictures
        "rule": {
            "threshold": h.DEFAULT_THRESHOLD,
            "min_pixels": h.DEFAULT_MIN_PIXELS,
            "confidence_band": h.CONFIDENCE_BAND,
            "min_confident_share": h.MIN_CONFIDENT_SHARE,
            "no_true_shape": h.NO_TRUE_SHAPE.reason,
            "uncertainty_masks": UNCERTAINTY_MASKS,
            "max_uncertainty_ratio": MAX_UNCERTAINTY_RATIO,
        },
        "state": state.as_dict(),
    }


def cli_command(model_name: str, shape: ShapeBatch, state: EditorState) -> str | None:
    """The terminal command that prints this picture's verdict (``reconstruct --shape ... --json``), for
    a shipped model and a ShapeWorld picture (the command draws no picture of the visitor's)."""
    path = shipped_file(model_name)
    if path is None or state.img is not None:
        return None
    x, y = float(shape.cx[0]), float(shape.cy[0])
    args = ["python", "-m", "toymae", "reconstruct", path, "--shape", SHAPE_NAMES[int(shape.shape[0])]]
    args += ["--x", f"{x:g}", "--y", f"{y:g}"]
    if state.mask_mode == "Draw" and state.mask is not None:
        args += ["--mask", state.mask]
    else:
        args += ["--mask-ratio", f"{state.ratio:g}", "--seed", str(state.mseed)]
    return shlex.join([*args, "--json"])


def server_panels(
    model: MaskedAutoencoder, image: torch.Tensor, shape: ShapeBatch | None, state: EditorState
) -> tuple[list[np.ndarray], str, str]:
    """The panels, the verdict line and the counts line drawn on the server (``reconstruct_view``, the
    CLI's call) for a browser that cannot run the model: (four uint8 pictures, Markdown, text)."""
    drawn = drawing(state, image.shape[-1])
    grid = model.config.grid_size
    view = reconstruct_view(
        model,
        image if drawn is None else drawn,
        hidden=state.hidden(grid) if state.mask_mode == "Draw" else None,
        mask_ratio=state.ratio,
        seed=state.mseed,
        shape=shape if drawn is None else None,
    )
    v = view.verdict
    score = "" if v.score is None else f" score {v.score:.2f} ·"
    counts = f"{view.n_hidden} of {grid * grid} patches hidden · loss on hidden patches {view.rec.loss:.4f}"
    return reconstruction_panels(view.rec), f"**Verdict** `{v.label}`{score} {v.reason}", counts


def drawing(state: EditorState, image_size: int) -> torch.Tensor | None:
    """The visitor's drawing as a (1, 1, H, W) model input; None when the state has none."""
    cells = masks.from_text(state.img, image_size) if state.img is not None else None
    return None if cells is None else torch.from_numpy(cells.astype(np.float32))[None, None]


def shipped_file(name: str) -> str | None:
    """The path of a shipped model's checkpoint as a terminal in the repository spells it."""
    for entry in load_manifest():
        if entry["name"] == name:
            return f"checkpoints/{entry['file']}"
    return None
