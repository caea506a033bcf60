"""Time to quality: wall time for the reproduction's default cell to reach its converged held-out loss.

The cell is the reproduction's ratio 0.6, decoder depth 2 (widths 64/32, batch 64, lr 4e-3, warmup
then cosine over the ``shipped`` recipe's steps). The target is fixed by a rule written before the first run:
**1.1 x the seed-mean held-out loss that the shipped 3-seed run of this cell reached at the full
budget** (``checkpoints/results.json``), the 10% of the convergence rule that chose the budget.

Contenders train the same seed on the same data stream and masks, with the same schedule and
optimiser (AdamW, betas 0.9/0.95, no decay on biases, norms and tokens):

- ``toymae (auto)``: the library's Trainer as users get it (precision ``auto``: bf16 on CPUs with
  native bf16 matrix instructions, else fp32);
- ``toymae (fp32)``;
- ``reference (fp32)``: bench/reference_mae.py, a transcription of facebookresearch/mae's
  ``models_mae.py`` with timm-style blocks, initialised as the reference initialises.

They train round-robin in chunks of ``--every`` steps, so machine noise hits all alike; after each
chunk the held-out loss (the sweep's: 1,000 probe-test images, fixed masks) is measured off the clock.
Prints, per contender, steps and training seconds to the target, images/s and model FLOP utilisation
against the matmul peaks measured in the same run, and the time ratio against the reference.

    python bench/time_to_quality.py [--seeds 3] [--every 200] [--reference-bf16]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.reference_mae import ReferenceMAE  # noqa: E402
from bench.throughput import matmul_peak, training_flops_per_image  # noqa: E402
from toymae.config import TrainConfig  # noqa: E402
from toymae.data import eval_set, make_generator, sample  # noqa: E402
from toymae.reproduce.sweep import HELD_OUT_N, EvalSpec, base_config  # noqa: E402
from toymae.train import Trainer, cpu_bf16_matmul, lr_at  # noqa: E402

CELL = {"mask_ratio": 0.6, "decoder_depth": 2}
REFERENCE = "reference (fp32)"
TARGET_FACTOR = 1.1  # the convergence rule's "within 10% of the full budget's held-out loss"


def cell_config() -> TrainConfig:
    """The cell every time-to-quality contender trains: the shipped recipe at ``CELL``."""
    base = base_config()
    return replace(base, model=replace(base.model, **CELL))


def held_out_images(config: TrainConfig) -> torch.Tensor:
    """The sweep's held-out images (its first ``HELD_OUT_N`` probe-test images) for ``config``'s data."""
    spec = EvalSpec()
    return eval_set(spec.probe_test, config.data, spec.data_seed, "probe-test").images[:HELD_OUT_N]


def target_loss(results: Path = ROOT / "checkpoints" / "results.json") -> tuple[float, int]:
    """(1.1 x the shipped cell's seed-mean held-out loss, number of seeds) for the default dataset."""
    rows = json.loads(results.read_text())["table"]
    row = next(
        r
        for r in rows
        if r.get("dataset", "default") == "default"
        and r["mask_ratio"] == CELL["mask_ratio"]
        and r["decoder_depth"] == CELL["decoder_depth"]
    )
    return TARGET_FACTOR * row["held_out_loss"], len(row["seeds"])


class ReferenceTrainer:
    """The reference model under toymae's training recipe (same streams, schedule and optimiser)."""

    def __init__(self, config: TrainConfig, bf16: bool = False) -> None:
        self.config, self.bf16, self.step = config, bf16, 0
        self.precision = "bf16" if bf16 else "fp32"
        self.model = ReferenceMAE(config.model)
        init_like_reference(self.model, torch.Generator().manual_seed(config.seed))
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            if p.requires_grad:  # the fixed position embeddings are frozen parameters here
                (no_decay if p.ndim < 2 or name.endswith("_token") else decay).append(p)
        self.optimizer = torch.optim.AdamW(
            [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=config.lr,
            betas=(0.9, 0.95),
            weight_decay=config.weight_decay,
        )
        self.data_generator = make_generator(config.seed, "train")
        self.mask_generator = make_generator(config.seed, "mask")

    def train_step(self) -> None:
        c = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.step, c)
        imgs = sample(c.batch_size, c.data, self.data_generator).images
        self.model.train()
        with torch.autocast("cpu", torch.bfloat16, enabled=self.bf16):
            loss = self.model(imgs, c.model.mask_ratio, self.mask_generator)[0]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1

    def held_out_loss(self, images: torch.Tensor, seed: int) -> float:
        self.model.eval()
        with torch.no_grad():
            gen = torch.Generator().manual_seed(seed)
            return float(self.model(images, self.config.model.mask_ratio, gen)[0])


@torch.no_grad()
def init_like_reference(model: ReferenceMAE, generator: torch.Generator) -> None:
    """models_mae.py's initialize_weights: xavier-uniform linears and patch conv (as a linear),
    zero biases, unit LayerNorms, N(0, 0.02) cls and mask tokens."""
    w = model.patch_embed.weight
    nn.init.xavier_uniform_(w.view(w.shape[0], -1), generator=generator)
    for token in (model.cls_token, model.mask_token):
        nn.init.normal_(token, std=0.02, generator=generator)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight, generator=generator)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def toymae_held_out(trainer: Trainer) -> Callable[[torch.Tensor, int], float]:
    def held_out(images: torch.Tensor, seed: int) -> float:
        trainer.model.eval()
        with torch.no_grad():
            gen = torch.Generator().manual_seed(seed)
            return float(trainer.model(images, generator=gen).loss)

    return held_out


