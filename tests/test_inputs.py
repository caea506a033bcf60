"""Held-out-style inputs, made as a careless user or an attacker would: files that are not files, a
giant sparse file, a valid model far too big to run, a model that shows its encoder nothing, and
disks that refuse a write.

Each crafted file goes through ``python -m toymae info|probe|reconstruct FILE`` as a user types it:
one line on stderr, exit 2, no traceback, within a time limit, and with the child's peak resident
memory measured (``RUSAGE_CHILDREN`` of a small runner process) against a generous limit: reading a
2 GiB file, or /dev/zero, would cost gigabytes; importing torch costs about 250 MB.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from safetensors import safe_open
from safetensors.torch import save_file

from toymae.checkpoint import MAX_FILE_BYTES, CheckpointError, load_checkpoint, save_checkpoint
from toymae.cli import main
from toymae.config import (
    CLI_BUDGET,
    DASHBOARD_BUDGET,
    MAEConfig,
    TrainConfig,
    budget_problem,
    mask_ratio_problem,
    model_cost,
)
from toymae.files import WriteError, write_atomic
from toymae.model import MaskedAutoencoder, build_model, count_parameters

ROOT = Path(__file__).resolve().parent.parent
CHILD_TIMEOUT_S = 90  # a refusal takes the time of importing torch; a FIFO read would never return
MAX_CHILD_RSS_MB = 1000
COMMANDS = ("info", "probe", "reconstruct")


# --------------------------------------------------------------------------- the crafted files
def _directory(tmp: Path) -> Path:
    (tmp / "x.safetensors").mkdir()
    return tmp / "x.safetensors"


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "pipe.safetensors")
    return tmp / "pipe.safetensors"


def _dev_zero(tmp: Path) -> Path:
    (tmp / "zero.safetensors").symlink_to("/dev/zero")
    return tmp / "zero.safetensors"


def _sparse(tmp: Path) -> Path:
    path = tmp / "sparse.safetensors"
    with open(path, "wb") as f:
        f.truncate(MAX_FILE_BYTES)  # 2 GiB of zeros that take no disk: the loader must not read them
    return path


# Small on disk (8.8 M parameters, 18 MB in float16), huge in compute: 1,024 patches through 24 + 24
# blocks is ~37 GFLOP per image, so a probe of 2 x 2,000 images would take hours on a laptop.
BOMB = MAEConfig(
    image_size=256,
    patch_size=8,
    embed_dim=96,
    depth=24,
    num_heads=4,
    decoder_embed_dim=96,
    decoder_depth=24,
    decoder_num_heads=4,
    mlp_ratio=8.0,
)


def _bomb(tmp: Path) -> Path:
    cfg = TrainConfig(model=BOMB, data=replace(tiny_config().data, image_size=256))
    return save_checkpoint(
        tmp / "bomb.safetensors", build_model(BOMB, device="cpu"), cfg, dtype=torch.float16
    )


def _zero_visible(tmp: Path) -> Path:
    """A valid 64-patch model whose config says mask ratio 0.99: int(64 x 0.01) = 0 patches visible."""
    model_cfg = MAEConfig(embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=16, decoder_num_heads=2)
    cfg = replace(tiny_config(), model=model_cfg, data=replace(tiny_config().data, image_size=32))
    good = save_checkpoint(tmp / "good.safetensors", build_model(model_cfg, device="cpu"), cfg)
    with safe_open(good, "pt") as f:
        metadata, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    config = json.loads(metadata["config"])
    config["model"]["mask_ratio"] = 0.99
    save_file(tensors, tmp / "zero-visible.safetensors", {**metadata, "config": json.dumps(config)})
    return tmp / "zero-visible.safetensors"


INPUTS = {
    "directory named x.safetensors": (_directory, "this is a directory, not a checkpoint file"),
    "named pipe": (_fifo, "this is a named pipe (FIFO), not a checkpoint file"),
    "symlink to /dev/zero": (_dev_zero, "this is a character device, not a checkpoint file"),
    "sparse 2 GiB file": (_sparse, "not a safetensors file, or a truncated or damaged one"),
    "compute bomb": (_bomb, "this model needs ~37.5 GFLOP per image; the command line allows 20"),
    "zero visible patches": (_zero_visible, "mask_ratio 0.99 leaves 0 of 64 patches visible"),
}

# Runs one command and reports its exit code, stderr and peak RSS: RUSAGE_CHILDREN of this small
# runner covers exactly that one child, whatever ran before in the test process.
RUNNER = """
import json, resource, subprocess, sys
try:
    out = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=float(sys.argv[1]))
    rc, err = out.returncode, out.stderr
