"""Turning tensors into pictures (PNG grids for the CLI and README, arrays for the dashboard)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch
from PIL import Image

from toymae.files import write_atomic
from toymae.inference import Reconstruction

if TYPE_CHECKING:
    from toymae.eval.hallucination import HallucinationReport

MAX_PNG_PIXELS = 100_000_000  # a 100 MB greyscale canvas: 1,000 rows at scale 4, or 8 rows at scale 55
MASK_GREY = 0.35  # hidden patches in the "masked" panel: grey, so they differ from black background
ArrayOrTensor = TypeVar("ArrayOrTensor", torch.Tensor, np.ndarray)


def to_uint8(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """(H, W) or (1, H, W) values in [0, 1] (clipped) -> (H, W) uint8."""
    a = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    a = a.squeeze()
    return (np.clip(a, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def grey_out(image: ArrayOrTensor, pixel_mask: ArrayOrTensor) -> ArrayOrTensor:
    """The image with hidden pixels (mask 1) shown grey, so they differ from the black background.
    Works on tensors and arrays of any matching shape."""
    return image * (1 - pixel_mask) + MASK_GREY * pixel_mask


def masked_display(rec: Reconstruction) -> torch.Tensor:
    """The input with hidden patches shown grey: (B, 1, H, W)."""
    return grey_out(rec.images, rec.pixel_mask)


def reconstruction_panels(rec: Reconstruction, index: int = 0) -> list[np.ndarray]:
    """The four standard MAE panels for one image, as uint8 arrays."""
    return [
        to_uint8(rec.images[index]),
        to_uint8(masked_display(rec)[index]),
        to_uint8(rec.reconstruction[index]),
        to_uint8(rec.pasted[index]),
    ]


# Half-block characters: one text cell shows two pixel rows (top, bottom). A no-break space keeps
# empty cells from being collapsed by the SVG text that plotly's hover labels are drawn with.
_HALF_BLOCKS = {
    (False, False): "\u00a0",
    (True, False): "\u2580",
    (False, True): "\u2584",
    (True, True): "\u2588",
}


def text_thumbnail(image: torch.Tensor | np.ndarray, max_cols: int = 32, line_break: str = "<br>") -> str:
    """A binary image as lines of half-block characters, for hover labels (plotly shows no pictures
    on hover; a monospace picture made of text does). Pixels are pooled so at most ``max_cols`` wide."""
    a = to_uint8(image) >= 128  # (H, W) bool
    f = -(-a.shape[1] // max_cols)  # ceil: the pooling factor
    h, w = a.shape[0] // f * f, a.shape[1] // f * f
    a = a[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3)) >= 0.5
    if a.shape[0] % 2:
        a = np.vstack([a, np.zeros((1, a.shape[1]), dtype=bool)])
    lines = [
        "".join(_HALF_BLOCKS[(bool(top), bool(bottom))] for top, bottom in zip(a[r], a[r + 1], strict=True))
        for r in range(0, a.shape[0], 2)
    ]
    return line_break.join(lines)


class PictureTooLargeError(ValueError):
    """A picture over ``MAX_PNG_PIXELS``; the message gives its size and the limit."""


def grid_image(rows: list[list[np.ndarray]], scale: int = 4, gap: int = 2) -> Image.Image:
    """Tile equally sized uint8 images into a grid with white gaps, nearest-neighbour upscaled.
    Raises PictureTooLargeError over ``MAX_PNG_PIXELS`` (a large ``scale`` would take gigabytes)."""
    h, w = rows[0][0].shape
    n_cols = max(len(r) for r in rows)
    H = len(rows) * (h * scale + gap) - gap
    W = n_cols * (w * scale + gap) - gap
    if H * W > MAX_PNG_PIXELS:
        raise PictureTooLargeError(
            f"a {W}x{H} picture is too large; at most {MAX_PNG_PIXELS:,} pixels (use a smaller scale)"
        )
    canvas = np.full((H, W), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            big = np.kron(tile, np.ones((scale, scale), dtype=np.uint8))
            y, x = i * (h * scale + gap), j * (w * scale + gap)
            canvas[y : y + h * scale, x : x + w * scale] = big
    return Image.fromarray(canvas, mode="L")


def save_png(image: Image.Image, path: str | Path) -> Path:
    """Encode in memory, then write atomically: a full disk or a missing permission is a ``WriteError``
    naming the file, and no half-written PNG is left behind."""
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return write_atomic(path, buf.getvalue())


def save_reconstruction_grid(rec: Reconstruction, path: str | Path, scale: int = 4) -> Path:
    """One row per image: original | masked | reconstruction | reconstruction + visible."""
    rows = [reconstruction_panels(rec, i) for i in range(rec.images.shape[0])]
    return save_png(grid_image(rows, scale=scale), path)


def vote_map(report: HallucinationReport, index: int) -> np.ndarray:
    """Discriminative hidden pixels: white = drawn clearly as the other shape, light grey = drawn
    clearly as the truth, dark grey = hedged (inside the confidence band), black elsewhere."""
    from toymae.data import counterfactual
    from toymae.eval.hallucination import pixel_votes

    b = report.batch[index : index + 1]
    disc, confident, vote = pixel_votes(
        b.images[0, 0],
        counterfactual(b)[0, 0],
        report.reconstruction[index, 0],
        report.pixel_mask[index, 0] > 0.5,
    )
    shade = np.where(confident.numpy(), 0.6 + 0.4 * vote.numpy(), 0.3)
    return to_uint8(np.where(disc.numpy(), shade, 0.0))


def save_hallucination_gallery(
    report: HallucinationReport, path: str | Path, k: int = 8, scale: int = 4
) -> Path:
    """Worst cases first: original | masked | reconstruction + visible | other shape | votes."""
    from toymae.data import counterfactual

    rows = []
    for ex in report.worst(k):
        i = ex["index"]
        pm = report.pixel_mask[i, 0].numpy()
        img = ex["image"]
        rows.append(
            [
                to_uint8(img),
                to_uint8(grey_out(img, pm)),
                to_uint8(ex["pasted"]),
                to_uint8(counterfactual(report.batch[i : i + 1])[0, 0]),
                vote_map(report, i),
            ]
        )
    if not rows:
        raise ValueError("no decidable image to show")
    return save_png(grid_image(rows, scale=scale), path)


def pca_panels_png(
    panels: list[tuple[str, np.ndarray, np.ndarray]], path: str | Path, size: int = 360
) -> Path:
    """Side-by-side 2-D scatter plots (title, (N, 2) points, (N,) labels 0/1) as a PNG, drawn with PIL.

    Circles are blue, squares red, as in the dashboard. Each panel is scaled to its own points.
    """
    from PIL import ImageDraw

    colours = {0: (31, 119, 180), 1: (214, 39, 40)}
    pad, title_h = 16, 24
    canvas = Image.new("RGB", (len(panels) * (size + pad) + pad, size + title_h + 2 * pad), "white")
    draw = ImageDraw.Draw(canvas)
    for k, (title, pts, labels) in enumerate(panels):
        x0 = pad + k * (size + pad)
        y0 = pad + title_h
        draw.rectangle([x0, y0, x0 + size, y0 + size], outline=(180, 180, 180))
        draw.text((x0, pad), title, fill=(0, 0, 0))
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        span = np.where(hi - lo > 1e-12, hi - lo, 1.0)
        xy = (pts - lo) / span * (size - 12) + 6
        for (x, y), lab in zip(xy, labels, strict=True):
            cx, cy = x0 + x, y0 + size - y
            draw.ellipse([cx - 2, cy - 2, cx + 2, cy + 2], fill=colours[int(lab)])
    return save_png(canvas, path)
