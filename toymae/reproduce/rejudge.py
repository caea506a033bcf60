"""Re-measure saved models under the current protocols and ship every seed, without retraining.

A sweep's jobs keep their checkpoints; when a protocol changes (hallucination v2, the paired claims,
new probe variants) the models need measuring again, not training again. ``rejudge`` loads each
saved model as shipped (float16 weights, read back as float32), runs ``sweep.evaluate_model`` on the
job's own evaluation sets and keeps the training record (time, threads, precision) of the run that
made it. ``ship_all_seeds`` then writes every seed's checkpoint, the manifest and the reports.

    python -m toymae.reproduce.rejudge --jobs runs/seeds/default/jobs runs/seeds/varied/jobs
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from toymae.checkpoint import write_atomic
from toymae.config import TrainConfig
from toymae.eval import hallucination
from toymae.reproduce.blog import Cell
from toymae.reproduce.report import portable_command, run_meta, write_reports
from toymae.reproduce.sweep import EvalSpec, Job, evaluate_model

SEEDS_DIR = "seeds"  # seeds other than 0 ship here, beside the seed-0 files the dashboard lists
TRAINING_KEYS = (
    *("key", "name", "cell", "seed", "train_seconds", "threads", "precision", "config", "eval", "curve"),
)


def job_of(record: dict) -> Job:
    """The job that a result record describes."""
    spec = {k: v for k, v in record["eval"].items() if k in EvalSpec.__dataclass_fields__}
    return Job(
        Cell(**record["cell"]), record["seed"], TrainConfig.from_dict(record["config"]), EvalSpec(**spec)
    )


def _measure(item: tuple[str, dict]) -> dict:
    import torch

    from toymae.checkpoint import load_checkpoint

    torch.set_num_threads(1)  # two workers share two cores
    path, record = item
    model = load_checkpoint(path, device="cpu").model
    measured = evaluate_model(job_of(record), model)
    return {**{k: record[k] for k in TRAINING_KEYS if k in record}, **measured, "measured_from": "float16"}


def is_current(record: dict) -> bool:
    """Measured by today's ``evaluate_model`` (hallucination v2 and the cross-validated probe) when its
    job ran: nothing to re-measure."""
    study = record.get("study", {}).get("protocols", {})
    return hallucination.is_current(record.get("halluc_own", {})) and "n_all_cv" in study.get("mean", {})


def rejudge(items: list[tuple[Path | None, dict]], workers: int = 2, measure: bool = True) -> list[dict]:
    """(checkpoint, training record) pairs -> result records under today's protocols, in the same
    order; records that already are (``is_current``) are kept as they are, and so is every record
    when ``measure`` is False (assembling what earlier runs measured)."""
    todo = [i for i, (p, r) in enumerate(items) if measure and p is not None and not is_current(r)]
    work = [(str(items[i][0]), items[i][1]) for i in todo]
    if workers <= 1 or len(work) <= 1:
        fresh = [_measure(w) for w in work]
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            fresh = list(pool.map(_measure, work))
    out = [r for _, r in items]
    for i, r in zip(todo, fresh, strict=True):
        out[i] = r
    return out


def shipped_file(record: dict) -> str:
    """Where a run's checkpoint ships: seed 0 at the top (the dashboard's models), others in seeds/."""
    name = Cell(**record["cell"]).name
    return (
        f"{name}.safetensors"
        if record["seed"] == 0
        else f"{SEEDS_DIR}/{name}-seed{record['seed']}.safetensors"
    )


def collect(checkpoints: Path, job_dirs: list[Path]) -> list[tuple[Path | None, dict]]:
    """Every run of the shipped results.json (with its shipped checkpoint, or None where none is
    shipped: such a record is kept as measured, it cannot be measured again), then runs from sweep job
    folders (``*.json`` beside ``*.safetensors``); one per (cell, seed), later sources win unless they
    would replace a record measured under today's protocols with an older one."""
    found: dict[tuple, tuple[Path | None, dict]] = {}
    for record in json.loads((checkpoints / "results.json").read_text())["runs"]:
        path = checkpoints / shipped_file(record)
        key = (json.dumps(record["cell"], sort_keys=True), record["seed"])
        found[key] = (path if path.exists() else None, record)
    for d in job_dirs:
        for res in sorted(d.glob("*.json")):
            record = json.loads(res.read_text())
            ckpt = res.with_suffix(".safetensors")
            key = (json.dumps(record["cell"], sort_keys=True), record["seed"])
            # A record measured under today's protocols is never replaced by an older measurement.
            if ckpt.exists() and (key not in found or is_current(record) or not is_current(found[key][1])):
                found[key] = (ckpt, record)
    return sorted(found.values(), key=lambda pr: (pr[1]["cell"].get("dataset", ""), pr[1]["name"]))


def ship_all_seeds(
    items: list[tuple[Path | None, dict]], results: list[dict], dest: Path, meta: dict
) -> None:
    """Every run's checkpoint at ``shipped_file``, the manifest (seed 0 under ``checkpoints``: the
    dashboard's models; the others under ``seed_checkpoints``) and results.{json,csv,md}. Runs without
    a checkpoint stay in the results, not in the manifest."""
    entries: dict[str, list[dict]] = {"checkpoints": [], "seed_checkpoints": []}
    for (path, _), r in zip(items, results, strict=True):
        if path is None:
            continue
        target = dest / shipped_file(r)
        if path.resolve() != target.resolve():
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, path.read_bytes())
        recorded = {k: r[k] for k in ("probe_acc", "pca2_acc", "held_out_loss", "r2_x", "r2_y")}
        recorded.update(halluc_rate_own=r["halluc_rate_own"], halluc_rate_common=r["halluc_rate_common"])
        entry = {
            "file": shipped_file(r),
            "name": Cell(**r["cell"]).name,
            **{k: r["cell"][k] for k in ("mask_ratio", "decoder_depth", "dataset")},
            "seed": r["seed"],
            "config": r["config"],
            "eval": r["eval"],
            "results": recorded,
            "study": r["study"],
        }
        entries["checkpoints" if r["seed"] == 0 else "seed_checkpoints"].append(entry)
    write_reports(dest, results, meta)
    write_atomic(dest / "manifest.json", json.dumps({"meta": meta, **entries}, indent=1).encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m toymae.reproduce.rejudge", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--checkpoints", default="checkpoints", help="the shipped folder (seed 0, results.json)"
    )
    parser.add_argument("--jobs", nargs="*", default=[], help="sweep job folders with the other seeds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--assemble-only", action="store_true", help="measure nothing: ship the records as they are"
    )
    args = parser.parse_args(argv)
    dest = Path(args.checkpoints)
    t0 = time.perf_counter()
    items = collect(dest, [Path(d) for d in args.jobs])
    results = rejudge(items, args.workers, measure=not args.assemble_only)
    meta = run_meta([], time.perf_counter() - t0, f"local, {args.workers} worker(s) on cpu")
    meta["command"] = portable_command(argv or [], program="python -m toymae.reproduce.rejudge")
    ship_all_seeds(items, results, dest, meta)
    print(f"{len(results)} runs in {time.perf_counter() - t0:.0f} s; wrote {dest}/")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
