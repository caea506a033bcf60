"""What the Hallucinations page shows for one model at one mask ratio (protocol v2): the three
fractions per true shape and balanced, beside the blind decoder, and a gallery ranked worst first that
pages through every decidable image.

The page scores the reproduction's hallucination set (``EvalSpec``: 1,000 images, data seed 0, masks
from seed 0), so a shipped model's rate at its training ratio is its seed-0 rate in results.json.
What the page needs of one (model, ratio) is a ``HallucinationTable``: the summary and, per image, the
mask, score and label. Shipped models read theirs from the page cache recorded at ship time
(``toymae.app.page_cache``); others are measured now (``measure``, seconds). A gallery page then
costs one forward pass over its 8 images (``examples``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from toymae.app import figures
from toymae.app.catalog import dataset_rows
from toymae.app.figures import LABEL_COLOURS
from toymae.app.images import MASK_GREY, grey_out, to_uint8
from toymae.app.tour import TryThis, reconstruct_link
from toymae.config import SHAPE_NAMES, ShapeWorldConfig
from toymae.data import ShapeBatch, counterfactual, eval_set
from toymae.eval.hallucination import (
    LABELS,
    HallucinationReport,
    evaluate_hallucination,
    is_current,
    pixel_votes,
    score_reconstructions,
)
from toymae.inference import reconstruct
from toymae.model import MaskedAutoencoder
from toymae.reproduce.claims import pooled_rate
from toymae.reproduce.sweep import EvalSpec

INTRO = (
    "Each evaluation image is masked at random. Where a hidden pixel differs between a circle and a "
    "square of the same size and place, the reconstruction votes for a shape if drawn clearly (at most "
    "0.25 or at least 0.75) and hedges otherwise. An image is **hallucinated** when most clear votes go "
    "to the other shape, **faithful** when most go to its own, **uncertain** when it hedges (too few "
    "clear votes, or a tie) and **undecidable** when too few such pixels are hidden. Beside every "
    "share: a **blind decoder**, which draws every image as the average image."
)
RATIOS = tuple(round(0.1 + 0.05 * i, 2) for i in range(18))  # the page's slider, 0.1 .. 0.95
N_IMAGES = EvalSpec().halluc_n
DATA_SEED = EvalSpec().data_seed
PER_PAGE = 8
CODES = (*LABELS, "undecidable")  # a table's per-image label codes index this
WORST_FIRST = ("hallucinated", "uncertain", "faithful", "undecidable")
Progress = Callable[[float, str], None]  # (fraction done, what is happening)


@dataclass
class HallucinationTable:
    """One model at one ratio on the page's evaluation set."""

    ratio: float
    summary: dict  # ``HallucinationReport.summary()``
    hidden: np.ndarray  # (N, L) bool, True = hidden
    score: np.ndarray  # (N,) float32: confident votes for the other shape / confident; NaN where none
    label: np.ndarray  # (N,) int8 codes into ``CODES``

    @classmethod
    def from_report(cls, report: HallucinationReport) -> HallucinationTable:
        s = report.scores
        label = np.full(len(report.batch), CODES.index("undecidable"), dtype=np.int8)
        for name, flags in zip(LABELS, (s.faithful, s.hallucinated, s.uncertain), strict=True):
            label[flags.numpy()] = CODES.index(name)
        return cls(
            report.mask_ratio,
            report.summary(),
            report.mask.numpy() > 0.5,
            s.score.numpy().astype(np.float32),
            label,
        )

    def ranking(
        self, shapes: np.ndarray, true_shape: str | None = None, label: str | None = None
    ) -> np.ndarray:
        """Indices of the decidable images (of ``true_shape``, with ``label``), worst first: the
        hallucinated, then the uncertain, then the faithful; within each the highest score (share of
        clear votes for the other shape) first, no clear vote last, ties by index."""
        pick = self.label != CODES.index("undecidable")
        if true_shape is not None:
            pick &= shapes == SHAPE_NAMES.index(true_shape)
        if label is not None:
            pick &= self.label == CODES.index(label)
        idx = np.flatnonzero(pick)
        key = np.nan_to_num(self.score[idx], nan=-1.0)
        severity = np.array([WORST_FIRST.index(CODES[c]) for c in self.label[idx]], dtype=int)
        return idx[np.lexsort((idx, -key, severity))]


