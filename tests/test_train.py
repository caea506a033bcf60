import math

import pytest
import torch
from conftest import tiny_config

from toymae.checkpoint import load_checkpoint
from toymae.data import eval_set
from toymae.probe import probe_model
from toymae.train import TrainConfig, Trainer, lr_at


def held_out_loss(model, cfg) -> float:
    test = eval_set(256, cfg.data, seed=0)
    with torch.no_grad():
        return float(model(test.images, generator=torch.Generator().manual_seed(0)).loss)


def test_short_training_lowers_held_out_loss():
    cfg = tiny_config(steps=80)
    trainer = Trainer(cfg, device="cpu")
    before = held_out_loss(trainer.model, cfg)
    trainer.run()
    after = held_out_loss(trainer.model, cfg)
    assert after < 0.6 * before, (before, after)


def test_probe_on_briefly_trained_model_is_well_above_chance(trained):
    trainer, _ = trained
    cfg = trainer.config
    report = probe_model(
        trainer.model, eval_set(400, cfg.data, 1, "probe-train"), eval_set(400, cfg.data, 1, "probe-test")
    )
    assert report.probe_acc > 0.75, report
    assert report.r2_x is not None and report.r2_x > 0.5  # position is easy for any encoder
    assert report.r2_size is None  # fixed size: nothing to predict


def test_lr_schedule_warms_up_then_decays():
    cfg = TrainConfig(steps=100, warmup_steps=10, lr=1.0)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(55, cfg) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_at(100, cfg) == pytest.approx(0.0, abs=1e-12)


def test_callback_sees_steps_and_evals_and_can_stop():
    seen = []

    def callback(info):
        seen.append(info)
        return info.step < 25  # ask to stop after step 25

    cfg = tiny_config(steps=60, eval_every=20)
    trainer = Trainer(cfg, device="cpu")
    summary = trainer.run(callback=callback)
    assert [i.step for i in seen] == list(range(1, 26))
    assert [i.step for i in seen if i.eval] == [20]
    # The callback sees the evaluation the run records, and a stopped run reports it as its last.
    assert trainer.history == [seen[19].eval]
    assert summary["held_out_loss"] == seen[19].eval["held_out_loss"]
    assert summary["stopped_early"] and summary["steps"] == 25


@pytest.mark.parametrize("final_eval, expected", [(True, [10, 20, 30]), (False, [10, 20])])
def test_evaluations_fall_every_eval_every_steps_and_optionally_at_the_end(final_eval, expected):
    cfg = tiny_config(steps=30, eval_every=10)
    trainer = Trainer(cfg, device="cpu")
    trainer.run(final_eval=final_eval)
    assert [row["step"] for row in trainer.history] == expected


def test_resume_continues_exactly(tmp_path):
    cfg = tiny_config(steps=30)
    straight = Trainer(cfg, device="cpu")
    straight.run()

    first = Trainer(cfg, device="cpu")
    first.run(callback=lambda info: info.step < 12, checkpoint_path=tmp_path / "half.safetensors")
    resumed = Trainer.resume(tmp_path / "half.safetensors", device="cpu")
    assert resumed.step == 12
    resumed.run()
    for (name, a), b in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name  # bit-for-bit: weights, optimiser moments and data stream restored


def test_exception_mid_run_still_leaves_a_usable_checkpoint(tmp_path):
    def explode(info):
        if info.step == 7:
            raise KeyboardInterrupt

    path = tmp_path / "interrupted.safetensors"
    with pytest.raises(KeyboardInterrupt):
        Trainer(tiny_config(), device="cpu").run(callback=explode, checkpoint_path=path)
    ckpt = load_checkpoint(path)
    assert ckpt.summary["steps"] == 7
    assert int(ckpt.extra["train.step"][0]) == 7


def test_same_seed_same_weights():
    a = Trainer(tiny_config(steps=5), device="cpu")
    a.run()
    b = Trainer(tiny_config(steps=5), device="cpu")
    b.run()
    assert all(torch.equal(x, y) for x, y in zip(a.model.parameters(), b.model.parameters(), strict=True))


def test_bad_train_config_is_rejected():
    with pytest.raises(ValueError, match="steps"):
        tiny_config(steps=0)
    with pytest.raises(ValueError, match="precision"):
        tiny_config(precision="fp8")
