"""Checkpoints: safetensors files with the run's config and summary as JSON metadata.

The ``safetensors`` library parses the bytes (it never unpickles). On top, toymae's own contract: only
regular files, never more read than the file holds; the format tag, the config (``toymae.config``: types,
bounds, compute budget), tensor names and shapes against the config, resume-state values and finite
weights. Anything wrong raises ``CheckpointError`` with one sentence saying what.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from toymae.config import CLI_BUDGET, Budget, MAEConfig, TrainConfig, budget_problem, train_config_from_json

# Writing lives in toymae.files; these names stay importable from here, where callers found them.
from toymae.files import WriteError, require_writable, require_writable_dir, write_atomic  # noqa: F401
from toymae.model import MaskedAutoencoder

FORMAT = "toymae-checkpoint"
FORMAT_VERSION = "1"
MAX_FILE_BYTES = 2 * 1024**3
MAX_CONFIG_BYTES = 16 * 1024  # the config's JSON is about 600 bytes
MAX_SUMMARY_BYTES = 256 * 1024  # the summary holds one row per evaluation
MAX_JSON_DEPTH = 32  # toymae's config and summary are 3 levels deep
LFS_POINTER = b"version https://git-lfs"  # what a clone without Git LFS holds in place of the file
_FLOATS = {"F32", "F16", "BF16"}
_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFSOCK: "a socket"}
_KINDS |= {stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}


class CheckpointError(ValueError):
    """A file is not a valid toymae checkpoint; the message says why."""


@dataclass
class Checkpoint:
    model: MaskedAutoencoder
    train_config: TrainConfig
    summary: dict
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # optimiser / resume state
    path: str | None = None


# ------------------------------------------------------------------ writing
def checkpoint_bytes(
    model: MaskedAutoencoder,
    config: TrainConfig,
    summary: dict | None = None,
    extra: dict[str, torch.Tensor] | None = None,
    dtype: torch.dtype = torch.float32,
) -> bytes:
    """The checkpoint file's bytes (sent back by remote sweep workers, written by ``save_checkpoint``).

    ``dtype=torch.float16`` halves the file (loading restores float32); ``extra`` holds resume state.
    """
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    for k, v in (extra or {}).items():
        tensors[k] = v.detach().cpu().contiguous()
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": json.dumps(config.to_dict())}
    return save_safetensors_bytes(tensors, metadata={**metadata, "summary": json.dumps(summary or {})})


def save_checkpoint(
    path: str | Path,
    model: MaskedAutoencoder,
    config: TrainConfig,
    summary: dict | None = None,
    extra: dict[str, torch.Tensor] | None = None,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Write a checkpoint atomically (see ``checkpoint_bytes`` for the arguments)."""
    return write_atomic(path, checkpoint_bytes(model, config, summary, extra, dtype))


