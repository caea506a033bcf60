"""The representation study: protocols, label budgets, random-init baselines, seeds."""

import numpy as np
import pytest

from toymae.config import DATASETS, RECIPES, ShapeWorldConfig, dataset, dataset_name
from toymae.data import eval_set
from toymae.eval.study import (
    label_budget_accuracy,
    mean_ci,
    representation_study,
)
from toymae.model import build_model

QUICK = RECIPES["tiny"]  # 16 px, widths 32/16
CFG, DATA = QUICK.model, QUICK.data


@pytest.fixture(scope="module")
def splits():
    return eval_set(300, DATA, 0, "probe-train"), eval_set(300, DATA, 0, "probe-test")


def test_label_budgets_are_class_balanced_and_see_signal_only_where_there_is_some():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 200)
    signal = np.c_[y + 0.05 * rng.standard_normal(400), rng.standard_normal((400, 7))]
    noise = rng.standard_normal((400, 8))
    mean, std = label_budget_accuracy(signal[::2], y[::2], signal[1::2], y[1::2], 16, draws=4)
    assert mean > 0.95 and std < 0.05
    lo, _ = label_budget_accuracy(noise, y, noise[::-1], y, 16, draws=10)
    assert 0.3 < lo < 0.7
    # The budget is capped by what the train split holds (here 3 squares).
    few = np.r_[y[:50], np.ones(3, dtype=int)]
    one_dim = signal[:, :1]
    acc, _ = label_budget_accuracy(np.r_[one_dim[:50], one_dim[-3:]], few, one_dim, y, 256, draws=2)
    assert acc > 0.95


def test_random_init_is_the_model_before_training(splits):
    train, test = splits
    untrained = build_model(CFG, seed=5, device="cpu")
    study = representation_study(untrained, train, test, seed=5, draws=2)
    assert study["protocols"] == study["random_init"]
    other = representation_study(untrained, train, test, seed=6, draws=2)
    assert other["random_init"] != study["random_init"]
    assert set(study["protocols"]["visible"]) == {
        "n16",
        "n16_std",
        "n64",
        "n64_std",
        "n256",
        "n256_std",
        "n_all",
        "n_all_cv",
        "cv_c",
        "pca2",
        "pca2_std",
    }


def test_the_default_dataset_is_separable_by_area_and_the_varied_one_is_not():
    """Why the varied dataset exists: pixel count alone tells the default shapes apart."""
    for name, expect_separable in (("default", True), ("varied", False)):
        batch = eval_set(400, dataset(name), 0, "area")
        area = batch.images.sum(dim=(1, 2, 3))
        circles, squares = area[batch.shape == 0], area[batch.shape == 1]
        separable = bool(circles.max() < squares.min())
        assert separable == expect_separable, name
    assert [dataset_name(c) for c in DATASETS.values()] == list(DATASETS)
    assert dataset_name(ShapeWorldConfig(size=0.3)) == "custom"
    with pytest.raises(ValueError, match="unknown dataset"):
        dataset("hard")


def test_mean_ci_is_a_t_interval():
    out = mean_ci([1.0, 2.0, 3.0])
    assert out["mean"] == 2.0 and out["n"] == 3
    assert out["ci95"] == pytest.approx(4.303 / np.sqrt(3), rel=1e-4)
    many = mean_ci([float(i % 3) for i in range(12)])  # 11 degrees of freedom: t, not 1.96
    assert many["ci95"] == pytest.approx(
        2.201 * np.std([i % 3 for i in range(12)], ddof=1) / np.sqrt(12), rel=1e-3
    )
    assert mean_ci([0.7])["ci95"] is None


def test_train_flags_take_a_named_dataset_and_refine_it():
    from toymae.cli import build_parser, train_config_from_args

    args = build_parser().parse_args(["train", "--data", "varied", "--overflow", "0.2"])
    cfg = train_config_from_args(args)
    assert cfg.data.size_range == DATASETS["varied"].size_range and cfg.data.rotate
    assert cfg.data.overflow == 0.2
    assert train_config_from_args(build_parser().parse_args(["train"])).data == DATASETS["default"]
