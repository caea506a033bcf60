"""Non-finite numbers (NaN, inf) in a model's outputs: detected and reported, never shown or scored.

A NaN reconstruction ties with both the truth and the counterfactual at every pixel, so the
hallucination score would call it "faithful" (0.5, not above the threshold) and the rate would be 0;
an overflowing encoder breaks the probes' linear algebra. Every path that turns outputs into numbers
a user reads checks them first and raises ``NonFiniteOutputError`` with a sentence that says so.
"""

from __future__ import annotations

import torch

from toymae.config import ShapeWorldConfig
from toymae.data import eval_set
from toymae.inference import reconstruct
from toymae.model import MaskedAutoencoder
from toymae.probe import extract_features

SMOKE_IMAGES = 8  # enough to catch weights that overflow on ordinary inputs, cheap at any model size


class NonFiniteOutputError(ValueError):
    """A model produced NaN or infinite values; the message says where."""


def require_finite(x: torch.Tensor, what: str) -> None:
    """Raise ``NonFiniteOutputError`` if ``x`` holds any NaN or infinite value."""
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise NonFiniteOutputError(
            f"{what} holds {bad} NaN or infinite values (of {x.numel()}): the model is numerically "
            "broken (huge or corrupt weights, or a diverged training run), so its output cannot be "
            "shown or scored"
        )


def check_model_outputs(model: MaskedAutoencoder, data: ShapeWorldConfig) -> None:
    """Run ``model`` once on ``SMOKE_IMAGES`` evaluation images (reconstruction and probe features) and raise
    ``NonFiniteOutputError`` if anything comes out NaN or infinite.

    Finite weights can still overflow (weights of 1e30 square to inf in the first matmul), so a
    model that is about to be offered to users is run once before it is accepted.
    """
    batch = eval_set(SMOKE_IMAGES, data, 0, "finite-check")
    was_training = model.training
    model.eval()
    try:
        gen = torch.Generator().manual_seed(0)
        rec = reconstruct(model, batch.images, mask_ratio=model.config.mask_ratio, generator=gen)
        require_finite(rec.reconstruction, "the model's reconstruction")
        encoded = torch.from_numpy(extract_features(model, batch.images)["mean"])
        require_finite(encoded, "the model's encoder features")
    finally:
        model.train(was_training)
