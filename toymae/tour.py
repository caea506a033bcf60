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

    def href(self) -> str:
        """A link relative to the app's root, so it works under any base URL path."""
        query = urlencode(self.params)
        return f"./{self.page}?{query}" if query else f"./{self.page}"


# Found by scoring the shipped models (seed 0) on a centred square: at ratio 0.6 with mask seed 18
# the decoder-1 model draws 14 of its 15 hidden corner pixels round; a drawn mask over the top-left
# quarter makes the decoder-4 model draw that corner round (10 of 12), where decoder 2 keeps it square.
CORNER_MASK = "f0f0f0f000000000"  # the top-left quarter (rows 0-3, columns 0-3) of an 8 x 8 grid
TRY_THIS: tuple[TryThis, ...] = (
    TryThis(
        "a model drawing a hidden square corner round",
        "",
        {"model": "ratio0.6-dec1", "shape": "square", "x": "0.5", "y": "0.5", "ratio": "0.6", "mseed": "18"},
    ),
    TryThis(
        "a drawn mask hiding one corner",
        "",
        {"model": "ratio0.6-dec4", "shape": "square", "mask_mode": "Draw", "mask": CORNER_MASK},
    ),
    TryThis(
        "decoder depth 1 vs 4 in the PCA",
        "representations",
        {"rep_a": "ratio0.6-dec1", "rep_b": "ratio0.6-dec4"},
    ),
    TryThis(
        "the worst hallucinations at mask ratio 0.8",
        "hallucinations",
        {"model": "ratio0.8-dec2", "h_ratio": "0.8"},
    ),
)
