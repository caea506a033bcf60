"""Wall time for the default model to reach a shape-probe accuracy target.

Trains the default config and probes every ``--every`` steps on fixed held-out splits; the clock
counts training only (probe time is excluded and reported separately).

    python bench/time_to_accuracy.py [--target 0.95] [--every 50] [--max-steps 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toymae.train import TrainConfig, Trainer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--max-steps", type=int, default=1000)
    ap.add_argument("--precision", default="auto")
    args = ap.parse_args()
    config = replace(TrainConfig(), eval_every=0, precision=args.precision)
    trainer = Trainer(config, device="cpu")
    print(
        f"default config, precision {trainer.precision}, batch {config.batch_size}, "
        f"lr schedule over {config.steps} steps"
    )
    base = trainer.evaluate()
    print(
        f"step     0  (random init)  loss {base['held_out_loss']:.4f}  probe {base['probe_acc']:.3f}  "
        f"pca2 {base['pca2_acc']:.3f}   <- the untrained encoder's baseline under the same protocol"
    )
    train_s = probe_s = 0.0
    while trainer.step < args.max_steps:
        t = time.perf_counter()
        for _ in range(args.every):
            trainer.train_step()
        train_s += time.perf_counter() - t
        t = time.perf_counter()
        row = trainer.evaluate()
        probe_s += time.perf_counter() - t
        print(
            f"step {trainer.step:5d}  train {train_s:6.1f} s  loss {row['held_out_loss']:.4f}  "
            f"probe {row['probe_acc']:.3f}  pca2 {row['pca2_acc']:.3f}",
            flush=True,
        )
        if row["probe_acc"] >= args.target:
            print(
                f"reached probe accuracy {row['probe_acc']:.3f} >= {args.target} after {trainer.step} steps, "
                f"{train_s:.1f} s of training ({probe_s:.1f} s of probing not counted)"
            )
            return
    print(f"did not reach {args.target} within {args.max_steps} steps ({train_s:.1f} s)")


if __name__ == "__main__":
    main()
