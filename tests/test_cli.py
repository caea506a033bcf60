import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from toymae.checkpoint import load_checkpoint
from toymae.cli import main
from toymae.data import eval_set
from toymae.probe import probe_model


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "toymae", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "cmd",
    [
        [],
        ["train"],
        ["probe"],
        ["reconstruct"],
        ["hallucinate"],
        ["reproduce"],
        ["pca"],
        ["info"],
        ["export"],
        ["dashboard"],
    ],
)
def test_help_everywhere(cmd):
    r = run_cli(*cmd, "--help")
    assert r.returncode == 0
    assert "usage: toymae" in r.stdout


def test_train_probe_reconstruct(tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    args = [
        "train",
        "--out",
        str(out),
        "--quiet",
        "--image-size",
        "16",
        "--patch-size",
        "4",
        "--embed-dim",
        "32",
        "--depth",
        "1",
        "--num-heads",
        "2",
        "--decoder-embed-dim",
        "16",
        "--decoder-num-heads",
        "2",
        "--steps",
        "5",
        "--batch-size",
        "16",
        "--eval-size",
        "32",
        "--mask-ratio",
        "0.5",
        "--precision",
        "fp32",
    ]
    assert main(args) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(line)["steps"] == 5
    ckpt = load_checkpoint(out)
    assert ckpt.train_config.model.embed_dim == 32 and ckpt.train_config.model.mask_ratio == 0.5

    assert main(["probe", str(out), "--n", "64", "--json", "--data-seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"probe_acc", "pca2_acc", "n_test"} <= set(report) and report["n_test"] == 64
    # The CLI reports the library's probe on the sets its flags name (size 64, data seed 3).
    data = ckpt.train_config.data
    sets = (eval_set(64, data, 3, "probe-train"), eval_set(64, data, 3, "probe-test"))
    assert report["probe_acc"] == probe_model(ckpt.model, *sets).probe_acc

    png = tmp_path / "grid.png"
    assert (
        main(["reconstruct", str(out), "--n", "3", "--out", str(png), "--scale", "2", "--mask-ratio", "0.75"])
        == 0
    )
    assert "wrote" in capsys.readouterr().out
    img = Image.open(png)
    assert img.size == (4 * 32 + 3 * 2, 3 * 32 + 2 * 2)  # 4 panels x 3 rows of 16 px at scale 2, 2-px gaps

    assert main(["info", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["resumable"] is True

    assert main(["train", "--resume", str(out), "--steps", "8", "--out", str(out), "--quiet"]) == 0
    assert load_checkpoint(out).summary["steps"] == 8


@pytest.mark.parametrize(
    "args,needle",
    [
        (["train", "--patch-size", "5"], "not divisible"),
        (["train", "--steps", "-1"], "steps"),
        (["train", "--mask-ratio", "abc"], "invalid float"),
        (["probe", "NOFILE.safetensors"], "cannot read"),
        (["bogus"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, needle):
    r = run_cli(*args)
    assert r.returncode == 2
    assert needle in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3  # argparse prints usage + the error


def test_an_unwritable_output_is_refused_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the output's folder should be
    r = run_cli("train", "--recipe", "tiny", "--out", str(blocker / "m.safetensors"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "cannot write" in r.stderr
    assert "training" not in r.stderr  # refused before the run began


def test_bad_checkpoint_file_exits_2(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04not a checkpoint")
    r = run_cli("reconstruct", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "not a safetensors file" in r.stderr


def test_hallucinate_json_and_gallery(trained, tmp_path, capsys):
    _, path = trained
    png = tmp_path / "worst.png"
    args = [
        "hallucinate",
        path,
        "--mask-ratio",
        "0.75",
        "--n",
        "100",
        "--json",
        "--gallery",
        str(png),
        "--k",
        "3",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"rate", "n_decidable", "n", "by_shape", "ci95"} <= set(out) and out["n"] == 100
    assert set(out["by_shape"]) == {"circle", "square"}
    assert Image.open(png).size[0] == 5 * 32 * 4 + 4 * 2  # five panels of 32 px at scale 4
    assert main(["hallucinate", path, "--mask-ratio", "0.75", "--n", "50"]) == 0
    assert "undecidable" in capsys.readouterr().out
    assert main(["hallucinate", path, "--mask-ratio", "1.5"]) == 2


def test_pca_picture(trained, tmp_path, capsys):
    _, path = trained
    png = tmp_path / "pca.png"
    assert main(["pca", path, path, "--n", "100", "--out", str(png)]) == 0
    assert "PCA-2 acc" in capsys.readouterr().out
    img = Image.open(png)
    assert img.size == (2 * (360 + 16) + 16, 360 + 24 + 32)


def test_pca_reports_each_model_beside_its_random_init(trained, tmp_path, capsys):
    _, path = trained
    assert main(["pca", path, "--n", "100", "--protocol", "visible", "--out", str(tmp_path / "p.png")]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert re.search(r"PCA-2 acc 0\.\d{3} \(random init 0\.\d{3}\)", line), line


def test_one_image_reconstruction_prints_the_verdict_and_refuses_mixed_flags(trained, tmp_path, capsys):
    _, path = trained
    png = str(tmp_path / "one.png")
    assert main(["reconstruct", path, "--shape", "circle", "--x", "0.3", "--json", "--out", png]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] in ("faithful", "hallucinated", "undecidable") and out["n_patches"] == 64
    assert out["n_hidden"] == 64 - int(64 * (1 - 0.6))  # the default model's training ratio
    assert Image.open(png).size[1] == 32 * 4  # one row
    assert main(["reconstruct", path, "--json", "--out", png]) == 2  # --json needs --shape
    assert main(["reconstruct", path, "--shape", "square", "--mask", "ff" * 8, "--mask-ratio", "0.5"]) == 2
    assert main(["reconstruct", path, "--shape", "square", "--mask", "abc"]) == 2


@pytest.mark.parametrize("cmd", [[], ["train"], ["probe"], ["reconstruct"], ["reproduce"], ["pca"]])
def test_help_imports_neither_torch_nor_numpy(cmd):
    """`--help` is built from toymae.config alone: it answers without loading the heavy libraries."""
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "toymae", *cmd, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "usage: toymae" in r.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")
    }
    assert "argparse" in imported  # the check reads the import log it thinks it reads
    heavy = sorted(m for m in imported if m.split(".")[0] in ("torch", "numpy"))
    assert not heavy, heavy[:5]


def test_train_recipes_are_named_and_flags_change_them():
    from toymae.cli import build_parser, train_config_from_args
    from toymae.config import RECIPES, dataset

    def config(*flags: str):
        return train_config_from_args(build_parser().parse_args(["train", *flags]))

    assert config() == RECIPES["default"]
    assert config("--recipe", "shipped") == RECIPES["shipped"]
    cfg = config("--recipe", "tiny", "--data", "varied", "--steps", "7", "--image-size", "24")
    assert cfg.steps == 7 and cfg.model.embed_dim == RECIPES["tiny"].model.embed_dim
    assert cfg.data == dataset("varied", 24) and cfg.model.image_size == 24


def test_train_recipe_shipped_is_the_recipe_of_every_shipped_model():
    """`train --recipe shipped` and the cell's two flags give each shipped checkpoint's config."""
    from toymae.cli import build_parser, train_config_from_args
    from toymae.config import TrainConfig

    manifest = json.loads((Path(__file__).parent.parent / "checkpoints" / "manifest.json").read_text())
    for e in manifest["checkpoints"]:
        cell = ["--mask-ratio", str(e["mask_ratio"]), "--decoder-depth", str(e["decoder_depth"])]
        args = build_parser().parse_args(["train", "--recipe", "shipped", "--data", e["dataset"], *cell])
        assert train_config_from_args(args) == TrainConfig.from_dict(e["config"]), e["file"]
