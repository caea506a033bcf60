"""ShapeWorld generation speed, against what training consumes.

python bench/data_speed.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toymae.config import ShapeWorldConfig
from toymae.data import make_generator, sample


def main() -> None:
    for cfg in (
        ShapeWorldConfig(image_size=32),
        ShapeWorldConfig(image_size=64),
        ShapeWorldConfig(image_size=128),
        ShapeWorldConfig(image_size=32, size_range=(0.3, 0.6), rotate=True),
    ):
        g = make_generator(0)
        sample(128, cfg, g)
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < 1.0:
            sample(128, cfg, g)
            n += 128
        ips = n / (time.perf_counter() - t)
        print(
            f"{cfg.image_size:>4}px size_range={cfg.size_range} rotate={cfg.rotate}: {ips:10.0f} images/s "
            f"({1e3 * 128 / ips:.2f} ms per batch of 128)"
        )
    print(
        "training consumes ~1,000-1,500 images/s at 32 px (bench/throughput.py): generation is <5% of a step"
    )


if __name__ == "__main__":
    main()
