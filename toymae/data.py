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
from dataclasses import dataclass

import torch

from toymae.config import ShapeWorldConfig

CIRCLE = 0  # labels: SHAPE_NAMES[CIRCLE] == "circle"
SQUARE = 1


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
