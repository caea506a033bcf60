"""The representation study: three feature protocols x label budgets, each beside its random init.

A probe number means little alone: on the default dataset an *untrained* encoder already separates
circles from squares (a square covers 4/pi times a circle's pixels). So every accuracy here is
measured twice, on the trained encoder and on the same architecture at the same seed's random
initialisation, and reported with the difference.

Protocols (how an image becomes a feature vector):
- ``mean``: the encoder on the full image, patch tokens mean-pooled;
- ``cls``: the encoder on the full image, the cls token;
- ``visible``: the encoder on the image masked at the model's training ratio (fixed mask seed), the
  visible tokens mean-pooled: the representation most MAE codebases probe.

Label budgets: a standardised logistic regression fit on 16, 64 or 256 labelled images (class-balanced,
``LABEL_DRAWS`` random draws from the train split, mean and std) or on the whole train split; always
scored on the whole held-out split. PCA-2: a classifier on the first two principal components.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

import numpy as np
import torch

from toymae.data import ShapeBatch
from toymae.model import MaskedAutoencoder, build_model
from toymae.probe import extract_features, pca2_accuracy, shape_probe_accuracy

PROTOCOLS = ("mean", "cls", "visible")
LABEL_BUDGETS = (16, 64, 256)  # and "all": the whole train split
LABELS = ("16", "64", "256", "all")
LABEL_DRAWS = 10  # the mean over draws must be steady to about 0.03 between evaluation sets
VISIBLE_MASK_SEED = 0


def protocol_features(model: MaskedAutoencoder, images: torch.Tensor, protocol: str) -> np.ndarray:
    """(N, D) features of ``images`` under a protocol (see the module docstring)."""
    return all_protocol_features(model, images, (protocol,))[protocol]


def all_protocol_features(
    model: MaskedAutoencoder, images: torch.Tensor, protocols: Iterable[str] = PROTOCOLS
) -> dict[str, np.ndarray]:
    """Features under each protocol; ``mean`` and ``cls`` share one pass over the full image."""
    protocols = tuple(protocols)
    if unknown := set(protocols) - set(PROTOCOLS):
        raise ValueError(f"unknown protocols {sorted(unknown)}; known: {', '.join(PROTOCOLS)}")
    out = {}
    if "mean" in protocols or "cls" in protocols:
        tokens = extract_features(model, images, pool="tokens")  # (N, 1 + L, D)
        out["mean"], out["cls"] = tokens[:, 1:].mean(axis=1), tokens[:, 0]
    if "visible" in protocols:
        gen = torch.Generator().manual_seed(VISIBLE_MASK_SEED)
        out["visible"] = extract_features(model, images, mask_ratio=model.config.mask_ratio, generator=gen)
    return {p: out[p] for p in protocols}


def label_budget_accuracy(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    n_labels: int,
    draws: int = LABEL_DRAWS,
    seed: int = 0,
) -> tuple[float, float]:
    """(mean, std) held-out accuracy over ``draws`` class-balanced draws of ``n_labels`` train images."""
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(train_y == c) for c in (0, 1)]
    # A train split smaller than the budget (a quick run) caps it: every image of the smaller class.
    n_labels = min(n_labels, 2 * min(len(ix) for ix in by_class))
    accs = []
    for _ in range(draws):
        pick = np.concatenate([rng.choice(ix, n_labels // 2, replace=False) for ix in by_class])
        accs.append(shape_probe_accuracy(train_x[pick], train_y[pick], test_x, test_y))
    return float(np.mean(accs)), float(np.std(accs))


def scores_from_features(
    ftr: np.ndarray, train: ShapeBatch, fte: np.ndarray, test: ShapeBatch, draws: int = LABEL_DRAWS
) -> dict[str, float]:
    """``{"n16", "n16_std", "n64", "n64_std", "n256", "n256_std", "n_all", "pca2"}`` for one protocol's
    features."""
    ytr, yte = train.shape.numpy(), test.shape.numpy()
    out: dict[str, float] = {}
    for n in LABEL_BUDGETS:
        out[f"n{n}"], out[f"n{n}_std"] = label_budget_accuracy(ftr, ytr, fte, yte, n, draws)
    out["n_all"] = shape_probe_accuracy(ftr, ytr, fte, yte)
    out["pca2"] = pca2_accuracy(ftr, ytr, fte, yte)
    return out


def representation_study(
    model: MaskedAutoencoder,
    train: ShapeBatch,
    test: ShapeBatch,
    seed: int,
    protocols: Iterable[str] = PROTOCOLS,
    draws: int = LABEL_DRAWS,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{"protocols": {name: scores}, "random_init": {name: scores}}``; the random-init model is the
    same architecture built from the same ``seed`` (the trained model's starting point)."""
    protocols = tuple(protocols)
    untrained = build_model(model.config, seed, device=model.cls_token.device)
    out = {}
    for name, m in (("protocols", model), ("random_init", untrained)):
        ftr, fte = (
            all_protocol_features(m, train.images, protocols),
            all_protocol_features(m, test.images, protocols),
        )
        out[name] = {p: scores_from_features(ftr[p], train, fte[p], test, draws) for p in protocols}
    return out