# ------------------------------------------------------------------ toymae's contract
def _one_line(text: str, limit: int = 200) -> str:
    """A message from a library or a file as one short line (a tensor name may hold a newline)."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _deeper_than(value: object, limit: int) -> bool:
    stack = [(value, 1)]  # iterative, so any depth Python's parser returned is measured safely
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (dict, list)):
            if depth > limit:
                return True
            stack += [(c, depth + 1) for c in (v.values() if isinstance(v, dict) else v)]
    return False


def parse_json(text: str, what: str, max_bytes: int) -> object:
    """``json.loads`` with its size and nesting depth bounded; every failure is a CheckpointError."""
    if len(text) > max_bytes:
        raise CheckpointError(f"{what} is {len(text):,} characters; at most {max_bytes:,} are accepted")
    try:
        value = json.loads(text)
        too_deep = _deeper_than(value, MAX_JSON_DEPTH)
    except RecursionError:  # Python's parser recurses once per level
        too_deep = True
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{what} is not valid JSON ({e.msg} at character {e.pos})") from None
    except ValueError:  # an integer with more digits than Python converts
        raise CheckpointError(f"{what} is not valid JSON (a number in it is too long)") from None
    if too_deep:
        raise CheckpointError(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: object) -> bool:
    return v is None or _int(v) or isinstance(v, float)


def _row(v: object) -> bool:
    return isinstance(v, dict) and all(map(_num, v.values()))


_NUMBER_FIELDS = ("final_loss", "held_out_loss", "probe_acc", "pca2_acc", "r2_x", "r2_y", "r2_size")
_NUMBER_FIELDS += ("halluc_rate_own", "halluc_rate_common")
# What the app reads from a summary, with the type it needs; other fields are kept and never shown.
_SUMMARY_TYPES: dict[str, tuple[str, Callable[[object], bool]]] = {
    "steps": ("a non-negative integer", lambda v: _int(v) and v >= 0),  # type: ignore[operator]
    "seed": ("an integer", _int),
    "precision": ("a string", lambda v: isinstance(v, str)),
    "toymae_version": ("a string", lambda v: isinstance(v, str)),
    "stopped_early": ("true or false", lambda v: isinstance(v, bool)),
    "history": ("a list of objects of numbers", lambda v: isinstance(v, list) and all(map(_row, v))),
    "probe_protocol": (
        "null or an object with integer n_train and n_test",
        lambda v: v is None or (_row(v) and _int(v.get("n_train")) and _int(v.get("n_test"))),  # type: ignore[union-attr]
    ),
    **dict.fromkeys(_NUMBER_FIELDS, ("a number or null", _num)),
}


def parse_metadata(metadata: dict[str, str], budget: Budget | None) -> tuple[TrainConfig, dict]:
    """The format tag, the config (types, bounds, budget) and the summary's known fields."""
    tag = (metadata.get("format"), metadata.get("format_version"))
    if tag != (FORMAT, FORMAT_VERSION):
        got = _one_line(f"format {tag[0]!r}, version {tag[1]!r}", 100)
        raise CheckpointError(f"not a toymae checkpoint, or not one of version {FORMAT_VERSION} ({got})")
    raw = parse_json(metadata.get("config", "null"), "config", MAX_CONFIG_BYTES)
    try:
        config = train_config_from_json(raw)
    except ValueError as e:  # types and ranges, already in words
        raise CheckpointError(f"config is not valid: {e}") from None
    if budget is not None and (problem := budget_problem(config.model, budget)):
        raise CheckpointError(problem)
    summary = parse_json(metadata.get("summary", "{}"), "summary", MAX_SUMMARY_BYTES)
    if not isinstance(summary, dict):
        raise CheckpointError(f"summary must be a JSON object, got {_one_line(repr(summary), 60)}")
    for key, (wanted, ok) in _SUMMARY_TYPES.items():
        if key in summary and not ok(summary[key]):
            got = _one_line(json.dumps(summary[key]), 60)
            raise CheckpointError(f"summary field {key!r} must be {wanted}, got {got}")
    return config, summary


