"""What the Hallucinations and Representations pages need of the shipped models, recorded once at ship
time (``checkpoints/page_cache.npz``) so that any control change on a shipped model shows at once.

Per seed-0 model and per mask ratio of the Hallucinations slider: the report's summary and, per image
of the page's evaluation set, its mask (packed bits), score (float16) and label (``HallucinationTable``);
the gallery redraws the 8 images of a page from these with one forward pass. Per shipped model, every
seed: the PCA projections (raw and standardised) of the Representations page's held-out images under
each feature protocol. Numbers only, no pictures: a few MB.

Every entry carries the SHA-256 of the checkpoint it was computed from, and the file the settings it was
computed under; a page uses an entry only when both still match, and otherwise measures the model now.
The file is an ``.npz`` read with ``allow_pickle=False``: nothing in it is executed.

    python -m toymae.app.page_cache                          # every shipped model (after `reproduce --ship`)
    python -m toymae.app.page_cache --only ratio0.6-dec2     # some models, merged into the file
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import sys
import time
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from toymae.app import hallucination_view as hv
from toymae.app import representation_view as rv
from toymae.app.catalog import CHECKPOINT_DIR, load_manifest
from toymae.config import PROTOCOLS
from toymae.eval import hallucination as h
from toymae.files import write_atomic
from toymae.probe import VISIBLE_AVG_MASKS, VISIBLE_MASK_SEED

FORMAT = "toymae-page-cache-1"
FILE_NAME = "page_cache.npz"
# What the recorded numbers depend on besides the checkpoint: an entry made under other settings is
# not used (the page measures instead).
SETTINGS = {
    "hallucination": {
        "n": hv.N_IMAGES,
        "data_seed": hv.DATA_SEED,
        "ratios": list(hv.RATIOS),
        "threshold": h.DEFAULT_THRESHOLD,
        "min_pixels": h.DEFAULT_MIN_PIXELS,
        "confidence_band": h.CONFIDENCE_BAND,
        "min_confident_share": h.MIN_CONFIDENT_SHARE,
    },
    "pca": {
        "n": rv.LIVE_IMAGES,
        "data_seed": 0,
        "protocols": list(PROTOCOLS),
        "visible_mask_seed": VISIBLE_MASK_SEED,
        "visible_avg_masks": VISIBLE_AVG_MASKS,
    },
}


@functools.lru_cache(maxsize=256)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def file_digest(path: Path) -> str | None:
    """SHA-256 of a file (cached while its size and time stay), None when it is missing."""
    try:
        st = path.stat()
    except OSError:
        return None
    return _digest(str(path), st.st_mtime_ns, st.st_size)


def entry_key(name: str, seed: int) -> str:
    return f"{name}/seed{seed}"


class PageCache:
    """A read-only view of the page cache file."""

    def __init__(self, meta: dict, arrays, directory: Path) -> None:
        self.meta, self._arrays, self.directory = meta, arrays, directory

    @classmethod
    def open(cls, directory: str | Path = CHECKPOINT_DIR) -> PageCache | None:
        """The cache in ``directory``; None when absent, unreadable, of another format or made under
        other settings (the pages then measure every model)."""
        path = Path(directory) / FILE_NAME
        try:
            arrays = np.load(path, allow_pickle=False)
            meta = json.loads(bytes(arrays["meta"]).decode())
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError):
            return None
        if meta.get("format") != FORMAT or meta.get("settings") != SETTINGS:
            return None
        return cls(meta, arrays, Path(directory))

    def _valid(self, key: str) -> dict | None:
        entry = self.meta["models"].get(key)
        if entry is None or file_digest(self.directory / entry["file"]) != entry["sha256"]:
            return None
        return entry

    def hallucination(self, name: str, ratio: float) -> hv.HallucinationTable | None:
        """The recorded table of seed-0 model ``name`` at ``ratio``, or None."""
        key = entry_key(name, 0)
        entry = self._valid(key)
        r = f"{ratio:g}"
        if entry is None or r not in entry.get("summaries", {}):
            return None
        a = f"h/{key}/{r}"
        packed = self._arrays[f"{a}/hidden"]
        hidden = np.unpackbits(packed, axis=1)[:, : entry["patches"]].astype(bool)
        score = self._arrays[f"{a}/score"].astype(np.float32)
        return hv.HallucinationTable(ratio, entry["summaries"][r], hidden, score, self._arrays[f"{a}/label"])

    def projections(self, name: str, seed: int, protocol: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The recorded (raw, standardised) PCA points of ``name`` (seed ``seed``) under ``protocol``."""
        key = entry_key(name, seed)
        if self._valid(key) is None or f"p/{key}/{protocol}/raw" not in self._arrays:
            return None
        a = f"p/{key}/{protocol}"
        return tuple(self._arrays[f"{a}/{v}"].astype(np.float32) for v in ("raw", "std"))  # type: ignore[return-value]


