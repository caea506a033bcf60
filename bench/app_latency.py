"""Dashboard latency: from a control change to updated reconstruction panels.

Measures (1) the library work behind one Reconstruct update (reconstruction, error map, uncertainty
over 16 masks, hallucination score, figure building) and (2) the whole Streamlit rerun after a
mask-ratio change, through AppTest (script execution and element serialisation, no browser).

    python bench/app_latency.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from toymae.app import figures  # noqa: E402
from toymae.app.catalog import CHECKPOINT_DIR, load_manifest  # noqa: E402
from toymae.app.explore import make_shape  # noqa: E402
from toymae.app.images import masked_display  # noqa: E402
from toymae.app.reconstruct_view import reconstruct_view  # noqa: E402
from toymae.checkpoint import load_checkpoint  # noqa: E402


def library_update(model, cfg, ratio: float, seed: int) -> None:
    """The Reconstruct page's work for one update: its library call and its figure builders."""
    shape = make_shape("square", 0.4, 0.6, cfg.data)
    view = reconstruct_view(model, shape.images, mask_ratio=ratio, seed=seed, shape=shape)
    rec, grid = view.rec, cfg.model.grid_size
    pictures = (rec.images, masked_display(rec), rec.reconstruction, rec.pasted)
    for picture, edit_grid in zip(pictures, (None, grid, None, None), strict=True):
        figures.image_panel(picture[0, 0].clamp(0, 1).numpy(), "panel", edit_grid)
    figures.patch_heatmap(view.patch_error, "err", hidden=view.hidden)
    figures.patch_heatmap(view.uncertainty, "unc", hidden=view.hidden)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    entry = next(e for e in load_manifest() if e["name"] == "ratio0.6-dec1")
    ckpt = load_checkpoint(CHECKPOINT_DIR / entry["file"])
    model, cfg = ckpt.model, ckpt.train_config
    print(f"model {entry['name']}, torch threads {torch.get_num_threads()}")
    for i in range(3):
        library_update(model, cfg, 0.6, i)
    times = []
    for i in range(args.repeats):
        t = time.perf_counter()
        library_update(model, cfg, 0.3 + 0.6 * (i % 2), i)
        times.append(time.perf_counter() - t)
    print(
        f"library update (reconstruct_view: reconstruct + score + uncertainty x16; 6 figures): "
        f"median {1e3 * statistics.median(times):.1f} ms, max {1e3 * max(times):.1f} ms"
    )

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    reruns = []
    for i in range(args.repeats):
        at.slider(key="ratio").set_value([0.5, 0.7][i % 2])
        t = time.perf_counter()
        at.run()
        reruns.append(time.perf_counter() - t)
        assert not at.exception, at.exception
    print(
        f"whole rerun after a mask-ratio change (AppTest): median {1e3 * statistics.median(reruns):.1f} ms, "
        f"max {1e3 * max(reruns):.1f} ms"
    )


if __name__ == "__main__":
    main()
