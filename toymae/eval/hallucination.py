"""Hallucination: how often does the MAE *confidently* reconstruct a hidden region as the other shape?

Definition (protocol v2; per evaluation image with known factors, a mask and a reconstruction):

1. The **counterfactual** image is the other shape at the same centre, size and angle.
2. The **discriminative pixels** are the hidden pixels where the true image and the counterfactual
   differ (for a square vs a circle of the same size: the square's four corners, as far as hidden).
3. A discriminative pixel is **confident** when the reconstruction is at least ``CONFIDENCE_BAND``
   away from the midpoint 0.5 (at most 0.25 or at least 0.75); a confident pixel votes 1 if it lies on
   the counterfactual's side, 0 if on the truth's. Pixels inside the band vote for nothing: a decoder
   that does not know the shape draws the average of both (grey), which is hedging, not hallucination.
4. An image with fewer than ``min_pixels`` hidden discriminative pixels is **undecidable** (the mask
   hid too little of the corners to tell) and is left out of every fraction. Every decidable image is
   exactly one of: **confidently hallucinated** (enough confident pixels — at least ``min_pixels`` and
   at least ``MIN_CONFIDENT_SHARE`` of its discriminative pixels — and most of them vote for the
   counterfactual), **confidently faithful** (enough confident pixels, most voting for the truth) or
   **uncertain** (otherwise, including an exact tie).
5. Rates are fractions of the decidable images, with 95% Wilson intervals, per shape and **balanced**
   (the mean of the two shapes' rates, so a shape-biased decoder cannot hide behind the class mix).
   Beside every rate stands the **blind decoder**: one that sees nothing and draws every image as the
   per-pixel mean of the evaluation images (both shapes), scored on the same images and masks.

A constant 0.5 reconstruction is uncertain everywhere; a constant 0.49 too (protocol v1 thresholded at
0.5 and counted it as a circle at every square corner). The metric sees only the hidden part of the
shape boundary where the two shapes differ; errors elsewhere are the reconstruction loss's business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from toymae.config import SHAPE_NAMES
from toymae.data import ShapeBatch, counterfactual
from toymae.finite import require_finite
from toymae.inference import reconstruct
from toymae.model import MaskedAutoencoder

# Protocol v2's rules, fixed before the re-run of the shipped models (docs/protocols.md).
DEFAULT_THRESHOLD = 0.5  # share of confident votes for the counterfactual above which an image flips
PROTOCOL = "v2"  # confident pixels only; v1 counted every pixel by its side of 0.5 (hedging too)
DEFAULT_MIN_PIXELS = 8  # hidden discriminative pixels needed to decide; also confident pixels needed
CONFIDENCE_BAND = 0.25  # a pixel counts only at <= 0.5 - band or >= 0.5 + band
MIN_CONFIDENT_SHARE = 0.5  # and the confident pixels must be at least half the discriminative ones
LABELS = ("faithful", "hallucinated", "uncertain")


@dataclass
class HallucinationScores:
    """Per-image and per-patch results for a batch (tensors on the CPU)."""

    score: torch.Tensor  # (B,) confident votes for the counterfactual / confident; NaN where none
    decidable: torch.Tensor  # (B,) bool, at least min_pixels hidden discriminative pixels
    hallucinated: torch.Tensor  # (B,) bool, confidently hallucinated
    faithful: torch.Tensor  # (B,) bool, confidently faithful
    n_discriminative: torch.Tensor  # (B,) hidden pixels where truth and counterfactual differ
    n_confident: torch.Tensor  # (B,) of those, drawn outside the band around 0.5
    n_flipped: torch.Tensor  # (B,) confident pixels on the counterfactual's side
    patch_discriminative: torch.Tensor  # (B, L) per-patch share of n_discriminative
    patch_flipped: torch.Tensor  # (B, L) per-patch share of n_flipped
    visible_object_fraction: torch.Tensor  # (B,) visible object pixels / object pixels

    @property
    def uncertain(self) -> torch.Tensor:
        """(B,) bool: decidable, but neither confidently faithful nor confidently hallucinated."""
        return self.decidable & ~self.hallucinated & ~self.faithful

    def label(self, index: int) -> str:
        """ "faithful", "hallucinated", "uncertain" or "undecidable" for image ``index``."""
        if not bool(self.decidable[index]):
            return "undecidable"
        if bool(self.hallucinated[index]):
            return "hallucinated"
        return "faithful" if bool(self.faithful[index]) else "uncertain"

    def patch_score(self) -> torch.Tensor:
        """(B, L) confidently flipped / discriminative pixels per patch; NaN where a patch has none."""
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
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(discriminative, confident, votes) pixel maps: votes are 1 where a confident discriminative
    pixel lies on the counterfactual's side of 0.5, else 0."""
    discriminative = hidden & (truth != counter)
    confident = discriminative & ((recon - 0.5).abs() >= CONFIDENCE_BAND)
    toward_counter = (recon - counter).abs() < (recon - truth).abs()
    return discriminative, confident, (confident & toward_counter).float()


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
    discriminative, confident, vote = pixel_votes(truth, counter, reconstruction.float().cpu(), hidden)
    n_disc = discriminative.sum(dim=(1, 2, 3)).float()
    n_conf = confident.sum(dim=(1, 2, 3)).float()
    n_flip = vote.sum(dim=(1, 2, 3))
    decidable = n_disc >= min_pixels
    sure = decidable & (n_conf >= min_pixels) & (n_conf >= MIN_CONFIDENT_SHARE * n_disc)
    score = torch.where(n_conf > 0, n_flip / n_conf.clamp(min=1), torch.full_like(n_flip, math.nan))
    score = torch.where(decidable, score, torch.full_like(score, math.nan))
    filled = torch.nan_to_num(score, nan=threshold)  # no confident vote: neither side
    obj = truth > 0.5
    visible_obj = (obj & ~hidden).sum(dim=(1, 2, 3)).float()
    return HallucinationScores(
        score=score,
        decidable=decidable,
        hallucinated=sure & (filled > threshold),
        faithful=sure & (filled < threshold),
        n_discriminative=n_disc,
        n_confident=n_conf,
        n_flipped=n_flip,
        patch_discriminative=_patch_sums(discriminative.float(), patch_size),
        patch_flipped=_patch_sums(vote, patch_size),
        visible_object_fraction=visible_obj / obj.sum(dim=(1, 2, 3)).clamp(min=1),
    )


