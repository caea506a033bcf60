"""The reproduction's report: per-configuration means over seeds (± a 95% t interval), the blog's
claims judged by ``claims`` on the per-seed runs, and results.json / results.csv / results.md."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import statistics
from collections.abc import Callable
from pathlib import Path

import torch

from toymae import __version__
from toymae.checkpoint import write_atomic
from toymae.config import TrainConfig
from toymae.eval import hallucination
from toymae.eval.study import aggregate_study, mean_ci
from toymae.reproduce.blog import BLOG_DECODER_DEPTH, BLOG_MASK_RATIO
from toymae.reproduce.claims import judge, verdict_markdown

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


# ------------------------------------------------------------------ tables
def _mean_ci(values: list[float | None]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return None, None
    # One seed has no interval: None, so tables show the mean alone rather than "± 0.000".
    return statistics.fmean(vals), mean_ci(vals)["ci95"]


def aggregate(results: list[dict]) -> list[dict]:
    """One row per configuration: the mean over seeds of every metric and its 95% t half-width
    (``{metric}_ci95``; the one meaning of "±" in every table)."""
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
            row[m], row[f"{m}_ci95"] = _mean_ci([_value(r, m) for r in rs])
        row["study"] = aggregate_study(rs)
        for m in ("halluc_rate_own", "halluc_rate_common"):  # the blind decoder's confident rate
            blind = [_blind_rate(r, m.removeprefix("halluc_rate_")) for r in rs]
            row[f"{m}_blind"] = _mean_ci(blind)[0]
        row["blog_probe_acc"] = (
            None
            if data_name != "default"
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


def _value(run: dict, metric: str) -> float | None:
    """A run's metric; a hallucination rate only when measured under protocol v2 (v1 counted hedging
    as hallucination: the two must never be averaged together)."""
    if metric.startswith("halluc_rate_"):
        report = run.get("halluc_" + metric.removeprefix("halluc_rate_"), {})
        if not hallucination.is_current(report):
            return None
    return run.get(metric)


def _blind_rate(run: dict, which: str) -> float | None:
    report = run.get(f"halluc_{which}", {})
    return report["blind"]["labels"]["hallucinated"]["rate"] if "blind" in report else None


def _or_na(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def format_mean_ci(mean: float | None, half: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.3f} ± {half:.3f}" if half is not None else f"{mean:.3f}"


PROBE_SHOWN = ("mean", "n_all_cv")  # the judged probe (protocols.md): mean-pooled, all labels, C by CV
PCA_SHOWN = ("mean", "pca2_std")  # the judged PCA-2 variant


def _beside_random(row: dict, protocol: str, key: str) -> str:
    """Trained ± its interval, then the same seeds' random-init encoder in parentheses."""
    trained = row["study"]["trained"].get(protocol, {}).get(key)
    random = row["study"]["random_init"].get(protocol, {}).get(key)
    if trained is None or random is None:
        return "n/a"
    return f"{format_mean_ci(trained['mean'], trained['ci95'])} ({random['mean']:.3f})"


def markdown_tables(rows: list[dict]) -> str:
    def table(title: str, key: str, pick: Callable[[dict], bool]) -> str:
        head = (
            f"### {title}\n\n| {key.replace('_', ' ')} | blog probe acc | "
            "probe, mean · all_cv (random init) | "
            "PCA-2, standardised (random init) | held-out loss | confidently hallucinated, own ratio "
            "(blind decoder) | at ratio 0.6 (blind decoder) |\n"
            "|---|---|---|---|---|---|---|\n"
        )
        lines = []
        for row in sorted((r for r in rows if pick(r)), key=lambda r: r[key]):
            b = row["blog_probe_acc"]
            cells = [
                f"{row[key]:g}",
                f"{b:.3f}" if b is not None else "—",
                _beside_random(row, *PROBE_SHOWN),
                _beside_random(row, *PCA_SHOWN),
                format_mean_ci(row["held_out_loss"], row["held_out_loss_ci95"]),
                *(
                    f"{format_mean_ci(row[m], row[f'{m}_ci95'])} ({_or_na(row.get(f'{m}_blind'))})"
                    for m in ("halluc_rate_own", "halluc_rate_common")
                ),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        note = (
            "\n± is the half-width of the 95% t interval over seeds (none for one seed). In parentheses: "
            "the same seeds' encoder at random initialisation, and for hallucination a blind decoder "
            "that draws every image as the mean image (protocol v2, docs/protocols.md).\n"
        )
        return head + "\n".join(lines) + "\n" + note

    return (
        table("Mask ratio (decoder depth 2)", "mask_ratio", lambda r: r["decoder_depth"] == 2)
        + "\n"
        + table("Decoder depth (mask ratio 0.6)", "decoder_depth", lambda r: r["mask_ratio"] == 0.6)
    )


def csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    cols = ["mask_ratio", "decoder_depth", "blog_probe_acc"] + [x for m in METRICS for x in (m, f"{m}_ci95")]
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
    seeds_by: dict[str, set[int]] = {}
    for r in runs:
        seeds_by.setdefault(r.get("precision", "fp32"), set()).add(r.get("seed", 0))
    if len(seeds_by) == 1:
        precision = next(iter(seeds_by))
    else:  # e.g. seed 0 trained where precision="auto" meant fp32, the others where it meant bf16
        precision = ", ".join(
            f"{p} (seed{'s' if len(v) > 1 else ''} {', '.join(map(str, sorted(v)))})"
            for p, v in sorted(seeds_by.items(), key=lambda kv: min(kv[1]))
        )
    return text + f"; {precision}; training {seconds[0]:.0f}–{seconds[-1]:.0f} s a run"


def runs_of(results: list[dict], dataset: str) -> list[dict]:
    """The runs (one per job) trained on the named dataset."""
    return [r for r in results if r["cell"].get("dataset", "default") == dataset]


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
    verdict_list = [v for name in by_dataset for v in judge(runs_of(results, name), name)]
    full = {
        "meta": meta,
        "table": by_dataset.get("default", []),
        "datasets": by_dataset,
        "verdicts": verdict_list,
        "runs": results,
    }
    md = f"# toymae reproduction\n\n`{meta['command']}`\n\n"
    for name, rs in by_dataset.items():
        models = training_summary(runs_of(results, name))
        md += f"## Dataset `{name}`\n\nModels: {models}.\n\n" + markdown_tables(rs) + "\n"
    md += "## The blog's claims, per feature protocol and label budget\n\n" + verdict_markdown(verdict_list)
    return {
        "json": write_atomic(out_dir / "results.json", json.dumps(full, indent=1).encode()),
        "csv": write_atomic(out_dir / "results.csv", csv_text(rows).encode()),
        "md": write_atomic(out_dir / "results.md", md.encode()),
    }


REPOSITORY = Path(__file__).resolve().parents[2]


def portable_command(argv: list[str], root: Path = REPOSITORY, program: str = "python -m toymae") -> str:
    """The command as typed, with absolute paths made relative to the repository: shipped files must
    not carry the layout of the machine that ran the sweep."""
    out = []
    for arg in argv:
        flag, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        if os.path.isabs(value):
            value = os.path.relpath(value, root)
        out.append(flag + eq + value)
    return " ".join([program, *out])


def run_meta(argv: list[str], wall_seconds: float, executor_name: str) -> dict:
    return {
        "command": portable_command(argv),
        "toymae_version": __version__,
        "torch_version": torch.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "executor": executor_name,
        "wall_seconds_this_invocation": wall_seconds,
    }
