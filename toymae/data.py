"""ShapeWorld: binary images holding one circle or one square.

Every image is rendered from its generating factors, so probes can target any of them and the
hallucination metric can re-render the *other* shape at the same place (the counterfactual).

Factors are stored resolution-free, as fractions of the image side:
``cx, cy`` the object's centre, ``size`` the square's side (= the circle's diameter), ``angle``
the square's rotation in radians. Pixels are sampled at their centres, so images are exactly binary.

Randomness: every sample comes from an explicit ``torch.Generator``. Seeds are split into disjoint
streams (training, probe-train, probe-test, ...) by hashing ``(seed, stream)``, so an evaluation set
can never overlap the training stream even when the user passes the same integer seed to both.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace

import torch

CIRCLE = 0
SQUARE = 1
SHAPE_NAMES = ("circle", "square")


@dataclass(frozen=True)
class ShapeWorldConfig:
    """How images are drawn. Defaults match the blog's figure (an object about half the image wide)."""

    image_size: int = 32
    size: float = 0.5  # object size as a fraction of the image side (used when size_range is None)
    size_range: tuple[float, float] | None = None  # sample the size uniformly in this range instead
    rotate: bool = False  # rotate squares by a random angle (circles are rotation-invariant)
    overflow: float = 0.1  # fraction of the object that may cross the border on each side

    def __post_init__(self) -> None:
        if not 8 <= self.image_size <= 256:
            raise ValueError(f"image_size must be in [8, 256], got {self.image_size}")
        lo, hi = self.size_range if self.size_range is not None else (self.size, self.size)
        if not 0.05 <= lo <= hi <= 1.0:
            raise ValueError(f"object size must satisfy 0.05 <= size <= 1, got {lo}..{hi}")
        if not 0.0 <= self.overflow <= 0.5:
            raise ValueError(f"overflow must be in [0, 0.5], got {self.overflow}")


# Named datasets. On "default" (the blog's: one size, axis-aligned squares) a square covers 4/pi times
# the pixels of a circle, so even a random encoder separates them by area; "varied" draws sizes from a
# range and rotates squares, so area and orientation are no shortcut and a probe must see the shape.
DATASETS: dict[str, ShapeWorldConfig] = {
    "default": ShapeWorldConfig(),
    "varied": ShapeWorldConfig(size_range=(0.25, 0.6), rotate=True),
}


def dataset(name: str, image_size: int = 32) -> ShapeWorldConfig:
    """The named dataset at ``image_size`` pixels."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return replace(DATASETS[name], image_size=image_size)


def dataset_name(config: ShapeWorldConfig) -> str:
    """The preset a config is (whatever its image size), or "custom"."""
    for name, preset in DATASETS.items():
        if replace(preset, image_size=config.image_size) == config:
            return name
    return "custom"


@dataclass
class ShapeBatch:
    """Images with the factors that generated them."""

    images: torch.Tensor  # (B, 1, H, W) float32 in {0, 1}
    shape: torch.Tensor  # (B,) int64, CIRCLE or SQUARE
    cx: torch.Tensor  # (B,) float32, centre x as a fraction of the image side
    cy: torch.Tensor  # (B,) float32, centre y (downwards) as a fraction of the image side
    size: torch.Tensor  # (B,) float32, square side / circle diameter, fraction of the side
    angle: torch.Tensor  # (B,) float32, square rotation in radians (0 for circles)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: slice | torch.Tensor | list[int]) -> ShapeBatch:
        return ShapeBatch(
            self.images[index],
            self.shape[index],
            self.cx[index],
            self.cy[index],
            self.size[index],
            self.angle[index],
        )

    def factors(self) -> dict[str, torch.Tensor]:
        return {
            "shape": self.shape,
            "cx": self.cx,
            "cy": self.cy,
            "size": self.size,
            "angle": self.angle,
        }


def stream_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for one named stream; different streams never share a generator state."""
    digest = hashlib.blake2b(f"toymae/{stream}/{seed}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def make_generator(seed: int, stream: str = "train") -> torch.Generator:
    return torch.Generator().manual_seed(stream_seed(seed, stream))


def render(
    shape: torch.Tensor,
    cx: torch.Tensor,
    cy: torch.Tensor,
    size: torch.Tensor,
    angle: torch.Tensor,
    image_size: int,
) -> torch.Tensor:
    """Render objects from their factors; all inputs (B,), returns (B, 1, H, W) float32 in {0, 1}."""
    coords = (torch.arange(image_size, dtype=torch.float32, device=cx.device) + 0.5) / image_size  # centres
    dx = coords.view(1, 1, -1) - cx.view(-1, 1, 1)  # (B, 1, W)
    dy = coords.view(1, -1, 1) - cy.view(-1, 1, 1)  # (B, H, 1)
    half = (size / 2).view(-1, 1, 1)
    in_circle = dx * dx + dy * dy <= half * half  # (B, H, W)
    cos, sin = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    u, v = (
        dx * cos + dy * sin,
        dy * cos - dx * sin,
    )  # coordinates in the square's own frame
    in_square = (u.abs() <= half) & (v.abs() <= half)  # (B, H, W)
    is_square = (shape == SQUARE).view(-1, 1, 1)
    return torch.where(is_square, in_square, in_circle).unsqueeze(1).float()


def sample(
    n: int, config: ShapeWorldConfig, generator: torch.Generator, device: torch.device | str | None = None
) -> ShapeBatch:
    """Draw ``n`` images: exactly balanced classes (odd n: one extra circle or square), random order.

    Factors always come from the (CPU) ``generator``, so a seed gives the same objects everywhere;
    ``device`` only says where the pixels are rendered and the batch lives (a GPU renders faster
    than it can be fed from the CPU)."""
    shape = (torch.arange(n) % 2)[torch.randperm(n, generator=generator)]
    if config.size_range is None:
        size = torch.full((n,), config.size)
    else:
        lo, hi = config.size_range
        size = lo + (hi - lo) * torch.rand(n, generator=generator)
    # The centre keeps at least (1 - overflow) of the object's extent inside the image.
    lo_c = size * (0.5 - config.overflow)
    span = 1 - 2 * lo_c
    cx = lo_c + span * torch.rand(n, generator=generator)
    cy = lo_c + span * torch.rand(n, generator=generator)
    if config.rotate:
        angle = (math.pi / 2) * torch.rand(n, generator=generator)  # a square repeats every 90 deg
        angle = torch.where(shape == SQUARE, angle, torch.zeros_like(angle))
    else:
        angle = torch.zeros(n)
    if device is not None:
        shape, cx, cy, size, angle = (t.to(device) for t in (shape, cx, cy, size, angle))
    images = render(shape, cx, cy, size, angle, config.image_size)
    return ShapeBatch(images, shape, cx, cy, size, angle)


def counterfactual(batch: ShapeBatch, image_size: int | None = None) -> torch.Tensor:
    """The other shape at the same centre, size and angle: (B, 1, H, W)."""
    side = image_size if image_size is not None else batch.images.shape[-1]
    return render(1 - batch.shape, batch.cx, batch.cy, batch.size, batch.angle, side)


def eval_set(n: int, config: ShapeWorldConfig, seed: int = 0, split: str = "test") -> ShapeBatch:
    """A fixed evaluation set; ``split`` names a stream disjoint from training (and from other splits)."""
    if split == "train":
        raise ValueError("'train' is the training stream; pick another split name")
    return sample(n, config, make_generator(seed, f"eval-{split}"))