def is_current(summary: dict) -> bool:
    """A summary measured under today's protocol (``PROTOCOL``): v1 rates must never be mixed with it."""
    return summary.get("protocol") == PROTOCOL


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
    """One label's count among the decidable images: rate, counts and its 95% Wilson interval."""
    k, n = int((hallucinated & decidable).sum()), int(decidable.sum())
    lo, hi = wilson_interval(k, n)
    return {"rate": (k / n) if n else None, "n_hallucinated": k, "n_decidable": n, "ci95": [lo, hi]}


def label_fractions(scores: HallucinationScores, pick: torch.Tensor | None = None) -> dict:
    """Each label's fraction of the decidable images (among ``pick``), with counts and Wilson CIs."""
    ok = scores.decidable if pick is None else scores.decidable & pick
    n = int(ok.sum())
    out: dict = {"n_decidable": n}
    for name, flags in zip(LABELS, (scores.faithful, scores.hallucinated, scores.uncertain), strict=True):
        k = int((flags & ok).sum())
        out[name] = {"k": k, "rate": (k / n) if n else None, "ci95": list(wilson_interval(k, n))}
    return out


def _balanced(by_shape: dict) -> dict:
    """Per label, the mean of the two shapes' rates (None when a shape has no decidable image)."""
    out = {}
    for name in LABELS:
        rates = [by_shape[s][name]["rate"] for s in SHAPE_NAMES]
        out[name] = None if None in rates else sum(rates) / len(rates)
    return out