def parameter_shapes(config: MAEConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every saved tensor of ``config`` (an MAEConfig), without allocating (meta device)."""
    return {k: tuple(v.shape) for k, v in MaskedAutoencoder(config, device="meta").state_dict().items()}


def validate(entries: dict[str, tuple[str, tuple[int, ...]]], config: TrainConfig) -> None:
    """Every model tensor present, floating point, with the shape its config implies; extras (dtype,
    shape) only of the kinds the trainer writes."""
    expected = parameter_shapes(config.model)
    rng = (torch.Generator().get_state().numel(),)
    for name, shape in expected.items():
        if name not in entries:
            raise CheckpointError(f"missing tensor {name!r}")
        dtype, got = entries[name]
        if got != shape:
            raise CheckpointError(f"tensor {name!r} has shape {got}, config implies {shape}")
        if dtype not in _FLOATS:
            raise CheckpointError(f"tensor {name!r}: weights must be floating point, got {dtype}")
    for name, (dtype, shape) in ((n, e) for n, e in entries.items() if n not in expected):
        if name.startswith(("optim.exp_avg.", "optim.exp_avg_sq.")):
            if expected.get(name.split(".", 2)[-1]) != shape or dtype not in _FLOATS:
                raise CheckpointError(f"optimiser tensor {name!r} does not match a parameter")
        elif name == "train.step":
            if (dtype, shape) != ("I64", (1,)):
                raise CheckpointError("tensor 'train.step' must hold one 64-bit integer")
        elif name in ("train.data_rng", "train.mask_rng"):
            if (dtype, shape) != ("U8", rng):
                raise CheckpointError(f"tensor {name!r} is not a generator state ({rng[0]} bytes)")
        else:
            raise CheckpointError(f"unexpected tensor {_one_line(repr(name), 80)}")


def _check_values(name: str, t: torch.Tensor, config: TrainConfig) -> None:
    """NaN or inf weights make every output NaN (a page would draw blank and score 0); negative second
    moments make Adam's square root NaN; a step outside the run never was one."""
    if t.is_floating_point() and not bool((finite := torch.isfinite(t)).all()):
        raise CheckpointError(
            f"tensor {name!r} holds {int((~finite).sum())} NaN or infinite values (of {t.numel()}):"
            " the weights are broken (a diverged training run?), so the model was not loaded"
        )
    if name.startswith("optim.exp_avg_sq.") and bool((t < 0).any()):
        raise CheckpointError(f"optimiser tensor {name!r} holds negative second moments")
    if name == "train.step" and not 0 <= int(t[0]) <= config.steps:
        raise CheckpointError(f"training step {int(t[0])} lies outside the run's 0..{config.steps} steps")


def _build(name: str, metadata: dict, entries: dict, get: Callable, device, budget) -> Checkpoint:
    """The contract, in order: metadata, names and shapes, then each tensor's values; then the model."""
    try:
        config, summary = parse_metadata(metadata, budget)
        validate(entries, config)
        tensors = {}
        for key in entries:
            tensors[key] = get(key)
            _check_values(key, tensors[key], config)
    except CheckpointError as e:
        raise CheckpointError(f"{name}: {e}") from None
    model = MaskedAutoencoder(config.model)
    model.load_state_dict({k: tensors.pop(k).float() for k in parameter_shapes(config.model)})
    model = model.to(device) if device is not None else model
    return Checkpoint(model.eval(), config, summary, tensors, name)


def _not_safetensors(name: str, e: Exception) -> CheckpointError:
    detail = _one_line(str(e).split(": ", 1)[-1])  # drop the library's "Error while deserializing"
    return CheckpointError(f"{name}: not a safetensors file, or a truncated or damaged one ({detail})")


def _refuse_early(head: bytes, size: int, name: str) -> None:
    if size == 0:
        raise CheckpointError(f"{name}: the file is empty")
    if size > MAX_FILE_BYTES:
        raise CheckpointError(f"{name}: {size:,} bytes is larger than any toymae checkpoint")
    if head.startswith(LFS_POINTER):
        raise CheckpointError(
            f"{name}: a Git LFS pointer file, not the weights (`git lfs pull` fetches them)"
        )


def load_checkpoint(
    path: str | Path, device: str | torch.device | None = None, budget: Budget | None = CLI_BUDGET
) -> Checkpoint:
    """Read, validate and build the model (float32, eval mode); ``budget``: the largest model to accept
    (None: any within the config's bounds). Only a regular file (or a link to one) is opened, without
    blocking (a FIFO would wait for a writer forever); tensors are read after the header is checked."""
    name = str(path)
    try:
        if kind := _KINDS.get(stat.S_IFMT(os.stat(path).st_mode)):
            raise CheckpointError(f"{name}: this is {kind}, not a checkpoint file")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise CheckpointError(f"{name}: cannot read it ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped since the stat above
            raise CheckpointError(f"{name}: this is not a regular file")
        _refuse_early(os.pread(fd, len(LFS_POINTER), 0), st.st_size, name)
        # The descriptor's own file (not whatever the path names by now) where /proc shows it.
        opened = f"/proc/self/fd/{fd}" if os.path.isdir("/proc/self/fd") else path
        try:
            with safe_open(opened, "pt") as f:
                slices = {k: f.get_slice(k) for k in f.keys()}  # noqa: SIM118 (a safe_open has no __iter__)
                entries = {k: (v.get_dtype(), tuple(v.get_shape())) for k, v in slices.items()}
                return _build(name, f.metadata() or {}, entries, f.get_tensor, device, budget)
        except (SafetensorError, OSError) as e:
            raise _not_safetensors(name, e) from None
    finally:
        os.close(fd)


def load_checkpoint_bytes(
    data: bytes,
    device: str | torch.device | None = None,
    name: str = "<bytes>",
    budget: Budget | None = CLI_BUDGET,
) -> Checkpoint:
    """As ``load_checkpoint`` for bytes in memory (an upload, already capped in size by the caller)."""
    _refuse_early(data[: len(LFS_POINTER)], len(data), name)
    try:
        tensors = load_safetensors_bytes(data)  # parses and checks the whole layout first
    except SafetensorError as e:
        raise _not_safetensors(name, e) from None
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])  # valid: safetensors read it
    metadata = header.pop("__metadata__", None) or {}
    entries = {k: (v["dtype"], tuple(v["shape"])) for k, v in header.items()}
    return _build(name, metadata, entries, tensors.__getitem__, device, budget)
