"""The converged sweep's training speed before this round's levers and as shipped, on one machine.

The sweep trains the blog's 9 configurations x 3 seeds for 3,200 steps each, and every step of a
configuration costs the same, so each configuration's training images/s are measured here from a
short sample of steps, and the sweep's figure is their images-weighted (harmonic) mean: total images
over total training time. Evaluation is not in these figures (docs/speed.md gives its cost per job).

- ``before``: the sweep when issue 22 was filed: one job at a time on every core (``reproduce
  --workers 1``), the step with the attention softmax in fp32 and AdamW's Python loop;
- ``after``: ``reproduce`` as shipped: one job per core, one thread each (here one process per core,
  each training its own seed of the configuration at once), toymae's step. Their images/s add up: the
  sweep's pool hands a worker that finishes its next job (with 27 jobs on 2 workers, the last job
  runs alone, which this does not count).

The two alternate, configuration by configuration, in reversed order every other one, so a drift in
the machine's speed favours neither. Prints per configuration images/s before, after and their ratio,
then the sweep's.

    python bench/sweep_speed.py [--data varied] [--steps 100] [--warmup 10]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import queue
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.step_levers import VARIANTS, attention_weights, loop_adamw
from bench.throughput import images_per_s
from toymae.config import TrainConfig
from toymae.reproduce.blog import blog_cells
from toymae.reproduce.sweep import LocalExecutor, base_config, make_jobs
from toymae.train import Trainer, cpu_bf16_matmul, resolve_precision

BEFORE = VARIANTS["both (before)"]  # (attention softmax, loop AdamW) of the step before the levers
BARRIER_TIMEOUT_S = 600  # a worker whose partner died stops waiting


def cell_configs(data: str) -> dict[str, TrainConfig]:
    """The sweep's 9 configurations on ``data``, by cell name (seed 0), as the sweep makes them."""
    return {j.cell.name: j.config for j in make_jobs(base_config(data=data), [0], blog_cells(data))}


def _timed_steps(trainer: Trainer, steps: int, warmup: int) -> float:
    """Training images per second over ``steps`` steps after ``warmup`` untimed ones."""
    for _ in range(warmup):
        trainer.train_step()
    return images_per_s(trainer.train_step, steps, trainer.config.batch_size)


def before_images_per_s(config: TrainConfig, steps: int, warmup: int, threads: int) -> float:
    """One job on ``threads`` threads, the step as before the levers."""
    softmax, loop = BEFORE
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        trainer = Trainer(config, device="cpu")
        with attention_weights(softmax):
            return _timed_steps(loop_adamw(trainer) if loop else trainer, steps, warmup)
    finally:
        torch.set_num_threads(previous)


def _worker(config: TrainConfig, threads: int, steps: int, warmup: int, ready, results) -> None:
    torch.set_num_threads(threads)
    trainer = Trainer(config, device="cpu")
    for _ in range(warmup):
        trainer.train_step()
    ready.wait(BARRIER_TIMEOUT_S)  # the workers time their steps side by side, as the sweep's run
    results.put(_timed_steps(trainer, steps, 0))


def after_images_per_s(config: TrainConfig, steps: int, warmup: int, workers: int, threads: int) -> float:
    """``workers`` processes of ``threads`` threads, each its own seed, side by side: the sum of their
    images/s (the sweep's pool hands a worker that finishes its next job, so their rates add up)."""
    ctx = mp.get_context("spawn")
    ready, results = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker,
            args=(replace(config, seed=s), threads, steps, warmup, ready, results),
            daemon=True,
        )
        for s in range(workers)
    ]
    for p in procs:
        p.start()
    rates: list[float] = []
    try:
        while len(rates) < workers:
            try:
                rates.append(results.get(timeout=1.0))
            except queue.Empty:  # a worker that died never reports: fail instead of waiting forever
                if dead := [p.exitcode for p in procs if p.exitcode not in (None, 0)]:
                    raise RuntimeError(f"a worker exited with {dead[0]}") from None
    except BaseException:
        ready.abort()  # frees workers still waiting for their partner
        for p in procs:
            p.terminate()
        raise
    finally:
        for p in procs:
            p.join()
    return sum(rates)


def measure(
    configs: dict[str, TrainConfig], steps: int, warmup: int, workers: int | None = None
) -> dict[str, dict[str, float]]:
    """``{cell: {"before": img/s, "after": img/s}}``, alternating the two."""
    cores = os.cpu_count() or 1
    workers = workers or cores
    threads = LocalExecutor(workers).threads_per_job()
    out: dict[str, dict[str, float]] = {}
    for i, (name, config) in enumerate(configs.items()):
        runs = {
            "before": lambda c=config: before_images_per_s(c, steps, warmup, cores),
            "after": lambda c=config: after_images_per_s(c, steps, warmup, workers, threads),
        }
        order = list(runs) if i % 2 == 0 else list(runs)[::-1]
        out[name] = {which: runs[which]() for which in order}
    return out


def sweep_images_per_s(per_cell: dict[str, float]) -> float:
    """Every configuration trains the same number of images: total images over total time."""
    return len(per_cell) / sum(1.0 / v for v in per_cell.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="varied", help="the sweep's dataset")
    ap.add_argument("--steps", type=int, default=100, help="timed steps per configuration and variant")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--cells", default=None, help="comma-separated cell names (default: all 9)")
    args = ap.parse_args()
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps must be positive and --warmup non-negative")
    configs = cell_configs(args.data)
    if args.cells:
        wanted = args.cells.split(",")
        if unknown := set(wanted) - set(configs):
            ap.error(f"unknown cells {sorted(unknown)}; known: {', '.join(configs)}")
        configs = {n: configs[n] for n in wanted}
    cores = os.cpu_count() or 1
    precision = resolve_precision(base_config(data=args.data).precision, torch.device("cpu"))
    print(
        f"machine: {platform.processor() or platform.machine()}, {cores} cores, torch {torch.__version__}, "
        f"bf16 matrix instructions: {cpu_bf16_matmul()}, precision {precision}; before: 1 job x {cores} "
        f"threads; after: {cores} jobs x {LocalExecutor(cores).threads_per_job()} thread(s)"
    )
    results = measure(configs, args.steps, args.warmup)
    print(f"{'configuration':<24} {'before img/s':>12} {'after img/s':>12} {'after/before':>12}")
    for name, r in results.items():
        print(f"{name:<24} {r['before']:>12.0f} {r['after']:>12.0f} {r['after'] / r['before']:>11.2f}x")
    before = sweep_images_per_s({n: r["before"] for n, r in results.items()})
    after = sweep_images_per_s({n: r["after"] for n, r in results.items()})
    print(f"{'sweep (all configurations)':<24} {before:>12.0f} {after:>12.0f} {after / before:>11.2f}x")


if __name__ == "__main__":
    main()
