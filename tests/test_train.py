import math
import signal

import pytest
import torch
from conftest import tiny_config

from toymae.checkpoint import CheckpointError, load_checkpoint
from toymae.data import eval_set
from toymae.probe import probe_model
from toymae.train import TrainConfig, Trainer, TrainingInterrupted, lr_at


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


def test_the_fused_optimiser_updates_as_the_loop_does_up_to_rounding():
    """The Trainer's one-kernel AdamW takes the reference's plain AdamW steps (same groups, betas,
    decay, schedule), not some other update: fed the same gradients, both end at the same weights."""
    cfg = tiny_config(steps=5)
    fused, loop = Trainer(cfg, device="cpu"), Trainer(cfg, device="cpu")
    assert fused.optimizer.defaults["fused"]
    for group in loop.optimizer.param_groups:
        group["fused"] = False
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        for a, b in zip(fused.model.parameters(), loop.model.parameters(), strict=True):
            a.grad = torch.randn(a.shape, generator=gen)
            b.grad = a.grad.clone()
        fused.optimizer.step()
        loop.optimizer.step()
    for (name, a), (_, b) in zip(fused.model.named_parameters(), loop.model.named_parameters(), strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-7), name
    assert not torch.equal(
        fused.model.blocks[0].attn.qkv.weight, Trainer(cfg).model.blocks[0].attn.qkv.weight
    )


def test_bad_train_config_is_rejected():
    with pytest.raises(ValueError, match="steps"):
        tiny_config(steps=0)
    with pytest.raises(ValueError, match="precision"):
        tiny_config(precision="fp8")


# --------------------------------------------------------------------------- stopping exactly
def _straight(cfg) -> Trainer:
    trainer = Trainer(cfg, device="cpu")
    trainer.run()
    return trainer


def _assert_same_weights(a: Trainer, b: Trainer) -> None:
    for (name, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(x, y), name


def _hook_forward(trainer: Trainer, at_call: int, action) -> None:
    """Run ``action`` inside the ``at_call``-th forward pass: the batch is drawn, the masks are not."""
    real, calls = trainer.model.forward, [0]

    def forward(*args, **kwargs):
        calls[0] += 1
        if calls[0] == at_call:
            action()
        return real(*args, **kwargs)

    trainer.model.forward = forward


def test_signals_inside_a_step_finish_it_save_once_and_resume_bit_for_bit(tmp_path):
    cfg = tiny_config(steps=30)
    path = tmp_path / "stopped.safetensors"
    trainer = Trainer(cfg, device="cpu")
    # Three Ctrl-Cs and a SIGTERM inside step 12, then another SIGTERM while the state is written.
    signals = [signal.SIGINT, signal.SIGINT, signal.SIGINT, signal.SIGTERM]
    _hook_forward(trainer, 12, lambda: [signal.raise_signal(s) for s in signals])
    real_save = trainer.save
    trainer.save = lambda p: (signal.raise_signal(signal.SIGTERM), real_save(p))[1]
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(TrainingInterrupted) as info:
        trainer.run(checkpoint_path=path)
    assert info.value.step == 12 and trainer.step == 12  # the step in flight was finished, not lost
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers  # put back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stopped.safetensors"]  # no temp file left
    resumed = Trainer.resume(path, device="cpu")
    assert resumed.step == 12
    resumed.run()
    _assert_same_weights(_straight(cfg), resumed)


def test_an_error_inside_a_step_rolls_it_back_and_the_saved_state_resumes_exactly(tmp_path):
    cfg = tiny_config(steps=20)
    path = tmp_path / "failed.safetensors"
    trainer = Trainer(cfg, device="cpu")

    def fail():
        raise RuntimeError("out of memory, say")

    _hook_forward(trainer, 9, fail)  # inside step 9: its batch was drawn from the data stream
    with pytest.raises(RuntimeError, match="out of memory"):
        trainer.run(checkpoint_path=path)
    resumed = Trainer.resume(path, device="cpu")
    assert resumed.step == 8
    resumed.run()
    _assert_same_weights(_straight(cfg), resumed)


def test_a_signal_during_the_last_step_is_no_interruption():
    trainer = Trainer(tiny_config(steps=5), device="cpu")
    _hook_forward(trainer, 5, lambda: signal.raise_signal(signal.SIGINT))
    assert trainer.run(final_eval=False)["steps"] == 5


def _saved_state(tmp_path) -> dict:
    from safetensors.torch import load_file

    trainer = Trainer(tiny_config(steps=4), device="cpu")
    trainer.run(checkpoint_path=tmp_path / "ok.safetensors", final_eval=False)
    return load_file(tmp_path / "ok.safetensors")


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda t: t.update({"train.data_rng": torch.zeros(10, dtype=torch.uint8)}),
            "is not a generator state",
        ),
        (
            lambda t: t.update({"train.mask_rng": torch.zeros(5056, dtype=torch.uint8)}),
            "generator states are",
        ),
        (lambda t: t["optim.exp_avg_sq.cls_token"].fill_(-1.0), "holds negative second moments"),
        (lambda t: t.update({"train.step": torch.tensor([-3])}), "training step -3 lies outside"),
        (lambda t: t.update({"train.step": torch.tensor([2**62])}), f"training step {2**62} lies outside"),
        (lambda t: t.pop("train.mask_rng"), "lacks train.mask_rng"),
        (lambda t: t.pop("optim.exp_avg_sq.cls_token"), "covers some parameters or moments but not all"),
    ],
    ids=[
        "10-byte rng",
        "invalid rng",
        "negative moments",
        "negative step",
        "step 2**62",
        "no rng",
        "half moments",
    ],
)
def test_damaged_resume_states_are_refused_in_one_line(tmp_path, damage, expected):
    from safetensors import safe_open
    from safetensors.torch import save_file

    tensors = _saved_state(tmp_path)
    with safe_open(tmp_path / "ok.safetensors", "pt") as f:
        metadata = f.metadata()
    damage(tensors)
    path = tmp_path / "damaged.safetensors"
    save_file(tensors, path, metadata=metadata)
    with pytest.raises(CheckpointError) as info:
        Trainer.resume(path, device="cpu")
    msg = str(info.value)
    assert expected in msg and "\n" not in msg and msg.startswith(str(path)), msg


def test_the_train_command_saves_on_sigterm_and_exits_143(tmp_path, monkeypatch, capsys):
    from toymae.cli import main

    real_step = Trainer.train_step

    def step(self):
        if self.step == 3:
            signal.raise_signal(signal.SIGTERM)  # what `docker stop` sends, arriving as step 4 starts
        return real_step(self)

    monkeypatch.setattr(Trainer, "train_step", step)
    out = tmp_path / "t.safetensors"
    assert main(["train", "--recipe", "tiny", "--steps", "10", "--quiet", "--out", str(out)]) == 143
    assert f"interrupted at step 4; saved to {out}" in capsys.readouterr().err
    assert int(load_checkpoint(out).extra["train.step"][0]) == 4