@dataclass
class Contender:
    name: str
    trainer: Trainer | ReferenceTrainer
    held_out: Callable[[torch.Tensor, int], float]
    train_seconds: float = 0.0
    reached_at: tuple[int, float] | None = None  # (steps, training seconds) at the target
    last_loss: float = float("nan")

    def done(self, max_steps: int) -> bool:
        return self.reached_at is not None or self.trainer.step >= max_steps


def race(
    config: TrainConfig, target: float, every: int, max_steps: int, reference_bf16: bool, fp32: bool = True
) -> list[Contender]:
    """The contenders train on ``config``'s seed round-robin until each reaches ``target`` or the cap."""
    spec = EvalSpec()
    images = held_out_images(config)
    auto = Trainer(config, device="cpu")
    contenders = [Contender(f"toymae (auto: {auto.precision})", auto, toymae_held_out(auto))]
    if fp32 and auto.precision != "fp32":
        full = Trainer(replace(config, precision="fp32"), device="cpu")
        contenders.append(Contender("toymae (fp32)", full, toymae_held_out(full)))
    ref = ReferenceTrainer(config)
    contenders.append(Contender(REFERENCE, ref, ref.held_out_loss))
    if reference_bf16:
        ref16 = ReferenceTrainer(config, bf16=True)
        contenders.append(Contender("reference (bf16 autocast)", ref16, ref16.held_out_loss))
    while not all(c.done(max_steps) for c in contenders):
        for c in contenders:
            if c.done(max_steps):
                continue
            steps = min(every, max_steps - c.trainer.step)
            t = time.perf_counter()
            for _ in range(steps):
                c.trainer.train_step()
            c.train_seconds += time.perf_counter() - t
            c.last_loss = c.held_out(images, spec.data_seed)
            if c.last_loss <= target:
                c.reached_at = (c.trainer.step, c.train_seconds)
        print(
            f"seed {config.seed}: "
            + "  ".join(f"{c.name}: step {c.trainer.step} loss {c.last_loss:.5f}" for c in contenders),
            flush=True,
        )
    return contenders


def speedup(contenders: list[Contender]) -> dict[str, float | None]:
    """Each contender's time-to-target ratio against the reference (None where either missed it)."""
    ref = next(c for c in contenders if c.name == REFERENCE).reached_at
    return {c.name: (ref[1] / c.reached_at[1] if ref and c.reached_at else None) for c in contenders}


