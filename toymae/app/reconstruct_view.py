"""What the Reconstruct page shows for one image and one mask, computed in one call.

The page, ``python -m toymae reconstruct --shape`` and ``bench/app_latency.py`` all call
``reconstruct_view``, so the benchmark times the page's own work and the CLI prints the page's verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from toymae.app.explore import reconstruct_one, uncertainty_map
from toymae.config import SHAPE_NAMES
from toymae.data import ShapeBatch, counterfactual
from toymae.eval.hallucination import NO_TRUE_SHAPE, Verdict, image_verdict, score_reconstructions
from toymae.inference import Reconstruction
from toymae.model import MaskedAutoencoder

UNCERTAINTY_MASKS = 16  # random masks behind the uncertainty map: ~25 ms at 32 px on a laptop CPU
MAX_UNCERTAINTY_RATIO = 0.95


@dataclass
class ReconstructView:
    rec: Reconstruction  # one image: (1, 1, H, W) tensors
    hidden: np.ndarray  # (grid, grid) bool, True = hidden: the mask actually used
    verdict: Verdict  # hallucinated / faithful / undecidable (NO_TRUE_SHAPE for drawn or uploaded images)
    patch_error: np.ndarray  # (grid, grid) mean squared error per patch
    uncertainty: np.ndarray | None  # (H, W) pixel spread of "reconstruction + visible" over random
    # masks; None when asked for 0 masks (the CLI prints no map)
    uncertainty_masks: int
    mask_ratio: float  # of the mask used (drawn masks: the fraction hidden)

    @property
    def n_hidden(self) -> int:
        return int(self.hidden.sum())


def reconstruct_view(
    model: MaskedAutoencoder,
    image: torch.Tensor,
    *,
    hidden: np.ndarray | None = None,
    mask_ratio: float = 0.6,
    seed: int = 0,
    shape: ShapeBatch | None = None,
    uncertainty_masks: int = UNCERTAINTY_MASKS,
) -> ReconstructView:
    """Reconstruct ``image`` (1, 1, H, W) under a drawn mask ``hidden`` (grid x grid, True = hidden) or a
    random one at ``mask_ratio`` from ``seed``; score it for hallucination when ``shape`` (the
    ShapeWorld factors that drew the image) is given; map its errors and its uncertainty.

    Raises ``NonFiniteOutputError`` when the model's output is NaN or infinite."""
    if shape is not None and not torch.equal(shape.images, image):
        raise ValueError("shape must hold the factors of image itself (its images equal image)")
    grid = model.config.grid_size
    rec = reconstruct_one(model, image, hidden, mask_ratio, seed)
    used = rec.mask[0].reshape(grid, grid).numpy() > 0.5
    verdict = NO_TRUE_SHAPE
    if shape is not None:
        scores = score_reconstructions(
            shape.images, counterfactual(shape), rec.reconstruction, rec.pixel_mask, model.config.patch_size
        )
        verdict = image_verdict(scores, SHAPE_NAMES[int(shape.shape[0])])
    used_ratio = float(used.mean()) if hidden is not None else mask_ratio
    spread = None
    if uncertainty_masks > 0:
        spread_ratio = min(used_ratio, MAX_UNCERTAINTY_RATIO)
        spread = uncertainty_map(model, image, spread_ratio, k=uncertainty_masks, seed=seed)
    return ReconstructView(
        rec=rec,
        hidden=used,
        verdict=verdict,
        patch_error=rec.patch_error[0].reshape(grid, grid).numpy(),
        uncertainty=spread,
        uncertainty_masks=uncertainty_masks,
        mask_ratio=used_ratio,
    )
