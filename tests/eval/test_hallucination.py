import math

import pytest
import torch

from toymae.config import ShapeWorldConfig
from toymae.data import CIRCLE, SQUARE, ShapeBatch, counterfactual, eval_set, render
from toymae.eval.hallucination import evaluate_hallucination, score_reconstructions, wilson_interval

SIDE, PATCH = 32, 4


def one(shape: int) -> ShapeBatch:
    t = torch.ones(1)
    s = torch.tensor([shape])
    img = render(s, 0.5 * t, 0.5 * t, 0.5 * t, 0 * t, SIDE)
    return ShapeBatch(img, s, 0.5 * t, 0.5 * t, 0.5 * t, 0 * t)


def all_hidden() -> torch.Tensor:
    return torch.ones(1, 1, SIDE, SIDE)


@pytest.mark.parametrize("shape", [SQUARE, CIRCLE])  # square->circle and circle->square
def test_truth_scores_0_and_counterfactual_scores_1(shape):
    b = one(shape)
    cf = counterfactual(b)
    good = score_reconstructions(b.images, cf, b.images, all_hidden(), PATCH)
    bad = score_reconstructions(b.images, cf, cf, all_hidden(), PATCH)
    assert good.score.item() == 0.0 and not good.hallucinated.item()
    assert bad.score.item() == 1.0 and bad.hallucinated.item()
    assert good.decidable.item() and good.n_discriminative.item() == int((b.images != cf).sum())


