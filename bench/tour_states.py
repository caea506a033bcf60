"""Find the landing page's "try this" states on the shipped models (toymae/app/tour.py names them).

    python bench/tour_states.py

For each candidate model: the first mask seeds at ratio 0.6 whose random mask makes it draw a hidden
corner of a centred square round, and which quarter-of-the-grid drawn masks do the same. The states
are re-found whenever the shipped models change (tests/test_reconstruct_view.py checks each link).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import numpy as np

from toymae.app.catalog import CHECKPOINT_DIR
from toymae.app.explore import make_shape, reconstruct_one
from toymae.checkpoint import load_checkpoint
from toymae.data import counterfactual
from toymae.eval.hallucination import image_verdict, score_reconstructions
from toymae.masks import to_text


def verdict(ckpt, batch, hidden: np.ndarray | None, seed: int, mask_ratio: float = 0.6):
    rec = reconstruct_one(ckpt.model, batch.images, hidden, mask_ratio, seed)
    h = score_reconstructions(
        batch.images,
        counterfactual(batch),
        rec.reconstruction,
        rec.pixel_mask,
        ckpt.train_config.model.patch_size,
    )
    return image_verdict(h, "square")


def main() -> None:
    for name in ("ratio0.6-dec1", "ratio0.6-dec2", "ratio0.6-dec4"):
        ckpt = load_checkpoint(CHECKPOINT_DIR / f"{name}.safetensors")
        batch = make_shape("square", 0.5, 0.5, ckpt.train_config.data)
        grid = ckpt.train_config.model.grid_size
        seeds = [s for s in range(300) if verdict(ckpt, batch, None, s).label == "hallucinated"]
        print(f"{name}: of 300 random masks at ratio 0.6, {len(seeds)} hallucinate; first seeds {seeds[:5]}")
        for qy in (0, 1):
            for qx in (0, 1):
                mask = np.zeros((grid, grid), dtype=bool)
                h = grid // 2
                mask[qy * h : (qy + 1) * h, qx * h : (qx + 1) * h] = True
                v = verdict(ckpt, batch, mask, 0)
                print(f"  quarter ({qy}, {qx}) mask {to_text(mask)}: {v.label} — {v.reason}")


if __name__ == "__main__":
    main()
