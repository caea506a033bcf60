"""Reproduce the blog's two sweeps with several pretraining seeds, resumably, on one machine or Dask.

A *job* is one (configuration, seed) pair, keyed by a hash of everything that defines it, so
re-running a sweep skips finished jobs and a killed sweep loses only the jobs in flight. Jobs are
pure functions of their description (``execute_job``): they return the result and the checkpoint's
bytes, and only the submitting process writes files, so a remote Dask worker needs no shared disk.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from . import __version__
from .checkpoint import checkpoint_bytes, write_atomic
from .data import dataset, eval_set
from .hallucination import evaluate_hallucination
from .model import MAEConfig
from .probe import probe_model
from .study import aggregate_study, representation_study, verdict_markdown, verdicts
from .train import TrainConfig, Trainer

BLOG_MASK_RATIO = {0.1: 0.978, 0.5: 0.980, 0.6: 0.986, 0.7: 0.924, 0.8: 0.851, 0.9: 0.767}  # decoder 2
BLOG_DECODER_DEPTH = {1: 0.991, 2: 0.986, 3: 0.898, 4: 0.829}  # ratio 0.6
METRICS = (
    "probe_acc",
    "pca2_acc",
    "held_out_loss",
    "r2_x",
    "r2_y",
    "r2_size",
    "halluc_rate_own",
    "halluc_rate_common",
    "train_seconds",
)


@dataclass(frozen=True)
class Cell:
    """One configuration of the blog's sweeps, on a named dataset (``toymae.data.DATASETS``)."""

    mask_ratio: float
    decoder_depth: int
    dataset: str = "default"

    @property
    def name(self) -> str:
        prefix = "" if self.dataset == "default" else f"{self.dataset}-"
        return f"{prefix}ratio{self.mask_ratio:g}-dec{self.decoder_depth}"


def blog_cells(dataset: str = "default") -> list[Cell]:
    """The 9 configurations: the ratio sweep at decoder depth 2 and the depth sweep at ratio 0.6."""
    cells = [Cell(r, 2, dataset) for r in BLOG_MASK_RATIO]
    cells += [Cell(0.6, d, dataset) for d in BLOG_DECODER_DEPTH if d != 2]
    return cells


@dataclass(frozen=True)
class EvalSpec:
    """How every job is evaluated (part of the job key: change it and jobs rerun)."""

    probe_train: int = 2000
    probe_test: int = 4000
    data_seed: int = 0
    halluc_n: int = 1000
    common_ratio: float = 0.6  # every model's hallucination rate is also measured here
    # The representation study probes 3 protocols x 2 models: on the first 2,000 test images, to
    # keep it to seconds a job. Not part of the job key (older jobs gain the study without retraining).
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


# The shipped reproduction's model and budget (README: how they were chosen). Narrower than the
# library's default model, with smaller batches: at equal CPU time it reaches a lower held-out loss
# (docs/search/cpu-budget.jsonl), and 27 jobs fit the 30-minute target on 2 cores.
REPRO_WIDTHS = (64, 32)  # encoder, decoder
REPRO_BATCH = 64
REPRO_LR = 4e-3
REPRO_STEPS = 800


def base_config(quick: bool = False, data: str = "default") -> TrainConfig:
    """The reproduction's model and budget (see README: how it was chosen) on the named dataset;
    ``quick``: a tiny version."""
    if quick:
        model = MAEConfig(
            image_size=16,
            patch_size=4,
            embed_dim=32,
            depth=2,
            num_heads=2,
            decoder_embed_dim=16,
            decoder_num_heads=2,
        )
        return TrainConfig(
            model=model,
            data=dataset(data, image_size=16),
            steps=40,
            batch_size=64,
            warmup_steps=5,
            eval_every=0,
            eval_size=64,
        )
    model = MAEConfig(embed_dim=REPRO_WIDTHS[0], decoder_embed_dim=REPRO_WIDTHS[1])
    return TrainConfig(
        model=model, data=dataset(data), batch_size=REPRO_BATCH, lr=REPRO_LR, steps=REPRO_STEPS, eval_every=0
    )


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


