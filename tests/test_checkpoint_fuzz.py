"""Hostile checkpoints: every malformed header, config, summary or byte string is a CheckpointError.

Property-based (hypothesis, derandomised so CI sees the same examples every run) mutations of a real
checkpoint's header JSON, metadata and raw bytes, plus the crafted kinds that once escaped the loader,
each checked through the CLI too (exit 2, one line, no traceback).
"""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toymae.checkpoint import (
    MAX_JSON_DEPTH,
    Checkpoint,
    CheckpointError,
    checkpoint_bytes,
    load_checkpoint_bytes,
)
from toymae.cli import main
from toymae.config import RECIPES
from toymae.model import build_model

ROOT = Path(__file__).resolve().parent.parent
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CONFIG = replace(RECIPES["tiny"], steps=10)  # a small file
MODEL = build_model(CONFIG.model, seed=0, device="cpu")
SUMMARY = {"steps": 10, "final_loss": 0.1, "probe_acc": 0.9, "history": [{"step": 10, "probe_acc": 0.9}]}
GOOD = checkpoint_bytes(MODEL, CONFIG, SUMMARY)
_N = struct.unpack("<Q", GOOD[:8])[0]
HEADER = json.loads(GOOD[8 : 8 + _N])
BODY = GOOD[8 + _N :]
TENSORS = sorted(k for k in HEADER if k != "__metadata__")
DEEP = "[" * 100_000 + "]" * 100_000

# Words that only Python's own error messages use: none may reach a user.
INTERNALS = ("Traceback", "not supported between", "object has no attribute", "NoneType", "Recursion")


def pack(header: dict, body: bytes = BODY) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def copy(obj):
    return json.loads(json.dumps(obj))


def loads_or_checkpoint_error(data: bytes) -> Checkpoint | None:
    """The property: a Checkpoint, or a one-line CheckpointError free of Python internals."""
    try:
        return load_checkpoint_bytes(data)
    except CheckpointError as e:
        msg = str(e)
        assert msg and "\n" not in msg, msg
        assert not any(w in msg for w in INTERNALS), msg
        return None


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)
DELETE = object()
replacement = json_values | st.just(DELETE)


def _paths(obj, prefix=()):
    """Every key path into a nested dict (lists are leaves)."""
    out = []
    for k, v in obj.items():
        out.append((*prefix, k))
        if isinstance(v, dict):
            out += _paths(v, (*prefix, k))
    return out


def _set(obj: dict, path: tuple, value) -> None:
    for k in path[:-1]:
        obj = obj[k]
    if value is DELETE:
        obj.pop(path[-1], None)
    else:
        obj[path[-1]] = value


# --------------------------------------------------------------------------- properties
@FUZZ
@given(
    name=st.sampled_from(TENSORS),
    key=st.sampled_from(["dtype", "shape", "data_offsets", "extra"]),
    value=replacement,
)
def test_mutated_tensor_entry(name, key, value):
    header = copy(HEADER)
    _set(header, (name, key), value)
    loads_or_checkpoint_error(pack(header))


@FUZZ
@given(
    key=st.sampled_from(["format", "format_version", "config", "summary", "other"]),
    value=replacement | st.text(max_size=40) | st.sampled_from([DEEP, "{" * 50, "1" * 5000, "NaN"]),
)
def test_mutated_metadata_field(key, value):
    header = copy(HEADER)
    _set(header, ("__metadata__", key), value)
    loads_or_checkpoint_error(pack(header))


CONFIG_PATHS = [*_paths(json.loads(HEADER["__metadata__"]["config"])), ("model", "unknown"), ("unknown",)]


@FUZZ
@given(path=st.sampled_from(CONFIG_PATHS), value=replacement)
def test_mutated_config_value(path, value):
    header = copy(HEADER)
    config = json.loads(header["__metadata__"]["config"])
    _set(config, path, value)
    header["__metadata__"]["config"] = json.dumps(config)
    loads_or_checkpoint_error(pack(header))


