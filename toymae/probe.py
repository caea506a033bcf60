"""Linear probes on encoder features: what do the representations know about the image's factors?

Features (``extract_features``; the protocols are ``config.PROTOCOLS``):
- ``mean``: the encoder on the full, unmasked image, patch tokens mean-pooled (the probes' default);
- ``cls``: the encoder on the full image, the cls token;
- ``visible``: the encoder on the image masked at the model's training ratio (masks from a fixed seed),
  the visible tokens mean-pooled: the representation most MAE codebases probe;
- ``visible_avg``: as ``visible``, averaged over ``VISIBLE_AVG_MASKS`` masks: in distribution for the
  encoder (it only ever saw images masked at its ratio) yet it keeps the whole image's information.

Probes (fixed before looking at any result, see docs/protocols.md):
- shape: standardised features -> logistic regression, fit on one split, scored on a held-out split;
- position / size: standardised features -> linear regression, R^2 on the held-out split;
- PCA-2: PCA of the (centred, unstandardised) features fit on the train split, then a standardised
  logistic regression on those 2 components, scored on the held-out split. This turns the blog's
  "separable in the first two principal components" into a number.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch

from toymae.config import PROTOCOLS
from toymae.data import ShapeBatch
from toymae.model import MaskedAutoencoder

VISIBLE_MASK_SEED = 0  # the visible protocols' masks: the same for every model and image set
VISIBLE_AVG_MASKS = 8  # masks averaged by ``visible_avg``


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
    protocols: Iterable[str] = ("mean",),
    *,
    mask_ratio: float | None = None,
    mask_seed: int = VISIBLE_MASK_SEED,
    batch_size: int = 256,
) -> dict[str, np.ndarray]:
    """``{protocol: (N, D) float64 features}`` of ``images`` (N, C, H, W), in eval mode without
    gradients. The visible protocols mask at ``mask_ratio`` (default: the model's training ratio) with
    masks drawn from ``mask_seed``. ``mean`` and ``cls`` share one pass over the full image, and
    ``visible_avg``'s first mask is ``visible``'s."""
    protocols = tuple(protocols)
    if unknown := set(protocols) - set(PROTOCOLS):
        raise ValueError(f"unknown protocols {sorted(unknown)}; known: {', '.join(PROTOCOLS)}")
    out = {}
    with _eval_mode(model):
        if {"mean", "cls"} & set(protocols):
            out["cls"], out["mean"] = _pooled(model, images, batch_size)
        if {"visible", "visible_avg"} & set(protocols):
            ratio = model.config.mask_ratio if mask_ratio is None else mask_ratio
            gen = torch.Generator().manual_seed(mask_seed)
            n_masks = VISIBLE_AVG_MASKS if "visible_avg" in protocols else 1
            # One pass per mask, each continuing the generator where the previous one stopped.
            draws = [_pooled(model, images, batch_size, ratio, gen)[1] for _ in range(n_masks)]
            out["visible"], out["visible_avg"] = draws[0], np.mean(draws, axis=0)
    return {p: out[p] for p in protocols}


def _pooled(
    model: MaskedAutoencoder,
    images: torch.Tensor,
    batch_size: int,
    mask_ratio: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(cls token, mean of the visible patch tokens), each (N, D) float64, of the encoder on ``images``
    with random masks at ``mask_ratio`` (none at 0). Every row keeps the same number of patches, so
    the encoder needs no padding."""
    device = model.cls_token.device
    cls, mean = [], []
    for i in range(0, images.shape[0], batch_size):
        chunk = images[i : i + batch_size].to(device)
        if mask_ratio > 0:
            mask = model.random_masking(chunk.shape[0], mask_ratio, generator).to(device)  # (b, L)
        else:
            mask = torch.zeros(chunk.shape[0], model.config.num_patches, device=device)
        latent, _, _ = model.encode_visible(chunk, mask)  # (b, 1 + K, D)
        cls.append(latent[:, 0].float().cpu())
        mean.append(latent[:, 1:].mean(dim=1).float().cpu())
    if not cls:
        empty = np.zeros((0, model.config.embed_dim))
        return empty, empty
    return torch.cat(cls).double().numpy(), torch.cat(mean).double().numpy()


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
    """Extract ``mean`` features for both splits and run every probe."""
    train_x, test_x = (extract_features(model, b.images)["mean"] for b in (train, test))
    return probe_features(train_x, train, test_x, test, regressions)
