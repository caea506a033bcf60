"""The blog's claims and the one judge of them: paired by seed, three states, beside random init.

Every claim compares two cells of the sweep (or a cell with a fixed bound) on the same seeds. Cells
share their seeds' initial encoder, data stream and masks, so the comparison is the per-seed
difference (``paired``) with its 95% t interval, not the difference of unpaired means. A verdict is

- **holds**: the paired difference reaches the claimed effect (its mean is at least ``effect``, its
  interval excludes 0) and the favoured cell beats its own random init by at least ``MIN_GAIN``
  (paired, interval above 0): an ordering that an untrained encoder shows is not a finding;
- **refuted**: the paired interval's upper end lies below the claimed effect: the data exclude it;
- **inconclusive**: anything else — one seed, an interval too wide, or both cells **at ceiling**
  (``CEILING``: a saturated probe cannot rank them).

These rules, thresholds and the PCA-2 variant that decides the PCA claim (``PCA2_JUDGED``) were
written down before the re-run of all 54 shipped models that they judge (docs/protocols.md).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

from toymae.config import PROTOCOLS
from toymae.eval.hallucination import PROTOCOL, is_current, wilson_interval
from toymae.eval.study import LABELS, PCA2, metric_key, t95

CLAIMS = {
    "hallucination": "at ratio 0.6 (decoder depth 2) the decoder sometimes confidently draws a hidden "
    "corner as the other shape (rate above 0, below 0.5)",
    "sweet_spot": "the best mask ratio (decoder depth 2) lies in 0.5-0.7, ahead of every other ratio",
    "ratio_0.9": "ratio 0.9 is at least 0.1 below the best ratio",
    "depth": "decoder depth 4 is at least 0.1 below decoder depth 1 (ratio 0.6)",
    "pca2": "PCA-2 accuracy is at least 0.9 with decoder depth 1 and at least 0.1 lower with depth 4",
}
STATES = ("holds", "refuted", "inconclusive")
EFFECT = 0.1  # the drops the blog's tables show are larger: ratio 0.9 -0.22, depth 4 -0.16
# The blog's own peak is 0.008 above the best ratio outside 0.5-0.7 (0.986 vs 0.978): a margin just
# under it, so the blog's table would pass and a tie would not.
SWEET_MARGIN = 0.005
MIN_GAIN = 0.02  # the favoured cell over its random init, paired
CEILING = 0.99  # both cells at or above: the probe cannot rank them
PCA2_FLOOR = 0.9
PCA2_JUDGED = "pca2_std"  # standardised features, as the MAE paper's probe (BatchNorm, no affine)
SOMETIMES = (0.005, 0.5)  # "sometimes": a rate whose interval lies inside, away from never and always
MIDDLE = (0.5, 0.7)


# ------------------------------------------------------------------ paired statistics
def paired(a: dict[int, float], b: dict[int, float]) -> dict:
    """Per-seed ``a - b`` over the seeds both have: mean, 95% t interval ``[lo, hi]`` (None for one
    seed), n and the per-seed differences."""
    seeds = sorted(set(a) & set(b))
    diffs = [a[s] - b[s] for s in seeds]
    if not diffs:
        return {"mean": None, "ci95": None, "n": 0, "per_seed": {}}
    mean = statistics.fmean(diffs)
    ci = None
    if len(diffs) > 1:
        half = t95(len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
        ci = [mean - half, mean + half]
    return {"mean": mean, "ci95": ci, "n": len(diffs), "per_seed": dict(zip(seeds, diffs, strict=True))}


def pooled_rate(counts: Iterable[tuple[int, int]]) -> dict:
    """A rate over seeds from per-seed (k, n) counts: the mean of the seeds' rates, and a 95% interval
    that adds the spread between seeds (t) to each seed's counting error (its Wilson interval's
    half-width as a standard error), so 0 of 326 on every seed is not "± 0.000"."""
    counts = [(k, n) for k, n in counts if n > 0]
    if not counts:
        return {"rate": None, "ci95": None, "n_seeds": 0, "per_seed": []}
    rates = [k / n for k, n in counts]
    m = len(rates)
    mean = statistics.fmean(rates)
    within = sum(((hi - lo) / 2 / 1.96) ** 2 for lo, hi in (wilson_interval(k, n) for k, n in counts)) / m**2
    between = (t95(m - 1) ** 2 * statistics.variance(rates) / m) if m > 1 else 0.0
    half = math.sqrt(between + 1.96**2 * within)
    return {
        "rate": mean,
        "ci95": [max(0.0, mean - half), min(1.0, mean + half)],
        "n_seeds": m,
        "per_seed": [{"k": k, "n": n} for k, n in counts],
    }


def state_of(diff: dict, effect: float, gain: dict | None, at_ceiling: bool) -> str:
    """The three-state rule of the module docstring for "favoured minus other >= effect"."""
    if diff["ci95"] is None or at_ceiling:
        return "inconclusive"
    lo, hi = diff["ci95"]
    if hi < effect:
        return "refuted"
    gains = gain is not None and gain["ci95"] is not None
    if diff["mean"] >= effect and lo > 0 and gains and gain["mean"] >= MIN_GAIN and gain["ci95"][0] > 0:
        return "holds"
    return "inconclusive"


# ------------------------------------------------------------------ reading the runs
def _cells(runs: Iterable[dict]) -> dict[tuple[float, int], dict[int, dict]]:
    """(mask ratio, decoder depth) -> seed -> run."""
    out: dict[tuple[float, int], dict[int, dict]] = {}
    for r in runs:
        c = r["cell"]
        out.setdefault((c["mask_ratio"], c["decoder_depth"]), {})[r["seed"]] = r
    return out


def _values(cell: dict[int, dict], protocol: str, key: str, which: str = "protocols") -> dict[int, float]:
    return {
        s: r["study"][which][protocol][key]
        for s, r in cell.items()
        if "study" in r and key in r["study"][which].get(protocol, {})
    }


def _summary_of(values: dict[int, float]) -> dict:
    vals = list(values.values())
    mean = statistics.fmean(vals)
    half = t95(len(vals) - 1) * statistics.stdev(vals) / math.sqrt(len(vals)) if len(vals) > 1 else None
    return {"mean": mean, "ci95": half, "n": len(vals), "per_seed": values}


def _number(cell: dict[int, dict], protocol: str, key: str) -> dict:
    """A cell's trained and random-init accuracy over seeds (± is the 95% t half-width)."""
    trained, random = _values(cell, protocol, key), _values(cell, protocol, key, "random_init")
    t, b = _summary_of(trained), _summary_of(random)
    return {
        "mean": t["mean"],
        "ci95": t["ci95"],
        "per_seed": trained,
        "random_init": b["mean"],
        "random_init_ci95": b["ci95"],
        "delta": t["mean"] - b["mean"],
    }


