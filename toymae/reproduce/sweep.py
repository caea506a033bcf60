"""The reproduction's jobs and how they run: one (configuration, seed) pair each, resumably, here or on Dask.

A *job* is keyed by a hash of everything that defines it, so re-running a sweep skips finished jobs
and a killed sweep loses only the jobs in flight. Jobs are pure functions of their description
(``execute_job``): they return the result and the checkpoint's bytes, and only the submitting
process writes files, so a remote Dask worker needs no shared disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from toymae import __version__
from toymae.checkpoint import checkpoint_bytes, load_checkpoint, write_atomic
from toymae.config import TrainConfig, recipe
from toymae.data import eval_set
from toymae.eval.hallucination import evaluate_hallucination
from toymae.eval.study import representation_study
from toymae.probe import probe_model
from toymae.reproduce.blog import Cell, blog_cells
from toymae.train import Trainer

HELD_OUT_N = 1000  # held-out loss: the first images of the probe's test split, fixed masks


@dataclass(frozen=True)
class EvalSpec:
    """How every job is evaluated (part of the job key: change it and jobs rerun)."""

    probe_train: int = 2000
    probe_test: int = 4000
    data_seed: int = 0
    halluc_n: int = 1000
    common_ratio: float = 0.6  # every model's hallucination rate is also measured here
    # The representation study probes every protocol x 2 models: on the first 2,000 test images, to
    # keep it to seconds a job. Not part of the job key: `rejudge` re-studies a finished model
    # without retraining it.
    study_test: int = 2000
    label_draws: int = 10  # random draws of the labelled images for each small label budget


@dataclass(frozen=True)
class Job:
    cell: Cell
    seed: int
    config: TrainConfig
    eval: EvalSpec = field(default_factory=EvalSpec)
    threads: int | None = None  # torch threads inside the job (not part of the key)
    device: str = "cpu"  # where the job trains (not part of the key: results are the same experiment)

    @property
    def key(self) -> str:
        spec = {k: v for k, v in asdict(self.eval).items() if k not in ("study_test", "label_draws")}
        payload = json.dumps({"config": self.config.to_dict(), "eval": spec}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def name(self) -> str:
        return f"{self.cell.name}-seed{self.seed}"


def base_config(quick: bool = False, data: str = "default") -> TrainConfig:
    """The reproduction's recipe on the named dataset: ``shipped`` (see config.RECIPES: how it was
    chosen), or with ``quick`` the ``tiny`` one."""
    return recipe("tiny" if quick else "shipped", data)


def make_jobs(
    base: TrainConfig,
    seeds: Iterable[int],
    cells: Iterable[Cell] | None = None,
    eval_spec: EvalSpec | None = None,
    threads: int | None = None,
) -> list[Job]:
    jobs = []
    for cell in cells or blog_cells():
        model = replace(base.model, mask_ratio=cell.mask_ratio, decoder_depth=cell.decoder_depth)
        for seed in seeds:
            cfg = replace(base, model=model, seed=seed)
            jobs.append(Job(cell, seed, cfg, eval_spec or EvalSpec(), threads))
    return jobs


HALLUC_KEYS = ("protocol", "rate", "n_decidable", "ci95", "labels", "by_shape", "balanced", "blind")


def evaluate_model(job: Job, model: torch.nn.Module) -> dict:
    """Every measurement of a job's model on the sweep's fixed sets: probes, hallucination at its own
    and the common ratio (protocol v2, with the blind decoder), held-out loss and the representation
    study. Also re-judges a saved model (``reproduce.rejudge``) without retraining."""
    spec, data_cfg = job.eval, job.config.data
    device = next(model.parameters()).device
    train = eval_set(spec.probe_train, data_cfg, spec.data_seed, "probe-train")
    test = eval_set(spec.probe_test, data_cfg, spec.data_seed, "probe-test")
    probe = probe_model(model, train, test)
    halluc_set = eval_set(spec.halluc_n, data_cfg, spec.data_seed, "hallucination")
    own = evaluate_hallucination(model, halluc_set, job.cell.mask_ratio, seed=spec.data_seed).summary()
    common = (
        own  # same ratio, same masks: the same report
        if spec.common_ratio == job.cell.mask_ratio
        else evaluate_hallucination(model, halluc_set, spec.common_ratio, seed=spec.data_seed).summary()
    )
    was_training = model.training
    model.eval()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(spec.data_seed)
        held_out = float(model(test.images[:HELD_OUT_N].to(device), generator=gen).loss)
    model.train(was_training)
    study = representation_study(model, train, test[: spec.study_test], job.seed, draws=spec.label_draws)
    return {
        **probe.to_dict(),
        "held_out_loss": held_out,
        "halluc_rate_own": own["rate"],
        "halluc_rate_common": common["rate"],
        "halluc_own": {k: own[k] for k in HALLUC_KEYS},
        "halluc_common": {k: common[k] for k in HALLUC_KEYS},
        "study": study,
    }


def execute_job(job: Job, extra: Callable[[Job, torch.nn.Module], dict] | None = None) -> tuple[dict, bytes]:
    """Train, probe and score one job. Pure: returns (result, checkpoint bytes), writes nothing.

    ``extra(job, model)`` may add measurements of the trained model (bench/search.py's other probe
    protocols); they land in ``result["extra"]``."""
    if job.threads:
        torch.set_num_threads(job.threads)
    t0 = time.perf_counter()
    trainer = Trainer(job.config, device=job.device)
    # Evaluated below, on the sweep's larger sets. A config that asks for evaluations during training
    # also gets one at its last step: its loss curve ("curve") is a convergence check on the budget.
    trainer.run(final_eval=bool(job.config.eval_every))
    curve_seconds = sum(h.get("seconds", 0.0) for h in trainer.history)  # a fresh trainer: this run's
    train_seconds = time.perf_counter() - t0 - curve_seconds
    model, spec = trainer.model, job.eval
    t0 = time.perf_counter()
    measured = evaluate_model(job, model)
    result = {
        "key": job.key,
        "name": job.name,
        "cell": asdict(job.cell),
        "seed": job.seed,
        **measured,
        "train_seconds": train_seconds,
        "eval_seconds": time.perf_counter() - t0 + curve_seconds,
        "threads": torch.get_num_threads(),
        "precision": trainer.precision,
        "config": job.config.to_dict(),
        "eval": asdict(spec),
        "toymae_version": __version__,
    }
    if trainer.history:
        result["curve"] = [{"step": h["step"], "held_out_loss": h["held_out_loss"]} for h in trainer.history]
    if extra is not None:
        result["extra"] = extra(job, model)
    summary = {k: v for k, v in trainer.summary().items() if k != "history"}
    summary.update({k: result[k] for k in ("probe_acc", "pca2_acc", "held_out_loss", "r2_x", "r2_y")})
    summary.update(
        probe_protocol={"n_train": spec.probe_train, "n_test": spec.probe_test, "data_seed": spec.data_seed},
        halluc_rate_own=result["halluc_rate_own"],
        halluc_rate_common=result["halluc_rate_common"],
    )
    # float16 weights: half the size, and the shipped models never train further.
    blob = checkpoint_bytes(model, job.config, summary, dtype=torch.float16)
    return result, blob


# ------------------------------------------------------------------ executors
class LocalExecutor:
    """Jobs on this machine: N processes x cores/N threads (one job with every core when N = 1).

    These models are small: their matmuls use two threads poorly, so one job per core with one thread
    each trains more images per second than one job on every core (1.82x in bf16, 1.56x in fp32 on a
    2-core Zen 4, docs/speed.md). Two 2-thread jobs at once, by contrast, oversubscribe the cores.
    """

    def __init__(self, workers: int = 1, device: str = "cpu") -> None:
        self.workers = max(1, workers)
        self.device = device  # "cuda": several workers share one GPU (small models leave it idle)

    def threads_per_job(self) -> int:
        return max(1, (os.cpu_count() or 1) // self.workers)

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, dict, bytes]]:
        jobs = [replace(j, threads=j.threads or self.threads_per_job(), device=self.device) for j in jobs]
        if self.workers == 1:
            for job in jobs:
                result, blob = execute_job(job)
                yield job, result, blob
            return
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(execute_job, job): job for job in jobs}
            for fut in as_completed(futures):
                result, blob = fut.result()
                yield futures[fut], result, blob


class DaskExecutor:
    """Jobs on an existing Dask distributed cluster (``tcp://host:port``) or a given ``Client``."""

    def __init__(self, address: str | None = None, client=None, threads: int | None = None) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise RuntimeError(
                "the Dask path needs dask[distributed]: pip install 'dask[distributed]'"
            ) from None
        self.client = client if client is not None else Client(address, timeout="10s")
        self.threads = threads

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, dict, bytes]]:
        from distributed import as_completed

        jobs = [replace(j, threads=j.threads or self.threads) for j in jobs]
        futures = {
            self.client.submit(execute_job, job, pure=False, key=f"toymae-{job.key}"): job for job in jobs
        }
        for fut in as_completed(list(futures)):
            result, blob = fut.result()
            yield futures[fut], result, blob