SUMMARY_KEYS = [
    *SUMMARY,
    "seed",
    "precision",
    "stopped_early",
    "probe_protocol",
    "r2_size",
    "toymae_version",
    "anything",
]


@FUZZ
@given(key=st.sampled_from(SUMMARY_KEYS), value=replacement, whole=st.none() | json_values)
def test_mutated_summary(key, value, whole):
    header = copy(HEADER)
    summary = copy(SUMMARY) if whole is None else whole
    if isinstance(summary, dict):
        _set(summary, (key,), value)
    header["__metadata__"]["summary"] = json.dumps(summary)
    ckpt = loads_or_checkpoint_error(pack(header))
    if ckpt is not None:
        assert isinstance(ckpt.summary, dict)
        assert ckpt.summary.get("steps", 0) is None or isinstance(ckpt.summary.get("steps", 0), int)


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(GOOD) - 1), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=8,
    ),
    cut=st.none() | st.integers(min_value=0, max_value=len(GOOD)),
)
def test_mutated_raw_bytes(edits, cut):
    data = bytearray(GOOD)
    for pos, byte in edits:
        data[pos] = byte
    loads_or_checkpoint_error(bytes(data[:cut] if cut is not None else data))


# --------------------------------------------------------------------------- crafted kinds
def _entry(key, value):
    header = copy(HEADER)
    header[TENSORS[0]][key] = value
    return pack(header)


def _meta(key, value):
    header = copy(HEADER)
    header["__metadata__"][key] = value
    return pack(header)


def _config(path, value):
    header = copy(HEADER)
    config = json.loads(header["__metadata__"]["config"])
    _set(config, path, value)
    header["__metadata__"]["config"] = json.dumps(config)
    return pack(header)


def _weights(value: float) -> bytes:
    model = build_model(CONFIG.model, seed=0, device="cpu")
    with torch.no_grad():
        model.blocks[0].fc1.weight[0, 0] = value
    return checkpoint_bytes(model, CONFIG, SUMMARY)


def _overlap() -> bytes:
    """The second tensor's bytes start inside the first's (the old hand-written parser let this pass)."""
    header = copy(HEADER)
    a, b = TENSORS[0], TENSORS[1]
    start = header[a]["data_offsets"][0]
    size = header[b]["data_offsets"][1] - header[b]["data_offsets"][0]
    header[b]["data_offsets"] = [start, start + size]
    return pack(header)


def _deep_header() -> bytes:
    raw = ('{"x": ' + DEEP + "}").encode()
    return struct.pack("<Q", len(raw)) + raw + BODY


CRAFTED = {
    # The safetensors library words these (toymae adds "not a safetensors file, or a truncated or
    # damaged one"); its messages name the JSON type it expected and the column, not the field.
    "data_offsets an integer": (lambda: _entry("data_offsets", 5), "expected a tuple of size 2"),
    "data_offsets with three entries": (
        lambda: _entry("data_offsets", [0, 4, 8]),
        "invalid length 3, expected 2 elements",
    ),
    "dtype a list": (lambda: _entry("dtype", ["F32"]), "not a safetensors file"),
    "shape an integer": (lambda: _entry("shape", 7), "expected a sequence"),
    "overlapping tensors": (lambda: _overlap(), "invalid offset for tensor"),
    "summary metadata a JSON number": (lambda: _meta("summary", 5), "expected a string"),
    "summary a JSON number in a string": (lambda: _meta("summary", "5"), "summary must be a JSON object"),
    "summary steps a string": (
        lambda: _meta("summary", json.dumps({"steps": "**bold**"})),
        "'steps' must be a non-negative integer",
    ),
    "header 100,000 levels deep": (_deep_header, "recursion limit exceeded"),
    "config 100,000 levels deep": (lambda: _meta("config", DEEP), "config is"),
    "config 5,000 levels deep": (
        lambda: _meta("config", "[" * 5000 + "]" * 5000),
        "config is nested more than 32 levels deep",
    ),
    "summary 100,000 levels deep": (lambda: _meta("summary", DEEP), "summary is nested more than 32 levels"),
    "config a string for an int": (
        lambda: _config(("model", "depth"), "4"),
        'model.depth must be an integer, got "4"',
    ),
    "config a string for steps": (lambda: _config(("steps",), "abc"), "steps must be an integer"),
    "config true for an int": (lambda: _config(("model", "embed_dim"), True), "must be an integer"),
    "config NaN learning rate": (lambda: _config(("lr",), math.nan), "lr must be a finite number"),
    "config unknown field": (lambda: _config(("model", "evil"), 1), "unknown field"),
    "config 5,000-digit integer": (
        lambda: _meta("config", '{"steps": ' + "9" * 5000 + "}"),
        "a number in it is too long",
    ),
    "NaN weight": (lambda: _weights(math.nan), "tensor 'blocks.0.fc1.weight' holds 1 NaN or infinite"),
    "inf weight": (lambda: _weights(math.inf), "tensor 'blocks.0.fc1.weight' holds 1 NaN or infinite"),
}


