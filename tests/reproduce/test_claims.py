"""The claims judge: paired by seed, three states, random init, ceiling; pooled hallucination rates."""

import pytest

from toymae.reproduce.claims import (
    CEILING,
    count_states,
    judge,
    paired,
    pooled_rate,
    state_of,
    verdict_markdown,
    verdict_table,
)

KEYS = ("n16", "n64", "n256", "n_all", "n_all_cv", "pca2", "pca2_std")


def _run(ratio, depth, seed, acc, base, data="default"):
    return {
        "cell": {"mask_ratio": ratio, "decoder_depth": depth, "dataset": data},
        "seed": seed,
        "study": {
            "protocols": {"mean": dict.fromkeys(KEYS, acc)},
            "random_init": {"mean": dict.fromkeys(KEYS, base)},
        },
    }


def _runs(accs, base=0.6, jitter=0.01, data="default"):
    """Three seeds per cell; every cell moves with the seed alike (shared seeds): a paired design."""
    return [
        _run(r, d, s, acc + jitter * (s - 1), base, data) for (r, d), acc in accs.items() for s in range(3)
    ]


BLOG = {(0.1, 2): 0.80, (0.6, 2): 0.95, (0.9, 2): 0.70, (0.6, 1): 0.96, (0.6, 4): 0.80}


def _states(vs):
    return {(v["claim"], v["labels"]): v["state"] for v in vs}


def test_paired_difference_and_its_interval():
    d = paired({0: 0.9, 1: 0.8, 2: 0.7}, {0: 0.8, 1: 0.7, 2: 0.6})
    assert d["mean"] == pytest.approx(0.1) and d["ci95"] == pytest.approx([0.1, 0.1])  # no spread
    assert paired({0: 0.9}, {0: 0.8})["ci95"] is None and paired({0: 1.0}, {1: 1.0})["n"] == 0


def test_three_states():
    gain = {"mean": 0.3, "ci95": [0.2, 0.4]}
    assert state_of({"mean": 0.2, "ci95": [0.15, 0.25]}, 0.1, gain, False) == "holds"
    assert state_of({"mean": 0.02, "ci95": [0.0, 0.05]}, 0.1, gain, False) == "refuted"
    assert state_of({"mean": 0.12, "ci95": [-0.1, 0.34]}, 0.1, gain, False) == "inconclusive"
    assert state_of({"mean": 0.2, "ci95": [0.15, 0.25]}, 0.1, None, False) == "inconclusive"  # no gain
    assert state_of({"mean": 0.2, "ci95": [0.15, 0.25]}, 0.1, gain, True) == "inconclusive"  # ceiling
    assert state_of({"mean": 0.2, "ci95": None}, 0.1, gain, False) == "inconclusive"  # one seed


def test_the_blogs_pattern_holds_and_a_flat_one_is_refuted():
    held = _states(judge(_runs(BLOG), "default"))
    assert set(held.values()) == {"holds"} and len(held) == 3 * 5 + 2
    flat = _states(judge(_runs(dict.fromkeys(BLOG, 0.9)), "default"))
    assert flat[("depth", "all")] == "refuted" and flat[("ratio_0.9", "16")] == "refuted"
    assert flat[("sweet_spot", "all")] == "refuted"  # a tie: the middle is not ahead by the margin


def test_a_pattern_that_random_init_matches_is_not_a_finding():
    vs = judge(_runs(BLOG, base=0.97), "default")
    assert vs and "holds" not in {v["state"] for v in vs}


def test_a_tie_at_the_ceiling_is_inconclusive_not_a_sweet_spot():
    accs = {(0.1, 2): 0.995, (0.6, 2): 0.997, (0.9, 2): 0.995, (0.6, 1): 0.996, (0.6, 4): 0.996}
    vs = judge(_runs(accs, base=0.5, jitter=0.001), "default")
    sweet = [v for v in vs if v["claim"] == "sweet_spot"]
    assert sweet and all(v["state"] == "inconclusive" and v["at_ceiling"] for v in sweet)
    assert min(accs.values()) >= CEILING


def test_pairing_sees_a_consistent_drop_that_unpaired_means_would_hide():
    # Seeds differ a lot (0.6 to 0.9), random inits with them, but depth 4 is always 0.15 below depth 1
    # on the same seed, and depth 1 always 0.3 above its own random init.
    runs = []
    for s, level in enumerate((0.6, 0.75, 0.9)):
        runs += [_run(0.6, 1, s, level, level - 0.3), _run(0.6, 4, s, level - 0.15, level - 0.3)]
    (v,) = [v for v in judge(runs, "default") if v["claim"] == "depth" and v["labels"] == "all"]
    assert v["state"] == "holds" and v["diff"]["ci95"] == pytest.approx([0.15, 0.15])


def test_pooled_rate_keeps_counting_error_when_seeds_agree():
    r = pooled_rate([(4, 326)] * 3)
    assert r["rate"] == pytest.approx(4 / 326) and r["ci95"][1] - r["ci95"][0] > 0.005
    assert pooled_rate([(0, 300)] * 3)["ci95"][1] > 0


def _halluc_run(seed, k, n=300):
    labels = {"n_decidable": n, "hallucinated": {"k": k}}
    blind = {"labels": {"n_decidable": n, "hallucinated": {"k": n // 2}}}
    return {
        "cell": {"mask_ratio": 0.6, "decoder_depth": 2, "dataset": "default"},
        "seed": seed,
        "halluc_own": {"protocol": "v2", "labels": labels, "blind": blind},
    }


def test_hallucination_sometimes_never_or_always():
    assert judge([_halluc_run(s, 12 + s) for s in range(3)], "default")[0]["state"] == "holds"
    assert judge([_halluc_run(s, 0, 3000) for s in range(3)], "default")[0]["state"] == "refuted"
    assert judge([_halluc_run(s, 280) for s in range(3)], "default")[0]["state"] == "refuted"
    v1 = [{**_halluc_run(0, 12), "halluc_own": {"rate": 0.04}}]  # protocol v1 records are not judged
    assert judge(v1, "default") == []


def test_verdict_matrix_has_a_column_per_dataset_and_protocol_and_says_what_pm_means():
    vs = judge(_runs(BLOG), "default") + judge(_runs(dict.fromkeys(BLOG, 0.9), data="varied"), "varied")
    table = verdict_table(vs)
    assert list(table[0]) == ["claim", "labels", "default · mean", "varied · mean"]
    assert table[0]["default · mean"].startswith("✓ holds") and table[0]["varied · mean"].startswith("✗")
    md = verdict_markdown(vs)
    assert "paired (same-seed) difference" in md and md.count("| ") > len(table)
    assert count_states(vs)["holds"] == 17
