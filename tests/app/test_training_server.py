"""Training runs belong to the server: controlled within a step, found again by id, stopped runs kept
apart until someone keeps them, paused runs timed out; the Train page's presets and words."""

from __future__ import annotations

import io
import multiprocessing
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from PIL import Image
from streamlit.testing.v1 import AppTest

from toymae.app import train_form as tf
from toymae.app import training_server as ts
from toymae.app.catalog import load_manifest
from toymae.app.training_server import MAX_STEPS, BackgroundRun, Progress, TrainingSlot, server_slot
from toymae.checkpoint import load_checkpoint_bytes
from toymae.config import DATASETS, recipe

ROOT = Path(__file__).resolve().parents[2]


def _wait(run, states, timeout=120):
    """Poll until the run reaches one of ``states`` (the run is on another thread)."""
    deadline = time.time() + timeout
    while run.progress.state not in states and time.time() < deadline:
        time.sleep(0.02)
    return run.progress.state


def _wait_step(run, step, timeout=120):
    deadline = time.time() + timeout
    while run.progress.step < step and time.time() < deadline:
        time.sleep(0.02)
    return run.progress.step


# ------------------------------------------------------------------ the run and the slot
def test_a_finished_run_publishes_its_model_without_anyone_watching():
    slot = TrainingSlot()
    run = slot.claim(tiny_config(steps=3, eval_every=0), owner="gone")
    assert slot.get(run.run_id) is run and slot.get("nope") is None and slot.get(None) is None
    assert _wait(run, {"done", "failed"}) == "done", run.progress.error
    kept = slot.models()
    assert list(kept) == [run.default_name()] and run.kept
    model = kept[run.default_name()]
    assert model.run_id == run.run_id and run.result is model and (model.steps, model.total) == (3, 3)
    ckpt = load_checkpoint_bytes(model.data)  # the download is a valid checkpoint of that model
    for k, v in model.checkpoint.model.state_dict().items():
        assert torch.equal(ckpt.model.state_dict()[k], v)
    assert ckpt.train_config == run.config and ckpt.summary["stopped_early"] is False
    assert ckpt.summary["held_out_loss"] is not None  # the final evaluation ran
    assert [e["step"] for e in run.progress.evals] == [3]


def test_evaluations_run_between_steps_and_the_preview_is_one_fixed_reconstruction():
    run = BackgroundRun(tiny_config(steps=40, eval_every=20), owner="a")
    run.start()
    assert _wait(run, {"done", "failed"}) == "done", run.progress.error
    p = run.progress
    steps, losses = run.loss_history()
    assert steps == list(range(1, 41)) and len(losses) == 40 and p.step == 40
    assert [e["step"] for e in p.evals] == [20, 40]
    assert run.result.checkpoint.train_config == run.config  # eval_every=20 recorded, as asked
    image = Image.open(io.BytesIO(p.preview))
    size = run.config.model.image_size
    assert p.preview_step == 40 and image.height == 5 * size and image.width == 4 * 5 * size + 3 * 4
    assert p.images_per_s > 0 and p.train_seconds > 0


def test_same_settings_get_distinct_names_and_the_oldest_model_goes_first():
    slot = TrainingSlot(keep=2)
    runs = []
    for _ in range(3):
        run = slot.claim(tiny_config(steps=2, eval_every=0), owner="a")
        assert _wait(run, {"done", "failed"}) == "done", run.progress.error
        runs.append(run)
    base = runs[0].default_name()
    assert list(slot.models()) == [f"{base}-2", f"{base}-3"]
    assert slot.get(runs[0].run_id) is None and slot.get(runs[2].run_id) is runs[2]


def test_pause_holds_within_a_step_and_a_stop_while_paused_ends_the_run_at_once():
    run = BackgroundRun(tiny_config(steps=3000, eval_every=0), owner="a")
    run.start()
    _wait_step(run, 3)
    run.pause()
    at_pause = run.progress.step
    assert run.progress.state == "paused"  # says so at once
    time.sleep(0.5)
    held = run.progress.step
    assert held <= at_pause + 1  # the step under way finishes; no other starts
    time.sleep(0.5)
    assert run.progress.step == held
    run.resume()
    assert _wait_step(run, held + 3) >= held + 3 and run.progress.state == "running"
    run.pause()
    _wait(run, {"paused"})
    time.sleep(0.3)
    run.stop("in a test")
    assert run.wait_finished(timeout=30), run.progress.state
    p = run.progress
    assert p.state == "stopped" and p.stop_reason == "in a test" and p.paused_since is None
    assert tf.status_line(p, 64).startswith(f"stopped at step {p.step:,} of 3,000 (in a test)")