def metric_key(labels: str) -> str:
    """The scores' key for a label budget name ("16", ..., "all") or "pca2"."""
    return {"all": "n_all", "pca2": "pca2"}.get(labels, f"n{labels}")


# ------------------------------------------------------------------ across seeds
# Two-sided 95% Student t quantiles by degrees of freedom (n seeds - 1).
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def mean_ci(values: list[float]) -> dict[str, float | int | None]:
    """Mean and the half-width of its 95% t interval (None for one value: one seed is a lead)."""
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return {"mean": mean, "ci95": None, "n": n}
    return {"mean": mean, "ci95": _T95.get(n - 1, 1.96) * statistics.stdev(values) / math.sqrt(n), "n": n}


def aggregate_study(runs: list[dict]) -> dict:
    """Per protocol and metric across the seeds of one cell: trained, random init and their paired
    difference (trained minus the random init of the same seed), each as ``mean_ci``."""
    runs = [r for r in runs if "study" in r]
    out: dict = {"trained": {}, "random_init": {}, "delta": {}}
    if not runs:
        return out
    for p in runs[0]["study"]["protocols"]:
        for which in out:
            out[which][p] = {}
        for key in ("n16", "n64", "n256", "n_all", "pca2"):
            trained = [r["study"]["protocols"][p][key] for r in runs]
            random = [r["study"]["random_init"][p][key] for r in runs]
            out["trained"][p][key] = mean_ci(trained)
            out["random_init"][p][key] = mean_ci(random)
            out["delta"][p][key] = mean_ci([t - b for t, b in zip(trained, random, strict=True)])
    return out


# ------------------------------------------------------------------ the blog's claims, per protocol
# Thresholds from the reproduction's findings checks (written before any of these results). A claim
# also needs its favoured cell to beat its own random init (the 95% CI of the paired difference above
# zero): an ordering among cells that an untrained encoder matches is not a finding.
CLAIMS = {
    "sweet_spot": "the best mask ratio (decoder depth 2) lies in 0.5-0.7",
    "ratio_0.9": "ratio 0.9 is at least 0.1 below the best ratio",
    "depth": "decoder depth 4 is at least 0.1 below decoder depth 1 (ratio 0.6)",
    "pca2": "PCA-2 accuracy is at least 0.9 with decoder depth 1 and at least 0.1 lower with depth 4",
}
MARGIN = 0.1
PCA2_FLOOR = 0.9


def _beats(row: dict, protocol: str, key: str) -> bool:
    d = row["study"]["delta"][protocol][key]
    return d["ci95"] is not None and d["mean"] - d["ci95"] > 0


def _num(row: dict, protocol: str, key: str) -> dict:
    t, b = row["study"]["trained"][protocol][key], row["study"]["random_init"][protocol][key]
    d = row["study"]["delta"][protocol][key]
    return {
        "mean": t["mean"],
        "ci95": t["ci95"],
        "random_init": b["mean"],
        "random_init_ci95": b["ci95"],
        "delta": d["mean"],
        "delta_ci95": d["ci95"],
        "seeds": t["n"],
    }


def verdicts(rows: list[dict], dataset: str) -> list[dict]:
    """The claims above for every protocol and label budget, from aggregated cell rows carrying
    ``mask_ratio``, ``decoder_depth`` and ``study`` (``aggregate_study``). Claims whose cells are
    missing are left out. Each verdict: claim, protocol, dataset, labels, holds, summary, numbers."""
    at = {(r["mask_ratio"], r["decoder_depth"]): r for r in rows if r.get("study", {}).get("trained")}
    if not at:
        return []
    out = []
    ratio_rows = {ratio: r for (ratio, depth), r in at.items() if depth == 2}
    for p in next(iter(at.values()))["study"]["trained"]:
        for labels in (*LABELS, "pca2"):
            key = metric_key(labels)
            base = {"protocol": p, "dataset": dataset, "labels": labels}
            if labels != "pca2" and 0.9 in ratio_rows and len(ratio_rows) >= 2:
                out += _ratio_verdicts(ratio_rows, p, key, base)
            if (0.6, 1) in at and (0.6, 4) in at:
                out.append(_depth_verdict(at[(0.6, 1)], at[(0.6, 4)], p, key, labels, base))
    return out


