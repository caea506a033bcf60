"""The blog's decoder-depth claims on the ``varied`` dataset, under changed training (issue #14).

On the default dataset an untrained encoder already separates the shapes by area, so the depth claims
are judged on ``varied`` (sizes 0.25-0.6, rotated squares). Each hypothesis retrains the two cells
that decide them (mask ratio 0.6, decoder depth 1 and 4) with 3 seeds through the reproduction's
jobs (resumable, same evaluation, same representation study) and applies ``toymae.eval.study.verdicts``
(thresholds written before any result): "depth 4 at least 0.1 below depth 1" and the PCA-2 claim,
per feature protocol and label budget, each beside its random init.

Hypotheses, in the order the issue asks for them (run what CPU time allows, ``--only``):
``baseline`` (the shipped varied recipe; shares its jobs with the sweep when ``--out`` is the
sweep's folder), ``4x-steps``, ``widths-128``, ``wide-decoder``, ``norm-pix``.

    python bench/hypotheses.py --out runs/reproduce --only baseline,4x-steps --write docs/hypotheses
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toymae.checkpoint import write_atomic  # noqa: E402
from toymae.config import TrainConfig  # noqa: E402
from toymae.eval.study import CLAIMS, format_number, verdicts  # noqa: E402
from toymae.reproduce.blog import blog_cells  # noqa: E402
from toymae.reproduce.report import aggregate  # noqa: E402
from toymae.reproduce.sweep import REPRO_STEPS, base_config, load_done, make_jobs, run_sweep  # noqa: E402

DATASET = "varied"
DEPTH_CELLS = ("ratio0.6-dec1", "ratio0.6-dec4")
# name -> (what changes, edits to the model config, edits to the training config)
HYPOTHESES: dict[str, tuple[str, dict, dict]] = {
    "baseline": (f"the shipped varied recipe: widths 64/32, {REPRO_STEPS:,} steps", {}, {}),
    "4x-steps": (f"4x longer training: {4 * REPRO_STEPS:,} steps", {}, {"steps": 4 * REPRO_STEPS}),
    "widths-128": ("widths 128/64 (encoder/decoder)", {"embed_dim": 128, "decoder_embed_dim": 64}, {}),
    "wide-decoder": ("a decoder as wide as the encoder (64)", {"decoder_embed_dim": 64}, {}),
    "norm-pix": ("norm-pix loss: each target patch standardised", {"norm_pix_loss": True}, {}),
}
SHOWN_LABELS = ("16", "all", "pca2")


def hypothesis_config(name: str) -> TrainConfig:
    _, model_edits, train_edits = HYPOTHESES[name]
    base = base_config(data=DATASET)
    return replace(base, model=replace(base.model, **model_edits), **train_edits)


def judge(name: str, results: list[dict]) -> dict:
    rows = aggregate(results)
    vs = [v for v in verdicts(rows, DATASET) if v["claim"] in ("depth", "pca2")]
    precisions = sorted({r.get("precision", "fp32") for r in results})
    seeds = sorted({r["seed"] for r in results})
    change = HYPOTHESES[name][0]
    return {"hypothesis": name, "change": change, "precision": precisions, "seeds": seeds, "verdicts": vs}


def markdown(judged: list[dict]) -> str:
    lines = [
        "# Decoder depth on the varied dataset, under changed training",
        "",
        "Written by `python bench/hypotheses.py`. Cells: mask ratio 0.6, decoder depth 1 vs 4; accuracy "
        "mean ± 95% CI over seeds, beside the same architecture at random init. Claims "
        f"(thresholds fixed before the runs): depth — {CLAIMS['depth']}; pca2 — {CLAIMS['pca2']}.",
        "",
        "| hypothesis | seeds (depth 1 / 4), precision | protocol | labels | depth 1 | depth 4 | holds |",
        "|---|---|---|---|---|---|---|",
    ]
    for h in judged:
        for v in h["verdicts"]:
            if v["labels"] not in SHOWN_LABELS:
                continue
            n = v["numbers"]
            lines.append(
                f"| {h['hypothesis']} ({h['change']}) | {n['depth 1']['seeds']} / {n['depth 4']['seeds']}, "
                f"{' and '.join(h['precision'])} | "
                f"{v['protocol']} | {v['labels']} | "
                f"{format_number(n['depth 1'])} | {format_number(n['depth 4'])} | "
                f"{'✓' if v['holds'] else '✗'} |"
            )
    done = {h["hypothesis"] for h in judged}
    missing = [f"`{n}` ({HYPOTHESES[n][0]})" for n in HYPOTHESES if n not in done]
    if missing:
        lines += ["", "Not run (no finished jobs): " + "; ".join(missing) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/reproduce", help="job folder (the sweep's: baseline is shared)")
    ap.add_argument("--only", default=",".join(HYPOTHESES), help="comma-separated, in this order")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--write", metavar="DIR", help="write hypotheses.json and README.md here")
    ap.add_argument(
        "--finished-only", action="store_true", help="train nothing: judge the jobs already finished in --out"
    )
    args = ap.parse_args()
    names = args.only.split(",")
    if unknown := set(names) - set(HYPOTHESES):
        ap.error(f"unknown hypotheses {sorted(unknown)}; known: {', '.join(HYPOTHESES)}")
    cells = [c for c in blog_cells(DATASET) if c.name.removeprefix(f"{DATASET}-") in DEPTH_CELLS]
    judged = []
    for name in names:
        jobs = make_jobs(hypothesis_config(name), range(args.seeds), cells=cells)
        print(f"{name}: {HYPOTHESES[name][0]} ({len(jobs)} jobs)", file=sys.stderr, flush=True)
        if args.finished_only:
            done = load_done(Path(args.out), jobs)
            if not done:
                continue
            judged.append(judge(name, [done[j.key] for j in jobs if j.key in done]))
        else:
            judged.append(judge(name, run_sweep(jobs, args.out)))
        if args.write:  # after every hypothesis: a stopped run keeps what it finished
            out = Path(args.write)
            out.mkdir(parents=True, exist_ok=True)
            write_atomic(out / "hypotheses.json", json.dumps(judged, indent=1).encode())
            write_atomic(out / "README.md", markdown(judged).encode())
    print(markdown(judged))


if __name__ == "__main__":
    main()
