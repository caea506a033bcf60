"""What the Reproduce page shows: the sweep per metric (every probe beside its random init), the verdict
matrix from the one judge (``toymae.reproduce.claims``: each cell's state and the paired difference it
turned on), and the hypotheses judged by rules written before their runs (docs/hypotheses/), with a
link to see the most informative one on the shipped models when they can show it."""

from __future__ import annotations

import json
from pathlib import Path

from toymae.app.tour import TryThis
from toymae.app.train_form import LINKED, values_from_params
from toymae.reproduce.claims import CEILING, MARK, MIN_GAIN, PCA2_JUDGED, STATES, verdict_table
from toymae.shipped import shipped_path

HYPOTHESES_FILE = shipped_path("docs", "hypotheses", "hypotheses.json")
# A state's cell colour in the matrix (light tints under dark text: 4.5:1 and more); the mark and the
# word say it too, so no reader needs the colour.
STATE_TINTS = {"holds": "#d3ecd9", "refuted": "#f6d5d5", "inconclusive": "#ffffff"}
STATE_LEGEND = (
    "✓ holds (green cell): the paired difference reaches the claimed effect, its interval excludes 0, "
    f"and the favoured model beats its random init by at least {MIN_GAIN:g}. ✗ refuted (red cell): the "
    "interval's upper end lies below the claimed effect. ? inconclusive (white): anything else, "
    f"including both models at the ceiling (≥ {CEILING:g}). Each cell: the paired (same-seed) "
    f"difference it turned on, mean [95% t interval]. PCA-2 is judged on `{PCA2_JUDGED}`."
)

# The claim column narrow and pinned: on a phone the cells scroll beside it.
MATRIX_COLUMNS = {"claim": {"width": "medium", "pinned": True}, "labels": {"width": "small", "pinned": True}}
# Metric picker -> (series: (row key, legend), y title, with the blog's numbers)
METRICS = {
    "shape probe": ([("probe", "trained"), ("probe_random", "random init")], "accuracy", True),
    "PCA-2 probe": (
        [
            ("pca2_std", "standardised"),
            ("pca2_std_random", "standardised, random init"),
            ("pca2", "raw"),
            ("pca2_random", "raw, random init"),
        ],
        "accuracy",
        False,
    ),
    "held-out loss": ([("held_out_loss", "held-out loss")], "MSE on hidden patches", False),
    "hallucination": (
        [("halluc_rate_own", "at its training ratio"), ("halluc_rate_common", "at the common ratio")],
        "confidently hallucinated share",
        False,
    ),
}


def sweep_rows(rows: list[dict]) -> list[dict]:
    """Reproduction rows with the study's numbers flattened for ``figures.sweep_chart``: the shape
    probe (mean-pooled features, all labels, C by cross-validation where recorded, else C = 1) and both
    PCA-2 variants, each beside the same seeds' random init (± = 95% t half-width over seeds)."""
    out = []
    for row in rows:
        flat = dict(row)
        study = row.get("study") or {}
        trained, random = (
            study.get("trained", {}).get("mean", {}),
            study.get("random_init", {}).get("mean", {}),
        )
        probe = "n_all_cv" if "n_all_cv" in trained else "n_all"
        for name, key in (("probe", probe), ("pca2", "pca2"), ("pca2_std", "pca2_std")):
            for suffix, part in (("", trained), ("_random", random)):
                if key in part:
                    flat[f"{name}{suffix}"] = part[key]["mean"]
                    flat[f"{name}{suffix}_ci95"] = part[key]["ci95"]
        out.append(flat)
    return out


def probe_label(rows: list[dict]) -> str:
    """Which probe the "shape probe" chart shows, in words."""
    cv = any("n_all_cv" in (r.get("study") or {}).get("trained", {}).get("mean", {}) for r in rows)
    return "mean-pooled features, all labels, " + ("C chosen by cross-validation" if cv else "C = 1")


def state_of_cell(text: str) -> str | None:
    """The state a ``verdict_table`` cell starts with (None for an empty cell)."""
    return next((s for s in STATES if text.startswith(MARK[s])), None)


def verdict_matrix(verdicts: list[dict]):
    """The verdict matrix (``claims.verdict_table``) as a styled table: each cell tinted by its state."""
    import pandas as pd

    frame = pd.DataFrame(verdict_table(verdicts))
    return frame.style.map(
        lambda v: (
            f"background-color: {STATE_TINTS[s]}; color: #1a1a1a" if (s := state_of_cell(str(v))) else ""
        )
    )


def hallucination_lines(verdicts: list[dict]) -> list[str]:
    """The hallucination verdicts, one line each (their state, the pooled rate and the blind decoder)."""
    return [
        f"**{v['dataset']}**: {MARK[v['state']]} — {v['summary']}"
        for v in verdicts
        if v["claim"] == "hallucination"
    ]