def _entries(directory: Path) -> list[dict]:
    """Every shipped checkpoint: seed 0 (the dashboard's models) and the other seeds, when listed."""
    manifest = json.loads((directory / "manifest.json").read_text())
    entries = [*manifest["checkpoints"], *manifest.get("seed_checkpoints", [])]
    inside = directory.resolve()
    return [e for e in entries if inside in (directory / e["file"]).resolve().parents]


def build(
    directory: str | Path = CHECKPOINT_DIR,
    only: Iterable[str] | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Measure the shipped models in ``directory`` (``only``: these names, every seed) and write the
    cache, keeping the still-valid entries of other models from the file already there."""
    from toymae.checkpoint import load_checkpoint

    directory = Path(directory)
    names = set(only) if only is not None else None
    old = PageCache.open(directory)
    meta = {"format": FORMAT, "settings": SETTINGS, "models": {}}
    arrays: dict[str, np.ndarray] = {}
    for entry in _entries(directory):
        key = entry_key(entry["name"], entry.get("seed", 0))
        path = directory / entry["file"]
        if names is not None and entry["name"] not in names:
            if old is not None and old._valid(key) is not None:  # keep it as it is
                meta["models"][key] = old.meta["models"][key]
                arrays.update(
                    {k: old._arrays[k] for k in old._arrays.files if k.split("/")[1:3] == key.split("/")}
                )
            continue
        t0 = time.perf_counter()
        ckpt = load_checkpoint(path, device="cpu")
        model, data = ckpt.model.requires_grad_(False), ckpt.train_config.data
        record = {"file": entry["file"], "sha256": file_digest(path), "patches": model.config.num_patches}
        if entry.get("seed", 0) == 0:
            record["summaries"] = {}
            for ratio in hv.RATIOS:
                table = hv.measure(model, data, ratio)
                a = f"h/{key}/{ratio:g}"
                arrays[f"{a}/hidden"] = np.packbits(table.hidden, axis=1)
                arrays[f"{a}/score"] = table.score.astype(np.float16)
                arrays[f"{a}/label"] = table.label
                record["summaries"][f"{ratio:g}"] = table.summary
        for protocol, (raw, std) in rv.all_projections(model, data).items():
            arrays[f"p/{key}/{protocol}/raw"] = raw.astype(np.float16)
            arrays[f"p/{key}/{protocol}/std"] = std.astype(np.float16)
        meta["models"][key] = record
        log(f"{key}: {time.perf_counter() - t0:.1f} s")
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    out = directory / FILE_NAME
    write_atomic(out, buffer.getvalue())
    log(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {len(meta['models'])} models)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m toymae.app.page_cache", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--checkpoints", default=str(CHECKPOINT_DIR), help="the shipped folder (manifest.json)"
    )
    parser.add_argument("--only", help="comma-separated model names (every seed of each); default: all")
    args = parser.parse_args(argv)
    only = [n for n in args.only.split(",") if n] if args.only else None
    if only is not None:
        known = {e["name"] for e in load_manifest(args.checkpoints)}
        if unknown := sorted(set(only) - known):
            parser.error(f"not shipped: {', '.join(unknown)}")
    t0 = time.perf_counter()
    build(args.checkpoints, only)
    print(f"built in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
