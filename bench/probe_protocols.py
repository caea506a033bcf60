"""Sensitivity of the shape probe to the probe protocol, on the shipped checkpoints.

The project's protocol (fixed before results; docs/protocols.md) is a *standardised* logistic regression on
mean-pooled features of the unmasked image. This script reports it beside other protocols, as a
sensitivity check only: unstandardised features (as the issue's feasibility run used), the cls token
instead of mean pooling, and the same model at random initialisation (what the probe gets for free).

    python bench/probe_protocols.py [--n 2000]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from toymae.app.catalog import CHECKPOINT_DIR, load_manifest
from toymae.checkpoint import load_checkpoint
from toymae.data import eval_set
from toymae.model import build_model
from toymae.probe import extract_features, shape_probe_accuracy


def unstandardised_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray
) -> float:
    """Logistic regression on raw features (C=1): small-variance directions are penalised more."""
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegression(max_iter=2000).fit(train_x, train_y)
    return float(clf.score(test_x, test_y))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="images per split")
    args = ap.parse_args()
    print(f"{'model':<16} {'std. LR (ours)':>15} {'unstd. LR':>10} {'cls token':>10} {'random init':>12}")
    for entry in load_manifest():
        ckpt = load_checkpoint(CHECKPOINT_DIR / entry["file"])
        data = ckpt.train_config.data
        tr, te = eval_set(args.n, data, 0, "probe-train"), eval_set(args.n, data, 0, "probe-test")
        ytr, yte = tr.shape.numpy(), te.shape.numpy()
        ftr, fte = (extract_features(ckpt.model, b.images, ("mean", "cls")) for b in (tr, te))
        ours = shape_probe_accuracy(ftr["mean"], ytr, fte["mean"], yte)
        raw = unstandardised_accuracy(ftr["mean"], ytr, fte["mean"], yte)
        cls = shape_probe_accuracy(ftr["cls"], ytr, fte["cls"], yte)
        rand = build_model(ckpt.train_config.model, seed=ckpt.train_config.seed, device="cpu")
        rtr, rte = (extract_features(rand, b.images)["mean"] for b in (tr, te))
        base = shape_probe_accuracy(rtr, ytr, rte, yte)
        print(f"{entry['name']:<16} {ours:>15.3f} {raw:>10.3f} {cls:>10.3f} {base:>12.3f}", flush=True)


if __name__ == "__main__":
    main()