# ------------------------------------------------------------------ the sweep
def result_path(out_dir: Path, job: Job) -> Path:
    return out_dir / "jobs" / f"{job.name}-{job.key}.json"


def checkpoint_path(out_dir: Path, job: Job) -> Path:
    return out_dir / "jobs" / f"{job.name}-{job.key}.safetensors"


def load_done(out_dir: Path, jobs: list[Job]) -> dict[str, dict]:
    """The finished jobs: a result that parses and a checkpoint that loads. A damaged pair (a copy cut
    short, a disk that filled) counts as unfinished, so it is run again and never shipped."""
    done = {}
    for job in jobs:
        p, ckpt = result_path(out_dir, job), checkpoint_path(out_dir, job)
        if not (p.exists() and ckpt.exists()):
            continue
        try:
            result = json.loads(p.read_text())
            load_checkpoint(ckpt, budget=None)
        except (OSError, ValueError):  # JSON, UTF-8 and checkpoint errors are all ValueErrors
            continue
        if isinstance(result, dict) and result.get("key") == job.key:
            done[job.key] = result
    return done


def run_sweep(
    jobs: list[Job],
    out_dir: str | Path,
    executor=None,
    on_result: Callable[[Job, dict], None] | None = None,
) -> list[dict]:
    """Run the jobs not yet finished in ``out_dir``; every finished job is written at once."""
    out_dir = Path(out_dir)
    done = load_done(out_dir, jobs)
    todo = [j for j in jobs if j.key not in done]
    executor = executor or LocalExecutor()
    for job, result, blob in executor.run(todo):
        write_atomic(checkpoint_path(out_dir, job), blob)  # checkpoint first: a result implies its file
        write_atomic(result_path(out_dir, job), json.dumps(result, indent=1).encode())
        done[job.key] = result
        if on_result is not None:
            on_result(job, result)
    return [done[j.key] for j in jobs]
