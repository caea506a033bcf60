"""Re-judging saved models: which measurement of a run is kept when several sources hold one."""

from __future__ import annotations

import json

from toymae.reproduce.rejudge import collect, is_current, shipped_file


def record(seed: int, current: bool, tag: str) -> dict:
    cell = {"mask_ratio": 0.6, "decoder_depth": 1, "dataset": "default"}
    r = {"cell": cell, "seed": seed, "name": f"ratio0.6-dec1-seed{seed}", "tag": tag}
    if current:  # what today's evaluate_model writes
        r |= {"halluc_own": {"protocol": "v2"}, "study": {"protocols": {"mean": {"n_all_cv": 1.0}}}}
    return r


def test_a_current_measurement_is_never_replaced_by_an_older_one(tmp_path):
    shipped, old_jobs, new_jobs = (tmp_path / d for d in ("checkpoints", "old", "new"))
    for d in (shipped, old_jobs, new_jobs):
        d.mkdir()
    runs = [record(0, True, "shipped, current"), record(1, False, "shipped, v1")]
    (shipped / "results.json").write_text(json.dumps({"runs": runs}))
    (shipped / shipped_file(runs[0])).write_bytes(b"model")
    for d, seed, current, tag in ((old_jobs, 0, False, "job, v1"), (new_jobs, 1, True, "job, current")):
        (d / f"s{seed}.json").write_text(json.dumps(record(seed, current, tag)))
        (d / f"s{seed}.safetensors").write_bytes(b"model")
    kept = {r["seed"]: (p, r) for p, r in collect(shipped, [old_jobs, new_jobs])}
    assert kept[0][1]["tag"] == "shipped, current"  # the later, older job record does not win
    assert kept[1][1]["tag"] == "job, current" and kept[1][0] == new_jobs / "s1.safetensors"
    assert all(is_current(r) for _, r in kept.values())
