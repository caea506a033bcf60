"""How long must a model train? Held-out loss and hallucination rate against the training budget.

Trains the curve's cells (ratio 0.6 at decoder depths 1, 2, 4 and ratio 0.9 at depth 2) with two
seeds at log-spaced budgets up to 4x the previous shipped budget (800 steps), as ordinary
reproduction jobs in ``--out`` (so ``python -m toymae reproduce --out`` the same folder reuses the
runs at the chosen budget), then applies the rule below and writes ``docs/convergence/``.

The rule was written before the run that it judges:
    for every curve cell, take the seed-mean held-out loss at each budget; a cell's budget is the
    smallest one whose loss is within 10% of that cell's loss at the largest budget; the chosen
    budget is the largest of the cells' budgets.

    python bench/convergence.py --out runs/reproduce          # trains what is missing, then reports
    python bench/convergence.py --out runs/reproduce --report # the rule and figure from finished runs
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import argparse
import json
import statistics
import sys
from pathlib import Path

from toymae import reproduce as rp

BUDGETS = (400, 800, 1600, 3200)
SEEDS = (0, 1)
CURVE_CELLS = (rp.Cell(0.6, 1), rp.Cell(0.6, 2), rp.Cell(0.6, 4), rp.Cell(0.9, 2))
TOLERANCE = 0.10  # "within 10% of the largest budget's held-out loss"
RULE = (
    "for every curve configuration, the smallest budget whose seed-mean held-out loss is within 10% "
    "of its loss at the largest budget (3,200 steps); the shipped budget is the largest of these."
)


def curve_jobs(data: str = "default") -> list[tuple[int, rp.Job]]:
    """(budget, job) for every point of the curve; seed 0 at every budget first."""
    from dataclasses import replace

    base = rp.base_config(data=data)
    out = []
    for seed in SEEDS:
        for steps in BUDGETS:
            for job in rp.make_jobs(replace(base, steps=steps), [seed], cells=CURVE_CELLS):
                out.append((steps, job))
    return out


def choose_budget(points: dict[tuple[str, int], list[float]]) -> tuple[int, dict[str, int]]:
    """The rule above. ``points[(cell name, budget)]`` = held-out losses of the seeds."""
    per_cell = {}
    for cell in CURVE_CELLS:
        mean = {b: statistics.fmean(points[(cell.name, b)]) for b in BUDGETS}
        target = (1 + TOLERANCE) * mean[BUDGETS[-1]]
        per_cell[cell.name] = min(b for b in BUDGETS if mean[b] <= target)
    return max(per_cell.values()), per_cell


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/reproduce", help="the reproduction folder the jobs share")
    ap.add_argument("--docs", default="docs/convergence", help="where the curve and the figure go")
    ap.add_argument("--report", action="store_true", help="do not train; report finished runs only")
    args = ap.parse_args()
    out = Path(args.out)
    pairs = curve_jobs()
    if not args.report:
        for steps, job in pairs:
            [result] = rp.run_sweep([job], out)
            print(
                f"{job.name:<22} {steps:>5} steps  loss {result['held_out_loss']:.4f}  "
                f"halluc own {result['halluc_rate_own']:.3f}  {result['train_seconds']:.0f} s",
                flush=True,
            )
    done = rp.load_done(out, [j for _, j in pairs])
    rows = []
    for steps, job in pairs:
        r = done.get(job.key)
        if r is not None:
            rows.append(
                {
                    "cell": job.cell.name,
                    "seed": job.seed,
                    "steps": steps,
                    "held_out_loss": r["held_out_loss"],
                    "halluc_rate_own": r["halluc_rate_own"],
                    "probe_acc": r["probe_acc"],
                    "train_seconds": r["train_seconds"],
                }
            )
    points: dict[tuple[str, int], list[float]] = {}
    for row in rows:
        points.setdefault((row["cell"], row["steps"]), []).append(row["held_out_loss"])
    complete = all(len(points.get((c.name, b), [])) == len(SEEDS) for c in CURVE_CELLS for b in BUDGETS)
    report = {"rule": RULE, "budgets": BUDGETS, "seeds": SEEDS, "tolerance": TOLERANCE, "rows": rows}
    if complete:
        chosen, per_cell = choose_budget(points)
        report.update(chosen_budget=chosen, per_cell_budget=per_cell)
        print(f"chosen budget: {chosen} steps (per cell: {per_cell})")
    else:
        print("the curve is not complete yet: no budget chosen", file=sys.stderr)
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "curve.json").write_text(json.dumps(report, indent=1))
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
