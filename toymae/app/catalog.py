"""The shipped models: ``checkpoints/manifest.json`` and the reproduction results beside it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from toymae.shipped import shipped_path

# The shipped seed-0 models: checkpoints/ of a source checkout, or its copy inside an installed wheel.
# TOYMAE_CHECKPOINT_DIR points the dashboard at another folder of checkpoints (tests, private models).
CHECKPOINT_DIR = Path(os.environ.get("TOYMAE_CHECKPOINT_DIR") or shipped_path("checkpoints"))


class CatalogError(ValueError):
    """The manifest cannot be read (a Git LFS pointer, truncated, hand-edited); the message says why."""


def load_manifest(directory: str | Path = CHECKPOINT_DIR) -> list[dict]:
    """Entries of the manifest (file, name, mask_ratio, decoder_depth, seed, config, results);
    an empty list when nothing is shipped. Every entry has the fields the dashboard reads, and a
    file name that stays inside ``directory``; otherwise ``CatalogError``."""
    path = Path(directory) / "manifest.json"
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text())["checkpoints"]
        ok = isinstance(entries, list) and all(_is_entry(e) for e in entries)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise CatalogError(f"{path.name} is not a toymae manifest (truncated, or a Git LFS pointer?)")
    return entries


def _is_entry(e: object) -> bool:
    return (
        isinstance(e, dict)
        and all(isinstance(e.get(k), str) for k in ("file", "name"))
        and Path(e["file"]).name == e["file"]  # no folders, so no way out of the checkpoints folder
        and isinstance(e.get("mask_ratio"), (int, float))
        and isinstance(e.get("decoder_depth"), int)
    )


def seed_files(directory: str | Path = CHECKPOINT_DIR) -> dict[tuple[str, int], Path]:
    """Every shipped seed's checkpoint: (name, seed) -> file, from the manifest's ``checkpoints`` (seed
    0) and ``seed_checkpoints`` (the others, when shipped); files missing or outside ``directory`` are
    left out."""
    path = Path(directory) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
        entries = [*manifest["checkpoints"], *manifest.get("seed_checkpoints", [])]
        pairs = [(e["name"], int(e.get("seed", 0)), Path(directory) / e["file"]) for e in entries]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return {}
    inside = Path(directory).resolve()
    # A wheel ships the seed-0 models only: a seed listed but absent is not offered.
    return {(n, s): f for n, s, f in pairs if inside in f.resolve().parents and f.is_file()}


def load_results(directory: str | Path = CHECKPOINT_DIR) -> dict | None:
    """The full multi-seed results of the run that made the shipped checkpoints (None if absent)."""
    path = Path(directory) / "results.json"
    return json.loads(path.read_text()) if path.exists() else None


def entry_label(entry: dict) -> str:
    dataset = entry.get("dataset", "default")
    suffix = "" if dataset == "default" else f" · {dataset} data"
    return f"ratio {entry['mask_ratio']:g} · decoder depth {entry['decoder_depth']}{suffix}"


def dataset_rows(results: dict | None, dataset: str) -> list[dict]:
    """The aggregated rows (one per configuration, all seeds) of one dataset in the shipped results."""
    if not results:
        return []
    return results.get("datasets", {}).get(dataset, results.get("table", []) if dataset == "default" else [])


def cell_row(results: dict | None, dataset: str, mask_ratio: float, decoder_depth: int) -> dict | None:
    """The aggregated row (all seeds) of one configuration in the shipped results, if any."""
    for row in dataset_rows(results, dataset):
        if row["mask_ratio"] == mask_ratio and row["decoder_depth"] == decoder_depth:
            return row
    return None


def load_convergence(directory: str | Path = CHECKPOINT_DIR) -> dict | None:
    """The training-budget curve that chose the shipped models' budget (bench/convergence.py)."""
    path = Path(directory) / "convergence.json"
    return json.loads(path.read_text()) if path.exists() else None
