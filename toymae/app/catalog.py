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
    dataset = entry.get("dataset", "default")
    suffix = "" if dataset == "default" else f" · {dataset} data"
    return f"ratio {entry['mask_ratio']:g} · decoder depth {entry['decoder_depth']}{suffix}"


def cell_row(results: dict | None, dataset: str, mask_ratio: float, decoder_depth: int) -> dict | None:
    """The aggregated row (all seeds) of one configuration in the shipped results, if any."""
    if not results:
        return None
    rows = results.get("datasets", {}).get(dataset, results.get("table", []) if dataset == "default" else [])
    for row in rows:
        if row["mask_ratio"] == mask_ratio and row["decoder_depth"] == decoder_depth:
            return row
    return None


def load_convergence(directory: str | Path = CHECKPOINT_DIR) -> dict | None:
    """The training-budget curve that chose the shipped models' budget (bench/convergence.py)."""
    path = Path(directory) / "convergence.json"
    return json.loads(path.read_text()) if path.exists() else None
