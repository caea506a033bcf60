"""Checkpoints: safetensors files with the run's config and summary as JSON metadata.

Loading never unpickles and validates before it allocates: the 8-byte header length, the JSON
header, every tensor's dtype, shape and byte range, the config's values, and every tensor's name and
shape against the model that config describes. Anything wrong raises ``CheckpointError`` with a
message that says what (the CLI prints it as one line).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import struct
import tempfile
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from toymae.config import MAEConfig, TrainConfig
from toymae.model import MaskedAutoencoder

FORMAT = "toymae-checkpoint"
FORMAT_VERSION = "1"
MAX_HEADER_BYTES = 1024 * 1024  # a toymae header is a few KB (tens with optimiser state)
MAX_CONFIG_BYTES = 16 * 1024  # the config's JSON is about 600 bytes
MAX_SUMMARY_BYTES = 256 * 1024  # the summary holds one row per evaluation
MAX_JSON_DEPTH = 32  # a toymae header is 3 levels deep, the summary 3
MAX_DIMS = 8
MAX_DIM_SIZE = 2**40
MAX_FILE_BYTES = 2 * 1024**3
_DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "U8": 1}
_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


class CheckpointError(ValueError):
    """A file is not a valid toymae checkpoint; the message says why."""


@dataclass
class Checkpoint:
    model: MaskedAutoencoder
    train_config: TrainConfig
    summary: dict
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # optimiser / resume state
    path: str | None = None


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
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(config.to_dict()),
        "summary": json.dumps(summary or {}),
    }
    return save_safetensors_bytes(tensors, metadata=metadata)


def write_atomic(path: str | Path, payload: bytes) -> Path:
    """Write via a temp file in the same folder and a rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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


