"""bench/sweep_speed.py: the sweep's configurations, its weighting, and both ways of training."""

import pytest

from bench.sweep_speed import after_images_per_s, cell_configs, measure, sweep_images_per_s
from toymae.config import recipe


def test_the_sweep_is_the_nine_blog_cells_on_the_shipped_recipe():
    configs = cell_configs("varied")
    assert len(configs) == 9
    shipped = recipe("shipped", "varied")
    for name, config in configs.items():
        assert name.startswith("varied-ratio")
        assert (config.steps, config.batch_size, config.lr) == (shipped.steps, shipped.batch_size, shipped.lr)
        assert config.data == shipped.data
    pairs = {(c.model.mask_ratio, c.model.decoder_depth) for c in configs.values()}
    assert pairs == {(r, 2) for r in (0.1, 0.5, 0.6, 0.7, 0.8, 0.9)} | {(0.6, d) for d in (1, 3, 4)}


def test_the_sweeps_speed_is_total_images_over_total_time():
    # 100 img/s and 300 img/s for the same images: 1/100 + 1/300 seconds per 2 images
    assert sweep_images_per_s({"a": 100.0, "b": 300.0}) == pytest.approx(150.0)


def test_measure_times_one_job_and_side_by_side_workers():
    config = recipe("tiny", "varied")
    out = measure({"tiny": config}, steps=2, warmup=1, workers=2)
    assert set(out) == {"tiny"} and set(out["tiny"]) == {"before", "after"}
    assert all(v > 0 for v in out["tiny"].values())


def test_a_worker_that_dies_fails_the_measurement_instead_of_hanging():
    with pytest.raises(RuntimeError, match="exited"):
        after_images_per_s(recipe("tiny", "varied"), steps=1, warmup=0, workers=2, threads=0)
