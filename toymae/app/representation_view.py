"""What the Representations page shows for one model: every probe score beside the same architecture at
its random initialisation, and the PCA of the chosen protocol's features, raw and standardised.

Shipped models come with the reproduction's study (every seed of their cell: means, 95% CIs and the
paired difference from random init) and with PCA points recorded at ship time (``page_cache``): the
page shows them without running a model. Any other model is measured now on a smaller evaluation set
(one model: no interval), with progress reports.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from toymae.app.catalog import cell_row
from toymae.app.images import text_thumbnail
from toymae.checkpoint import Checkpoint
from toymae.config import PROTOCOLS, SHAPE_NAMES, ShapeWorldConfig, TrainConfig, dataset_name
from toymae.data import ShapeBatch, eval_set
from toymae.eval.study import (
    LABEL_BUDGETS,
    LABELS,
    PCA2,
    metric_key,
    scores_from_features,
)
from toymae.model import MaskedAutoencoder, build_model
from toymae.probe import extract_features, pca_projection
from toymae.reproduce.claims import CEILING, MIN_GAIN
from toymae.reproduce.sweep import EvalSpec

LIVE_IMAGES = 600  # per split, for the PCA and for models measured now (seconds on a laptop CPU)
LIVE_DRAWS = 5
KEYS = (*LABELS, *PCA2)  # every score the page shows: label budgets, then both PCA-2 variants
PCA_VARIANTS = ("raw", "standardised")  # the scatter's features, as pca2 and pca2_std score them
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Score:
    mean: float
    ci95: float | None  # half-width of the 95% t interval over seeds; None for one seed


@dataclass
class RepresentationView:
    protocol: str
    test: ShapeBatch  # the held-out images behind the scatter
    points: np.ndarray  # (N, 2) test features on the train split's first two principal components
    points_std: np.ndarray  # the same, of features standardised with the train split's statistics
    trained: dict[str, Score]  # ``KEYS`` -> accuracy
    random_init: dict[str, Score]  # the same architecture at its seed's random initialisation
    delta: dict[str, Score]  # trained minus random init, paired by seed
    n_train: int  # labelled images behind "all"
    source: str  # where the scores come from, in words
    per_seed: dict[int, dict[str, tuple[float, float]]] = field(default_factory=dict)  # (trained, random)

    def scatter(self, variant: str) -> np.ndarray:
        return self.points if variant == "raw" else self.points_std

    def label_curve(self, which: str = "trained") -> tuple[list[int], list[float], list[float | None]]:
        """(labels, accuracy, CI) for a label-efficiency plot; "all" is placed at ``n_train``."""
        scores = self.trained if which == "trained" else self.random_init
        xs = [*LABEL_BUDGETS, self.n_train]
        keys = [k for k in LABELS if k != "all_cv"]  # all_cv has the same labels as "all"
        return xs, [scores[k].mean for k in keys], [scores[k].ci95 for k in keys]

    def gain(self, key: str) -> str:
        """How ``key``'s trained score stands against random init, for a badge: "up" (a paired gain
        of at least claims.MIN_GAIN, interval above 0), "down" (the mirror), "ceiling" (both at or
        above claims.CEILING: no ranking), else "none" (no arrow, no colour)."""
        t, r, d = self.trained[key], self.random_init[key], self.delta[key]
        if t.mean >= CEILING and r.mean >= CEILING:
            return "ceiling"
        if d.ci95 is None or abs(d.mean) < MIN_GAIN or abs(d.mean) <= d.ci95:
            return "none"
        return "up" if d.mean > 0 else "down"


@functools.lru_cache(maxsize=4)
def probe_sets(
    data: ShapeWorldConfig, n: int = LIVE_IMAGES, data_seed: int = 0
) -> tuple[ShapeBatch, ShapeBatch]:
    """(train, test) images behind the scatter; the same for every model of a dataset (read-only)."""
    return eval_set(n, data, data_seed, "probe-train"), eval_set(n, data, data_seed, "probe-test")


@functools.lru_cache(maxsize=4)
def hover_labels(data: ShapeWorldConfig, n: int = LIVE_IMAGES, data_seed: int = 0) -> tuple[str, ...]:
    """Each scatter point's factors and a small text picture of its image (plotly hovers show no
    images); one tuple per dataset."""
    b = probe_sets(data, n, data_seed)[1]
    return tuple(
        f"#{i} {SHAPE_NAMES[int(s)]} at ({float(x):.2f}, {float(y):.2f}), size {float(z):.2f}<br>"
        + text_thumbnail(img, max_cols=16)
        for i, (s, x, y, z, img) in enumerate(zip(b.shape, b.cx, b.cy, b.size, b.images, strict=True))
    )


def projections(ftr: np.ndarray, fte: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Test features on the train features' first two PCs: raw, and standardised by the train split
    (the two features ``pca2`` and ``pca2_std`` score)."""
    mu, sd = ftr.mean(axis=0), ftr.std(axis=0) + 1e-12
    return pca_projection(fte, fit_on=ftr), pca_projection((fte - mu) / sd, fit_on=(ftr - mu) / sd)


