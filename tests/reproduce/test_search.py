"""The search's findings checks (bench/search.py): written before the search, so they must be right."""

import pytest

from bench.search import SEARCH_CELLS, Variant, choose, findings


def rows(variant: str, probe: dict, pca2: dict) -> list[dict]:
    return [
        {
            "variant": variant,
            "mask_ratio": r,
            "decoder_depth": d,
            "probe_acc": probe[(r, d)],
            "pca2_acc": pca2[(r, d)],
        }
        for r, d in SEARCH_CELLS
    ]


BLOG_LIKE = {(0.1, 2): 0.978, (0.6, 2): 0.986, (0.9, 2): 0.767, (0.6, 1): 0.991, (0.6, 4): 0.829}
FLAT = dict.fromkeys(SEARCH_CELLS, 0.99)
PCA_BLOG = {**dict.fromkeys(SEARCH_CELLS, 0.6), (0.6, 1): 0.95}


def test_the_blogs_numbers_meet_every_finding():
    f = findings(rows("v", BLOG_LIKE, PCA_BLOG))
    assert (f["F1"], f["F2"], f["F3"], f["met"]) == (True, True, True, 3)


def test_flat_numbers_meet_none():
    f = findings(rows("v", FLAT, dict.fromkeys(SEARCH_CELLS, 0.5)))
    assert f["met"] == 0 and f["margin"] < 0


@pytest.mark.parametrize(
    "change, finding",
    [
        ({(0.9, 2): 0.90}, "F1"),  # only 0.086 below the middle
        ({(0.1, 2): 0.99}, "F1"),  # the low ratio is best: no sweet spot
        ({(0.6, 4): 0.90}, "F2"),  # depth 4 only 0.091 below depth 1
    ],
)
def test_each_threshold_is_strict(change, finding):
    assert findings(rows("v", {**BLOG_LIKE, **change}, PCA_BLOG))[finding] is False


def test_pca_needs_a_high_depth1_score_and_a_gap():
    assert findings(rows("v", BLOG_LIKE, {**PCA_BLOG, (0.6, 1): 0.85}))["F3"] is False
    assert findings(rows("v", BLOG_LIKE, {**PCA_BLOG, (0.6, 4): 0.9}))["F3"] is False


def test_a_missing_cell_means_no_verdict():
    assert findings(rows("v", BLOG_LIKE, PCA_BLOG)[:-1]) is None


def test_choose_prefers_more_findings_then_the_cheaper_variant():
    cheap, dear, best = Variant("g8", steps=1000), Variant("g16", steps=1000), Variant("g16", steps=3000)
    data = (
        rows(cheap.name, FLAT, PCA_BLOG)
        + rows(dear.name, FLAT, PCA_BLOG)
        + rows(best.name, BLOG_LIKE, PCA_BLOG)
    )
    assert choose(data, [cheap, dear, best])[0] == best
    assert choose(data[:10], [cheap, dear, best])[0] == cheap  # tie on findings: cheaper on a CPU
    assert choose([], [cheap]) is None


def test_the_search_starts_with_the_shipped_default():
    from bench.search import variants
    from toymae.reproduce import base_config

    assert variants()[0].config() == base_config()


def test_batch_shows_in_the_name_only_when_not_128():
    assert Variant("g8", "w128", steps=1000).name == "g8-w128-s1000-lr0.002"  # as stored in gpu-search.jsonl
    assert Variant("g8", "w64", steps=800, lr=4e-3, batch=64).name == "g8-w64-b64-s800-lr0.004"
    assert Variant(batch=64).cpu_cost() == Variant().cpu_cost() / 2
