"""The reproduction in one call, as ``python -m toymae reproduce`` runs it: plan the jobs, pick where
they run, run what is not finished, write the tables, ship the seed-0 models.

A request the reproduction cannot honour (an unknown dataset or cell, no GPU, no scheduler, nothing
finished) raises ``PlanError`` with one sentence for the user.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import torch

from toymae.config import DATASETS
from toymae.reproduce.blog import blog_cells
from toymae.reproduce.report import aggregate, markdown_tables, run_meta, write_reports
from toymae.reproduce.ship import ship
from toymae.reproduce.sweep import (
    DaskExecutor,
    EvalSpec,
    Job,
    LocalExecutor,
    base_config,
    load_done,
    make_jobs,
    run_sweep,
)

# --quick: evaluation sets small enough that the whole tiny sweep runs in under two minutes.
QUICK_EVAL = EvalSpec(probe_train=256, probe_test=512, halluc_n=200, study_test=256, label_draws=2)


class PlanError(ValueError):
    """A reproduction request that cannot run; the message says why in one sentence."""


def plan(
    datasets: Sequence[str],
    seeds: int,
    quick: bool = False,
    steps: int | None = None,
    cells: Sequence[str] | None = None,
) -> list[Job]:
    """Jobs for ``seeds`` seeds of the blog's cells (or the named ``cells``) on each named dataset."""
    if unknown := set(datasets) - set(DATASETS):
        raise PlanError(f"unknown datasets {sorted(unknown)}; known: {', '.join(DATASETS)}")
    names = [c.name for c in blog_cells()]  # a cell's name does not depend on its dataset
    if cells and (unknown := set(cells) - set(names)):
        raise PlanError(f"unknown cells {sorted(unknown)}; known: {', '.join(names)}")
    jobs = []
    for data in datasets:
        base = base_config(quick=quick, data=data)
        if steps is not None:
            base = replace(base, steps=steps)
        chosen = [c for c, name in zip(blog_cells(data), names, strict=True) if not cells or name in cells]
        jobs += make_jobs(base, range(seeds), cells=chosen, eval_spec=QUICK_EVAL if quick else EvalSpec())
    return jobs


def finished(jobs: list[Job], out_dir: str | Path) -> list[Job]:
    """The jobs already finished in ``out_dir`` (tables and shipping without training)."""
    done = load_done(Path(out_dir), jobs)
    if not done:
        raise PlanError(f"none of these jobs has finished in {out_dir}")
    return [j for j in jobs if j.key in done]


def executor(
    scheduler: str | None = None, threads: int | None = None, workers: int = 1, device: str = "cpu"
) -> tuple[LocalExecutor | DaskExecutor, str]:
    """Where the jobs run, and its name for the log and the results' metadata: a Dask cluster at
    ``scheduler``, or ``workers`` local processes on ``device``."""
    if scheduler:
        try:
            return DaskExecutor(scheduler, threads=threads), f"dask {scheduler}"
        except (RuntimeError, OSError) as e:
            raise PlanError(str(e)) from None
    if device == "cuda" and not torch.cuda.is_available():
        raise PlanError("--device cuda: no CUDA device is available")
    return LocalExecutor(workers, device=device), f"local, {workers} worker(s) on {device}"


def _quiet(line: str) -> None:
    pass


def run(
    jobs: list[Job],
    out_dir: str | Path,
    where: tuple[LocalExecutor | DaskExecutor, str],
    argv: list[str],
    ship_to: str | Path | None = None,
    log: Callable[[str], None] = _quiet,
) -> str:
    """Run the jobs not finished in ``out_dir`` on ``where`` (``executor()``), write results.json,
    .csv and .md there, and copy the seed-0 models to ``ship_to``. ``argv`` is the command recorded in
    the results; ``log`` gets one line per finished job. Returns the Markdown tables."""
    out, (pool, name) = Path(out_dir), where
    done = len(load_done(out, jobs))
    log(f"{len(jobs)} jobs ({len(jobs) - done} to run, {done} already done) -> {out} [{name}]")
    t0 = time.perf_counter()

    def report(job: Job, r: dict) -> None:
        log(
            f"  {job.name:<24} probe {r['probe_acc']:.3f}  pca2 {r['pca2_acc']:.3f}  "
            f"loss {r['held_out_loss']:.4f}  {r['train_seconds']:.0f} s"
        )

    results = run_sweep(jobs, out, pool, on_result=report)
    meta = run_meta(argv, time.perf_counter() - t0, name)
    paths = write_reports(out, results, meta)
    log("wrote " + ", ".join(str(p) for p in paths.values()))
    if ship_to is not None:
        log(f"shipped seed-0 checkpoints and {ship(out, jobs, ship_to, meta)}")
    return markdown_tables(aggregate(results))