def _ratio_verdicts(ratio_rows: dict[float, dict], p: str, key: str, base: dict) -> list[dict]:
    cells = {f"ratio {r:g}": _num(row, p, key) for r, row in sorted(ratio_rows.items())}
    best = max(ratio_rows, key=lambda r: cells[f"ratio {r:g}"]["mean"])
    beats = _beats(ratio_rows[best], p, key)
    top = f"best ratio {best:g}: {format_number(cells[f'ratio {best:g}'])}"
    out = []
    if any(0.5 <= r <= 0.7 for r in ratio_rows) and any(not 0.5 <= r <= 0.7 for r in ratio_rows):
        holds = 0.5 <= best <= 0.7 and beats
        out.append({"claim": "sweet_spot", **base, "holds": holds, "summary": top, "numbers": cells})
    gap = cells[f"ratio {best:g}"]["mean"] - cells["ratio 0.9"]["mean"]
    summary = f"{top}; ratio 0.9: {format_number(cells['ratio 0.9'])}"
    holds = gap >= MARGIN and beats
    out.append({"claim": "ratio_0.9", **base, "holds": holds, "summary": summary, "numbers": cells})
    return out


def _depth_verdict(d1: dict, d4: dict, p: str, key: str, labels: str, base: dict) -> dict:
    cells = {"depth 1": _num(d1, p, key), "depth 4": _num(d4, p, key)}
    a1, a4 = cells["depth 1"]["mean"], cells["depth 4"]["mean"]
    holds = a1 - a4 >= MARGIN and _beats(d1, p, key)
    if labels == "pca2":
        holds = holds and a1 >= PCA2_FLOOR
    summary = f"depth 1: {format_number(cells['depth 1'])}; depth 4: {format_number(cells['depth 4'])}"
    claim = "pca2" if labels == "pca2" else "depth"
    return {"claim": claim, **base, "holds": holds, "summary": summary, "numbers": cells}


def format_number(n: dict) -> str:
    """'0.812 ± 0.020 (random init 0.700, +0.112)' from a verdict's number."""
    ci = f" ± {n['ci95']:.3f}" if n["ci95"] is not None else ""
    return f"{n['mean']:.3f}{ci} (random init {n['random_init']:.3f}, {n['delta']:+.3f})"


def verdict_table(vs: list[dict]) -> list[dict[str, str]]:
    """The verdict matrix as rows: ``claim``, ``labels``, then one column per "dataset · protocol"
    holding ✓ or ✗ and the deciding accuracies (seed means; CIs are in each verdict's ``summary``)."""
    columns = sorted({(v["dataset"], v["protocol"]) for v in vs}, key=lambda c: (c[0], PROTOCOLS.index(c[1])))
    order = [*LABELS, "pca2"]
    keys = sorted(
        {(v["claim"], v["labels"]) for v in vs}, key=lambda r: (list(CLAIMS).index(r[0]), order.index(r[1]))
    )
    cell = {(v["claim"], v["labels"], v["dataset"], v["protocol"]): v for v in vs}
    rows = []
    for claim, labels in keys:
        row = {"claim": CLAIMS[claim], "labels": labels}
        for d, p in columns:
            v = cell.get((claim, labels, d, p))
            row[f"{d} · {p}"] = "—" if v is None else ("✓ " if v["holds"] else "✗ ") + headline(v)
        rows.append(row)
    return rows


def verdict_markdown(vs: list[dict]) -> str:
    """``verdict_table`` as a Markdown table."""
    if not vs:
        return "No verdicts: the results lack the representation study.\n"
    rows = verdict_table(vs)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row.values()) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def headline(v: dict) -> str:
    """A verdict's deciding accuracies, short enough for a matrix cell."""
    n = v["numbers"]
    if v["claim"] in ("depth", "pca2"):
        return f"{n['depth 1']['mean']:.2f} vs {n['depth 4']['mean']:.2f}"
    best = max(n, key=lambda k: n[k]["mean"])
    if v["claim"] == "sweet_spot":
        return f"{best.removeprefix('ratio ')}: {n[best]['mean']:.2f} (rand {n[best]['random_init']:.2f})"
    return f"{n[best]['mean']:.2f} vs {n['ratio 0.9']['mean']:.2f}"
