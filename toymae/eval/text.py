"""The evaluations as plain-text tables, the way ``python -m toymae probe`` and ``hallucinate`` print
them. Pure: summaries (dicts) in, lines out."""

from __future__ import annotations

from toymae.eval.study import metric_key

FRACTIONS = (("faithful", 10), ("hallucinated", 14), ("uncertain", 11))  # (label, column width)


def probe_lines(report: dict, protocols: tuple[str, ...], labels: tuple[str, ...], seed: int) -> list[str]:
    """``probe_model`` + ``representation_study`` results: the probe, the factors' R², then each
    protocol's accuracy per labelled budget beside the random-init encoder of pretraining ``seed``."""
    sizes = f"n_train={report['n_train']}, n_test={report['n_test']}"
    lines = [f"shape probe acc  {report['probe_acc']:.4f}  ({sizes})"]
    lines.append(f"PCA-2 probe acc  {report['pca2_acc']:.4f}")
    for k in ("r2_x", "r2_y", "r2_size"):
        lines.append(f"{k:<16} {'n/a (constant factor)' if report[k] is None else f'{report[k]:.4f}'}")
    lines += ["", f"shape accuracy by protocol and labelled images (random init: seed {seed})"]
    lines.append(f"{'protocol':<9} {'labels':<7} {'trained':>8} {'random init':>12} {'difference':>11}")
    for p in protocols:
        for lab in labels:
            t, r = report["protocols"][p][metric_key(lab)], report["random_init"][p][metric_key(lab)]
            lines.append(f"{p:<9} {lab:<7} {t:>8.3f} {r:>12.3f} {t - r:>+11.3f}")
    return lines


def hallucination_lines(summary: dict, min_pixels: int) -> list[str]:
    """A hallucination summary (protocol v2): the three fractions overall, per true shape, for the
    blind decoder and balanced over shapes; the confident rate by visible fraction; the undecidable."""
    header = "".join(f"{k:>{w}}" for k, w in FRACTIONS)
    lines = [f"{'':<16}{header}   decidable  (protocol v2)"]
    rows = [("all", summary["labels"])]
    rows += [(f"true {name}", row) for name, row in summary["by_shape"].items()]
    rows += [("blind decoder", summary["blind"]["labels"])]
    lines += [_fractions_line(label, row) for label, row in rows]
    b = summary["balanced"]
    lines.append(f"{'balanced':<16}" + "".join(f"{_or_nan(b[k]):>{w}.3f}" for k, w in FRACTIONS))
    lines.append("confidently hallucinated, by visible fraction of the object:")
    lines += [_rate_line(f"  {r['lo']:.1f}-{r['hi']:.1f}", r) for r in summary["by_visible_object_fraction"]]
    undecidable = summary["n"] - summary["n_decidable"]
    lines.append(f"{undecidable} undecidable (fewer than {min_pixels} hidden pixels where the shapes differ)")
    return lines


def _or_nan(x: float | None) -> float:
    return float("nan") if x is None else x


def _fractions_line(label: str, row: dict) -> str:
    if not row["n_decidable"]:
        return f"{label:<16}   n/a (0 decidable)"
    cells = "".join(f"{row[k]['rate']:>{w}.3f}" for k, w in FRACTIONS)
    return f"{label:<16}{cells}   {row['n_decidable']:>9}"


def _rate_line(label: str, row: dict) -> str:
    if not row["n_decidable"]:
        return f"{label:<14} rate   n/a   (0 decidable)"
    lo, hi = row["ci95"]
    counts = f"({row['n_hallucinated']}/{row['n_decidable']} decidable)"
    return f"{label:<14} rate {row['rate']:6.3f}  [{lo:.3f}, {hi:.3f}]  {counts}"