def _verdict(claim: str, base: dict, quantity: str, diff: dict, effect: float, gain, ceiling, cells) -> dict:
    state = state_of(diff, effect, gain, ceiling)
    ci = diff["ci95"]
    ci_text = f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else " (one seed: no interval)"
    summary = f"{quantity}: {diff['mean']:+.3f}{ci_text}, claimed >= {effect:g}"
    if ceiling:
        summary += "; both at ceiling"
    return {
        "claim": claim,
        **base,
        "state": state,
        "at_ceiling": ceiling,
        "quantity": quantity,
        "effect": effect,
        "diff": diff,
        "gain": gain,
        "summary": summary,
        "numbers": cells,
    }


# ------------------------------------------------------------------ the judge
def judge(runs: Iterable[dict], dataset: str) -> list[dict]:
    """Every claim for every protocol and label budget (and both PCA-2 variants) of one dataset's
    per-seed runs (each with ``cell``, ``seed``, ``study`` and, for the hallucination claim,
    ``halluc_own``). Claims whose cells are missing are left out."""
    cells = _cells(runs)
    out = []
    if (0.6, 2) in cells:
        out += _hallucination(cells[(0.6, 2)], dataset)
    studied = [c for c in cells.values() if any("study" in r for r in c.values())]
    if not studied:
        return out
    runs_with_study = [r for c in studied for r in c.values() if "study" in r]
    protocols = [p for p in PROTOCOLS if any(p in r["study"]["protocols"] for r in runs_with_study)]
    ratios = {ratio: cell for (ratio, depth), cell in cells.items() if depth == 2}
    for p in protocols:
        for labels in (*LABELS, *PCA2):
            key = metric_key(labels)
            if not any(_values(c, p, key) for c in studied):
                continue
            base = {"dataset": dataset, "protocol": p, "labels": labels}
            if labels not in PCA2:
                out += _ratio_claims(ratios, p, key, base)
            if (0.6, 1) in cells and (0.6, 4) in cells:
                d1, d4 = cells[(0.6, 1)], cells[(0.6, 4)]
                if _values(d1, p, key) and _values(d4, p, key):
                    out.append(_depth_claim(d1, d4, p, key, labels, base))
    return out