def pages(n: int, per_page: int = PER_PAGE) -> int:
    """Gallery pages for ``n`` images (at least one, so a pager always has a page to show)."""
    return max(1, -(-n // per_page))


@functools.lru_cache(maxsize=4)
def evaluation_set(data: ShapeWorldConfig, n: int = N_IMAGES, seed: int = DATA_SEED) -> ShapeBatch:
    """The page's images (rendered in milliseconds; read-only, so shared)."""
    return eval_set(n, data, seed, "hallucination")


def measure(
    model: MaskedAutoencoder,
    data: ShapeWorldConfig,
    ratio: float,
    progress: Progress | None = None,
    n: int = N_IMAGES,
    seed: int = DATA_SEED,
) -> HallucinationTable:
    """Score ``model`` at ``ratio`` on the page's set, as ``python -m toymae hallucinate`` does.

    ``progress`` hears after each batch of the model's forward passes, from this thread only (a model
    trained on this server is shared by every session: another session's passes are not ours).
    """
    batch = evaluation_set(data, n, seed)
    caller, done = threading.get_ident(), [0]

    def hook(_module, inputs, _output) -> None:
        if progress is None or threading.get_ident() != caller:
            return
        done[0] += len(inputs[0])
        progress(done[0] / n, f"scored {done[0]:,} of {n:,} images")

    handle = model.register_forward_hook(hook)
    try:
        report = evaluate_hallucination(model, batch, ratio, seed=seed)
    finally:
        handle.remove()
    return HallucinationTable.from_report(report)


@dataclass
class Example:
    """One gallery image: what it is, what the model drew, and where to see it in Reconstruct."""

    index: int
    shape: str
    label: str
    score: float | None
    strip: np.ndarray  # (H, 4W + gaps, 3) uint8: original | masked | filled in | votes
    counts: str  # the votes in words: the strip's text alternative
    visible_object_fraction: float
    link: TryThis  # this image under this mask in Reconstruct


def examples(
    model: MaskedAutoencoder,
    model_name: str,
    data: ShapeWorldConfig,
    table: HallucinationTable,
    indices: np.ndarray,
    n: int = N_IMAGES,
    seed: int = DATA_SEED,
) -> list[Example]:
    """The gallery's images ``indices`` redrawn under their recorded masks (one forward pass)."""
    if len(indices) == 0:
        return []
    batch = evaluation_set(data, n, seed)[torch.as_tensor(indices)]
    grid = model.config.grid_size
    mask = torch.from_numpy(table.hidden[indices]).float()
    rec = reconstruct(model, batch.images, mask=mask)
    counter = counterfactual(batch)
    scores = score_reconstructions(
        batch.images, counter, rec.reconstruction, rec.pixel_mask, model.config.patch_size
    )
    out = []
    for j, i in enumerate(int(i) for i in indices):
        image, pm = batch.images[j, 0], rec.pixel_mask[j, 0]
        disc, conf, vote = pixel_votes(image, counter[j, 0], rec.reconstruction[j, 0], pm > 0.5)
        panels = [
            _rgb(image),
            _rgb(grey_out(image, pm)),
            _rgb(rec.pasted[j, 0].clamp(0, 1)),
            vote_picture(disc.numpy(), conf.numpy(), vote.numpy()),
        ]
        n_disc, n_conf, n_flip = int(disc.sum()), int(conf.sum()), int(vote.sum())
        shape = SHAPE_NAMES[int(batch.shape[j])]
        other = "round" if shape == "square" else "square"
        score = float(table.score[i])
        out.append(
            Example(
                index=i,
                shape=shape,
                label=CODES[int(table.label[i])],
                score=None if np.isnan(score) else score,
                strip=_strip(panels),
                counts=(
                    f"{n_disc} hidden corner pixels: {n_flip} drawn {other}, {n_conf - n_flip} drawn as a "
                    f"{shape}, {n_disc - n_conf} hedged (grey)"
                ),
                visible_object_fraction=float(scores.visible_object_fraction[j]),
                link=reconstruct_link(
                    model_name, batch[j : j + 1], data, table.hidden[i].reshape(grid, grid)
                ),
            )
        )
    return out


def vote_picture(discriminative: np.ndarray, confident: np.ndarray, vote: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: each hidden pixel where the two shapes differ, in its label's colour (drawn as
    the other shape / as the true shape / hedged inside the band around 0.5); black elsewhere."""
    out = np.zeros((*discriminative.shape, 3), dtype=np.uint8)
    for name, pick in (
        ("hallucinated", confident & (vote > 0.5)),
        ("faithful", confident & (vote < 0.5)),
        ("uncertain", discriminative & ~confident),
    ):
        out[pick] = _hex_rgb(LABEL_COLOURS[name])
    return out


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[k : k + 2], 16) for k in (1, 3, 5))  # type: ignore[return-value]


def _rgb(img: torch.Tensor) -> np.ndarray:
    return np.repeat(to_uint8(img)[..., None], 3, axis=2)


def _strip(panels: list[np.ndarray], scale: int = 4, gap: int = 3) -> np.ndarray:
    """Panels side by side, nearest-neighbour upscaled, on white."""
    h, w, _ = panels[0].shape
    out = np.full((h * scale, len(panels) * (w * scale + gap) - gap, 3), 255, dtype=np.uint8)
    for k, p in enumerate(panels):
        x = k * (w * scale + gap)
        out[:, x : x + w * scale] = np.kron(p, np.ones((scale, scale, 1), dtype=np.uint8))
    return out


STRIP_TITLES = "original · masked (grey = hidden) · filled in · votes"
VOTE_LEGEND = (
    "Votes: each hidden pixel where a circle and a square differ, in "
    "**vermillion** if drawn as the other shape, **blue** if drawn as the true shape, **pink** if "
    f"hedged (within 0.25 of grey); black elsewhere. Grey ({MASK_GREY:g}) appears only on the masked "
    "panel, where it means hidden."
)


def fraction_rows(summary: dict) -> list[dict]:
    """The three fractions per true shape, balanced and for the blind decoder, as table rows (the
    fractions chart's text alternative): rate [95% Wilson interval] and counts."""
    rows = []
    groups = [(f"true {s}s", summary["by_shape"][s], summary["blind"]["by_shape"][s]) for s in SHAPE_NAMES]
    for name, row, blind in groups:
        entry = {"images": name, "decidable": row["n_decidable"]}
        for lab in LABELS:
            r = row[lab]
            entry[lab] = (
                "—" if r["rate"] is None else f"{r['rate']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]"
            )
            entry[f"blind {lab}"] = "—" if blind[lab]["rate"] is None else f"{blind[lab]['rate']:.3f}"
        rows.append(entry)
    bal, blind = summary["balanced"], summary["blind"]["balanced"]
    entry = {"images": "balanced (mean of the shapes)", "decidable": summary["n_decidable"]}
    for lab in LABELS:
        entry[lab] = "—" if bal[lab] is None else f"{bal[lab]:.3f}"
        entry[f"blind {lab}"] = "—" if blind[lab] is None else f"{blind[lab]:.3f}"
    rows.append(entry)
    return rows


def chart_bars(summary: dict) -> list[tuple[str, dict[str, float | None]]]:
    """The fractions chart's rows: each true shape, then balanced, each followed by its blind decoder."""
    blind = summary["blind"]
    rows = []
    for s in SHAPE_NAMES:
        for name, part in ((f"true {s}s", summary["by_shape"][s]), (f"blind, {s}s", blind["by_shape"][s])):
            rows.append((name, {lab: part[lab]["rate"] for lab in LABELS}))
    rows += [("balanced", summary["balanced"]), ("blind, balanced", blind["balanced"])]
    return rows


def chart_text(summary: dict) -> str:
    """The fractions chart in one sentence (its ``alt`` text)."""
    parts = []
    for name, shares in chart_bars(summary):
        said = ", ".join(f"{lab} {v:.2f}" for lab, v in shares.items() if v is not None)
        parts.append(f"{name.strip()}: {said}")
    return (
        "Shares of decidable images per true shape and balanced, each beside the blind decoder. "
        + "; ".join(parts)
    )


SWEEP_SERIES = [
    ("own", "at its training ratio", False),
    ("own_blind", "blind decoder, same masks", True),
    ("common", "at ratio 0.6", False),
    ("common_blind", "blind decoder at ratio 0.6", True),
]


def sweep_rows(results: dict | None, dataset: str) -> list[dict]:
    """Per shipped configuration of ``dataset``: the confidently hallucinated share over its seeds at
    its own ratio and at the common one, each beside the blind decoder, pooled with counting error
    (``claims.pooled_rate``: ``{key}_ci`` = [lo, hi]). Empty before protocol v2 was recorded."""
    out = []
    for row in dataset_rows(results, dataset):
        cell = (dataset, row["mask_ratio"], row["decoder_depth"])
        runs = [
            r
            for r in results["runs"]
            if (r["cell"].get("dataset", "default"), r["cell"]["mask_ratio"], r["cell"]["decoder_depth"])
            == cell
        ]
        flat = {"mask_ratio": row["mask_ratio"], "decoder_depth": row["decoder_depth"]}
        for where in ("own", "common"):
            reports = [r[f"halluc_{where}"] for r in runs if is_current(r.get(f"halluc_{where}", {}))]
            if not reports:
                return []
            for key, part in ((where, reports), (f"{where}_blind", [x["blind"] for x in reports])):
                pooled = pooled_rate(
                    (x["labels"]["hallucinated"]["k"], x["labels"]["n_decidable"]) for x in part
                )
                flat[key], flat[f"{key}_ci"] = pooled["rate"], pooled["ci95"]
        out.append(flat)
    return out


def sweep_figure(rows: list[dict], sweep: str):
    """``sweep_rows`` against mask ratio (decoder depth 2) or decoder depth (ratio 0.6)."""
    x, fixed, value = (
        ("decoder_depth", "mask_ratio", 0.6)
        if sweep == "decoder depth"
        else ("mask_ratio", "decoder_depth", 2)
    )
    return figures.sweep_chart(
        [r for r in rows if r[fixed] == value],
        x,
        SWEEP_SERIES,
        title="shipped models: mean over seeds, 95% CI with counting error",
        y_title="hallucinated share",
        accuracy=False,
        colours=(LABEL_COLOURS["hallucinated"], "#000000"),  # blue and pink mean other labels here
    )


def bins_text(bins: list[dict]) -> str:
    """The by-visible-fraction chart as text (its ``alt``)."""
    said = "; ".join(
        f"{b['lo']:.1f}-{b['hi']:.1f}: "
        + ("no decidable image" if b["rate"] is None else f"{b['rate']:.3f}")
        + f" of {b['n_decidable']}"
        for b in bins
    )
    return f"Hallucinated share by visible fraction of the object: {said}"


def sweep_text(rows: list[dict], sweep: str) -> str:
    """The shipped models' sweep as text (its ``alt``)."""
    x, fixed, value = (
        ("decoder_depth", "mask_ratio", 0.6)
        if sweep == "decoder depth"
        else ("mask_ratio", "decoder_depth", 2)
    )
    said = "; ".join(
        f"{x.replace('_', ' ')} {r[x]:g}: "
        + ", ".join(f"{label} {r[key]:.3f}" for key, label, _ in SWEEP_SERIES if r[key] is not None)
        for r in sorted((r for r in rows if r[fixed] == value), key=lambda r: r[x])
    )
    return f"Hallucinated share of the shipped models against {sweep}: {said}"
