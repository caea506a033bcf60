"""Linear probes on encoder features: what do the representations know about the image's factors?

Protocol (fixed before looking at any result, see docs/protocols.md):
- features: the encoder on the full, unmasked image, mean-pooled over patch tokens (``inference.features``);
- shape: standardised features -> logistic regression, fit on one split, scored on a held-out split;
- position / size: standardised features -> linear regression, R^2 on the held-out split;
- PCA-2: PCA of the (centred, unstandardised) features fit on the train split, then a standardised
  logistic regression on those 2 components, scored on the held-out split. This turns the blog's
  "separable in the first two principal components" into a number.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch

from toymae.data import ShapeBatch
from toymae.inference import features
from toymae.model import MaskedAutoencoder


@dataclass
class ProbeReport:
    probe_acc: float  # shape (circle vs square) accuracy on the held-out split
    pca2_acc: float  # accuracy of a linear classifier on the first 2 principal components
    n_train: int
    n_test: int
    r2_x: float | None = None  # centre x, R^2 on the held-out split
    r2_y: float | None = None
    r2_size: float | None = None  # None when the size is fixed (nothing to predict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_summary(cls, summary: dict) -> ProbeReport | None:
        """The numbers a reproduction job stored in its checkpoint's summary (None if it stored none)."""
        protocol = summary.get("probe_protocol")
        if protocol is None or summary.get("probe_acc") is None:
            return None
        return cls(
            probe_acc=summary["probe_acc"],
            pca2_acc=summary["pca2_acc"],
            n_train=protocol["n_train"],
            n_test=protocol["n_test"],
            r2_x=summary.get("r2_x"),
            r2_y=summary.get("r2_y"),
            r2_size=summary.get("r2_size"),
        )


@contextmanager
def _eval_mode(model: MaskedAutoencoder) -> Iterator[None]:
    """Eval mode and no_grad for the block; the model's training flag is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def extract_features(
    model: MaskedAutoencoder,
    images: torch.Tensor,
    batch_size: int = 256,
    pool: str = "mean",
    mask_ratio: float = 0.0,
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """(N, D) float64 features, batched, under no_grad and in eval mode. The defaults are the
    protocol's; the other choices exist for sensitivity checks (``inference.features``)."""
    with _eval_mode(model):
        return features(model, images, batch_size, pool, mask_ratio, generator).double().numpy()


# scikit-learn is imported inside the functions that fit: importing it costs ~100 MB of memory, which
# a dashboard that only shows shipped models' recorded numbers and PCA pictures never needs to pay.
def _classifier():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))


def shape_probe_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray
) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on nearly separable data
        clf = _classifier().fit(train_x, train_y)
    return float(clf.score(test_x, test_y))


CV_CS = (0.01, 0.1, 1.0, 10.0, 100.0)  # C grid for the cross-validated probe


def cv_probe_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray
) -> tuple[float, float]:
    """(held-out accuracy, chosen C) of the standardised probe with C chosen by 5-fold
    cross-validation on the labelled split alone (the test split never picks C)."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=list(CV_CS), cv=5, max_iter=2000))
        clf.fit(train_x, train_y)
    return float(clf.score(test_x, test_y)), float(clf[-1].C_[0])


def regression_r2(
    train_x: np.ndarray, train_t: np.ndarray, test_x: np.ndarray, test_t: np.ndarray
) -> float | None:
    """Held-out R^2 of a standardised linear regression; None when the target is constant."""
    if np.ptp(train_t) < 1e-9 or np.ptp(test_t) < 1e-9:
        return None
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    reg = make_pipeline(StandardScaler(), LinearRegression()).fit(train_x, train_t)
    return float(r2_score(test_t, reg.predict(test_x)))


def pca_basis(features: np.ndarray, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), components (n, D)) of a full-SVD PCA, as scikit-learn's ``PCA(svd_solver="full")``
    computes it, with its sign rule: each component's largest-magnitude entry is positive."""
    mean = features.mean(axis=0)
    _, _, vt = np.linalg.svd(features - mean, full_matrices=False)
    comps = vt[:n_components]
    signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    return mean, comps * signs[:, None]


def pca_projection(features: np.ndarray, fit_on: np.ndarray | None = None) -> np.ndarray:
    """Project ``features`` on the first two principal components of ``fit_on`` (default: itself)."""
    mean, comps = pca_basis(features if fit_on is None else fit_on)
    return (features - mean) @ comps.T


def pca2_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> float:
    mean, comps = pca_basis(train_x)  # one fit, both splits projected on it
    return shape_probe_accuracy((train_x - mean) @ comps.T, train_y, (test_x - mean) @ comps.T, test_y)


def probe_features(
    train_x: np.ndarray,
    train: ShapeBatch,
    test_x: np.ndarray,
    test: ShapeBatch,
    regressions: bool = True,
) -> ProbeReport:
    ytr, yte = train.shape.numpy(), test.shape.numpy()
    report = ProbeReport(
        probe_acc=shape_probe_accuracy(train_x, ytr, test_x, yte),
        pca2_acc=pca2_accuracy(train_x, ytr, test_x, yte),
        n_train=len(train),
        n_test=len(test),
    )
    if regressions:
        for name, attr in (("r2_x", "cx"), ("r2_y", "cy"), ("r2_size", "size")):
            t_tr, t_te = getattr(train, attr).numpy(), getattr(test, attr).numpy()
            setattr(report, name, regression_r2(train_x, t_tr, test_x, t_te))
    return report


def probe_model(
    model: MaskedAutoencoder,
    train: ShapeBatch,
    test: ShapeBatch,
    regressions: bool = True,
) -> ProbeReport:
    """Extract features for both splits and run every probe."""
    return probe_features(
        extract_features(model, train.images),
        train,
        extract_features(model, test.images),
        test,
        regressions,
    )


# ------------------------------------------------------------------ single-protocol helpers
# For the sensitivity benchmarks (bench/probe_protocols.py, bench/search.py); the study's three
# protocols, each beside the random init, are in toymae/eval/study.py.
def cls_features(model: MaskedAutoencoder, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """The cls token of the encoder on the full image: (N, D)."""
    return extract_features(model, images, batch_size, pool="cls")


def masked_features(
    model: MaskedAutoencoder, images: torch.Tensor, mask_ratio: float, seed: int = 0, batch_size: int = 256
) -> np.ndarray:
    """Mean-pooled encoder tokens of a *masked* image (random masks at ``mask_ratio``): (N, D).

    What the encoder sees in pretraining; a probe on these also measures how much of the object
    survives the mask, so a higher ratio scores lower whatever the encoder learned."""
    gen = torch.Generator().manual_seed(seed)
    return extract_features(model, images, batch_size, mask_ratio=mask_ratio, generator=gen)


def unstandardised_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray
) -> float:
    """Logistic regression on raw features (C=1): small-variance directions are penalised more."""
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegression(max_iter=2000).fit(train_x, train_y)
    return float(clf.score(test_x, test_y))
