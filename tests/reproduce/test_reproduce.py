import csv
import json

import pytest

from toymae import reproduce as rp
from toymae.checkpoint import load_checkpoint
from toymae.cli import main
from toymae.reproduce import sweep

TINY_EVAL = rp.EvalSpec(probe_train=64, probe_test=64, halluc_n=32)
CELLS = [rp.Cell(0.6, 1), rp.Cell(0.9, 2)]


def tiny_jobs(seeds=(0,)):
    base = rp.base_config(quick=True)
    from dataclasses import replace

    return rp.make_jobs(replace(base, steps=8), seeds, cells=CELLS, eval_spec=TINY_EVAL, threads=1)


def test_blog_cells_are_the_nine_configurations():
    cells = rp.blog_cells()
    assert len(cells) == 9 == len(set(cells))
    assert {c.mask_ratio for c in cells if c.decoder_depth == 2} == set(rp.BLOG_MASK_RATIO)
    assert {c.decoder_depth for c in cells if c.mask_ratio == 0.6} == set(rp.BLOG_DECODER_DEPTH)


def test_job_keys_depend_on_config_and_seed_only():
    a, b = tiny_jobs(seeds=(0, 1))[:2]
    assert a.key != b.key
    assert tiny_jobs()[0].key == a.key
    from dataclasses import replace

    assert replace(a, threads=2).key == a.key  # threads are how a job runs, not what it computes
    assert replace(a, device="cuda").key == a.key  # so is the device


def test_local_executor_hands_its_device_to_every_job(monkeypatch):
    seen = []
    monkeypatch.setattr(sweep, "execute_job", lambda job: (seen.append(job.device), ({}, b""))[1])
    list(rp.LocalExecutor(1, device="meta").run(tiny_jobs(seeds=(0, 1))))
    assert seen == ["meta"] * 4