def _gain(cell: dict[int, dict], p: str, key: str) -> dict:
    return paired(_values(cell, p, key), _values(cell, p, key, "random_init"))


def _ratio_claims(ratios: dict[float, dict], p: str, key: str, base: dict) -> list[dict]:
    ratios = {r: cell for r, cell in ratios.items() if _values(cell, p, key)}  # measured cells only
    if 0.9 not in ratios or len(ratios) < 2:
        return []
    nums = {f"ratio {r:g}": _number(cell, p, key) for r, cell in sorted(ratios.items())}
    mean = {r: nums[f"ratio {r:g}"]["mean"] for r in ratios}
    best = max(ratios, key=mean.get)
    out = []
    inside = [r for r in ratios if MIDDLE[0] <= r <= MIDDLE[1]]
    outside = [r for r in ratios if r not in inside]
    if inside and outside:
        r_in, r_out = max(inside, key=mean.get), max(outside, key=mean.get)
        diff = paired(_values(ratios[r_in], p, key), _values(ratios[r_out], p, key))
        ceiling = mean[r_in] >= CEILING and mean[r_out] >= CEILING
        quantity = f"best in 0.5-0.7 (ratio {r_in:g}) - best outside (ratio {r_out:g})"
        gain = _gain(ratios[r_in], p, key)
        out.append(_verdict("sweet_spot", base, quantity, diff, SWEET_MARGIN, gain, ceiling, nums))
    diff = paired(_values(ratios[best], p, key), _values(ratios[0.9], p, key))
    ceiling = mean[best] >= CEILING and mean[0.9] >= CEILING
    quantity = f"best (ratio {best:g}) - ratio 0.9"
    out.append(
        _verdict("ratio_0.9", base, quantity, diff, EFFECT, _gain(ratios[best], p, key), ceiling, nums)
    )
    return out


def _depth_claim(d1: dict, d4: dict, p: str, key: str, labels: str, base: dict) -> dict:
    nums = {"depth 1": _number(d1, p, key), "depth 4": _number(d4, p, key)}
    diff = paired(_values(d1, p, key), _values(d4, p, key))
    ceiling = nums["depth 1"]["mean"] >= CEILING and nums["depth 4"]["mean"] >= CEILING
    claim = "pca2" if labels in PCA2 else "depth"
    v = _verdict(claim, base, "depth 1 - depth 4", diff, EFFECT, _gain(d1, p, key), ceiling, nums)
    if claim == "pca2":
        v["judged"] = labels == PCA2_JUDGED
        floor = _summary_of(_values(d1, p, key))
        below_floor = floor["ci95"] is not None and floor["mean"] + floor["ci95"] < PCA2_FLOOR
        if below_floor:
            v["state"] = "refuted"
            v["summary"] += f"; depth 1 below {PCA2_FLOOR:g}"
        elif v["state"] == "holds" and floor["mean"] < PCA2_FLOOR:
            v["state"] = "inconclusive"
    return v


