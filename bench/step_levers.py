"""Training-step levers, A/B in one process: toymae's step as shipped against the same step with one
lever undone.

Levers (each a variant that undoes it):

- ``fp32 softmax``: every attention softmax cast to fp32 and back under bf16 autocast (the first
  path);
- ``bf16 softmax``: every attention softmax in bf16, short rows too (the path before toymae sent rows
  shorter than ``BF16_SOFTMAX_MIN_KEYS`` through fp32);
- ``loop AdamW``: ``torch.optim.AdamW`` without ``fused`` (a Python loop over the parameters);
- ``both (before)``: the step before any of them (fp32 softmax, loop AdamW).

All variants train the reproduction's default cell (ratio 0.6, decoder depth 2, widths 64/32, batch
64) from the same seed; short rounds alternate between them, in reversed order every other round, so
machine noise hits all alike. Prints the median ms per step and images/s over the rounds, and toymae's
speed-up over each variant: the median of the per-round ratios, with their quartiles.

    python bench/step_levers.py [--threads 1] [--rounds 30] [--steps 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.time_to_quality import cell_config
from toymae import model as model_module
from toymae.model import softmax_through_fp32 as fp32_softmax  # every row, however long
from toymae.train import Trainer, cpu_bf16_matmul, resolve_precision


def bf16_softmax(scores: torch.Tensor) -> torch.Tensor:
    """Every attention softmax in the scores' precision, however short its rows."""
    return scores.softmax(dim=-1)


@contextmanager
def attention_weights(softmax: Callable | None):
    """Swap the model's attention softmax for the duration (None keeps toymae's)."""
    shipped = model_module.attention_weights
    model_module.attention_weights = softmax or shipped
    try:
        yield
    finally:
        model_module.attention_weights = shipped


def loop_adamw(trainer: Trainer) -> Trainer:
    for group in trainer.optimizer.param_groups:
        group["fused"] = False
    trainer.optimizer.defaults["fused"] = False
    return trainer


VARIANTS: dict[str, tuple[Callable | None, bool]] = {  # name -> (attention softmax, loop AdamW)
    "toymae": (None, False),
    "fp32 softmax": (fp32_softmax, False),
    "bf16 softmax": (bf16_softmax, False),
    "loop AdamW": (None, True),
    "both (before)": (fp32_softmax, True),
}


def measure(rounds: int, steps: int, warmup: int = 5) -> dict[str, list[float]]:
    """Seconds per step of each variant, one figure per round."""
    config = cell_config()
    trainers = {}
    for name, (softmax, loop) in VARIANTS.items():
        trainer = Trainer(config, device="cpu")
        trainers[name] = loop_adamw(trainer) if loop else trainer
        with attention_weights(softmax):
            for _ in range(warmup):
                trainer.train_step()
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for r in range(rounds):
        # Reversed every other round: a drift in machine speed then favours no variant.
        for name in list(trainers) if r % 2 == 0 else list(trainers)[::-1]:
            trainer = trainers[name]
            with attention_weights(VARIANTS[name][0]):
                t = time.perf_counter()
                for _ in range(steps):
                    trainer.train_step()
                times[name].append((time.perf_counter() - t) / steps)
    return times


def speed_up(ours: list[float], theirs: list[float]) -> tuple[float, float, float]:
    """Quartiles of the per-round ratios theirs / ours (rounds pair variants run seconds apart)."""
    ratios = [b / a for a, b in zip(ours, theirs, strict=True)]
    if len(ratios) == 1:
        return ratios[0], ratios[0], ratios[0]
    low, mid, high = statistics.quantiles(ratios, n=4, method="inclusive")
    return low, mid, high


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.rounds < 1 or args.steps < 1:
        ap.error("--rounds and --steps must be positive")
    config = cell_config()
    precision = resolve_precision(config.precision, torch.device("cpu"))
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, bf16 matrix instructions: {cpu_bf16_matmul()}, "
        f"precision {precision}"
    )
    times = measure(args.rounds, args.steps)
    batch = config.batch_size
    print(f"{'variant':<16} {'ms/step':>8} {'img/s':>7}  toymae's speed-up over it: median [quartiles]")
    for name, per_round in times.items():
        median = statistics.median(per_round)
        low, mid, high = speed_up(times["toymae"], per_round)
        print(f"{name:<16} {median * 1e3:>8.2f} {batch / median:>7.0f}  {mid:.3f}x [{low:.3f}, {high:.3f}]")


if __name__ == "__main__":
    main()