def test_a_stopped_run_keeps_its_model_to_itself_until_someone_keeps_it():
    slot = TrainingSlot()
    run = slot.claim(tiny_config(steps=3000, eval_every=0), owner="a")
    _wait_step(run, 5)
    run.stop()
    assert _wait(run, {"stopped", "done", "failed"}) == "stopped", run.progress.error
    assert slot.active() is None  # the slot is free as soon as the run says "stopped"
    run.join(30)
    step = run.progress.step
    assert run.result is not None and run.result.steps == step < 3000
    assert not run.kept and slot.models() == {}  # not published as if it had finished
    ckpt = load_checkpoint_bytes(run.result.data)
    assert ckpt.summary["stopped_early"] is True and ckpt.summary["steps"] == step
    assert slot.keep(run) is run.result and run.kept
    name = f"{run.default_name()}-step{step}"
    assert list(slot.models()) == [name]
    assert tf.model_label(name, slot.models()[name]).endswith(f"(stopped at step {step:,} of 3,000, kept)")
    slot.keep(run)  # keeping twice lists it once
    assert len(slot.models()) == 1


def test_a_run_stopped_while_starting_ends_at_step_0_with_no_model():
    slot = TrainingSlot()
    run = slot.claim(tiny_config(steps=3000, eval_every=0), owner="a")
    run.stop()  # the child is still importing torch
    assert _wait(run, {"stopped", "done", "failed"}) == "stopped"
    run.join(60)
    assert run.progress.step == 0 and run.result is None and slot.active() is None


def test_a_paused_run_times_out_and_frees_the_slot(monkeypatch):
    monkeypatch.setattr(ts, "PAUSE_TIMEOUT_S", 0.5)
    slot = TrainingSlot()
    run = slot.claim(tiny_config(steps=3000, eval_every=0), owner="left-the-tab")
    _wait_step(run, 2)
    run.pause()
    assert "stops by itself in" in tf.status_line(run.progress, 64)
    assert _wait(run, {"stopped", "done", "failed"}, timeout=30) == "stopped"
    assert run.progress.stop_reason == "after 0 min paused, to free the server"
    assert slot.refusal("next-visitor") is None
    run.join(30)
    assert slot.claim(tiny_config(steps=2, eval_every=0), owner="next-visitor") is not None


def test_anyone_may_end_a_run_paused_past_the_grace_period_but_not_a_running_one(monkeypatch):
    slot = TrainingSlot()
    run = slot.claim(tiny_config(steps=3000, eval_every=0), owner="a")
    _wait_step(run, 2)
    assert slot.abandoned() is None and not slot.end_abandoned(run.run_id)  # running: only its link stops it
    run.pause()
    assert slot.abandoned() is None and not slot.end_abandoned(run.run_id)  # paused a moment ago
    monkeypatch.setattr(ts, "PAUSE_GRACE_S", 0.0)
    assert slot.abandoned() is run and not slot.end_abandoned("another-id")
    assert slot.end_abandoned(run.run_id)
    assert _wait(run, {"stopped", "done", "failed"}) == "stopped"
    assert run.progress.stop_reason.startswith("by another visitor, after ")
    run.join(30)


def test_one_run_per_server_and_the_refusal_says_why():
    slot = TrainingSlot()
    first = slot.claim(tiny_config(steps=3000, eval_every=0), owner="a")
    _wait_step(first, 1)
    assert slot.claim(tiny_config(), owner="b") is None
    assert slot.refusal("b").startswith("The server trains one run at a time")
    assert slot.refusal("a") == "Your run has not finished: stop it first."
    first.pause()
    assert "is paused: it stops by itself after 10 min paused" in slot.refusal("b")
    first.stop()
    _wait(first, {"stopped"})
    assert slot.refusal("a") is None and slot.refusal("b") is None
    second = slot.claim(tiny_config(steps=5, eval_every=0), owner="b")
    assert second is not None and _wait(second, {"done"}) == "done"
    with pytest.raises(ValueError, match="at most"):
        BackgroundRun(tiny_config(steps=MAX_STEPS + 1), owner="c")


def test_training_time_leaves_out_pauses():
    run = BackgroundRun(tiny_config(steps=3000, eval_every=0), owner="a")
    t0 = time.perf_counter()
    run.start()
    _wait_step(run, 3)
    run.pause()
    time.sleep(1.5)
    run.resume()
    _wait_step(run, run.progress.step + 3)
    run.stop()
    run.wait_finished(30)
    wall = time.perf_counter() - t0
    p = run.progress
    assert p.train_seconds < wall - 1.0  # the 1.5 s pause is not training time
    assert p.images_per_s == pytest.approx(p.step * run.config.batch_size / p.train_seconds)
    run.join(30)