def _hallucination(cell: dict[int, dict], dataset: str) -> list[dict]:
    counts, blind = [], []
    for r in cell.values():
        h = r.get("halluc_own", {})
        if not is_current(h):
            continue  # protocol v1 counted hedging as hallucination
        counts.append((h["labels"]["hallucinated"]["k"], h["labels"]["n_decidable"]))
        blind.append((h["blind"]["labels"]["hallucinated"]["k"], h["blind"]["labels"]["n_decidable"]))
    if not counts:
        return []
    rate, base_rate = pooled_rate(counts), pooled_rate(blind)
    lo, hi = rate["ci95"]
    if rate["n_seeds"] < 2:
        state = "inconclusive"
    elif SOMETIMES[0] < lo and hi < SOMETIMES[1]:
        state = "holds"
    elif hi < SOMETIMES[0] or lo > SOMETIMES[1]:
        state = "refuted"
    else:
        state = "inconclusive"
    summary = (
        f"confidently hallucinated {rate['rate']:.3f} [{lo:.3f}, {hi:.3f}] over {rate['n_seeds']} seeds "
        f"(blind decoder {base_rate['rate']:.3f})"
    )
    return [
        {
            "claim": "hallucination",
            "dataset": dataset,
            "protocol": PROTOCOL,
            "labels": "-",
            "state": state,
            "at_ceiling": False,
            "quantity": "confidently hallucinated share of decidable images",
            "rate": rate,
            "blind": base_rate,
            "summary": summary,
            "numbers": {},
        }
    ]


# ------------------------------------------------------------------ tables
MARK = {"holds": "✓ holds", "refuted": "✗ refuted", "inconclusive": "? inconclusive"}


def headline(v: dict) -> str:
    """The quantity a verdict turned on, short enough for a matrix cell."""
    if v["claim"] == "hallucination":
        lo, hi = v["rate"]["ci95"]
        return f"{v['rate']['rate']:.3f} [{lo:.3f}, {hi:.3f}]"
    d = v["diff"]
    ci = f" [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]" if d["ci95"] else ""
    return f"{d['mean']:+.3f}{ci}" + (" (ceiling)" if v["at_ceiling"] else "")


def verdict_table(vs: list[dict]) -> list[dict[str, str]]:
    """The verdict matrix as rows: ``claim``, ``labels``, then one column per "dataset · protocol"
    holding the state and the paired difference it turned on (mean [95% CI])."""
    rep = [v for v in vs if v["claim"] != "hallucination"]
    columns = sorted(
        {(v["dataset"], v["protocol"]) for v in rep}, key=lambda c: (c[0], PROTOCOLS.index(c[1]))
    )
    order = [*LABELS, *PCA2]
    keys = sorted(
        {(v["claim"], v["labels"]) for v in rep}, key=lambda r: (list(CLAIMS).index(r[0]), order.index(r[1]))
    )
    cell = {(v["claim"], v["labels"], v["dataset"], v["protocol"]): v for v in rep}
    rows = []
    for claim, labels in keys:
        row = {"claim": CLAIMS[claim], "labels": labels}
        for d, p in columns:
            v = cell.get((claim, labels, d, p))
            row[f"{d} · {p}"] = "—" if v is None else f"{MARK[v['state']]} {headline(v)}"
        rows.append(row)
    return rows


def verdict_markdown(vs: list[dict]) -> str:
    """The hallucination verdicts as a list, then ``verdict_table`` as a Markdown table."""
    if not vs:
        return "No verdicts: the results lack the per-seed measurements.\n"
    lines = [
        f"- **{v['dataset']}**, {CLAIMS['hallucination']}: {MARK[v['state']]} — {v['summary']}"
        for v in vs
        if v["claim"] == "hallucination"
    ]
    rows = verdict_table(vs)
    if rows:
        lines += ["", "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(row.values()) + " |" for row in rows]
    lines += [
        "",
        "Each cell: the verdict and the paired (same-seed) difference it turned on, mean [95% t interval]. "
        f"Holds: mean >= the claimed effect, interval above 0, and the favoured cell >= {MIN_GAIN} above "
        "its random init; refuted: the interval's upper end below the effect; ceiling: both cells >= "
        f"{CEILING}. PCA-2 is judged on {PCA2_JUDGED} (raw shown beside).",
    ]
    return "\n".join(lines) + "\n"


def count_states(vs: list[dict]) -> dict[str, int]:
    return {s: sum(v["state"] == s for v in vs) for s in STATES}
