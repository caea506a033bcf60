"""The blog's numbers and the configurations of its two sweeps: what the reproduction compares against.

A leaf module (no imports from the package), so figures and pages can read the blog's numbers without
loading the training and evaluation code.
"""

from __future__ import annotations

from dataclasses import dataclass

BLOG_MASK_RATIO = {0.1: 0.978, 0.5: 0.980, 0.6: 0.986, 0.7: 0.924, 0.8: 0.851, 0.9: 0.767}  # decoder 2
BLOG_DECODER_DEPTH = {1: 0.991, 2: 0.986, 3: 0.898, 4: 0.829}  # ratio 0.6


@dataclass(frozen=True)
class Cell:
    """One configuration of the blog's sweeps, on a named dataset (``toymae.data.DATASETS``)."""

    mask_ratio: float
    decoder_depth: int
    dataset: str = "default"

    @property
    def name(self) -> str:
        prefix = "" if self.dataset == "default" else f"{self.dataset}-"
        return f"{prefix}ratio{self.mask_ratio:g}-dec{self.decoder_depth}"


def blog_cells(dataset: str = "default") -> list[Cell]:
    """The 9 configurations: the ratio sweep at decoder depth 2 and the depth sweep at ratio 0.6."""
    cells = [Cell(r, 2, dataset) for r in BLOG_MASK_RATIO]
    cells += [Cell(0.6, d, dataset) for d in BLOG_DECODER_DEPTH if d != 2]
    return cells