def test_blends_land_in_between():
    b = one(SQUARE)
    cf = counterfactual(b)
    grey = 0.5 * b.images + 0.5 * cf  # a per-pixel blend: every corner pixel hedged, no vote
    s = score_reconstructions(b.images, cf, grey, all_hidden(), PATCH)
    assert math.isnan(s.score.item()) and s.n_confident.item() == 0
    assert s.uncertain.item() and not s.hallucinated.item() and not s.faithful.item()
    half = b.images.clone()  # a spatial blend: left half drawn as the circle, right half as the square
    half[..., : SIDE // 2] = cf[..., : SIDE // 2]
    s = score_reconstructions(b.images, cf, half, all_hidden(), PATCH)
    assert s.score.item() == pytest.approx(0.5) and s.uncertain.item()  # a tie is neither side
    faint = 0.2 * b.images  # corners clearly below 0.5: the circle's side, outside the band
    s = score_reconstructions(b.images, cf, faint, all_hidden(), PATCH)
    assert s.score.item() == 1.0 and s.hallucinated.item()
    fainter = 0.3 * b.images  # inside the band around 0.5: hedging, not a shape
    assert score_reconstructions(b.images, cf, fainter, all_hidden(), PATCH).uncertain.item()


def test_labels_partition_the_decidable_images():
    batch = eval_set(64, ShapeWorldConfig(), seed=0)
    cf = counterfactual(batch)
    g = torch.Generator().manual_seed(1)
    recon = torch.rand(batch.images.shape, generator=g)
    s = score_reconstructions(batch.images, cf, recon, torch.ones_like(recon), PATCH)
    count = s.faithful.int() + s.hallucinated.int() + s.uncertain.int()
    assert torch.equal(count, s.decidable.int())
    assert {s.label(i) for i in range(64)} <= {"faithful", "hallucinated", "uncertain", "undecidable"}


@pytest.mark.parametrize("value", [0.5, 0.49])
def test_a_constant_grey_decoder_is_uncertain_not_faithful(value):
    """The audit's case: constant 0.5 scored 0 of 995 hallucinated under v1, 0.49 scored 498."""
    from toymae.eval.hallucination import HallucinationReport, blind_reconstruction, label_fractions

    batch = eval_set(200, ShapeWorldConfig(), seed=0, split="hallucination")
    cf = counterfactual(batch)
    hidden = torch.ones_like(batch.images)
    recon = torch.full_like(batch.images, value)
    s = score_reconstructions(batch.images, cf, recon, hidden, PATCH)
    fr = label_fractions(s)
    assert fr["n_decidable"] == 200 and fr["uncertain"]["rate"] == 1.0
    assert fr["hallucinated"]["k"] == 0 and fr["faithful"]["k"] == 0
    blind = score_reconstructions(batch.images, cf, blind_reconstruction(batch.images), hidden, PATCH)
    report = HallucinationReport(batch, torch.ones(200, 64), hidden, recon, s, 0.9, 0.5, 8, blind)
    summ = report.summary()
    assert summ["rate"] == 0.0 and summ["labels"]["uncertain"]["rate"] == 1.0
    assert summ["balanced"] == {"faithful": 0.0, "hallucinated": 0.0, "uncertain": 1.0}
    for name in ("circle", "square"):
        assert summ["by_shape"][name]["uncertain"]["rate"] == 1.0
    # The blind decoder draws the mean image: dark at the corners, so it calls squares round and
    # circles faithful; the baseline makes that bias visible beside every rate.
    b = summ["blind"]
    assert b["by_shape"]["square"]["hallucinated"]["rate"] > 0.5
    assert b["by_shape"]["circle"]["faithful"]["rate"] > 0.5


def test_all_visible_is_undecidable_never_clean():
    b = one(CIRCLE)
    cf = counterfactual(b)
    s = score_reconstructions(b.images, cf, cf, torch.zeros(1, 1, SIDE, SIDE), PATCH)
    assert not s.decidable.item() and math.isnan(s.score.item()) and not s.hallucinated.item()
    assert s.n_discriminative.item() == 0


def test_only_hidden_pixels_count():
    b = one(SQUARE)
    cf = counterfactual(b)
    left = torch.zeros(1, 1, SIDE, SIDE)
    left[..., : SIDE // 2] = 1  # hide the left half: two of the four corners
    s = score_reconstructions(b.images, cf, cf, left, PATCH)
    assert s.n_discriminative.item() == int((b.images != cf).sum()) // 2
    assert s.score.item() == 1.0
    assert s.visible_object_fraction.item() == pytest.approx(0.5)


def test_per_patch_counts_add_up_to_the_image():
    batch = eval_set(16, ShapeWorldConfig(), seed=0)
    cf = counterfactual(batch)
    g = torch.Generator().manual_seed(0)
    recon = torch.rand(batch.images.shape, generator=g)
    mask = (
        (torch.rand(16, 1, 8, 8, generator=g) > 0.4).float().repeat_interleave(4, 2).repeat_interleave(4, 3)
    )
    s = score_reconstructions(batch.images, cf, recon, mask, PATCH)
    assert s.patch_discriminative.shape == (16, 64)
    assert torch.equal(s.patch_discriminative.sum(1), s.n_discriminative.float())
    torch.testing.assert_close(s.patch_flipped.sum(1), s.n_flipped)
    ps = s.patch_score()
    assert torch.isnan(ps[s.patch_discriminative == 0]).all()
    assert ((ps[s.patch_discriminative > 0] >= 0) & (ps[s.patch_discriminative > 0] <= 1)).all()


def test_wilson_interval():
    lo, hi = wilson_interval(10, 100)
    assert lo < 0.1 < hi and lo == pytest.approx(0.0552, abs=1e-3) and hi == pytest.approx(0.1744, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_report_summary_and_worst(trained):
    trainer, _ = trained
    batch = eval_set(200, trainer.config.data, seed=0, split="hallucination")
    report = evaluate_hallucination(trainer.model, batch, 0.75, seed=0)
    summ = report.summary()
    # Decidable means at least min_pixels hidden pixels tell the two shapes apart; the others have no score.
    s = report.scores
    assert summ["n"] == 200 and summ["n_decidable"] == int((s.n_discriminative >= report.min_pixels).sum())
    assert torch.isnan(s.score[~s.decidable]).all()
    assert not torch.isnan(s.score[s.decidable & (s.n_confident > 0)]).any()
    fractions = sum(summ["labels"][k]["rate"] for k in ("faithful", "hallucinated", "uncertain"))
    assert fractions == pytest.approx(1.0) and "blind" in summ and "balanced" in summ
    assert {"circle", "square"} == set(summ["by_shape"])
    by_shape = sum(r["n_decidable"] for r in summ["by_shape"].values())
    by_vis = sum(r["n_decidable"] for r in summ["by_visible_object_fraction"])
    assert by_shape == by_vis == summ["n_decidable"]
    worst = report.worst(5)
    scores = [w["score"] for w in worst]
    assert scores == sorted(scores, reverse=True) and len(worst) == 5
    assert worst[0]["image"].shape == (32, 32) and worst[0]["patch_score"].shape == (64,)
    only_sq = report.worst(50, shape=SQUARE)
    assert all(w["shape"] == "square" for w in only_sq)


def test_more_masking_more_hallucination_on_the_same_images(trained):
    trainer, _ = trained
    batch = eval_set(600, trainer.config.data, seed=0, split="hallucination")
    low = evaluate_hallucination(trainer.model, batch, 0.3, seed=1).summary()
    high = evaluate_hallucination(trainer.model, batch, 0.9, seed=1).summary()
    faithful = [r["labels"]["faithful"]["rate"] for r in (low, high)]
    assert faithful[1] < faithful[0], faithful