def execute_job(job: Job, extra: Callable[[Job, torch.nn.Module], dict] | None = None) -> tuple[dict, bytes]:
    """Train, probe and score one job. Pure: returns (result, checkpoint bytes), writes nothing.

    ``extra(job, model)`` may add measurements of the trained model (bench/search.py's other probe
    protocols); they land in ``result["extra"]``."""
    if job.threads:
        torch.set_num_threads(job.threads)
    t0 = time.perf_counter()
    trainer = Trainer(job.config, device=job.device)
    trainer.run(final_eval=False)  # evaluated below, on the sweep's larger sets
    train_seconds = time.perf_counter() - t0
    model, spec, data_cfg = trainer.model, job.eval, job.config.data
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
    with torch.no_grad():
        gen = torch.Generator().manual_seed(spec.data_seed)
        held_out = float(model(test.images[:1000].to(trainer.device), generator=gen).loss)
    result = {
        "key": job.key,
        "name": job.name,
        "cell": asdict(job.cell),
        "seed": job.seed,
        **probe.to_dict(),
        "held_out_loss": held_out,
        "halluc_rate_own": own["rate"],
        "halluc_rate_common": common["rate"],
        "halluc_own": {k: own[k] for k in ("rate", "n_decidable", "ci95", "by_shape")},
        "halluc_common": {k: common[k] for k in ("rate", "n_decidable", "ci95", "by_shape")},
        "train_seconds": train_seconds,
        "threads": torch.get_num_threads(),
        "precision": trainer.precision,
        "config": job.config.to_dict(),
        "eval": asdict(spec),
        "toymae_version": __version__,
    }
    result["study"] = representation_study(
        model, train, test[: spec.study_test], job.seed, draws=spec.label_draws
    )
    if extra is not None:
        result["extra"] = extra(job, model)
    summary = {k: v for k, v in trainer.summary().items() if k != "history"}
    summary.update({k: result[k] for k in ("probe_acc", "pca2_acc", "held_out_loss", "r2_x", "r2_y")})
    summary.update(
        probe_protocol={"n_train": spec.probe_train, "n_test": spec.probe_test, "data_seed": spec.data_seed},
        halluc_rate_own=own["rate"],
        halluc_rate_common=common["rate"],
    )
    # float16 weights: half the size, and the shipped models never train further.
    blob = checkpoint_bytes(model, job.config, summary, dtype=torch.float16)
    return result, blob