def test_a_diverged_run_fails_with_a_clear_error_and_sends_no_model():
    """The child's loop, run here (in a thread of this process) on a model whose forward overflows."""
    inbox, outbox = multiprocessing.Pipe(duplex=False)
    resume, stop = multiprocessing.Event(), multiprocessing.Event()
    resume.set()
    child = ts._ChildRun(tiny_config(steps=2, eval_every=0), outbox, resume, stop)
    with torch.no_grad():
        for p in child.trainer.model.parameters():
            p.mul_(1e30)  # finite, but every forward pass overflows
    child.run()
    messages = []
    while inbox.poll():
        messages.append(inbox.recv())
    assert [kind for kind, _ in messages] == ["update"] * len(messages)  # no model
    last = messages[-1][1]
    assert last["state"] == "failed" and last["error"].startswith("training diverged: ")
    assert "lower learning rate" in last["error"]


def test_a_training_process_that_dies_fails_the_run_and_frees_the_slot():
    slot = TrainingSlot()
    run = slot.claim(tiny_config(steps=3000, eval_every=0), owner="a")
    _wait_step(run, 2)
    run._process.kill()  # what the kernel's out-of-memory killer would do
    assert _wait(run, {"failed", "stopped", "done"}) == "failed"
    assert run.progress.error.startswith("the training process ended unexpectedly (exit code")
    assert run.result is None and slot.active() is None and not slot.models()


# ------------------------------------------------------------------ the page's presets and words
@pytest.mark.parametrize("data", list(DATASETS))
def test_the_first_preset_is_the_shipped_recipe_exactly_and_the_form_round_trips(data):
    assert tf.PRESETS[0] == "Shipped recipe"
    assert tf.preset_config("Shipped recipe", data) == recipe("shipped", data)
    assert recipe("shipped").steps <= MAX_STEPS  # the page can rebuild a shipped model
    for preset in tf.PRESETS:
        config = tf.preset_config(preset, data)
        values = tf.form_values(config)
        for k, choices in tf.CHOICES.items():
            assert values[k] in choices, (preset, k, values[k])  # every preset is on the form
        assert tf.config_from_form(preset, values) == config
        assert tf.matching_preset(config) == preset
    quick = tf.preset_config("Quick look", data)
    assert quick.model == recipe("shipped", data).model and quick.steps < recipe("shipped").steps


def test_a_form_the_page_cannot_run_says_why():
    values = tf.form_values(tf.preset_config("Shipped recipe"))
    config, why = tf.checked_config("Shipped recipe", {**values, "steps": MAX_STEPS + 1})
    assert config is None and why == f"steps must be 1 to {MAX_STEPS:,} here (the CLI has no cap)"
    changed, why = tf.checked_config("Shipped recipe", {**values, "steps": 300, "embed_dim": 128})
    assert why is None and changed.steps == 300 and changed.model.embed_dim == 128
    assert tf.matching_preset(changed) == "Custom" and tf.settings_markdown(changed).startswith("**Custom**")


def test_status_lines_say_state_step_speed_and_time_left():
    p = Progress(state="running", step=100, total=3200, images_per_s=128.0)
    assert tf.status_line(p, 64) == "running · step 100 of 3,200 · 128 img/s · about 25 min 50 s left"
    assert tf.status_line(replace(p, step=0, images_per_s=0.0), 64).endswith("measuring speed")
    paused = replace(p, state="paused", paused_since=time.time() - 60)
    assert "stops by itself in 9 min" in tf.status_line(paused, 64)
    assert tf.status_line(replace(p, state="done", step=3200), 64) == "done · 3,200 steps · 128 img/s"
    assert tf.duration(59.4) == "59 s" and tf.duration(3725) == "1 h 02 min"


def test_the_loss_curve_sends_at_most_a_few_hundred_points():
    steps = list(range(1, 3201))
    losses = [1.0 / s for s in steps]
    pts = tf.loss_points(steps, losses, max_points=400)
    assert len(pts["step"]) == len(pts["loss"]) <= 400 and pts["step"][-1] == 3200
    assert pts["loss"][0] == pytest.approx(sum(losses[:8]) / 8)  # means over equal runs of steps
    assert tf.loss_points(steps[:10], losses[:10]) == {"step": steps[:10], "loss": losses[:10]}
    assert tf.loss_chart_spec(3200)["encoding"]["x"]["scale"]["domain"] == [0, 3200]


# ------------------------------------------------------------------ the page (AppTest)
@pytest.fixture()
def paused_server_run():
    """A run on the server's own slot, paused so it holds still (and costs no CPU) while pages look."""
    slot = server_slot()
    run = slot.claim(tiny_config(steps=3000, eval_every=0), owner="someone-else")
    assert run is not None, "the server slot is busy with another test's run"
    _wait_step(run, 1)  # a run stopped before its first step has no model to keep
    run.pause()
    assert _wait(run, {"paused"}) == "paused"
    yield run
    run.stop()
    _wait(run, {"stopped", "done", "failed"})
    run.join(30)