def all_projections(
    model: MaskedAutoencoder, data: ShapeWorldConfig, n: int = LIVE_IMAGES, data_seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``projections`` under every protocol (what the page cache records per model)."""
    train, test = probe_sets(data, n, data_seed)
    ftr, fte = (extract_features(model, b.images, PROTOCOLS) for b in (train, test))
    return {p: projections(ftr[p], fte[p]) for p in PROTOCOLS}


@dataclass(frozen=True)
class Recorded:
    """A shipped cell's study under one protocol: over its seeds, trained, random init and their
    paired difference."""

    trained: dict[str, Score]
    random_init: dict[str, Score]
    delta: dict[str, Score]
    n_seeds: int


def recorded_scores(
    results: dict | None, data: str, mask_ratio: float, decoder_depth: int, protocol: str
) -> Recorded | None:
    """The study of a shipped cell, or None (no study, or one recorded before a metric existed)."""
    row = cell_row(results, data, mask_ratio, decoder_depth)
    study = (row or {}).get("study") or {}
    if protocol not in study.get("trained", {}):
        return None
    parts = [study[w][protocol] for w in ("trained", "random_init", "delta")]
    if not all(metric_key(k) in p for p in parts for k in KEYS):
        return None
    scores = [{k: Score(p[metric_key(k)]["mean"], p[metric_key(k)]["ci95"]) for k in KEYS} for p in parts]
    return Recorded(*scores, n_seeds=parts[0][metric_key("all")]["n"])


def seed_scores(results: dict | None, data: str, mask_ratio: float, decoder_depth: int, protocol: str):
    """seed -> key -> (trained, random init) for every recorded run of a shipped cell."""
    out: dict[int, dict[str, tuple[float, float]]] = {}
    for r in (results or {}).get("runs", []):
        c = r["cell"]
        if (c.get("dataset", "default"), c["mask_ratio"], c["decoder_depth"]) != (
            data,
            mask_ratio,
            decoder_depth,
        ):
            continue
        t, b = (
            r.get("study", {}).get("protocols", {}).get(protocol),
            r.get("study", {}).get("random_init", {}).get(protocol),
        )
        if t and b:
            out[r["seed"]] = {k: (t[metric_key(k)], b[metric_key(k)]) for k in KEYS if metric_key(k) in t}
    return dict(sorted(out.items()))


def representation_view(
    model: MaskedAutoencoder | None,
    data: ShapeWorldConfig,
    seed: int,
    protocol: str,
    recorded: Recorded | None = None,
    recorded_n_train: int = EvalSpec.probe_train,
    n: int = LIVE_IMAGES,
    data_seed: int = 0,
    points: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Progress | None = None,
) -> RepresentationView:
    """The view of ``model`` (pretrained from ``seed``) under ``protocol``, on ``n`` + ``n`` held-out
    images. ``recorded``: a shipped cell's ``recorded_scores``, shown instead of measuring
    (``recorded_n_train``: the labelled images behind its "all"); ``points``: its recorded
    ``projections``. With both, no model runs (``model`` may be None). The Representations page and
    ``python -m toymae pca`` call this."""
    say = progress or (lambda _f, _t: None)
    train, test = probe_sets(data, n, data_seed)
    ftr = fte = None
    if points is None or recorded is None:
        say(0.0, "extracting the encoder's features")
        ftr, fte = (model_features(model, b, protocol) for b in (train, test))
    raw, std = points if points is not None else projections(ftr, fte)
    if recorded is not None:
        source = f"the reproduction's {recorded.n_seeds} seeds of this configuration (± 95% CI over seeds)"
        r = recorded
        return RepresentationView(
            protocol, test, raw, std, r.trained, r.random_init, r.delta, recorded_n_train, source
        )
    say(0.3, "the same architecture at its random initialisation")
    untrained = build_model(model.config, seed, device=model.cls_token.device)
    btr, bte = (model_features(untrained, b, protocol) for b in (train, test))
    say(0.5, f"fitting the probes ({LIVE_DRAWS} label draws per budget, cross-validated C)")
    t = scores_from_features(ftr, train, fte, test, LIVE_DRAWS)
    say(0.75, "fitting the random init's probes")
    b = scores_from_features(btr, train, bte, test, LIVE_DRAWS)
    say(1.0, "done")
    one = {k: Score(t[metric_key(k)], None) for k in KEYS}
    base = {k: Score(b[metric_key(k)], None) for k in KEYS}
    delta = {k: Score(one[k].mean - base[k].mean, None) for k in KEYS}
    source = f"measured now on {n} + {n} images (one model: no interval)"
    return RepresentationView(protocol, test, raw, std, one, base, delta, n, source)


def model_features(model: MaskedAutoencoder, batch: ShapeBatch, protocol: str) -> np.ndarray:
    return extract_features(model, batch.images, (protocol,))[protocol]


def shipped_view(
    config: TrainConfig,
    seed: int,
    protocol: str,
    results: dict | None,
    points: tuple[np.ndarray, np.ndarray] | None = None,
    model: MaskedAutoencoder | None = None,
    progress: Progress | None = None,
) -> RepresentationView:
    """A shipped model's view: its cell's recorded study (all seeds) and every seed's own scores, and
    the PCA of seed ``seed``: ``points`` from the page cache, else ``model`` (that seed's checkpoint)
    measured now. Without a recorded study, ``model``'s scores are measured now too."""
    cell = (dataset_name(config.data), config.model.mask_ratio, config.model.decoder_depth)
    recorded = recorded_scores(results, *cell, protocol)
    runs = results.get("runs") if results else None
    n_train = runs[0]["eval"]["probe_train"] if runs else EvalSpec.probe_train
    view = representation_view(
        model, config.data, seed, protocol, recorded, n_train, points=points, progress=progress
    )
    if recorded is not None:
        view.per_seed = seed_scores(results, *cell, protocol)
    return view


def checkpoint_view(
    ckpt: Checkpoint,
    protocol: str,
    results: dict | None = None,
    points: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Progress | None = None,
) -> RepresentationView:
    """``representation_view`` of a loaded checkpoint. ``results``: the shipped reproduction's (pass
    them for shipped models only): its recorded study of this configuration is shown, with every
    seed's own scores; ``points``: the page cache's projections of this checkpoint."""
    cfg = ckpt.train_config
    cell = (dataset_name(cfg.data), cfg.model.mask_ratio, cfg.model.decoder_depth)
    recorded = recorded_scores(results, *cell, protocol) if results else None
    runs = results.get("runs") if results else None
    n_train = runs[0]["eval"]["probe_train"] if runs else EvalSpec.probe_train
    view = representation_view(
        ckpt.model, cfg.data, cfg.seed, protocol, recorded, n_train, points=points, progress=progress
    )
    if recorded is not None:
        view.per_seed = seed_scores(results, *cell, protocol)
    return view


# ------------------------------------------------------------------ what the page says
INTRO = (
    "How well a linear classifier reads *circle or square* from the encoder, always beside the same "
    "architecture at its random initialisation: on the default dataset an untrained encoder already "
    "separates the shapes by their area. Protocols — **mean**: full image, patch tokens averaged; "
    "**cls**: full image, the cls token; **visible**: the image masked at the model's training ratio, "
    "visible tokens averaged (**visible_avg**: over several masks). Labels: how many labelled images the "
    "classifier is fit on (**all_cv**: all of them, its regularisation chosen by cross-validation). "
    "The PCA-2 probe reads only the first two principal components, of the raw or of the standardised "
    "features. ± is a 95% t interval over seeds."
)
SEED_HELP = (
    "Which seed's model the scatter shows (the shipped configurations were trained from 3 seeds). "
    "The scores above it are over all seeds; the caption gives the chosen seed's own."
)
_KEY_NAMES = {"pca2": "PCA-2, raw", "pca2_std": "PCA-2, standardised", "all_cv": "shape, all labels, C by CV"}


def probe_name(key: str) -> str:
    """A score's name in words: "shape, 16 labels", "PCA-2, raw", ..."""
    return _KEY_NAMES.get(key, f"shape, {key} labels")


TABLE_NOTE = (
    f"Difference: trained minus random init, paired by seed; in bold with an arrow only when it is at "
    f"least {MIN_GAIN:g} and its 95% interval excludes 0. Both at or above {CEILING:g}: the probe "
    "cannot rank them."
)


def difference(view: RepresentationView, key: str) -> str:
    """Trained minus random init for score ``key``, in Markdown: bold with an arrow only when
    ``view.gain`` finds a real gain or loss; plain inside the noise or for one model; said in words
    when both are at the ceiling, where a probe cannot rank them."""
    d = view.delta[key].mean
    gain = view.gain(key)
    if gain == "ceiling":
        return f"{d:+.3f}, both at the ceiling"
    return {"up": f"**{d:+.3f} ↑**", "down": f"**{d:+.3f} ↓**"}.get(gain, f"{d:+.3f}")


def probe_lines(view: RepresentationView, labels: str) -> str:
    """The shape probe at ``labels`` and both PCA-2 probes, each beside its random init and the
    difference, as a Markdown list (it wraps at any width, where a table would not)."""
    lines = []
    for key in (labels, "pca2", "pca2_std"):
        t, r = view.trained[key], view.random_init[key]
        ci = f" ± {t.ci95:.3f}" if t.ci95 is not None else ""
        lines.append(
            f"- {probe_name(key)}: **{t.mean:.3f}**{ci} · random init {r.mean:.3f} · {difference(view, key)}"
        )
    return "\n".join(lines)


def seed_line(view: RepresentationView, labels: str, seed: int, asked: int | None = None) -> str:
    """Which seed the scatter shows (and why, when it is not the one ``asked``), with that seed's own
    probe scores (trained and random init) when recorded."""
    out = f"The scatter shows seed {seed}."
    if asked is not None and asked != seed:
        out = f"Seed {asked} of this model is not shipped: the scatter shows seed {seed}."
    own = view.per_seed.get(seed)
    if own and labels in own:
        (t, r), (p, pr) = own[labels], own.get("pca2_std", (None, None))
        pca = "" if p is None else f", standardised PCA-2 {p:.3f} (random init {pr:.3f})"
        out += f" Its own scores: {probe_name(labels)} {t:.3f} (random init {r:.3f}){pca}."
    return out


def scatter_text(view: RepresentationView, variant: str) -> str:
    """The scatter in one sentence (its ``alt`` text)."""
    key = "pca2" if variant == "raw" else "pca2_std"
    return (
        f"PCA of {len(view.test)} held-out images' {view.protocol} features ({variant}): circles and "
        f"squares; a classifier on these two coordinates scores {view.trained[key].mean:.3f} "
        f"(random init {view.random_init[key].mean:.3f})."
    )


def curves_text(curves: list) -> str:
    """The label-efficiency chart as text (its ``alt``): each curve's accuracy at each label count."""
    return "Accuracy against labelled images. " + "; ".join(
        f"{name}: " + ", ".join(f"{x}: {y:.3f}" for x, y in zip(xs, ys, strict=True))
        for name, xs, ys, _, _ in curves
    )


def default_pair(names: list[str], current: str | None, prefix: str = "") -> tuple[str, str]:
    """The two models compared by default: the sidebar's (else decoder depth 1 at ratio 0.6) against
    decoder depth 4 at ratio 0.6 (else depth 1, when the first already is depth 4); ``prefix`` names
    the dataset ("varied-")."""
    d1, d4 = f"{prefix}ratio0.6-dec1", f"{prefix}ratio0.6-dec4"
    first = current if current in names else (d1 if d1 in names else names[0])
    for other in (d4, d1, *names):
        if other in names and other != first:
            return first, other
    return first, first