# ------------------------------------------------------------------ executors
class LocalExecutor:
    """Jobs on this machine: one at a time with every core (default), or N processes x cores/N threads.

    One job with all cores is the fast choice on small machines: two 2-thread jobs on 2 cores run
    about 4x slower each.
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
    done = {}
    for job in jobs:
        p = result_path(out_dir, job)
        if p.exists() and checkpoint_path(out_dir, job).exists():
            done[job.key] = json.loads(p.read_text())
    return done


def add_study(out_dir: Path, job: Job, result: dict) -> dict:
    """Run the representation study on a finished job's saved model (jobs from before the study
    existed); the result file is rewritten with it. Costs seconds, not a retraining."""
    from .checkpoint import load_checkpoint

    spec = job.eval
    model = load_checkpoint(checkpoint_path(out_dir, job), device="cpu").model
    train = eval_set(spec.probe_train, job.config.data, spec.data_seed, "probe-train")
    test = eval_set(spec.probe_test, job.config.data, spec.data_seed, "probe-test")
    study = representation_study(model, train, test[: spec.study_test], job.seed, draws=spec.label_draws)
    result = {**result, "cell": asdict(job.cell), "study": study}
    write_atomic(result_path(out_dir, job), json.dumps(result, indent=1).encode())
    return result


def run_sweep(
    jobs: list[Job],
    out_dir: str | Path,
    executor=None,
    on_result: Callable[[Job, dict], None] | None = None,
) -> list[dict]:
    """Run the jobs not yet finished in ``out_dir``; every finished job is written at once."""
    out_dir = Path(out_dir)
    done = load_done(out_dir, jobs)
    for job in jobs:
        if job.key in done and "study" not in done[job.key]:
            done[job.key] = add_study(out_dir, job, done[job.key])
    todo = [j for j in jobs if j.key not in done]
    executor = executor or LocalExecutor()
    for job, result, blob in executor.run(todo):
        write_atomic(checkpoint_path(out_dir, job), blob)  # checkpoint first: a result implies its file
        write_atomic(result_path(out_dir, job), json.dumps(result, indent=1).encode())
        done[job.key] = result
        if on_result is not None:
            on_result(job, result)
    return [done[j.key] for j in jobs]


# ------------------------------------------------------------------ the blog's findings, as checks
@dataclass(frozen=True)
class Finding:
    key: str  # F1, F2, F3
    claim: str
    holds: bool
    margin: float  # how far past (>= 0) or short of (< 0) the threshold
    detail: str


def check_findings(rows: Iterable[dict]) -> list[Finding] | None:
    """The blog's qualitative claims with the thresholds of issue #3, on per-cell rows (keys
    ``mask_ratio``, ``decoder_depth``, ``probe_acc``, ``pca2_acc``: one job's result or a seed mean).
    None when a needed cell is missing (ratio 0.9 and one ratio on each side of the middle at decoder
    depth 2; depths 1 and 4 at ratio 0.6)."""
    at = {(r["mask_ratio"], r["decoder_depth"]): r for r in rows}
    ratios = {k[0]: v["probe_acc"] for k, v in at.items() if k[1] == 2}
    middle = {r: p for r, p in ratios.items() if 0.5 <= r <= 0.7}
    others = {r: p for r, p in ratios.items() if not 0.5 <= r <= 0.7}
    if not middle or not others or 0.9 not in ratios or (0.6, 1) not in at or (0.6, 4) not in at:
        return None
    r_mid, r_out = max(middle, key=middle.get), max(others, key=others.get)
    mid, out, p09 = middle[r_mid], others[r_out], ratios[0.9]
    m1 = min(mid - out, mid - p09 - 0.1)
    p1, p4 = at[(0.6, 1)]["probe_acc"], at[(0.6, 4)]["probe_acc"]
    q1, q4 = at[(0.6, 1)]["pca2_acc"], at[(0.6, 4)]["pca2_acc"]
    m2, m3 = p1 - p4 - 0.1, min(q1 - 0.9, q1 - q4 - 0.1)
    return [
        Finding(
            "F1",
            "the best mask ratio lies in 0.5-0.7 and ratio 0.9 is at least 0.1 below it",
            m1 >= 0,
            m1,
            f"best in 0.5-0.7: {r_mid:g} -> {mid:.3f}; best elsewhere: {r_out:g} -> {out:.3f}; "
            f"ratio 0.9 -> {p09:.3f} ({p09 - mid:+.3f})",
        ),
        Finding(
            "F2",
            "decoder depth 4 is at least 0.1 below decoder depth 1",
            m2 >= 0,
            m2,
            f"depth 1 -> {p1:.3f}, depth 4 -> {p4:.3f} ({p4 - p1:+.3f})",
        ),
        Finding(
            "F3",
            "PCA-2 accuracy is at least 0.9 with decoder depth 1 and at least 0.1 lower with depth 4",
            m3 >= 0,
            m3,
            f"PCA-2 depth 1 -> {q1:.3f}, depth 4 -> {q4:.3f}",
        ),
    ]


def findings_markdown(rows: Iterable[dict]) -> str:
    found = check_findings(rows)
    if found is None:
        return "### The blog's findings\n\nNot all cells needed for the checks were run.\n"
    lines = ["### The blog's findings", "", "| | claim | reproduced | numbers |", "|---|---|---|---|"]
    lines += [f"| {f.key} | {f.claim} | {'yes' if f.holds else '**no**'} | {f.detail} |" for f in found]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ tables
def _mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return None, None
    # One seed has no spread to report: None, so tables show the mean alone rather than "± 0.000".
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else None)


def aggregate(results: list[dict]) -> list[dict]:
    """One row per configuration: mean and standard deviation over seeds of every metric."""
    by_cell: dict[tuple, list[dict]] = {}
    for r in results:
        c = r["cell"]
        by_cell.setdefault((c.get("dataset", "default"), c["mask_ratio"], c["decoder_depth"]), []).append(r)
    rows = []
    for (data_name, ratio, depth), rs in by_cell.items():
        row = {
            "dataset": data_name,
            "mask_ratio": ratio,
            "decoder_depth": depth,
            "seeds": sorted(r["seed"] for r in rs),
        }
        for m in METRICS:
            mean, std = _mean_std([r.get(m) for r in rs])
            row[m], row[f"{m}_std"] = mean, std
        row["study"] = aggregate_study(rs)
        row["blog_probe_acc"] = (
            None
            if dataset != "default"
            else (
                BLOG_MASK_RATIO.get(ratio)
                if depth == 2
                else BLOG_DECODER_DEPTH.get(depth)
                if ratio == 0.6
                else None
            )
        )
        rows.append(row)
    return rows


def format_mean_std(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.3f} ± {std:.3f}" if std is not None else f"{mean:.3f}"


def markdown_tables(rows: list[dict]) -> str:
    def table(title: str, key: str, pick: Callable[[dict], bool], blog: dict) -> str:
        head = (
            f"### {title}\n\n| {key.replace('_', ' ')} | blog probe acc | probe acc | PCA-2 acc | "
            "held-out loss | R² x | R² y | halluc. (own ratio) | halluc. (common ratio) |\n"
            "|---|---|---|---|---|---|---|---|---|\n"
        )
        lines = []
        for row in sorted((r for r in rows if pick(r)), key=lambda r: r[key]):
            b = blog.get(row[key])
            cells = [
                f"{row[key]:g}",
                f"{b:.3f}" if b is not None else "—",
                *(format_mean_std(row[m], row[f"{m}_std"]) for m in METRICS[:5]),
                format_mean_std(row["halluc_rate_own"], row["halluc_rate_own_std"]),
                format_mean_std(row["halluc_rate_common"], row["halluc_rate_common_std"]),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        return head + "\n".join(lines) + "\n"

    return (
        table(
            "Mask ratio (decoder depth 2)", "mask_ratio", lambda r: r["decoder_depth"] == 2, BLOG_MASK_RATIO
        )
        + "\n"
        + table(
            "Decoder depth (mask ratio 0.6)",
            "decoder_depth",
            lambda r: r["mask_ratio"] == 0.6,
            BLOG_DECODER_DEPTH,
        )
    )


def csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    cols = ["mask_ratio", "decoder_depth", "blog_probe_acc"] + [x for m in METRICS for x in (m, f"{m}_std")]
    w = csv.DictWriter(buf, fieldnames=[*cols, "seeds"], extrasaction="ignore")
    w.writeheader()
    for row in rows:
        w.writerow({**row, "seeds": " ".join(map(str, row["seeds"]))})
    return buf.getvalue()


def training_summary(runs: list[dict]) -> str:
    """One line on how the runs were trained (model, budget), for readers of the results."""
    configs = [TrainConfig.from_dict(r["config"]) for r in runs]
    if not configs:
        return "no runs"
    c, m = configs[0], configs[0].model
    same = all(
        (x.model.embed_dim, x.model.decoder_embed_dim, x.steps, x.batch_size, x.lr)
        == (m.embed_dim, m.decoder_embed_dim, c.steps, c.batch_size, c.lr)
        for x in configs
    )
    seconds = sorted(r["train_seconds"] for r in runs)
    text = (
        f"{m.image_size} px images in {m.grid_size}×{m.grid_size} patches; "
        f"encoder {m.depth} × {m.embed_dim} wide, decoder {m.decoder_embed_dim} wide; "
        f"{c.steps} steps of {c.batch_size} images, AdamW lr {c.lr:g}"
    )
    if not same:
        text += " (the runs differ in width or budget: see results.json)"
    return text + f"; training {seconds[0]:.0f}–{seconds[-1]:.0f} s a run"


def split_by_dataset(rows: list[dict]) -> dict[str, list[dict]]:
    """Aggregated rows per dataset name, "default" first."""
    out: dict[str, list[dict]] = {}
    for row in sorted(rows, key=lambda r: r.get("dataset", "default") != "default"):
        out.setdefault(row.get("dataset", "default"), []).append(row)
    return out


def write_reports(out_dir: str | Path, results: list[dict], meta: dict) -> dict[str, Path]:
    """results.json (``table``: the default dataset's rows; ``datasets``: every dataset's rows;
    ``verdicts``: the representation study's claims), results.csv and results.md."""
    out_dir = Path(out_dir)
    rows = aggregate(results)
    by_dataset = split_by_dataset(rows)
    verdict_list = [v for name, rs in by_dataset.items() for v in verdicts(rs, name)]
    full = {
        "meta": meta,
        "table": by_dataset.get("default", []),
        "datasets": by_dataset,
        "verdicts": verdict_list,
        "runs": results,
    }
    md = f"# toymae reproduction\n\n`{meta['command']}`\n\nModels: {training_summary(results)}.\n\n"
    for name, rs in by_dataset.items():
        md += f"## Dataset `{name}`\n\n" + markdown_tables(rs) + "\n"
        if name == "default":
            md += findings_markdown(rs) + "\n"
    md += "## The blog's claims, per feature protocol and label budget\n\n" + verdict_markdown(verdict_list)
    return {
        "json": write_atomic(out_dir / "results.json", json.dumps(full, indent=1).encode()),
        "csv": write_atomic(out_dir / "results.csv", csv_text(rows).encode()),
        "md": write_atomic(out_dir / "results.md", md.encode()),
    }


def run_meta(argv: list[str], wall_seconds: float, executor_name: str) -> dict:
    return {
        "command": "python -m toymae " + " ".join(argv),
        "toymae_version": __version__,
        "torch_version": torch.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "executor": executor_name,
        "wall_seconds_this_invocation": wall_seconds,
    }


# ------------------------------------------------------------------ shipping checkpoints
def ship(out_dir: str | Path, jobs: list[Job], dest: str | Path, meta: dict) -> Path:
    """Copy each configuration's seed-0 checkpoint to ``dest`` with a manifest and the full results."""
    out_dir, dest = Path(out_dir), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    entries = []
    for job in jobs:
        if job.seed != 0:
            continue
        result = json.loads(result_path(out_dir, job).read_text())
        name = f"{job.cell.name}.safetensors"
        write_atomic(dest / name, checkpoint_path(out_dir, job).read_bytes())
        recorded = {k: result[k] for k in ("probe_acc", "pca2_acc", "held_out_loss", "r2_x", "r2_y")}
        recorded.update(
            halluc_rate_own=result["halluc_rate_own"], halluc_rate_common=result["halluc_rate_common"]
        )
        entries.append(
            {
                "file": name,
                "name": job.cell.name,
                "mask_ratio": job.cell.mask_ratio,
                "decoder_depth": job.cell.decoder_depth,
                "dataset": job.cell.dataset,
                "seed": job.seed,
                "config": job.config.to_dict(),
                "eval": result["eval"],
                "results": recorded,
                "study": result.get("study"),
            }
        )
    manifest = {"meta": meta, "checkpoints": entries}
    write_atomic(dest / "manifest.json", json.dumps(manifest, indent=1).encode())
    results = json.loads((out_dir / "results.json").read_text())
    write_atomic(dest / "results.json", json.dumps(results, indent=1).encode())
    write_atomic(dest / "results.md", (out_dir / "results.md").read_bytes())
    return dest / "manifest.json"
