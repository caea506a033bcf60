"""The shipped models: ``checkpoints/manifest.json`` and the reproduction results beside it."""

from __future__ import annotations

import json
import os
from pathlib import Path

# TOYMAE_CHECKPOINT_DIR points the dashboard at another folder of checkpoints (tests, private models).
CHECKPOINT_DIR = Path(
    os.environ.get("TOYMAE_CHECKPOINT_DIR", Path(__file__).resolve().parent.parent / "checkpoints")
)


def load_manifest(directory: str | Path = CHECKPOINT_DIR) -> list[dict]:
    """Entries of the manifest (file, name, mask_ratio, decoder_depth, seed, config, results);
    an empty list when nothing is shipped."""
    path = Path(directory) / "manifest.json"
    if not path.exists():
        return []
    return json.loads(path.read_text())["checkpoints"]


def load_results(directory: str | Path = CHECKPOINT_DIR) -> dict | None:
    """The full multi-seed results of the run that made the shipped checkpoints (None if absent)."""
    path = Path(directory) / "results.json"
    return json.loads(path.read_text()) if path.exists() else None


def entry_label(entry: dict) -> str:
    return f"ratio {entry['mask_ratio']:g} · decoder depth {entry['decoder_depth']}"
