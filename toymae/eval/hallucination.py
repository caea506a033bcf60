"""Hallucination: how often does the MAE reconstruct a hidden region as the *other* shape?

Definition (per evaluation image with known factors, a mask and a reconstruction):

1. The **counterfactual** image is the other shape at the same centre, size and angle.
2. The **discriminative pixels** are the hidden pixels where the true image and the counterfactual
   differ (for a square vs a circle of the same size: the square's four corners, as far as hidden).
3. Each discriminative pixel votes: 1 if the reconstruction is closer to the counterfactual's value
   than to the truth's, 0 if closer to the truth, 1/2 on an exact tie.
4. The image's **score** is the mean vote: 0 = every hidden corner drawn as the true shape,
   1 = every one drawn as the other shape.
5. An image with fewer than ``min_pixels`` hidden discriminative pixels is **undecidable**: it is
   reported as such and never counted as clean. An image is **hallucinated** when it is decidable and
   its score is above ``threshold`` (default 0.5); the **rate** is hallucinated / decidable, reported
   with its counts and a 95% Wilson interval.

Limits, in plain words: pixel values are binary, so "closer to the counterfactual" means "on the
counterfactual's side of 0.5". A uniformly grey (0.5) reconstruction ties everywhere and scores exactly
0.5, which the strict threshold does not count; a reconstruction that is merely faint at the hidden
corners of a square (below 0.5) scores as a circle — which is what rounded-off corners look like.
The metric sees only the hidden part of the shape boundary where the two shapes differ; errors
elsewhere (a blob in the background, a shifted object) are the reconstruction loss's business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from toymae.data import SHAPE_NAMES, ShapeBatch, counterfactual
from toymae.finite import require_finite
from toymae.inference import reconstruct
from toymae.model import MaskedAutoencoder

DEFAULT_THRESHOLD = 0.5
DEFAULT_MIN_PIXELS = 8


@dataclass
class HallucinationScores:
    """Per-image and per-patch results for a batch (tensors on the CPU)."""

    score: torch.Tensor  # (B,) float, NaN where undecidable
    decidable: torch.Tensor  # (B,) bool
    hallucinated: torch.Tensor  # (B,) bool, decidable and score > threshold
    n_discriminative: torch.Tensor  # (B,) hidden pixels where truth and counterfactual differ
    n_flipped: torch.Tensor  # (B,) float, votes for the counterfactual (ties count 1/2)
    patch_discriminative: torch.Tensor  # (B, L) per-patch share of n_discriminative
    patch_flipped: torch.Tensor  # (B, L) per-patch share of n_flipped
    visible_object_fraction: torch.Tensor  # (B,) visible object pixels / object pixels

    def patch_score(self) -> torch.Tensor:
        """(B, L) flipped / discriminative per patch; NaN where a patch has no discriminative pixel."""
        d = self.patch_discriminative
        return torch.where(
            d > 0, self.patch_flipped / d.clamp(min=1), torch.full_like(self.patch_flipped, math.nan)
        )


def _patch_sums(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, 1, H, W) -> (B, L) sums over each patch, row-major like ``patchify``."""
    B, _, H, W = x.shape
    g_h, g_w = H // patch_size, W // patch_size
    return x.reshape(B, g_h, patch_size, g_w, patch_size).sum(dim=(2, 4)).reshape(B, g_h * g_w)


