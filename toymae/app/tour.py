"""The landing page's "try this" links: URL-bound states of the dashboard that show a finding.

Each link is a page path and the query parameters its widgets bind (see each page's
``bind="query-params"`` keys and the sidebar's ``model``), so opening it in a fresh tab restores the
whole state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode


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