def blind_reconstruction(images: torch.Tensor) -> torch.Tensor:
    """The blind decoder: every image drawn as the per-pixel mean of ``images`` (B, 1, H, W)."""
    return images.float().mean(dim=0, keepdim=True).expand_as(images)


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
    blind: HallucinationScores  # the blind decoder on the same images and masks

    def summary(self, bins: int = 5) -> dict:
        """``rate`` is the confidently hallucinated share (protocol v2); ``labels`` holds all three
        fractions, ``by_shape`` and ``balanced`` split them by true shape, ``blind`` is the baseline."""
        s = self.scores
        has_score = bool((~torch.isnan(s.score)).any())
        out = {
            "protocol": PROTOCOL,
            "mask_ratio": self.mask_ratio,
            "threshold": self.threshold,
            "min_pixels": self.min_pixels,
            "confidence_band": CONFIDENCE_BAND,
            "min_confident_share": MIN_CONFIDENT_SHARE,
            "n": len(self.batch),
            **rate_summary(s.hallucinated, s.decidable),
            "mean_score": float(np.nanmean(s.score.numpy())) if has_score else None,
            "labels": label_fractions(s),
            "by_shape": {},
            "by_visible_object_fraction": [],
        }
        blind_by_shape = {}
        for label, name in enumerate(SHAPE_NAMES):
            pick = self.batch.shape == label
            out["by_shape"][name] = {
                **rate_summary(s.hallucinated & pick, s.decidable & pick),
                **label_fractions(s, pick),
            }
            blind_by_shape[name] = label_fractions(self.blind, pick)
        out["balanced"] = _balanced(out["by_shape"])
        out["blind"] = {
            "labels": label_fractions(self.blind),
            "by_shape": blind_by_shape,
            "balanced": _balanced(blind_by_shape),
        }
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
        """The ``k`` highest-scoring images with a score (optionally of one true shape), worst first."""
        s = self.scores
        ok = s.decidable & ~torch.isnan(s.score)  # images with at least one confident vote
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
                    "label": s.label(i),
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
    counter, p = counterfactual(batch), model.config.patch_size
    scores = score_reconstructions(batch.images, counter, recon, pixel_mask, p, threshold, min_pixels)
    blind_recon = blind_reconstruction(batch.images)
    blind = score_reconstructions(batch.images, counter, blind_recon, pixel_mask, p, threshold, min_pixels)
    return HallucinationReport(
        batch, torch.cat(masks), pixel_mask, recon, scores, mask_ratio, threshold, min_pixels, blind
    )


@dataclass(frozen=True)
class Verdict:
    """One image's hallucination verdict in words, for a reader rather than a table."""

    label: str  # "faithful", "hallucinated", "uncertain" or "undecidable"
    score: float | None  # share of confident corner pixels drawn as the other shape; None if none
    reason: str  # one line: the counts behind the label


NO_TRUE_SHAPE = Verdict(
    "undecidable", None, "a drawn or uploaded picture has no true shape to compare the reconstruction with"
)


def image_verdict(
    scores: HallucinationScores, true_shape: str, index: int = 0, min_pixels: int = DEFAULT_MIN_PIXELS
) -> Verdict:
    """The verdict for image ``index`` of a scored batch, whose true shape is ``true_shape``.

    ``min_pixels`` must be the one the batch was scored with (it only words the reasons). The reason
    counts the discriminative pixels ("corner pixels": where a square of the same size has its corners
    and a circle has none) drawn clearly, and how many of those as the other shape: round for a
    square, filled in (square) for a circle.
    """
    if true_shape not in SHAPE_NAMES:
        raise ValueError(f"true_shape must be one of {SHAPE_NAMES}, got {true_shape!r}")
    n = int(scores.n_discriminative[index])
    label = scores.label(index)
    if label == "undecidable":
        return Verdict(
            label,
            None,
            f"only {n} hidden pixels where a circle and a square differ; "
            f"at least {min_pixels} are needed to tell",
        )
    conf, flipped = int(scores.n_confident[index]), int(scores.n_flipped[index])
    other = "round" if true_shape == "square" else "square"
    score = None if conf == 0 else float(scores.score[index])
    if label == "uncertain" and (conf < min_pixels or conf < MIN_CONFIDENT_SHARE * n):
        reason = f"only {conf} of {n} hidden corner pixels drawn clearly (the rest grey): the decoder hedges"
    else:
        reason = f"{flipped} of {conf} clearly drawn hidden corner pixels drawn {other} ({n} hidden in all)"
    return Verdict(label, score, reason)