@pytest.mark.parametrize("kind", list(CRAFTED))
def test_crafted_kind_is_one_clear_checkpoint_error(kind):
    make, expected = CRAFTED[kind]
    with pytest.raises(CheckpointError) as info:
        load_checkpoint_bytes(make(), name="crafted.safetensors")
    msg = str(info.value)
    assert expected in msg, msg
    assert msg.startswith("crafted.safetensors: ") and "\n" not in msg
    assert not any(w in msg for w in INTERNALS), msg


def test_depth_limit_accepts_the_limit_and_rejects_one_level_more():
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert load_checkpoint_bytes(_meta("anything", ok)).summary == SUMMARY  # unread metadata is fine
    deep = {"deep": json.loads(ok)}  # 33 levels with the summary object itself
    assert load_checkpoint_bytes(_meta("summary", json.dumps({"deep": 1}))).summary == {"deep": 1}
    with pytest.raises(CheckpointError, match="nested more than 32 levels"):
        load_checkpoint_bytes(_meta("summary", json.dumps(deep)))


@pytest.mark.parametrize("kind", list(CRAFTED))
def test_cli_exits_2_with_one_line_for_each_kind(kind, tmp_path, capsys):
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(CRAFTED[kind][0]())
    assert main(["probe", str(path), "--n", "16"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("toymae probe: error: ") and "\n" not in err, err
    assert str(path) in err and CRAFTED[kind][1] in err


def _huge_weights() -> bytes:
    """Finite weights that overflow to inf in the first layers: loads, then fails its smoke run."""
    model = build_model(CONFIG.model, seed=0, device="cpu")
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1e30)
    return checkpoint_bytes(model, CONFIG, SUMMARY)


@pytest.mark.parametrize("command", ["probe", "reconstruct", "hallucinate", "pca"])
def test_cli_refuses_a_model_whose_outputs_overflow(command, tmp_path, capsys):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(_huge_weights())
    extra = {"hallucinate": ["--mask-ratio", "0.6"], "reconstruct": ["--out", str(tmp_path / "r.png")]}
    argv = [command, str(path), *extra.get(command, []), "--n", "8"]
    if command == "pca":
        argv += ["--out", str(tmp_path / "p.png")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "NaN or infinite" in err and str(path) in err, err
    assert not (tmp_path / "r.png").exists() and not (tmp_path / "p.png").exists()


@pytest.mark.parametrize("kind", ["dtype a list", "header 100,000 levels deep", "config a string for an int"])
def test_python_m_toymae_probe_prints_one_line_and_no_traceback(kind, tmp_path):
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(CRAFTED[kind][0]())
    out = subprocess.run(
        [sys.executable, "-m", "toymae", "probe", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert CRAFTED[kind][1] in lines[0]
