"""Interactive building blocks: one image in, arrays out (used by the dashboard, testable without it)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from toymae.config import ShapeWorldConfig
from toymae.data import CIRCLE, SQUARE, ShapeBatch, render
from toymae.finite import require_finite
from toymae.inference import Reconstruction, reconstruct
from toymae.model import MaskedAutoencoder

MAX_UPLOAD_PIXELS = 4096 * 4096  # refuse decompression bombs before resizing
# What the picture upload takes: the formats PIL decodes that people keep pictures in.
PICTURE_TYPES = ("png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp")
WORK_SIDES = 4  # a picture is greyed at no more than 4x the model's side: enough for the final box filter
MIN_OBJECT_PIXELS = 4  # fewer lit pixels after binarising: the upload is refused as blank
MIN_OBJECT_FRACTION = 0.005


def make_shape(shape: str, cx: float, cy: float, config: ShapeWorldConfig, angle: float = 0.0) -> ShapeBatch:
    """One ShapeWorld image with chosen factors (shape 'circle' or 'square', centre in [0, 1])."""
    s = torch.tensor([SQUARE if shape == "square" else CIRCLE])
    one = torch.ones(1)
    size = config.size if config.size_range is None else sum(config.size_range) / 2
    img = render(s, cx * one, cy * one, size * one, angle * one, config.image_size)
    return ShapeBatch(img, s, cx * one, cy * one, size * one, angle * one)


class PictureError(ValueError):
    """An uploaded picture cannot be used; the message says why, in words."""


@dataclass
class LoadedImage:
    image: torch.Tensor  # (1, 1, H, W) binary float
    note: str  # what was done to it, for the user


def _to_grey(im: Image.Image) -> tuple[np.ndarray, list[str]]:
    """Any PIL image -> (H, W) float array in [0, 1], and notes on what was done.

    Transparency is composited onto a plain background first, onto white or black, whichever leaves
    more contrast: a shape drawn only in the alpha channel (black, or any colour, on transparent)
    survives. High-bit-depth and float pictures (16-bit PNG, float TIFF) are rescaled from their own
    value range, which a plain 8-bit conversion would clip to black.
    """
    notes: list[str] = []
    if im.mode in ("F", "I", "I;16", "I;16B", "I;16L", "I;16N"):
        values = np.asarray(im, dtype=np.float32)
        if not np.isfinite(values).all():
            raise PictureError("the picture holds NaN or infinite pixel values")
        lo, hi = float(values.min()), float(values.max())
        if hi > lo:
            notes.append(f"rescaled from its value range {lo:g}..{hi:g}")
            return (values - lo) / (hi - lo), notes
        return np.zeros(values.shape, np.float32), notes
    has_alpha = im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info
    rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
    rgb, alpha = rgba[..., :3], rgba[..., 3:]
    luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    if not has_alpha or bool((alpha == 1).all()):
        return luma, notes
    on_white = luma * alpha[..., 0] + (1 - alpha[..., 0])
    on_black = luma * alpha[..., 0]
    if on_black.std() > on_white.std():
        notes.append("transparent areas filled with black")
        return on_black, notes
    notes.append("transparent areas filled with white")
    return on_white, notes


def _shrink(im: Image.Image, image_size: int) -> Image.Image:
    """The decoded picture box-averaged in its own mode (uint8 for RGBA) to at most ``WORK_SIDES`` times
    the model's side, before any per-pixel float work: a 4096x4096 RGBA then costs its 64 MB decode,
    not a gigabyte of float arrays. The last resize to the model's size happens after greying."""
    factor = max(im.width, im.height) // (WORK_SIDES * image_size)
    if factor < 2:
        return im
    if im.mode not in ("L", "LA", "RGB", "RGBA", "I", "F", "PA"):  # palette, 1-bit, 16-bit: no box reduce
        im = im.convert("I" if im.mode.startswith("I;16") else "RGBA")
    return im.reduce(factor)


def image_from_bytes(data: bytes, image_size: int, threshold: float = 0.5) -> LoadedImage:
    """Decode an uploaded picture (PNG/JPEG/TIFF/...), grey it, resize to the model, binarise.

    Dark-on-light pictures are inverted so the object is white on black as in ShapeWorld.
    Raises ValueError with a readable message for anything that is not a picture, and for a picture
    that comes out blank (or nearly) after conversion, saying why.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_UPLOAD_PIXELS:
                raise PictureError(f"picture is {im.width}x{im.height}; at most 4096x4096 is accepted")
            im.load()
            size_note = f"{im.width}x{im.height}"
            grey, notes = _to_grey(_shrink(im, image_size))
    except PictureError:
        raise
    except Image.DecompressionBombError:
        raise PictureError("the picture is too large to decode safely (at most 4096x4096)") from None
    except Exception:  # PIL's many ways of saying "not an image it can read", none meant for users
        raise PictureError("not a picture this app can read (PNG, JPEG, GIF, BMP, TIFF or WebP)") from None
    loaded = image_from_array(grey, image_size, threshold, size_note)
    lit = int(loaded.image.sum())
    need = max(MIN_OBJECT_PIXELS, round(MIN_OBJECT_FRACTION * image_size * image_size))
    if lit < need:
        steps = "; ".join([*notes, loaded.note])
        why = (
            "every pixel has the same value"
            if float(grey.max() - grey.min()) < 1 / 255
            else f"only {lit} of {image_size * image_size} pixels belong to the object"
        )
        raise PictureError(
            f"the picture came out blank after conversion ({steps}): {why}. Upload one light shape on"
            " a dark background (or dark on light), large enough to cover a few percent of the picture"
        )
    if notes:
        loaded.note = "; ".join([*notes, loaded.note])
    return loaded


def image_from_array(
    grey: np.ndarray, image_size: int, threshold: float = 0.5, size_note: str | None = None
) -> LoadedImage:
    """A (H, W) array in [0, 1] (e.g. a drawing canvas) -> a binary model input: centre-cropped to a
    square, resized to the model's side, binarised."""
    notes = []
    h, w = grey.shape
    if h != w:  # ShapeWorld is square: crop the centre rather than squash a circle into an ellipse
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        grey = grey[top : top + side, left : left + side]
        notes.append(f"centre-cropped from {size_note or f'{w}x{h}'} to {side}x{side}")
        h = w = side
        size_note = None
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
    rec = reconstruct(model, image.expand(k, -1, -1, -1), mask_ratio=mask_ratio, generator=gen)
    require_finite(rec.reconstruction, "the model's reconstruction")
    return rec.pasted.clamp(0, 1).std(dim=0)[0].numpy()


def reconstruct_one(
    model: MaskedAutoencoder, image: torch.Tensor, hidden: np.ndarray | None, mask_ratio: float, seed: int
) -> Reconstruction:
    """Reconstruct one image under a drawn mask ``hidden`` (grid x grid, True = hidden) or a random one.

    Raises ``NonFiniteOutputError`` when the model's output is NaN or infinite.
    """
    if hidden is not None:
        rec = reconstruct(model, image, mask=torch.from_numpy(hidden.reshape(1, -1)))
    else:
        rec = reconstruct(model, image, mask_ratio=mask_ratio, generator=torch.Generator().manual_seed(seed))
    require_finite(rec.reconstruction, "the model's reconstruction")
    return rec
