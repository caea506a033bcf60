"""The shipped models: they load, validate, and still score what the manifest records."""

import pytest

from toymae.catalog import CHECKPOINT_DIR, load_manifest, load_results
from toymae.checkpoint import load_checkpoint
from toymae.data import eval_set
from toymae.probe import probe_model
from toymae.reproduce import blog_cells

MANIFEST = load_manifest()
pytestmark = pytest.mark.skipif(not MANIFEST, reason="no shipped checkpoints")


def test_one_checkpoint_per_configuration_and_small():
    by_dataset = {}
    for e in MANIFEST:
        by_dataset.setdefault(e.get("dataset", "default"), []).append(e["name"])
    assert sorted(by_dataset.pop("default")) == sorted(c.name for c in blog_cells())
    for dataset, names in by_dataset.items():  # other datasets: the deciding cells at least
        assert set(names) <= {c.name for c in blog_cells(dataset)}, names
        assert len(names) >= 5, names
    total = sum(p.stat().st_size for p in CHECKPOINT_DIR.iterdir())
    assert total <= 40 * 1024 * 1024, total
    results = load_results()
    assert results is not None and results["meta"]["command"].startswith("python -m toymae reproduce")
    assert min(len(r["seeds"]) for r in results["table"]) >= 3


@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["name"])
def test_shipped_checkpoint_loads_and_reprobes_within_0_02(entry):
    ckpt = load_checkpoint(CHECKPOINT_DIR / entry["file"])
    assert ckpt.train_config.to_dict() == entry["config"]
    assert ckpt.train_config.model.mask_ratio == entry["mask_ratio"]
    assert ckpt.train_config.model.decoder_depth == entry["decoder_depth"]
    spec = entry["eval"]
    fresh_seed = spec["data_seed"] + 1  # a fresh evaluation set, never seen when recording
    data = ckpt.train_config.data
    train = eval_set(spec["probe_train"], data, fresh_seed, "probe-train")
    test = eval_set(spec["probe_test"], data, fresh_seed, "probe-test")
    report = probe_model(ckpt.model, train, test, regressions=False)
    assert abs(report.probe_acc - entry["results"]["probe_acc"]) <= 0.02, (report.probe_acc, entry["results"])
