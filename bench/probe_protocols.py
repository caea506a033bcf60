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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from toymae.app.catalog import CHECKPOINT_DIR, load_manifest
from toymae.checkpoint import load_checkpoint
from toymae.data import eval_set
from toymae.model import build_model
from toymae.probe import cls_features, extract_features, shape_probe_accuracy, unstandardised_accuracy


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
        ftr, fte = extract_features(ckpt.model, tr.images), extract_features(ckpt.model, te.images)
        ours = shape_probe_accuracy(ftr, ytr, fte, yte)
        raw = unstandardised_accuracy(ftr, ytr, fte, yte)
        cls = shape_probe_accuracy(
            cls_features(ckpt.model, tr.images), ytr, cls_features(ckpt.model, te.images), yte
        )
        rand = build_model(ckpt.train_config.model, seed=ckpt.train_config.seed, device="cpu")
        base = shape_probe_accuracy(
            extract_features(rand, tr.images), ytr, extract_features(rand, te.images), yte
        )
        print(f"{entry['name']:<16} {ours:>15.3f} {raw:>10.3f} {cls:>10.3f} {base:>12.3f}", flush=True)


if __name__ == "__main__":
    main()
