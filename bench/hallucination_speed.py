"""Hallucination scoring speed: 1,000 evaluation images, model inference included.

python bench/hallucination_speed.py [CHECKPOINT] [--n 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from toymae.app.catalog import CHECKPOINT_DIR
from toymae.checkpoint import load_checkpoint
from toymae.data import eval_set
from toymae.eval.hallucination import evaluate_hallucination


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", nargs="?", default=str(CHECKPOINT_DIR / "ratio0.6-dec1.safetensors"))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    ckpt = load_checkpoint(args.checkpoint)
    batch = eval_set(args.n, ckpt.train_config.data, 0, "hallucination")
    evaluate_hallucination(ckpt.model, batch, 0.6)  # warm-up
    times = []
    for i in range(args.repeats):
        t = time.perf_counter()
        report = evaluate_hallucination(ckpt.model, batch, 0.6, seed=i)
        report.summary()
        times.append(time.perf_counter() - t)
    print(
        f"{args.checkpoint}: {args.n} images, inference + scoring + summary, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"median {statistics.median(times):.3f} s, max {max(times):.3f} s (target <= 5 s)")


if __name__ == "__main__":
    main()
