"""Training runs belong to the server: found again by id after a reload, models kept for everyone."""

from __future__ import annotations

import time

import pytest
import torch
from conftest import tiny_config
from streamlit.testing.v1 import AppTest

from toymae.app.catalog import load_manifest
from toymae.app.training_server import BackgroundRun, TrainingSlot, server_slot
from toymae.checkpoint import load_checkpoint_bytes


def _wait(run, states, timeout=120):
    """Poll until the run reaches one of ``states`` (the run is on another thread)."""
    deadline = time.time() + timeout
    while run.progress.state not in states and time.time() < deadline:
        time.sleep(0.05)
    return run.progress.state


def test_a_finished_run_keeps_its_model_on_the_server_without_anyone_watching():
    slot = TrainingSlot()
    run = slot.claim(tiny_config(steps=3, eval_every=0), owner="gone")
    assert slot.get(run.run_id) is run and slot.get("nope") is None and slot.get(None) is None
    assert _wait(run, {"done", "failed"}) == "done", run.progress.error
    kept = slot.models()
    m = run.config.model
    name = f"trained-{m.mask_ratio:g}-dec{m.decoder_depth}-s{run.config.seed}"
    assert list(kept) == [name]
    model = kept[name]
    assert model.run_id == run.run_id and run.result is model
    ckpt = load_checkpoint_bytes(model.data)  # the download is a valid checkpoint of that model
    for k, v in model.checkpoint.model.state_dict().items():
        assert torch.equal(ckpt.model.state_dict()[k], v)


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


def test_a_diverged_run_fails_with_a_clear_error_and_keeps_no_model():
    slot = TrainingSlot()
    run = BackgroundRun(tiny_config(steps=2, eval_every=0), owner="a", on_finish=slot._keep_model)
    with torch.no_grad():
        for p in run.trainer.model.parameters():
            p.mul_(1e30)  # finite, but every forward pass overflows
    run.start()
    assert _wait(run, {"done", "failed", "stopped"}) == "failed"
    assert run.progress.error.startswith("training diverged: "), run.progress.error
    assert "lower learning rate" in run.progress.error
    assert run.result is None and not slot.models()


@pytest.fixture()
def paused_server_run():
    """A run on the server's own slot, paused so it holds still (and costs no CPU) while pages look."""
    slot = server_slot()
    run = slot.claim(tiny_config(steps=3000, eval_every=0), owner="someone-else")
    assert run is not None, "the server slot is busy with another test's run"
    run.pause()
    assert _wait(run, {"paused"}) == "paused"
    yield run
    run.stop()
    _wait(run, {"stopped", "done", "failed"})


def _train_page(**query) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page("app_pages/train.py")
    at.run()
    return at


@pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints in checkpoints/")
def test_a_reloaded_tab_finds_its_run_and_stops_it_and_everyone_gets_the_model(paused_server_run):
    run = paused_server_run
    stranger = _train_page()  # no link: told the server is busy, offered no controls
    assert not stranger.exception, [e.value for e in stranger.exception]
    assert any("Another session is training" in i.value for i in stranger.info)
    assert not [b for b in stranger.button if b.label in ("Stop", "Resume")]

    owner = _train_page(run=run.run_id)  # the owner's tab after a reload: the URL has the run
    assert not owner.exception, [e.value for e in owner.exception]
    assert not [i for i in owner.info if "Another session" in i.value]
    assert owner.get("progress")[0].proto.text.startswith("paused · step ")
    assert owner.button(key="resume") and owner.button(key="stop")
    owner.button(key="stop").click().run()
    assert _wait(run, {"stopped", "done", "failed"}) == "stopped", run.progress.error
    owner.run()  # the fragment's next tick sees the finished run, adds it, reruns the page
    owner.run()
    assert not owner.exception, [e.value for e in owner.exception]
    name = run.result.name
    assert any(name in s.value for s in owner.success)
    assert [b for b in owner.get("download_button") if b.proto.label.startswith("Download")]

    later = _train_page()  # any other session: the model is in its picker and downloadable here
    assert not later.exception, [e.value for e in later.exception]
    assert f"{name} (trained on this server)" in later.sidebar.selectbox(key="model").options
    assert any("until the server restarts" in c.value for c in later.caption)
    assert any(t.value.startswith(name) for t in later.text)


@pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints in checkpoints/")
def test_a_link_to_a_run_the_server_forgot_says_so():
    at = _train_page(run="0123456789abcdef")
    assert not at.exception, [e.value for e in at.exception]
    assert any("no longer on this server" in i.value for i in at.info)
