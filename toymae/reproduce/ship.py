"""Shipping a reproduction: each configuration's seed-0 model, a manifest and the full results."""

from __future__ import annotations

import json
from pathlib import Path

from toymae.checkpoint import write_atomic
from toymae.reproduce.sweep import Job, checkpoint_path, result_path


def ship(out_dir: str | Path, jobs: list[Job], dest: str | Path, meta: dict) -> Path:
    """Copy each configuration's seed-0 checkpoint to ``dest`` with a manifest and the full results."""
    out_dir, dest = Path(out_dir), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    entries = []
    for job in jobs:
        if job.seed != 0:
            continue
        result = json.loads(result_path(out_dir, job).read_text())
        name = f"{job.cell.name}.safetensors"
        write_atomic(dest / name, checkpoint_path(out_dir, job).read_bytes())
        recorded = {k: result[k] for k in ("probe_acc", "pca2_acc", "held_out_loss", "r2_x", "r2_y")}
        recorded.update(
            halluc_rate_own=result["halluc_rate_own"], halluc_rate_common=result["halluc_rate_common"]
        )
        entries.append(
            {
                "file": name,
                "name": job.cell.name,
                "mask_ratio": job.cell.mask_ratio,
                "decoder_depth": job.cell.decoder_depth,
                "dataset": job.cell.dataset,
                "seed": job.seed,
                "config": job.config.to_dict(),
                "eval": result["eval"],
                "results": recorded,
                "study": result.get("study"),
            }
        )
    manifest = {"meta": meta, "checkpoints": entries}
    write_atomic(dest / "manifest.json", json.dumps(manifest, indent=1).encode())
    results = json.loads((out_dir / "results.json").read_text())
    write_atomic(dest / "results.json", json.dumps(results, indent=1).encode())
    write_atomic(dest / "results.md", (out_dir / "results.md").read_bytes())
    return dest / "manifest.json"
