"""Checkpoints: safetensors files with the run's config and summary as JSON metadata.

Loading never unpickles and validates before it allocates: the 8-byte header length, the JSON
header, every tensor's dtype, shape and byte range, the config's values, and every tensor's name and
shape against the model that config describes. Anything wrong raises ``CheckpointError`` with a
message that says what (the CLI prints it as one line).
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from .model import MaskedAutoencoder, parameter_shapes
from .train import TrainConfig

FORMAT = "toymae-checkpoint"
FORMAT_VERSION = "1"
MAX_HEADER_BYTES = 10 * 1024 * 1024  # a toymae header is a few KB; refuse absurd ones up front
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
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"not a safetensors file: header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError("not a safetensors file: header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise CheckpointError("metadata must be a JSON object")
    body = len(data) - 8 - n
    for name, entry in header.items():
        if not isinstance(entry, dict) or {"dtype", "shape", "data_offsets"} - entry.keys():
            raise CheckpointError(f"tensor {name!r}: malformed header entry")
        dtype, shape, (start, end) = (
            entry["dtype"],
            entry["shape"],
            entry["data_offsets"],
        )
        if dtype not in _DTYPE_BYTES:
            raise CheckpointError(f"tensor {name!r}: unsupported dtype {dtype}")
        if not all(isinstance(s, int) and s >= 0 for s in shape):
            raise CheckpointError(f"tensor {name!r}: bad shape {shape}")
        numel = 1
        for s in shape:
            numel *= s
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= body):
            raise CheckpointError(
                f"tensor {name!r}: data range {start}..{end} lies outside the file "
                f"({body} data bytes): the file is truncated or corrupt"
            )
        if end - start != numel * _DTYPE_BYTES[dtype]:
            raise CheckpointError(f"tensor {name!r}: {end - start} bytes do not hold shape {shape}")
    return header, metadata


def parse_config(metadata: dict) -> TrainConfig:
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"not a toymae checkpoint (metadata format is {metadata.get('format')!r}, expected {FORMAT!r})"
        )
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"unsupported checkpoint version {metadata.get('format_version')!r} "
            f"(this toymae reads {FORMAT_VERSION})"
        )
    try:
        raw = json.loads(metadata["config"])
        return TrainConfig.from_dict(raw)
    except KeyError:
        raise CheckpointError("checkpoint metadata has no config") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"config is not valid JSON ({e})") from None
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"config is not valid: {e}") from None


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
        elif name not in {"train.step", "train.data_rng", "train.mask_rng"}:
            raise CheckpointError(f"unexpected tensor {name!r}")


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
        try:
            summary = json.loads(metadata.get("summary", "{}"))
        except json.JSONDecodeError:
            raise CheckpointError("summary metadata is not valid JSON") from None
        try:
            tensors = load_safetensors_bytes(data)
        except Exception as e:  # the safetensors parser has the last word on the byte layout
            raise CheckpointError(f"safetensors could not read the tensors: {e}") from None
    except CheckpointError as e:
        raise CheckpointError(f"{name}: {e}") from None
    model = MaskedAutoencoder(config.model)
    weights = {k: tensors.pop(k).float() for k in parameter_shapes(config.model)}
    model.load_state_dict(weights)
    if device is not None:
        model = model.to(device)
    model.eval()
    return Checkpoint(model, config, summary if isinstance(summary, dict) else {}, tensors, name)
