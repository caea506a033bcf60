"""The representation study: four feature protocols x label budgets, each beside its random init.

A probe number means little alone: on the default dataset an *untrained* encoder already separates
circles from squares (a square covers 4/pi times a circle's pixels). So every accuracy here is
measured twice, on the trained encoder and on the same architecture at the same seed's random
initialisation, and reported with the difference.

Protocols (how an image becomes a feature vector): ``config.PROTOCOLS``, read by
``probe.extract_features`` (``mean``, ``cls``, ``visible``, ``visible_avg``).

Label budgets: a standardised logistic regression (C = 1) fit on 16, 64 or 256 labelled images
(class-balanced, ``LABEL_DRAWS`` random draws from the train split, mean and std) or on the whole train
split (``all``); ``all_cv`` is the whole split with C chosen by 5-fold cross-validation on it (C = 1
can under-fit: on ratio0.9-dec2, mean/all, 0.89-0.90 against 0.98 with a chosen C). Always scored
on the whole held-out split. PCA-2: a classifier on the first two principal components, of the raw
features (``pca2``) and of the standardised features (``pca2_std``; raw features' top components are
the object's position).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

import numpy as np

from toymae.config import PROTOCOLS
from toymae.data import ShapeBatch
from toymae.model import MaskedAutoencoder, build_model
from toymae.probe import cv_probe_accuracy, extract_features, pca2_accuracy, shape_probe_accuracy

LABEL_BUDGETS = (16, 64, 256)  # and "all": the whole train split
LABELS = ("16", "64", "256", "all", "all_cv")
PCA2 = ("pca2", "pca2_std")
METRIC_KEYS = ("n16", "n64", "n256", "n_all", "n_all_cv", "pca2", "pca2_std")
LABEL_DRAWS = 10  # the mean over draws must be steady to about 0.03 between evaluation sets


def label_budget_accuracy(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    n_labels: int,
    draws: int = LABEL_DRAWS,
    seed: int = 0,
) -> tuple[float, float]:
    """(mean, std) held-out accuracy over ``draws`` class-balanced draws of ``n_labels`` train images."""
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(train_y == c) for c in (0, 1)]
    # A train split smaller than the budget (a quick run) caps it: every image of the smaller class.
    n_labels = min(n_labels, 2 * min(len(ix) for ix in by_class))
    accs = []
    for _ in range(draws):
        pick = np.concatenate([rng.choice(ix, n_labels // 2, replace=False) for ix in by_class])
        accs.append(shape_probe_accuracy(train_x[pick], train_y[pick], test_x, test_y))
    return float(np.mean(accs)), float(np.std(accs))


def scores_from_features(
    ftr: np.ndarray, train: ShapeBatch, fte: np.ndarray, test: ShapeBatch, draws: int = LABEL_DRAWS
) -> dict[str, float]:
    """``METRIC_KEYS`` (and ``n16_std``...: the spread over label draws) for one protocol's features."""
    ytr, yte = train.shape.numpy(), test.shape.numpy()
    out: dict[str, float] = {}
    for n in LABEL_BUDGETS:
        out[f"n{n}"], out[f"n{n}_std"] = label_budget_accuracy(ftr, ytr, fte, yte, n, draws)
    out["n_all"] = shape_probe_accuracy(ftr, ytr, fte, yte)
    out["n_all_cv"], out["cv_c"] = cv_probe_accuracy(ftr, ytr, fte, yte)
    out["pca2"] = pca2_accuracy(ftr, ytr, fte, yte)
    mu, sd = ftr.mean(axis=0), ftr.std(axis=0) + 1e-12  # the train split's statistics, for both
    out["pca2_std"] = pca2_accuracy((ftr - mu) / sd, ytr, (fte - mu) / sd, yte)
    return out


def representation_study(
    model: MaskedAutoencoder,
    train: ShapeBatch,
    test: ShapeBatch,
    seed: int,
    protocols: Iterable[str] = PROTOCOLS,
    draws: int = LABEL_DRAWS,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{"protocols": {name: scores}, "random_init": {name: scores}}``; the random-init model is the
    same architecture built from the same ``seed`` (the trained model's starting point)."""
    protocols = tuple(protocols)
    untrained = build_model(model.config, seed, device=model.cls_token.device)
    out = {}
    for name, m in (("protocols", model), ("random_init", untrained)):
        ftr, fte = (
            extract_features(m, train.images, protocols),
            extract_features(m, test.images, protocols),
        )
        out[name] = {p: scores_from_features(ftr[p], train, fte[p], test, draws) for p in protocols}
    return out


def metric_key(labels: str) -> str:
    """The scores' key for a label budget name ("16", ..., "all", "all_cv") or a PCA-2 variant."""
    return {"all": "n_all", "all_cv": "n_all_cv", "pca2": "pca2", "pca2_std": "pca2_std"}.get(
        labels, f"n{labels}"
    )


# ------------------------------------------------------------------ across seeds
def t95(dof: int) -> float:
    """The two-sided 95% Student t quantile (scipy's, for any degrees of freedom)."""
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def mean_ci(values: list[float]) -> dict[str, float | int | None]:
    """Mean and the half-width of its 95% t interval over seeds (None for one value: one seed is a
    lead). This half-width is what "±" means in every table of the project."""
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return {"mean": mean, "ci95": None, "n": n}
    return {"mean": mean, "ci95": t95(n - 1) * statistics.stdev(values) / math.sqrt(n), "n": n}


def aggregate_study(runs: list[dict]) -> dict:
    """Per protocol and metric across the seeds of one cell: trained, random init and their paired
    difference (trained minus the random init of the same seed), each as ``mean_ci`` over the seeds
    that measured it (a protocol or metric added later may have fewer seeds: ``n`` says how many)."""
    runs = [r for r in runs if "study" in r]
    out: dict = {"trained": {}, "random_init": {}, "delta": {}}
    protocols = [p for p in PROTOCOLS if any(p in r["study"]["protocols"] for r in runs)]
    for p in protocols:
        for which in out:
            out[which][p] = {}
        for key in METRIC_KEYS:
            having = [r for r in runs if key in r["study"]["protocols"].get(p, {})]
            if not having:
                continue
            trained = [r["study"]["protocols"][p][key] for r in having]
            random = [r["study"]["random_init"][p][key] for r in having]
            out["trained"][p][key] = mean_ci(trained)
            out["random_init"][p][key] = mean_ci(random)
            out["delta"][p][key] = mean_ci([t - b for t, b in zip(trained, random, strict=True)])
    return out