def test_cuda_without_a_gpu_is_a_usage_error(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["reproduce", "--quick", "--device", "cuda", "--out", "/nonexistent/x"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_interrupted_sweep_resumes_without_redoing_jobs(tmp_path, monkeypatch):
    jobs = tiny_jobs(seeds=(0, 1))
    calls = []
    real = rp.execute_job

    def counting(job):
        calls.append(job.key)
        return real(job)

    monkeypatch.setattr(sweep, "execute_job", counting)

    class Killed(Exception):
        pass

    def kill_after_two(job, result):
        if len(calls) == 2:
            raise Killed

    with pytest.raises(Killed):
        rp.run_sweep(jobs, tmp_path, rp.LocalExecutor(), on_result=kill_after_two)
    finished = set(calls)
    assert len(rp.load_done(tmp_path, jobs)) == 2
    calls.clear()
    results = rp.run_sweep(jobs, tmp_path, rp.LocalExecutor())
    assert len(calls) == 2 and not finished & set(calls)  # only the two unfinished jobs ran
    assert [r["key"] for r in results] == [j.key for j in jobs]
    calls.clear()
    rp.run_sweep(jobs, tmp_path, rp.LocalExecutor())
    assert calls == []  # everything done: nothing reruns


def test_dask_gives_the_same_results_as_local(tmp_path):
    distributed = pytest.importorskip("distributed")
    jobs = tiny_jobs()
    local = rp.run_sweep(jobs, tmp_path / "local", rp.LocalExecutor())
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = rp.run_sweep(jobs, tmp_path / "dask", rp.DaskExecutor(client=client, threads=1))
    for a, b in zip(local, remote, strict=True):
        assert a["key"] == b["key"]
        for metric in ("probe_acc", "pca2_acc", "held_out_loss", "halluc_rate_common"):
            assert a[metric] == b[metric], metric
    for job in jobs:  # checkpoints came back to the output folder
        assert load_checkpoint(rp.checkpoint_path(tmp_path / "dask", job)).train_config == job.config


def test_reproduce_quick_writes_all_formats_and_ships(tmp_path, capsys):
    out, ship = tmp_path / "out", tmp_path / "ckpts"
    assert main(["reproduce", "--quick", "--seeds", "1", "--out", str(out), "--ship", str(ship)]) == 0
    printed = capsys.readouterr().out
    assert "Mask ratio (decoder depth 2)" in printed and "0.767" in printed  # blog numbers beside ours
    data = json.loads((out / "results.json").read_text())
    assert len(data["runs"]) == 9 and len(data["table"]) == 9
    assert data["meta"]["command"].startswith("python -m toymae reproduce --quick")
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 9 and {"probe_acc", "probe_acc_ci95", "halluc_rate_common"} <= set(rows[0])
    md = (out / "results.md").read_text()
    assert "| 0.9 | 0.767 |" in md and "Models: 16 px images in 4×4 patches" in md and "40 steps of 64" in md
    manifest = json.loads((ship / "manifest.json").read_text())
    assert len(manifest["checkpoints"]) == 9
    entry = manifest["checkpoints"][0]
    ckpt = load_checkpoint(ship / entry["file"])
    assert ckpt.train_config.model.mask_ratio == entry["mask_ratio"]
    assert ckpt.summary["probe_acc"] == entry["results"]["probe_acc"]


def test_scheduler_that_is_not_there_is_a_clear_error(capsys):
    pytest.importorskip("distributed")
    code = main(["reproduce", "--quick", "--scheduler", "tcp://127.0.0.1:9", "--out", "/nonexistent/x"])
    assert code == 2


def test_training_summary_names_the_model_and_budget_and_flags_mixed_runs():
    from dataclasses import replace

    base = rp.base_config()
    jobs = rp.make_jobs(base, [0, 1])[:2]
    runs = [{"config": j.config.to_dict(), "train_seconds": t} for j, t in zip(jobs, (40, 90), strict=True)]
    text = rp.training_summary(runs)
    assert f"{base.steps} steps of {base.batch_size} images" in text
    assert f"encoder {base.model.depth} × {base.model.embed_dim} wide" in text and "40–90 s" in text
    assert "differ" not in text
    longer = {"config": replace(base, steps=base.steps * 2).to_dict(), "train_seconds": 1.0}
    assert "differ" in rp.training_summary([*runs, longer])


def test_one_seed_reports_a_mean_without_an_interval_and_two_a_t_interval():
    runs = [{"cell": {"mask_ratio": 0.6, "decoder_depth": 1}, "seed": 0, "probe_acc": 0.9}]
    (row,) = rp.aggregate(runs)
    assert row["probe_acc"] == 0.9 and row["probe_acc_ci95"] is None
    assert rp.format_mean_ci(0.9, None) == "0.900"
    assert rp.format_mean_ci(0.9, 0.0123) == "0.900 ± 0.012"
    runs.append({**runs[0], "seed": 1, "probe_acc": 0.8})
    # two seeds: t(1) = 12.706 times the standard error 0.05
    assert rp.aggregate(runs)[0]["probe_acc_ci95"] == pytest.approx(12.706 * 0.05, abs=1e-3)


def test_tables_put_each_probe_beside_its_random_init_and_never_average_v1_with_v2_rates():
    def run(seed: int, protocol: str, rate: float, blind: float) -> dict:
        study = {"n_all_cv": 0.9 + seed / 100, "pca2_std": 0.8}
        random = {"n_all_cv": 0.6, "pca2_std": 0.55}
        halluc = {"protocol": protocol, "blind": {"labels": {"hallucinated": {"rate": blind}}}}
        return {
            "cell": {"mask_ratio": 0.6, "decoder_depth": 2, "dataset": "default"},
            "seed": seed,
            "held_out_loss": 0.01,
            "halluc_rate_own": rate,
            "halluc_rate_common": rate,
            "halluc_own": halluc,
            "halluc_common": halluc,
            "study": {"protocols": {"mean": study}, "random_init": {"mean": random}},
        }

    rows = rp.aggregate([run(0, "v2", 0.02, 0.25), run(1, "v2", 0.04, 0.25), run(2, "v1", 0.5, 0.25)])
    assert rows[0]["halluc_rate_own"] == pytest.approx(0.03)  # the v1 count of 0.5 is left out
    line = next(x for x in rp.markdown_tables(rows).splitlines() if x.startswith("| 0.6 |"))
    assert line.split(" | ")[1:4] == ["0.986", "0.910 ± 0.025 (0.600)", "0.800 ± 0.000 (0.550)"]
    assert "0.030 ± 0.127 (0.250)" in line  # the rate beside the blind decoder's


def test_the_reproduction_still_names_every_shipped_run():
    """A job's key names its result files: a change to the shipped recipe or the evaluation that moved
    a key would make `reproduce` train the shipped runs again instead of finding them."""
    from dataclasses import replace
    from pathlib import Path

    shipped = json.loads((Path(__file__).parents[2] / "checkpoints" / "results.json").read_text())["runs"]
    for run in shipped:
        cell = rp.Cell(**run["cell"])
        base = replace(rp.base_config(data=cell.dataset), precision=run["config"]["precision"])
        assert rp.make_jobs(base, [run["seed"]], cells=[cell])[0].key == run["key"], run["name"]


def test_a_job_asked_for_evaluations_records_its_loss_curve_and_times_evaluation_apart(monkeypatch):
    import time
    from dataclasses import replace

    from toymae.train import Trainer

    job = tiny_jobs()[0]
    job = replace(job, config=replace(job.config, eval_every=4))
    evaluate = Trainer.evaluate

    def slow_evaluate(self):
        row = evaluate(self)
        time.sleep(0.5)
        row["seconds"] += 0.5
        return row

    monkeypatch.setattr(Trainer, "evaluate", slow_evaluate)
    t0 = time.perf_counter()
    result, _ = rp.execute_job(job)
    wall = time.perf_counter() - t0
    assert [p["step"] for p in result["curve"]] == [4, 8]  # the last step included
    assert all(p["held_out_loss"] > 0 for p in result["curve"])
    assert 0 < result["train_seconds"] < wall - 1.0  # the two slowed evaluations are not training
    assert result["eval_seconds"] >= 1.0
    monkeypatch.setattr(Trainer, "evaluate", evaluate)
    plain, _ = rp.execute_job(tiny_jobs()[0])
    assert "curve" not in plain  # the shipped recipe evaluates once, after training