def print_table(contenders: list[Contender], config: TrainConfig, flops: float, peaks: dict) -> None:
    ratios = speedup(contenders)
    print(f"\nseed {config.seed}")
    print(f"{'contender':<26} {'steps':>6} {'seconds':>8} {'img/s':>7} {'MFU':>6}  vs reference (fp32)")
    for c in contenders:
        ips = c.trainer.step * config.batch_size / c.train_seconds
        mfu = ips * flops / peaks[c.trainer.precision]
        if c.reached_at is None:
            print(
                f"{c.name:<26} not reached in {c.trainer.step} steps ({c.train_seconds:.1f} s; "
                f"final loss {c.last_loss:.5f}); {ips:.0f} img/s, MFU {mfu:.1%} of {c.trainer.precision}"
            )
            continue
        steps, seconds = c.reached_at
        ratio = f"{ratios[c.name]:.2f}x faster" if ratios[c.name] else "reference did not reach the target"
        of_fp32 = ips * flops / peaks["fp32"]
        of_fp32 = "" if c.trainer.precision == "fp32" else f"; {of_fp32:.1%} of the fp32 peak"
        print(
            f"{c.name:<26} {steps:>6} {seconds:>8.1f} {ips:>7.0f} {mfu:>6.1%}  {ratio} "
            f"(MFU of the {c.trainer.precision} peak{of_fp32})"
        )


def seed_summary(per_seed: list[list[Contender]]) -> list[str]:
    """Per contender over the seeds: median and range of steps to target and of the speed-up."""
    lines = [
        f"\nover {len(per_seed)} seeds: median [min, max]; a seed that missed the target counts as missed"
    ]
    for i, name in enumerate(c.name for c in per_seed[0]):
        races = [contenders[i] for contenders in per_seed]
        ratios = [speedup(contenders)[name] for contenders in per_seed]
        reached = [c.reached_at[0] for c in races if c.reached_at]
        steps = (
            f"{statistics.median(reached):.0f} [{min(reached)}, {max(reached)}] over {len(reached)} seed(s)"
            if reached
            else "-"
        )
        got = [r for r in ratios if r is not None]
        ratio = (
            f"{statistics.median(got):.2f}x [{min(got):.2f}, {max(got):.2f}] over {len(got)} seed(s)"
            if got
            else "-"
        )
        missed = len(races) - len(reached)
        lines.append(
            f"{name:<26} steps to target {steps}; vs reference {ratio}"
            + (f"; missed on {missed} seed(s)" if missed else "")
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=200, help="steps between held-out evaluations")
    ap.add_argument("--seed", type=int, default=0, help="the first seed")
    ap.add_argument("--seeds", type=int, default=1, help="how many seeds, from --seed on (median and range)")
    ap.add_argument("--reference-bf16", action="store_true", help="also the reference under bf16 autocast")
    ap.add_argument("--no-fp32", action="store_true", help="leave out toymae (fp32) when auto is bf16")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--max-steps", type=int, default=None, help="stop earlier (a smoke run)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = cell_config()
    target, n_seeds = target_loss()
    max_steps = min(args.max_steps or config.steps, config.steps)
    if max_steps < 1 or args.every < 1 or args.seeds < 1:
        ap.error("--max-steps, --every and --seeds must be positive")
    flops = training_flops_per_image(config.model)
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, bf16 matrix instructions: {cpu_bf16_matmul()}"
    )
    seeds = range(args.seed, args.seed + args.seeds)
    print(
        f"cell: ratio {CELL['mask_ratio']}, decoder depth {CELL['decoder_depth']}, widths "
        f"{config.model.embed_dim}/{config.model.decoder_embed_dim}, batch {config.batch_size}, "
        f"lr {config.lr}, schedule over {config.steps} steps, seeds {', '.join(map(str, seeds))}"
    )
    print(
        f"target held-out loss {target:.5f} = {TARGET_FACTOR} x the shipped {n_seeds}-seed mean at "
        f"{config.steps} steps; analytic {flops / 1e6:.1f} MFLOP per training image; matmul peak "
        f"fp32 {peaks['fp32'] / 1e9:.0f}, bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s",
        flush=True,
    )
    per_seed = []
    for seed in seeds:
        seeded = replace(config, seed=seed)
        per_seed.append(race(seeded, target, args.every, max_steps, args.reference_bf16, not args.no_fp32))
        print_table(per_seed[-1], seeded, flops, peaks)
    print("\n".join(seed_summary(per_seed)))


if __name__ == "__main__":
    main()
