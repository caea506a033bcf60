"""The reproduction's report: per-configuration means over seeds, the blog's findings as checks,
and results.json / results.csv / results.md."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from toymae import __version__
from toymae.checkpoint import write_atomic
from toymae.config import TrainConfig
from toymae.eval.study import aggregate_study, verdict_markdown, verdicts
from toymae.reproduce.blog import BLOG_DECODER_DEPTH, BLOG_MASK_RATIO

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
    precisions = sorted({r.get("precision", "fp32") for r in runs})
    return text + f"; {' and '.join(precisions)}; training {seconds[0]:.0f}–{seconds[-1]:.0f} s a run"


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
    verdict_list = [v for name, rs in by_dataset.items() for v in verdicts(rs, name)]
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
