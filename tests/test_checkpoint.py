import json
import pickle
import struct

import pytest
import torch
from conftest import tiny_config
from safetensors.torch import save as st_save

from toymae.checkpoint import CheckpointError, load_checkpoint, load_checkpoint_bytes, save_checkpoint
from toymae.model import build_model


@pytest.fixture()
def saved(tmp_path):
    cfg = tiny_config()
    model = build_model(cfg.model, seed=3, device="cpu")
    path = save_checkpoint(tmp_path / "m.safetensors", model, cfg, {"steps": 0, "probe_acc": 0.5})
    return cfg, model, path


def test_round_trip(saved):
    cfg, model, path = saved
    ckpt = load_checkpoint(path)
    assert ckpt.train_config == cfg
    assert ckpt.summary == {"steps": 0, "probe_acc": 0.5}
    for k, v in model.state_dict().items():
        assert torch.equal(v, ckpt.model.state_dict()[k])
    assert not ckpt.model.training


def test_float16_storage_restores_float32(tmp_path):
    cfg = tiny_config()
    model = build_model(cfg.model, device="cpu")
    path = save_checkpoint(tmp_path / "h.safetensors", model, cfg, dtype=torch.float16)
    ckpt = load_checkpoint(path)
    w = ckpt.model.blocks[0].fc1.weight
    assert w.dtype == torch.float32
    torch.testing.assert_close(w, model.blocks[0].fc1.weight, atol=1e-3, rtol=1e-3)


def test_write_is_atomic_and_leaves_no_temp_files(saved, tmp_path):
    cfg, model, path = saved
    save_checkpoint(path, model, cfg)  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def _rewrite(path, mutate_tensors=None, mutate_meta=None) -> bytes:
    from safetensors import safe_open

    with safe_open(path, "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    if mutate_tensors:
        mutate_tensors(tensors)
    if mutate_meta:
        mutate_meta(meta)
    return st_save(tensors, metadata=meta)


def _bad_files(path):
    data = path.read_bytes()

    def absurd(meta):
        config = json.loads(meta["config"])
        config["model"]["depth"] = 10**9
        meta["config"] = json.dumps(config)

    wrong_shape = lambda t: t.update({"blocks.0.fc1.weight": torch.zeros(3, 3)})  # noqa: E731
    return {
        "random bytes": (bytes(range(256)) * 40, "not a safetensors file"),
        "empty": (b"", "the file is empty"),
        "truncated": (data[: len(data) // 2], "truncated"),
        "pickle": (pickle.dumps({"weights": [1, 2, 3]}), "not a safetensors file"),
        "missing tensor": (
            _rewrite(path, lambda t: t.pop("decoder_pred.weight")),
            "missing tensor 'decoder_pred.weight'",
        ),
        "wrong shape": (_rewrite(path, wrong_shape), "has shape (3, 3)"),
        "absurd config": (_rewrite(path, mutate_meta=absurd), "depth must be an integer"),
        "not toymae": (
            _rewrite(path, mutate_meta=lambda m: m.update(format="other")),
            "not a toymae checkpoint",
        ),
        "config not json": (_rewrite(path, mutate_meta=lambda m: m.update(config="{oops")), "not valid JSON"),
        "unexpected tensor": (
            _rewrite(path, lambda t: t.update(evil=torch.zeros(1))),
            "unexpected tensor 'evil'",
        ),
        "header lies": (struct.pack("<Q", 10**12) + data[8:], "header too large"),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "random bytes",
        "empty",
        "truncated",
        "pickle",
        "missing tensor",
        "wrong shape",
        "absurd config",
        "not toymae",
        "config not json",
        "unexpected tensor",
        "header lies",
    ],
)
def test_bad_files_raise_one_clear_error(saved, tmp_path, kind):
    _, _, path = saved
    data, expected = _bad_files(path)[kind]
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(data)
    with pytest.raises(CheckpointError, match=expected.replace("(", r"\(").replace(")", r"\)")) as info:
        load_checkpoint(bad)
    assert str(bad) in str(info.value)
    with pytest.raises(CheckpointError):
        load_checkpoint_bytes(data)


def test_pickle_is_never_executed(tmp_path):
    class Boom:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    bad = tmp_path / "evil.safetensors"
    bad.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)
    assert not (tmp_path / "pwned").exists()


def test_missing_file_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "nope.safetensors")