def _short(value: object, limit: int = 60) -> str:
    """A value from the file, as JSON, cut short: messages quote the offending value, never a megabyte."""
    try:
        text = json.dumps(value, ensure_ascii=True, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_type(value: object) -> str:
    for tp, name in ((bool, "true/false"), (int, "a number"), (float, "a number"), (str, "a string")):
        if isinstance(value, tp):
            return name
    return {dict: "an object", list: "a list", type(None): "null"}.get(type(value), "something else")


# A string runs to its closing quote or, unterminated, to the end (a trailing backslash included):
# every quote that starts a match completes it, so the scan never retries and stays linear.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.S)


def json_depth(raw: bytes) -> int:
    """The deepest nesting of ``[`` / ``{`` outside strings, without parsing (so without recursion).

    Brackets inside an unterminated string are counted too: that over-estimates, never under-.
    """
    structure = np.frombuffer(_JSON_STRING.sub(b'""', raw), dtype=np.uint8)
    if structure.size == 0:
        return 0
    step = np.isin(structure, _OPENERS).astype(np.int32) - np.isin(structure, _CLOSERS).astype(np.int32)
    return int(max(0, np.cumsum(step).max()))


_OPENERS = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSERS = np.frombuffer(b"]}", dtype=np.uint8)


def parse_json(text: str | bytes, what: str, max_bytes: int) -> object:
    """``json.loads`` with its size and nesting depth checked first; every failure is a CheckpointError.

    Python's parser recurses once per nesting level, so a crafted 100,000-deep value would raise
    RecursionError (and a 5,000-digit integer a ValueError) rather than a JSON error.
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if len(raw) > max_bytes:
        raise CheckpointError(f"{what} is {len(raw):,} bytes; at most {max_bytes:,} are accepted")
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise CheckpointError(
            f"{what} is nested {depth:,} levels deep; at most {MAX_JSON_DEPTH} are accepted"
        )
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CheckpointError(f"{what} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{what} is not valid JSON ({e.msg} at character {e.pos})") from None
    except (ValueError, RecursionError):  # e.g. an integer with more digits than Python converts
        raise CheckpointError(f"{what} is not valid JSON (a number in it is too long)") from None


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def read_header(data: bytes) -> tuple[dict, dict]:
    """Parse and check a safetensors header: returns (tensor entries, metadata)."""
    if len(data) < 8:
        raise CheckpointError(f"file is too short to be safetensors ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n == 0 or n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise CheckpointError(
            f"not a safetensors file: header length {n} does not fit a {len(data)}-byte file"
            " (truncated, or another format such as a pickle)"
        )
    header = parse_json(data[8 : 8 + n], "not a safetensors file: header", MAX_HEADER_BYTES)
    if not isinstance(header, dict):
        raise CheckpointError("not a safetensors file: header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise CheckpointError(f"metadata must be a JSON object, got {_json_type(metadata)}")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise CheckpointError(f"metadata field {key!r} must be a string, got {_json_type(value)}")
    body = len(data) - 8 - n
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise CheckpointError(
                f"tensor {name!r}: malformed header entry (expected exactly dtype, shape and data_offsets,"
                f" got {_short(entry)})"
            )
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _DTYPE_BYTES:
            raise CheckpointError(
                f"tensor {name!r}: unsupported dtype {_short(dtype)}"
                f" (expected one of {', '.join(_DTYPE_BYTES)})"
            )
        if not (
            isinstance(shape, list)
            and len(shape) <= MAX_DIMS
            and all(_is_int(s) and 0 <= s <= MAX_DIM_SIZE for s in shape)
        ):
            raise CheckpointError(
                f"tensor {name!r}: shape must be a list of at most {MAX_DIMS} non-negative integers,"
                f" got {_short(shape)}"
            )
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
            raise CheckpointError(
                f"tensor {name!r}: data_offsets must be a list of two integers [start, end],"
                f" got {_short(offsets)}"
            )
        start, end = offsets
        if not 0 <= start <= end <= body:
            raise CheckpointError(
                f"tensor {name!r}: data range {start}..{end} lies outside the file "
                f"({body} data bytes): the file is truncated or corrupt"
            )
        numel = math.prod(shape)
        if end - start != numel * _DTYPE_BYTES[dtype]:
            raise CheckpointError(
                f"tensor {name!r}: {end - start} bytes do not hold shape {_short(shape)} of {dtype}"
            )
    return header, metadata


def _describe(tp: object) -> str:
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        return f"a list of {len(typing.get_args(tp))} numbers"
    return {
        int: "an integer",
        float: "a finite number",
        bool: "true or false",
        str: "a string",
        type(None): "null",
    }.get(tp, "an object")


def _matches(value: object, tp: object) -> bool:
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        return any(_matches(value, a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        return (
            isinstance(value, list)
            and len(value) == len(args)
            and all(_matches(v, a) for v, a in zip(value, args, strict=True))
        )
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return _is_int(value)
    if tp is float:
        return _is_number(value) and math.isfinite(value)
    if tp is str:
        return isinstance(value, str)
    return False


def config_type_problems(value: object, cls: type = TrainConfig, where: str = "") -> list[str]:
    """What in a JSON config has the wrong type or name for ``cls`` (a config dataclass), in words.

    The dataclasses check ranges, not types: a string where an integer belongs would otherwise
    surface as Python's own comparison error.
    """
    if not isinstance(value, dict):
        return [f"{where.rstrip('.') or 'the config'} must be a JSON object, got {_json_type(value)}"]
    hints = typing.get_type_hints(cls)
    out = []
    for key, v in value.items():
        if key not in hints:
            out.append(f"unknown field {_short(where + key)}")
        elif dataclasses.is_dataclass(hints[key]):
            out += config_type_problems(v, hints[key], f"{where}{key}.")
        elif not _matches(v, hints[key]):
            out.append(f"{where}{key} must be {_describe(hints[key])}, got {_short(v)}")
    return out


def parse_config(metadata: dict) -> TrainConfig:
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"not a toymae checkpoint (metadata format is {_short(metadata.get('format'))},"
            f" expected {FORMAT!r})"
        )
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"unsupported checkpoint version {_short(metadata.get('format_version'))} "
            f"(this toymae reads {FORMAT_VERSION})"
        )
    if "config" not in metadata:
        raise CheckpointError("checkpoint metadata has no config")
    raw = parse_json(metadata["config"], "config", MAX_CONFIG_BYTES)
    problems = config_type_problems(raw)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckpointError("config is not valid: " + "; ".join(problems[:3]) + more)
    try:
        return TrainConfig.from_dict(raw)
    except (TypeError, ValueError) as e:  # the dataclasses' range checks, already in words
        raise CheckpointError(f"config is not valid: {e}") from None


_SUMMARY_TYPES: dict[str, tuple[str, typing.Callable[[object], bool]]] = {
    "steps": ("a non-negative integer", lambda v: _is_int(v) and v >= 0),
    "seed": ("an integer", _is_int),
    "precision": ("a string", lambda v: isinstance(v, str)),
    "toymae_version": ("a string", lambda v: isinstance(v, str)),
    "stopped_early": ("true or false", lambda v: isinstance(v, bool)),
    "history": (
        "a list of objects of numbers",
        lambda v: (
            isinstance(v, list)
            and all(isinstance(r, dict) and all(x is None or _is_number(x) for x in r.values()) for r in v)
        ),
    ),
    "probe_protocol": (
        "null or an object with integer n_train and n_test",
        lambda v: (
            v is None
            or (
                isinstance(v, dict)
                and _is_int(v.get("n_train"))
                and _is_int(v.get("n_test"))
                and all(x is None or _is_number(x) for x in v.values())
            )
        ),
    ),
}
_SUMMARY_NUMBERS = (
    "final_loss",
    "held_out_loss",
    "probe_acc",
    "pca2_acc",
    "r2_x",
    "r2_y",
    "r2_size",
    "halluc_rate_own",
    "halluc_rate_common",
)


def parse_summary(metadata: dict) -> dict:
    """The training summary: a JSON object whose known fields have the types the app reads."""
    if "summary" not in metadata:
        return {}
    summary = parse_json(metadata["summary"], "summary", MAX_SUMMARY_BYTES)
    if not isinstance(summary, dict):
        raise CheckpointError(f"summary must be a JSON object, got {_json_type(summary)}")
    for key, value in summary.items():
        if key in _SUMMARY_NUMBERS:
            ok, wanted = value is None or _is_number(value), "a number or null"
        elif key in _SUMMARY_TYPES:
            wanted, check = _SUMMARY_TYPES[key]
            ok = check(value)
        else:
            continue  # fields this version does not read are kept and never shown
        if not ok:
            raise CheckpointError(f"summary field {key!r} must be {wanted}, got {_short(value)}")
    return summary


def parameter_shapes(config: MAEConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every saved tensor, computed without allocating weights (meta device)."""
    model = MaskedAutoencoder(config, device="meta")
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def validate(header: dict, config: TrainConfig) -> None:
    """Every model tensor present with the shape its config implies; extras only of known kinds."""
    expected = parameter_shapes(config.model)
    for name, shape in expected.items():
        if name not in header:
            raise CheckpointError(f"missing tensor {name!r}")
        if tuple(header[name]["shape"]) != shape:
            raise CheckpointError(
                f"tensor {name!r} has shape {tuple(header[name]['shape'])}, config implies {shape}"
            )
        if header[name]["dtype"] not in _DTYPES:
            raise CheckpointError(f"tensor {name!r}: weights must be floating point")
    for name, entry in header.items():
        if name in expected:
            continue
        if name.startswith(("optim.exp_avg.", "optim.exp_avg_sq.")):
            param = name.split(".", 2)[2]
            if param not in expected or tuple(entry["shape"]) != expected[param]:
                raise CheckpointError(f"optimiser tensor {name!r} does not match a parameter")
            if entry["dtype"] not in _DTYPES:
                raise CheckpointError(f"optimiser tensor {name!r} must be floating point")
        elif name == "train.step":
            if entry["dtype"] != "I64" or entry["shape"] != [1]:
                raise CheckpointError("tensor 'train.step' must hold one 64-bit integer")
        elif name in ("train.data_rng", "train.mask_rng"):
            if entry["dtype"] != "U8" or len(entry["shape"]) != 1:
                raise CheckpointError(f"tensor {name!r} must be a list of bytes (a generator state)")
        else:
            raise CheckpointError(f"unexpected tensor {name!r}")


def _require_finite_tensors(tensors: dict[str, torch.Tensor]) -> None:
    """NaN or inf weights make every output NaN, which a page would draw blank and score as 0."""
    for name, t in tensors.items():
        if t.is_floating_point():
            finite = torch.isfinite(t)
            if not bool(finite.all()):
                raise CheckpointError(
                    f"tensor {name!r} holds {int((~finite).sum())} NaN or infinite values (of {t.numel()}):"
                    " the weights are broken (a diverged training run?), so the model was not loaded"
                )


def load_checkpoint(path: str | Path, device: str | torch.device | None = None) -> Checkpoint:
    """Read, validate and build the model (float32, eval mode). Raises ``CheckpointError``."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise CheckpointError(f"{path} is {size} bytes, larger than any toymae checkpoint")
    return load_checkpoint_bytes(path.read_bytes(), device, name=str(path))


def load_checkpoint_bytes(
    data: bytes, device: str | torch.device | None = None, name: str = "<bytes>"
) -> Checkpoint:
    """As ``load_checkpoint`` for bytes in memory (an uploaded file)."""
    try:
        header, metadata = read_header(data)
        config = parse_config(metadata)
        validate(header, config)
        summary = parse_summary(metadata)
        try:
            tensors = load_safetensors_bytes(data)
        except Exception:  # the safetensors parser has the last word on the byte layout
            raise CheckpointError(
                "the tensors' bytes are not laid out as safetensors requires (corrupt or hand-edited file)"
            ) from None
        _require_finite_tensors(tensors)
    except CheckpointError as e:
        raise CheckpointError(f"{name}: {e}") from None
    model = MaskedAutoencoder(config.model)
    weights = {k: tensors.pop(k).float() for k in parameter_shapes(config.model)}
    model.load_state_dict(weights)
    if device is not None:
        model = model.to(device)
    model.eval()
    return Checkpoint(model, config, summary, tensors, name)