except subprocess.TimeoutExpired:
    rc, err = None, "timed out"
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": rc, "stderr": err, "max_rss_mb": rss / 1024}))
"""


@pytest.fixture(scope="module")
def crafted(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("crafted")
    return {kind: make(tmp) for kind, (make, _) in INPUTS.items()}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", list(INPUTS))
def test_each_crafted_file_gets_one_line_and_exit_2_in_bounded_time_and_memory(
    crafted, kind, command, tmp_path
):
    path = crafted[kind]
    extra = ["--out", str(tmp_path / "r.png")] if command == "reconstruct" else []
    argv = [sys.executable, "-m", "toymae", command, str(path), *extra]
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, str(CHILD_TIMEOUT_S), *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=CHILD_TIMEOUT_S + 60,
    )
    seconds = time.perf_counter() - t0
    report = json.loads(out.stdout)
    lines = report["stderr"].strip().splitlines()
    assert report["rc"] == 2, (report, seconds)
    assert len(lines) == 1 and "Traceback" not in report["stderr"], report["stderr"]
    assert lines[0].startswith(f"toymae {command}: error: {path}: "), lines[0]
    assert INPUTS[kind][1] in lines[0], lines[0]
    assert report["max_rss_mb"] < MAX_CHILD_RSS_MB, report
    assert not (tmp_path / "r.png").exists()


@pytest.mark.parametrize("kind", [k for k in INPUTS if k != "named pipe"])  # the pipe: only in a child
def test_the_loader_refuses_each_crafted_file_before_reading_it(crafted, kind):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(crafted[kind])
    assert str(info.value).startswith(f"{crafted[kind]}: ") and INPUTS[kind][1] in str(info.value)


def test_a_symlink_to_a_good_file_loads(tmp_path):
    good = save_checkpoint(
        tmp_path / "good.safetensors", build_model(tiny_config().model, device="cpu"), tiny_config()
    )
    (tmp_path / "link.safetensors").symlink_to(good)
    assert load_checkpoint(tmp_path / "link.safetensors").train_config == tiny_config()


def test_a_git_lfs_pointer_says_what_it_is(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 466976\n")
    with pytest.raises(CheckpointError, match="a Git LFS pointer file, not the weights"):
        load_checkpoint(path)


# --------------------------------------------------------------------------- the compute budget
def test_the_budget_counts_parameters_exactly_and_refuses_by_flops():
    for cfg in (MAEConfig(), tiny_config().model, BOMB):
        assert model_cost(cfg).parameters == count_parameters(MaskedAutoencoder(cfg, device="meta"))
    assert budget_problem(BOMB, CLI_BUDGET) == (
        "this model needs ~37.5 GFLOP per image; the command line allows 20; --allow-large runs it anyway"
    )
    assert budget_problem(BOMB, DASHBOARD_BUDGET).endswith("the dashboard allows 1")


def test_the_dashboard_budget_admits_every_model_its_train_page_makes():
    from toymae.app.train_form import CHOICES, PRESETS, preset_config

    for preset in PRESETS:
        base = preset_config(preset).model
        largest = replace(base, **{k: max(CHOICES[k]) for k in ("depth", "embed_dim", "decoder_depth")})
        largest = replace(largest, decoder_embed_dim=max(CHOICES["decoder_embed_dim"]))
        assert budget_problem(largest, DASHBOARD_BUDGET) is None, model_cost(largest)
    assert budget_problem(MAEConfig(), DASHBOARD_BUDGET) is None  # the library's default model too


def test_allow_large_lets_the_command_line_read_a_model_over_its_budget(crafted, capsys):
    assert main(["info", str(crafted["compute bomb"])]) == 2
    assert "--allow-large runs it anyway" in capsys.readouterr().err
    assert main(["info", str(crafted["compute bomb"]), "--allow-large"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["model"]["depth"] == 24


# --------------------------------------------------------------------------- visible patches
def test_a_ratio_that_hides_every_patch_is_refused_with_its_reason():
    assert mask_ratio_problem(0.99, 64) == (
        "0.99 leaves 0 of 64 patches visible; the encoder needs at least one (at most 63 of 64 may be hidden)"
    )
    assert mask_ratio_problem(63 / 64, 64) is None  # exactly one visible
    with pytest.raises(ValueError, match=r"mask_ratio 0\.99 leaves 0 of 64 patches visible"):
        MAEConfig(mask_ratio=0.99)


@pytest.mark.parametrize("command", ["reconstruct", "hallucinate"])
def test_a_user_asked_ratio_that_hides_every_patch_is_refused(command, tmp_path, capsys):
    cfg = tiny_config()  # 16 patches: 0.95 leaves int(16 x 0.05) = 0 visible
    path = save_checkpoint(tmp_path / "m.safetensors", build_model(cfg.model, device="cpu"), cfg)
    argv = [command, str(path), "--mask-ratio", "0.95", "--out", str(tmp_path / "r.png")]
    assert main(argv if command == "reconstruct" else argv[:4]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "0.95 leaves 0 of 16 patches visible" in err, err


# --------------------------------------------------------------------------- disks that refuse a write
@pytest.mark.parametrize(
    ("error", "words"),
    [(OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
     (PermissionError(errno.EACCES, "Permission denied"), "Permission denied")],
    ids=["disk full", "no permission"],
)  # fmt: skip
def test_a_write_that_fails_is_one_writeerror_and_leaves_no_file(tmp_path, monkeypatch, error, words):
    def fail(fd):
        raise error

    monkeypatch.setattr("toymae.files.os.fsync", fail)
    with pytest.raises(WriteError) as info:
        write_atomic(tmp_path / "out" / "x.bin", b"payload")
    assert str(info.value) == f"cannot write {tmp_path / 'out' / 'x.bin'}: {words}"
    assert list((tmp_path / "out").iterdir()) == []  # the temp file is gone too


@pytest.mark.parametrize("command", ["reconstruct", "train"])
def test_the_command_line_reports_a_full_disk_in_one_line(command, tmp_path, monkeypatch, capsys):
    cfg = tiny_config()
    path = save_checkpoint(tmp_path / "m.safetensors", build_model(cfg.model, device="cpu"), cfg)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("toymae.files.os.fsync", full)
    out = tmp_path / ("r.png" if command == "reconstruct" else "t.safetensors")
    flags = ["--recipe", "tiny", "--steps", "2", "--quiet"] if command == "train" else [str(path)]
    assert main([command, *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"toymae {command}: error: cannot write {out}: No space left on device", err
    assert not out.exists()


def test_reconstruct_scale_is_bounded(tmp_path, capsys):
    import numpy as np

    from toymae.app.images import PictureTooLargeError, grid_image

    with pytest.raises(SystemExit) as info:  # argparse refuses it, before any model is loaded
        main(["reconstruct", str(tmp_path / "m.safetensors"), "--scale", "256"])
    assert info.value.code == 2
    assert "argument --scale: must be at most 32, got 256" in capsys.readouterr().err
    big = [[np.zeros((256, 256), np.uint8)] * 4] * 8  # 256 px images at scale 32: 2 G pixels
    with pytest.raises(PictureTooLargeError, match="too large; at most 100,000,000 pixels"):
        grid_image(big, scale=32)


# --------------------------------------------------------------------------- shipped files
def test_shipped_files_carry_no_absolute_path():
    from toymae.reproduce.report import portable_command

    assert portable_command(
        ["reproduce", "--out", str(ROOT / "runs" / "r"), f"--ship={ROOT / 'checkpoints'}"]
    ) == ("python -m toymae reproduce --out runs/r --ship=checkpoints")
    for name in ("results.json", "results.md", "manifest.json"):
        path = ROOT / "checkpoints" / name
        if path.exists():
            text = path.read_text()
            assert str(ROOT) not in text and "--out /" not in text and "--ship /" not in text, name


def test_a_damaged_job_counts_as_unfinished_so_it_is_neither_shipped_nor_a_crash(tmp_path):
    from toymae.checkpoint import checkpoint_bytes
    from toymae.reproduce import base_config, blog_cells, checkpoint_path, load_done, make_jobs, result_path

    jobs = make_jobs(base_config(quick=True), [0], cells=blog_cells()[:3])
    blob = checkpoint_bytes(build_model(jobs[0].config.model, device="cpu"), jobs[0].config)
    for job in jobs:
        result_path(tmp_path, job).parent.mkdir(parents=True, exist_ok=True)
        result_path(tmp_path, job).write_text(json.dumps({"key": job.key, "probe_acc": 0.5}))
        checkpoint_path(tmp_path, job).write_bytes(blob)
    checkpoint_path(tmp_path, jobs[1]).write_bytes(blob[: len(blob) // 2])  # a copy cut short
    result_path(tmp_path, jobs[2]).write_text('{"key": "')  # a result cut short
    assert list(load_done(tmp_path, jobs)) == [jobs[0].key]
