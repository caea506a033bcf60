"""The landing page's "try this" links: URL-bound states of the dashboard that show a finding.

Each link is a page path and the query parameters its widgets bind (see each page's
``bind="query-params"`` keys and the sidebar's ``model``), so opening it in a fresh tab restores the
whole state. ``reconstruct_link`` makes the same kind of link to one image under one mask, for the
Hallucinations gallery and the Representations scatter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import numpy as np

from toymae import masks
from toymae.app.explore import make_shape
from toymae.config import SHAPE_NAMES, ShapeWorldConfig

if TYPE_CHECKING:
    from toymae.data import ShapeBatch


@dataclass(frozen=True)
class TryThis:
    label: str  # what the reader clicks
    page: str  # the page's url_path ("" = Reconstruct, the landing page)
    params: dict[str, str] = field(default_factory=dict)
    promise: str = ""  # a text the opened page shows (the state the label names), checked by the tests

    def href(self) -> str:
        """A link relative to the app's root, so it works under any base URL path."""
        query = urlencode(self.params)
        return f"./{self.page}?{query}" if query else f"./{self.page}"


# Found with bench/tour_states.py on the shipped models (3,200 steps, seed 0), on a centred square:
# at ratio 0.6 the decoder-1 model draws a hidden corner round under 26 of 300 random masks (mask seed
# 17 is the first); hiding one whole quarter of the grid, every ratio-0.6 model redraws that corner
# square (0-2 of 12 pixels round): with the rest of the square visible, the evidence wins.
CORNER_MASK = "f0f0f0f000000000"  # the top-left quarter (rows 0-3, columns 0-3) of an 8 x 8 grid
TRY_THIS: tuple[TryThis, ...] = (
    TryThis(
        "a model drawing a hidden square corner round",
        "",
        {"model": "ratio0.6-dec1", "shape": "square", "x": "0.5", "y": "0.5", "ratio": "0.6", "mseed": "17"},
        promise="hallucinated",
    ),
    TryThis(
        "a drawn mask hiding one corner, redrawn square",
        "",
        {"model": "ratio0.6-dec4", "shape": "square", "mask_mode": "Draw", "mask": CORNER_MASK},
        promise="faithful",
    ),
    TryThis(
        "decoder depth 1 vs 4 in the PCA",
        "representations",
        {"rep_a": "ratio0.6-dec1", "rep_b": "ratio0.6-dec4"},
        promise="decoder depth 4",
    ),
    TryThis(
        "what pretraining adds: 16 labels on visible tokens, ratio 0.6 vs 0.9",
        "representations",
        {"rep_a": "ratio0.6-dec2", "rep_b": "ratio0.9-dec2", "rep_protocol": "visible", "rep_labels": "16"},
        promise="16 labels",
    ),
    TryThis(
        "harder data, where area is no shortcut: ratio 0.6 vs 0.9 beside random encoders",
        "representations",
        {
            "rep_data": "varied",
            "rep_a": "varied-ratio0.6-dec2",
            "rep_b": "varied-ratio0.9-dec2",
            "rep_protocol": "mean",
            "rep_labels": "all",
        },
        promise="all labels",
    ),
    TryThis(
        "the worst hallucinations at mask ratio 0.8",
        "hallucinations",
        {"model": "ratio0.8-dec2", "h_ratio": "0.8"},
        promise="0.80",  # the ratio slider's value
    ),
)


SLIDER_STEP = 0.01  # Reconstruct's centre sliders (x, y)
_NUDGES = sorted(
    ((dx, dy) for dx in range(-3, 4) for dy in range(-3, 4)), key=lambda d: abs(d[0]) + abs(d[1])
)


def reconstruct_link(
    model: str,
    one: ShapeBatch,
    data: ShapeWorldConfig,
    hidden: np.ndarray | None = None,
    ratio: float | None = None,
) -> TryThis:
    """The Reconstruct page showing image ``one`` (a one-image batch with its factors) with ``model``,
    under the drawn mask ``hidden`` (grid x grid, True = hidden) or else a random mask at ``ratio``.

    Reconstruct draws a ShapeWorld picture from its shape and centre sliders (steps of 0.01) at the
    dataset's middle size, upright. When some slider position draws exactly this image, the link
    names the shape and centre, and the page judges the fill-in against the true shape; otherwise
    (another size, a rotated square) it carries the picture's pixels (``img=``), which Reconstruct
    shows exactly, as a drawing, without a true shape to judge it by.
    """
    image = one.images[0, 0].numpy() > 0.5
    params = {"model": model}
    if hidden is not None:
        params.update(mask_mode="Draw", mask=masks.to_text(hidden))
    elif ratio is not None:
        params["ratio"] = f"{ratio:g}"
    shape = SHAPE_NAMES[int(one.shape[0])]
    cx, cy = round(float(one.cx[0]), 2), round(float(one.cy[0]), 2)
    for dx, dy in _NUDGES:
        x, y = round(cx + dx * SLIDER_STEP, 2), round(cy + dy * SLIDER_STEP, 2)
        drawn = make_shape(shape, x, y, data).images[0, 0].numpy() > 0.5
        if 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 and np.array_equal(drawn, image):
            return TryThis(f"this {shape}", "", {**params, "shape": shape, "x": f"{x:g}", "y": f"{y:g}"})
    return TryThis("this picture", "", {**params, "img": masks.to_text(image)})
