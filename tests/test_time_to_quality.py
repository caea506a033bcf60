"""bench/time_to_quality.py's summary over seeds: a seed that misses the target is never averaged in."""

from types import SimpleNamespace

from bench.time_to_quality import REFERENCE, Contender, seed_summary, speedup


def _race(ours: tuple[int, float] | None, ref: tuple[int, float] | None) -> list[Contender]:
    trainer = SimpleNamespace(step=3200)
    return [
        Contender("ours", trainer, None, reached_at=ours),
        Contender(REFERENCE, trainer, None, reached_at=ref),
    ]


def test_speedup_is_reference_seconds_over_ours_and_none_where_either_missed():
    assert speedup(_race((2000, 50.0), (2200, 100.0)))["ours"] == 2.0
    assert speedup(_race(None, (2200, 100.0)))["ours"] is None
    assert speedup(_race((2000, 50.0), None))["ours"] is None


def test_seed_summary_gives_median_and_range_and_counts_misses():
    races = [_race((2000, 50.0), (2200, 100.0)), _race((2400, 80.0), (2200, 96.0)), _race(None, (2000, 90.0))]
    ours = next(line for line in seed_summary(races) if line.startswith("ours"))
    assert "steps to target 2200 [2000, 2400] over 2 seed(s)" in ours  # the two that reached it
    assert "vs reference 1.60x [1.20, 2.00] over 2 seed(s)" in ours
    assert "missed on 1 seed(s)" in ours