def pixel_votes(
    truth: torch.Tensor, counter: torch.Tensor, recon: torch.Tensor, hidden: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(discriminative pixels, votes): 1 where the reconstruction is closer to the counterfactual,
    0 where closer to the truth, 1/2 on a tie; votes are 0 off the discriminative pixels."""
    discriminative = hidden & (truth != counter)
    d_truth, d_counter = (recon - truth).abs(), (recon - counter).abs()
    vote = torch.where(d_counter < d_truth, 1.0, torch.where(d_counter > d_truth, 0.0, 0.5))
    return discriminative, vote * discriminative


def score_reconstructions(
    truth: torch.Tensor,
    counter: torch.Tensor,
    reconstruction: torch.Tensor,
    pixel_mask: torch.Tensor,
    patch_size: int,
    threshold: float = DEFAULT_THRESHOLD,
    min_pixels: int = DEFAULT_MIN_PIXELS,
) -> HallucinationScores:
    """Score reconstructions against truth and counterfactual; all images (B, 1, H, W), mask 1 = hidden.

    Raises ``NonFiniteOutputError`` for a NaN or infinite reconstruction: NaN ties with both
    candidates at every pixel and would score as faithful.
    """
    require_finite(reconstruction, "the model's reconstruction")
    truth, counter = truth.float().cpu(), counter.float().cpu()
    hidden = pixel_mask.float().cpu() > 0.5
    discriminative, vote = pixel_votes(truth, counter, reconstruction.float().cpu(), hidden)
    n_disc = discriminative.sum(dim=(1, 2, 3))
    n_flip = vote.sum(dim=(1, 2, 3))
    decidable = n_disc >= min_pixels
    score = torch.where(decidable, n_flip / n_disc.clamp(min=1), torch.full_like(n_flip, math.nan))
    obj = truth > 0.5
    visible_obj = (obj & ~hidden).sum(dim=(1, 2, 3)).float()
    return HallucinationScores(
        score=score,
        decidable=decidable,
        hallucinated=decidable & (torch.nan_to_num(score, nan=0.0) > threshold),
        n_discriminative=n_disc,
        n_flipped=n_flip,
        patch_discriminative=_patch_sums(discriminative.float(), patch_size),
        patch_flipped=_patch_sums(vote, patch_size),
        visible_object_fraction=visible_obj / obj.sum(dim=(1, 2, 3)).clamp(min=1),
    )


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion k/n ((0, 1) when n = 0)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def rate_summary(hallucinated: torch.Tensor, decidable: torch.Tensor) -> dict:
    k, n = int((hallucinated & decidable).sum()), int(decidable.sum())
    lo, hi = wilson_interval(k, n)
    return {"rate": (k / n) if n else None, "n_hallucinated": k, "n_decidable": n, "ci95": [lo, hi]}


@dataclass
class HallucinationReport:
    """Everything measured on one evaluation set at one mask ratio."""

    batch: ShapeBatch
    mask: torch.Tensor  # (B, L) 1 = hidden
    pixel_mask: torch.Tensor  # (B, 1, H, W) 1 = hidden
    reconstruction: torch.Tensor  # (B, 1, H, W)
    scores: HallucinationScores
    mask_ratio: float
    threshold: float
    min_pixels: int

    def summary(self, bins: int = 5) -> dict:
        s = self.scores
        out = {
            "mask_ratio": self.mask_ratio,
            "threshold": self.threshold,
            "min_pixels": self.min_pixels,
            "n": len(self.batch),
            **rate_summary(s.hallucinated, s.decidable),
            "mean_score": float(np.nanmean(s.score.numpy())) if bool(s.decidable.any()) else None,
            "by_shape": {},
            "by_visible_object_fraction": [],
        }
        for label, name in enumerate(SHAPE_NAMES):
            pick = self.batch.shape == label
            out["by_shape"][name] = rate_summary(s.hallucinated & pick, s.decidable & pick)
        edges = np.linspace(0.0, 1.0, bins + 1)
        frac = s.visible_object_fraction
        for i in range(bins):
            lo, hi = float(edges[i]), float(edges[i + 1])
            pick = (frac >= lo) & ((frac < hi) if i < bins - 1 else (frac <= hi))
            out["by_visible_object_fraction"].append(
                {"lo": lo, "hi": hi, **rate_summary(s.hallucinated & pick, s.decidable & pick)}
            )
        return out

    def worst(self, k: int = 12, shape: int | None = None) -> list[dict]:
        """The ``k`` highest-scoring decidable images (optionally of one true shape), worst first."""
        s = self.scores
        ok = s.decidable.clone()
        if shape is not None:
            ok &= self.batch.shape == shape
        order = torch.argsort(torch.where(ok, s.score, torch.full_like(s.score, -1.0)), descending=True)
        patch_score = s.patch_score()
        rows = []
        for i in order[: int(ok.sum())][:k].tolist():
            rows.append(
                {
                    "index": i,
                    "shape": SHAPE_NAMES[int(self.batch.shape[i])],
                    "score": float(s.score[i]),
                    "hallucinated": bool(s.hallucinated[i]),
                    "image": self.batch.images[i, 0].numpy(),
                    "mask": self.mask[i].numpy(),
                    "reconstruction": self.reconstruction[i, 0].numpy(),
                    "pasted": (
                        self.batch.images[i, 0] * (1 - self.pixel_mask[i, 0])
                        + self.reconstruction[i, 0] * self.pixel_mask[i, 0]
                    ).numpy(),
                    "patch_score": patch_score[i].numpy(),
                    "n_discriminative": int(s.n_discriminative[i]),
                    "visible_object_fraction": float(s.visible_object_fraction[i]),
                }
            )
        return rows


def evaluate_hallucination(
    model: MaskedAutoencoder,
    batch: ShapeBatch,
    mask_ratio: float,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    batch_size: int = 256,
) -> HallucinationReport:
    """Mask ``batch`` randomly at ``mask_ratio`` (masks from ``seed``), reconstruct and score.

    Raises ``NonFiniteOutputError`` when the model's output is NaN or infinite (never a rate of 0).
    """
    gen = torch.Generator().manual_seed(seed)
    masks, recons, pixel_masks = [], [], []
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(batch), batch_size):
            rec = reconstruct(model, batch.images[i : i + batch_size], mask_ratio=mask_ratio, generator=gen)
            masks.append(rec.mask)
            recons.append(rec.reconstruction)
            pixel_masks.append(rec.pixel_mask)
    finally:
        model.train(was_training)
    recon, pixel_mask = torch.cat(recons), torch.cat(pixel_masks)
    scores = score_reconstructions(
        batch.images,
        counterfactual(batch),
        recon,
        pixel_mask,
        model.config.patch_size,
        threshold,
        min_pixels,
    )
    return HallucinationReport(
        batch, torch.cat(masks), pixel_mask, recon, scores, mask_ratio, threshold, min_pixels
    )


@dataclass(frozen=True)
class Verdict:
    """One image's hallucination verdict in words, for a reader rather than a table."""

    label: str  # "faithful", "hallucinated" or "undecidable"
    score: float | None  # share of hidden corner pixels drawn as the other shape; None if undecidable
    reason: str  # one line: the counts behind the label


NO_TRUE_SHAPE = Verdict(
    "undecidable", None, "a drawn or uploaded picture has no true shape to compare the reconstruction with"
)


def _count(x: float) -> str:
    return f"{x:g}" if x != int(x) else str(int(x))  # ties vote 1/2, so counts can end in .5


def image_verdict(
    scores: HallucinationScores, true_shape: str, index: int = 0, min_pixels: int = DEFAULT_MIN_PIXELS
) -> Verdict:
    """The verdict for image ``index`` of a scored batch, whose true shape is ``true_shape``.

    ``min_pixels`` must be the one the batch was scored with (it only words the undecidable case).
    The reason counts the discriminative pixels ("corner pixels": where a square of the same size
    has its corners and a circle has none) drawn as the other shape: round for a square, filled in
    (square) for a circle.
    """
    if true_shape not in SHAPE_NAMES:
        raise ValueError(f"true_shape must be one of {SHAPE_NAMES}, got {true_shape!r}")
    n = float(scores.n_discriminative[index])
    if not bool(scores.decidable[index]):
        return Verdict(
            "undecidable",
            None,
            f"only {_count(n)} hidden pixels where a circle and a square differ; "
            f"at least {min_pixels} are needed to tell",
        )
    flipped = _count(float(scores.n_flipped[index]))
    if true_shape == "square":
        reason = f"{flipped} of {_count(n)} hidden corner pixels drawn round"
    else:
        reason = f"{flipped} of {_count(n)} hidden corner pixels drawn square"
    label = "hallucinated" if bool(scores.hallucinated[index]) else "faithful"
    return Verdict(label, float(scores.score[index]), reason)
