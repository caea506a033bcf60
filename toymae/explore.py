"""Interactive building blocks: one image in, arrays out (used by the dashboard, testable without it)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps

from .data import CIRCLE, SQUARE, ShapeBatch, ShapeWorldConfig, render
from .model import MaskedAutoencoder, Reconstruction

MAX_UPLOAD_PIXELS = 4096 * 4096  # refuse decompression bombs before resizing


def make_shape(shape: str, cx: float, cy: float, config: ShapeWorldConfig, angle: float = 0.0) -> ShapeBatch:
    """One ShapeWorld image with chosen factors (shape 'circle' or 'square', centre in [0, 1])."""
    s = torch.tensor([SQUARE if shape == "square" else CIRCLE])
    one = torch.ones(1)
    size = config.size if config.size_range is None else sum(config.size_range) / 2
    img = render(s, cx * one, cy * one, size * one, angle * one, config.image_size)
    return ShapeBatch(img, s, cx * one, cy * one, size * one, angle * one)


@dataclass
class LoadedImage:
    image: torch.Tensor  # (1, 1, H, W) binary float
    note: str  # what was done to it, for the user


def image_from_bytes(data: bytes, image_size: int, threshold: float = 0.5) -> LoadedImage:
    """Decode an uploaded picture (PNG/JPEG/...), grey it, resize to the model, binarise.

    Dark-on-light pictures are inverted so the object is white on black as in ShapeWorld.
    Raises ValueError with a readable message for anything that is not a picture.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_UPLOAD_PIXELS:
                raise ValueError(f"picture is {im.width}x{im.height}; at most 4096x4096 is accepted")
            grey = ImageOps.grayscale(im.convert("RGBA").convert("RGB"))
            size_note = f"{im.width}x{im.height}"
    except (OSError, Image.DecompressionBombError) as e:
        raise ValueError(f"not a picture this app can read ({e})") from None
    return image_from_array(np.asarray(grey, dtype=np.float32) / 255.0, image_size, threshold, size_note)


def image_from_array(
    grey: np.ndarray, image_size: int, threshold: float = 0.5, size_note: str | None = None
) -> LoadedImage:
    """A (H, W) array in [0, 1] (e.g. a drawing canvas) -> a binary model input."""
    notes = []
    h, w = grey.shape
    if (h, w) != (image_size, image_size):
        pil = Image.fromarray((np.clip(grey, 0, 1) * 255).astype(np.uint8))
        grey = (
            np.asarray(pil.resize((image_size, image_size), Image.Resampling.BOX), dtype=np.float32) / 255.0
        )
        notes.append(f"resized from {size_note or f'{w}x{h}'} to {image_size}x{image_size}")
    binary = grey > threshold
    if binary.mean() > 0.5:
        binary = ~binary
        notes.append("inverted (the object should be light on a dark background)")
    notes.append(f"binarised at {threshold:g}")
    img = torch.from_numpy(binary.astype(np.float32))[None, None]
    return LoadedImage(img, "; ".join(notes))


def uncertainty_map(
    model: MaskedAutoencoder, image: torch.Tensor, mask_ratio: float, k: int = 16, seed: int = 0
) -> np.ndarray:
    """Pixel-wise standard deviation of 'reconstruction + visible' over ``k`` random masks: (H, W).

    Visible pixels are copied from the input, so the spread comes from the pixels that were hidden
    under some of the masks: where the model's answer depends on which patches it saw.
    """
    gen = torch.Generator().manual_seed(seed)
    rec = model.reconstruct(image.expand(k, -1, -1, -1), mask_ratio=mask_ratio, generator=gen)
    return rec.pasted.clamp(0, 1).std(dim=0)[0].numpy()


def reconstruct_one(
    model: MaskedAutoencoder, image: torch.Tensor, mask: np.ndarray | None, mask_ratio: float, seed: int
) -> Reconstruction:
    """Reconstruct one image under a drawn mask (grid x grid, True = hidden) or a random one."""
    if mask is not None:
        return model.reconstruct(image, mask=torch.from_numpy(mask.reshape(1, -1)))
    return model.reconstruct(image, mask_ratio=mask_ratio, generator=torch.Generator().manual_seed(seed))