def load_hypotheses(path: Path = HYPOTHESES_FILE) -> list[dict]:
    """The judged hypotheses (bench/hypotheses.py); an empty list when the file is absent or unreadable."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return []
    return [h for h in data if isinstance(h, dict) and "hypothesis" in h] if isinstance(data, list) else []


def hypothesis_rows(hypotheses: list[dict]) -> list[dict[str, str]]:
    """One row per hypothesis: its name (and what it changes), the rule it is judged by, its state and
    the numbers that decided it."""
    rows = []
    for h in hypotheses:
        name = h["hypothesis"] + (f" ({h['change']})" if h.get("change") else "")
        state = h.get("state")
        rows.append(
            {
                "hypothesis": name,
                "rule": h.get("rule", "—"),
                "state": MARK.get(
                    state, "estimate, not a verdict" if h["hypothesis"] == "seed-noise" else "—"
                )
                + (f" {h['note']}" if h.get("note") else ""),
                "summary": hypothesis_summary(h),
            }
        )
    return rows


def hypothesis_summary(h: dict) -> str:
    """The deciding numbers of one hypothesis, whichever kind it is."""
    if isinstance(h.get("summary"), str):
        return h["summary"]
    if "judged" in h:
        text = h["judged"]["summary"] if h["judged"] else "no finished runs"
        if g := h.get("gap_growth"):
            ci = f" [{g['ci95'][0]:+.4f}, {g['ci95'][1]:+.4f}]" if g.get("ci95") else ""
            text += f"; loss-gap growth (depth 4 - depth 1) {g['mean']:+.4f}{ci}"
        return text
    parts = []
    for data, x in (h.get("by_dataset") or {}).items():
        if "diff" in x and x["diff"].get("ci95"):
            lo, hi = x["diff"]["ci95"]
            mark = MARK.get(x.get("state"), "")
            parts.append(f"{data}: {mark} depth 1 - depth 4 {x['diff']['mean']:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        elif "sweet_spot" in x:
            shows = ", ".join(
                f"{c.replace('_', ' ')} {v['single_seed_shows']}/{v['of']}" for c, v in x.items()
            )
            parts.append(f"{data}: one seed alone shows the pattern in {shows}")
    return "; ".join(parts) or "—"


_RANK = {"holds": 0, "refuted": 1, "inconclusive": 2}


def most_informative(hypotheses: list[dict]) -> dict | None:
    """The hypothesis with the most decided state (holds, then refuted; the file's order breaks ties);
    None when none has a verdict."""
    judged = [h for h in hypotheses if h.get("state") in _RANK]
    return min(judged, key=lambda h: _RANK[h["state"]]) if judged else None


def try_hypothesis(h: dict | None, shipped: set[str]) -> TryThis | None:
    """A link showing hypothesis ``h`` on the shipped models (the decoder depth 1 vs 4 pair on the
    Representations page, with the protocol and probe that decide it); None when the models it needs
    are not shipped (a training hypothesis trains its own)."""
    if h is None:
        return None
    name = h["hypothesis"]
    if name == "pca-standardised":
        decided = [d for d, x in (h.get("by_dataset") or {}).items() if x.get("state") == h["state"]]
        data = decided[0] if decided else "default"
        params = {"rep_protocol": "mean", "rep_pca": "standardised", "rep_labels": "all_cv"}
    elif name == "baseline":
        data, params = "varied", {"rep_protocol": "mean", "rep_labels": "all_cv"}
    else:
        return train_hypothesis(h)
    prefix = "" if data == "default" else f"{data}-"
    a, b = f"{prefix}ratio0.6-dec1", f"{prefix}ratio0.6-dec4"
    if not {a, b} <= shipped:
        return None
    label = f"see `{name}` ({MARK[h['state']]}): decoder depth 1 vs 4 on `{data}`"
    return TryThis(
        label, "representations", {"rep_data": data, "rep_a": a, "rep_b": b, **params}, "decoder depth 4"
    )


def train_hypothesis(h: dict) -> TryThis | None:
    """A link to the Train page set up as ``h``'s decoder-depth-4 model (its rule compares it with depth
    1), when the form can express what the hypothesis changes; None otherwise (a finite pool, a new grid)."""
    edits = h.get("edits")
    if edits is None:
        return None
    settings = {"data": h.get("dataset", "varied"), "mask_ratio": "0.6", "decoder_depth": "4"}
    settings |= {k: str(v) for k, v in edits.items()}
    if set(values_from_params(settings)) != set(settings):
        return None
    label = f"train `{h['hypothesis']}` ({MARK[h['state']]}) yourself: its decoder-depth-4 model"
    return TryThis(label, "train", settings, LINKED)