def _train_page(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page("app_pages/train.py")
    at.run()
    return at


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints in checkpoints/")
def test_a_reloaded_tab_finds_its_run_stops_it_and_keeps_the_stopped_model(paused_server_run):
    run = paused_server_run
    stranger = _train_page()  # no link: Start is off, with the reason next to it, and no controls
    _no_exception(stranger)
    start = stranger.button(key="start")
    assert start.disabled
    assert any("one run at a time" in m.value and "paused" in m.value for m in stranger.markdown)
    assert not [b for b in stranger.button if b.key in ("stop", "resume", "pause")]

    owner = _train_page(run=run.run_id)  # the owner's tab after a reload: the URL has the run
    _no_exception(owner)
    assert owner.get("progress")[0].proto.text.startswith("paused at step ")
    assert any(m.value.startswith("This run: **Custom** · encoder 2 × 32") for m in owner.markdown)
    owner.button(key="stop").click().run()
    assert _wait(run, {"stopped", "done", "failed"}) == "stopped", run.progress.error
    run.join(30)
    owner.run()  # the fragment's next tick: the run has settled
    _no_exception(owner)
    assert owner.get("progress")[0].proto.text.startswith(f"stopped at step {run.progress.step:,} of 3,000")
    assert not owner.button(key="start").disabled
    assert f"{run.result.name} (trained on this server)" not in owner.sidebar.selectbox(key="model").options
    owner.button(key="keep").click().run()
    _no_exception(owner)

    later = _train_page()  # any other session: the kept model is in its picker and listed here
    _no_exception(later)
    assert f"{run.result.name} (trained on this server)" in later.sidebar.selectbox(key="model").options
    assert any(t.value.startswith(run.result.name) and "kept" in t.value for t in later.text)


@pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints in checkpoints/")
def test_a_link_to_a_run_the_server_forgot_says_so():
    at = _train_page(run="0123456789abcdef")
    _no_exception(at)
    assert any("no longer on this server" in i.value for i in at.info)


@pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints in checkpoints/")
def test_the_form_opens_on_the_shipped_recipe_and_a_preset_fills_it():
    at = _train_page()
    _no_exception(at)
    assert at.radio(key="t_preset").value == "Shipped recipe"
    assert at.number_input(key="t_steps").value == 3200 and at.selectbox(key="t_embed_dim").value == 64
    assert at.selectbox(key="t_decoder_embed_dim").value == 32 and at.selectbox(key="t_lr").value == 4e-3
    at.radio(key="t_preset").set_value("Quick look").run()
    _no_exception(at)
    assert at.number_input(key="t_steps").value == tf.QUICK_STEPS


@pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints in checkpoints/")
def test_the_page_trains_a_run_to_the_end_and_every_session_can_pick_its_model():
    at = _train_page()
    at.number_input(key="t_steps").set_value(5).run()
    at.button(key="start").click().run()
    _no_exception(at)
    run = server_slot().get(at.session_state["my_run_id"])
    assert run is not None and run.config == replace(recipe("shipped"), steps=5)
    assert at.button(key="start").disabled  # while it runs, with the reason beside it
    assert any(m.value.startswith(":orange[:material/block: Your run has not finished") for m in at.markdown)
    run.join(600)
    at.run()  # what the fragment's timer does in a browser: the run has settled, the page redraws
    _no_exception(at)
    assert at.get("progress")[0].proto.text.startswith("done · 5 steps · ")
    assert f"{run.result.name} (trained on this server)" in at.sidebar.selectbox(key="model").options
    assert not at.button(key="start").disabled


def test_the_loss_chart_is_recomputed_at_most_every_few_seconds_and_when_the_run_ends():
    class Run:
        run_id, finished = "r", False
        history = ([1, 2], [0.5, 0.4])

        def loss_history(self):
            return self.history

    run, cache = Run(), {}
    first = tf.throttled_loss_points(run, cache, every=3600)
    run.history = ([1, 2, 3], [0.5, 0.4, 0.3])
    assert tf.throttled_loss_points(run, cache, every=3600) is first  # the browser redraws nothing
    assert tf.throttled_loss_points(run, cache, every=0)["step"] == [1, 2, 3]
    run.history = ([1, 2, 3, 4], [0.5, 0.4, 0.3, 0.2])
    run.finished = True
    assert tf.throttled_loss_points(run, cache, every=3600)["step"] == [1, 2, 3, 4]  # the end is drawn
