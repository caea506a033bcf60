"""A lead for the recipe lever: does a shorter schedule reach time to quality's target?

Time to quality (bench/time_to_quality.py) counts wall time until the held-out loss reaches its
target, so a recipe that gets there in fewer steps is a lever. The obvious one is the schedule's
length: warm-up as shipped, then the cosine decay to zero over ``S`` steps instead of 3,200. For each
length and seed this trains toymae on time to quality's cell, as users get it (precision ``auto``),
and measures the held-out loss at the end the way time to quality does. ``--lr`` changes the peak
learning rate too (a shorter schedule with a higher rate), and ``--batch`` the batch size (a larger
batch trains more images a second; at ``--steps`` 1600 ``--batch`` 128 it sees the recipe's images).

Rule, written before the first run: a length is a candidate recipe when every seed's held-out loss
at its end is at or under the target. A candidate is only a lead. Adopting it means re-shipping the
models and checking that their verdicts hold within seed noise (issue 22); this script does not do
that.

Runs one job per core, one thread each.

    python bench/schedule_length.py [--steps 2000,2400] [--seeds 3] [--lr 0.004] [--batch 64]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import time_to_quality
from bench.time_to_quality import CELL, held_out_images, target_loss, toymae_held_out
from toymae.config import TrainConfig
from toymae.reproduce.sweep import EvalSpec
from toymae.train import Trainer, cpu_bf16_matmul


def cell_config(steps: int, seed: int, lr: float | None = None, batch_size: int | None = None) -> TrainConfig:
    """Time to quality's cell with the schedule over ``steps`` steps (and peak learning rate ``lr``
    and ``batch_size``, by default the recipe's)."""
    base = time_to_quality.cell_config()
    return replace(base, steps=steps, seed=seed, lr=lr or base.lr, batch_size=batch_size or base.batch_size)


def train_and_score(config: TrainConfig, threads: int = 1) -> dict:
    """Train ``config`` to its end; the held-out loss there (time to quality's images and masks)."""
    torch.set_num_threads(threads)
    images = held_out_images(config)
    trainer = Trainer(config, device="cpu")
    start = time.perf_counter()
    for _ in range(config.steps):
        trainer.train_step()
    seconds = time.perf_counter() - start
    loss = toymae_held_out(trainer)(images, EvalSpec().data_seed)
    return {"steps": config.steps, "seed": config.seed, "held_out_loss": loss, "seconds": seconds}


def candidates(rows: list[dict], target: float) -> dict[int, bool]:
    """Per schedule length: whether every seed reached the target at its end (the rule above)."""
    lengths = sorted({r["steps"] for r in rows})
    return {s: all(r["held_out_loss"] <= target for r in rows if r["steps"] == s) for s in lengths}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="2000,2400", help="comma-separated schedule lengths")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the recipe's)")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: the recipe's)")
    args = ap.parse_args()
    lengths = [int(s) for s in args.steps.split(",")]
    optional = [v for v in (args.lr, args.batch) if v is not None]
    if min([args.seeds, args.workers, *lengths, *optional]) <= 0:
        ap.error("--steps, --seeds, --workers, --lr and --batch must be positive")
    target, n_seeds = target_loss()
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, bf16 matrix "
        f"instructions: {cpu_bf16_matmul()}; {args.workers} job(s) at once, one thread each\n"
        f"cell: ratio {CELL['mask_ratio']}, decoder depth {CELL['decoder_depth']}; target held-out loss "
        f"{target:.5f} (1.1 x the shipped {n_seeds}-seed mean at 3,200 steps)",
        flush=True,
    )
    configs = [cell_config(s, seed, args.lr, args.batch) for s in lengths for seed in range(args.seeds)]
    print(f"peak learning rate {configs[0].lr:g}, batch {configs[0].batch_size}", flush=True)
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        rows = list(pool.map(train_and_score, configs))
    print(f"{'schedule':>8} {'seed':>4} {'held-out loss':>13} {'reached':>7} {'train s':>7}")
    for r in rows:
        reached = "yes" if r["held_out_loss"] <= target else "no"
        print(f"{r['steps']:>8} {r['seed']:>4} {r['held_out_loss']:>13.5f} {reached:>7} {r['seconds']:>7.1f}")
    for steps, ok in candidates(rows, target).items():
        print(f"schedule over {steps} steps: {'a candidate' if ok else 'not a candidate'} by the rule")


if __name__ == "__main__":
    main()
