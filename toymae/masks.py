"""Patch masks as a user edits them: presets, clicks and drags, and a compact text form for URLs.

A mask here is a grid, ``hidden``: a boolean numpy array of shape (grid, grid), True = hidden, row-major
like ``patchify`` (the model's ``mask`` (B, L), 1 = hidden, is the same bits flattened). The edits and
the text form serve any boolean grid, drawings included.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from toymae.model import random_patch_mask

PRESETS = ("random", "block", "left half", "right half", "top half", "bottom half", "invert", "clear")


def random_mask(grid: int, mask_ratio: float, seed: int) -> np.ndarray:
    """The mask the model's ``random_masking`` draws for a generator seeded with ``seed``."""
    mask = random_patch_mask(1, grid * grid, mask_ratio, torch.Generator().manual_seed(seed))
    return mask[0].numpy().astype(bool).reshape(grid, grid)


def preset_mask(
    name: str, grid: int, current: np.ndarray | None = None, mask_ratio: float = 0.6, seed: int = 0
) -> np.ndarray:
    """A named preset; ``invert`` flips ``current``; ``block`` hides a centred square of ~mask_ratio
    of the area."""
    m = np.zeros((grid, grid), dtype=bool)
    half = grid // 2
    if name == "random":
        return random_mask(grid, mask_ratio, seed)
    if name == "block":
        side = max(1, round(grid * mask_ratio**0.5))
        start = (grid - side) // 2
        m[start : start + side, start : start + side] = True
    elif name == "left half":
        m[:, :half] = True
    elif name == "right half":
        m[:, half:] = True
    elif name == "top half":
        m[:half, :] = True
    elif name == "bottom half":
        m[half:, :] = True
    elif name == "invert":
        return ~(current if current is not None else m)
    elif name != "clear":
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return m


def toggle(cells: np.ndarray, indices: Iterable[int]) -> np.ndarray:
    """Flip the patches at flat ``indices`` (clicked or box-selected)."""
    out = cells.copy().reshape(-1)
    idx = np.fromiter((int(i) for i in indices), dtype=np.int64)
    idx = idx[(idx >= 0) & (idx < out.size)]
    out[idx] = ~out[idx]
    return out.reshape(cells.shape)


def hide(cells: np.ndarray, indices: Iterable[int], value: bool = True) -> np.ndarray:
    """Set the patches at flat ``indices`` to ``value`` (True: hidden)."""
    out = cells.copy().reshape(-1)
    idx = np.fromiter((int(i) for i in indices), dtype=np.int64)
    out[idx[(idx >= 0) & (idx < out.size)]] = value
    return out.reshape(cells.shape)


def selected_indices(selection: dict | None) -> list[int]:
    """Patch indices from a plotly selection event (points carry the index in ``customdata``)."""
    if not selection:
        return []
    points = selection.get("selection", selection).get("points", [])
    out = []
    for p in points:
        cd = p.get("customdata")
        if isinstance(cd, (list, tuple)):
            cd = cd[0] if cd else None
        if cd is not None:
            out.append(int(cd))
    return sorted(set(out))


def dragged(selection: dict | None) -> bool:
    """Whether a plotly selection event came from a dragged box or lasso (not a click)."""
    if not selection:
        return False
    sel = selection.get("selection", selection)
    return bool(sel.get("box") or sel.get("lasso"))


def apply_selection(cells: np.ndarray, selection: dict | None, reveal: bool = False) -> np.ndarray:
    """Edit a boolean grid (a mask, True = hidden, or a drawing, True = ink) with a selection event.

    A click flips the clicked cell; a box or lasso sets every cell under it to True (hide, fill),
    or to False with ``reveal`` (show, erase). Flipping a dragged region instead would punch holes
    wherever it overlapped earlier edits, which is never what a drag over a region means.
    """
    picked = selected_indices(selection)
    if dragged(selection):
        return hide(cells, picked, value=not reveal)
    return toggle(cells, picked)


def to_text(cells: np.ndarray) -> str:
    """Hex string of the row-major bits (a 16x16 grid is 64 characters), for the URL."""
    bits = np.packbits(cells.reshape(-1).astype(np.uint8))
    return bits.tobytes().hex()


def from_text(text: str, grid: int) -> np.ndarray | None:
    """Inverse of ``to_text``; None when the text does not describe a grid x grid mask."""
    try:
        raw = np.frombuffer(bytes.fromhex(text), dtype=np.uint8)
    except ValueError:
        return None
    bits = np.unpackbits(raw)
    if raw.size != (grid * grid + 7) // 8:
        return None
    return bits[: grid * grid].astype(bool).reshape(grid, grid)
