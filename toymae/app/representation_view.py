"""What the Representations page shows for one model: scores beside the random init, and a PCA.

Shipped models come with the reproduction's study (every seed of their cell: means and 95% CIs); any
other model is measured now on a smaller evaluation set (one seed: no interval). The PCA scatter is
always computed now, on the chosen protocol's features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toymae.app.catalog import cell_row
from toymae.app.images import text_thumbnail
from toymae.checkpoint import Checkpoint
from toymae.data import SHAPE_NAMES, ShapeBatch, ShapeWorldConfig, dataset_name, eval_set
from toymae.eval.study import LABEL_BUDGETS, LABELS, metric_key, protocol_features, scores_from_features
from toymae.model import MaskedAutoencoder, build_model
from toymae.probe import pca_projection

LIVE_IMAGES = 600  # per split, for models measured now (seconds on a laptop CPU)
LIVE_DRAWS = 5


@dataclass(frozen=True)
class Score:
    mean: float
    ci95: float | None  # half-width of the 95% interval over seeds; None for one seed


@dataclass
class RepresentationView:
    protocol: str
    test: ShapeBatch  # the held-out images behind the scatter
    points: np.ndarray  # (N, 2) test features on the train split's first two principal components
    trained: dict[str, Score]  # "16", "64", "256", "all", "pca2" -> accuracy
    random_init: dict[str, Score]  # the same architecture at its seed's random initialisation
    n_train: int  # labelled images behind "all"
    source: str  # where the scores come from, in words

    def hover_labels(self) -> list[str]:
        """Each scatter point's factors and a small text picture of its image (plotly hovers show no
        images)."""
        b = self.test
        return [
            f"{SHAPE_NAMES[int(s)]} at ({float(x):.2f}, {float(y):.2f}), size {float(z):.2f}<br>"
            + text_thumbnail(img, max_cols=16)
            for s, x, y, z, img in zip(b.shape, b.cx, b.cy, b.size, b.images, strict=True)
        ]

    def label_curve(self, which: str = "trained") -> tuple[list[int], list[float], list[float | None]]:
        """(labels, accuracy, CI) for a label-efficiency plot; "all" is placed at ``n_train``."""
        scores = self.trained if which == "trained" else self.random_init
        xs = [*LABEL_BUDGETS, self.n_train]
        return xs, [scores[k].mean for k in LABELS], [scores[k].ci95 for k in LABELS]


def _scores(stats: dict[str, dict]) -> dict[str, Score]:
    return {k: Score(stats[metric_key(k)]["mean"], stats[metric_key(k)]["ci95"]) for k in (*LABELS, "pca2")}


def representation_view(
    model: MaskedAutoencoder,
    data: ShapeWorldConfig,
    seed: int,
    protocol: str,
    recorded: dict | None = None,
    recorded_n_train: int | None = None,
    n: int = LIVE_IMAGES,
    data_seed: int = 0,
) -> RepresentationView:
    """The view of ``model`` (pretrained from ``seed``) under ``protocol``, on ``n`` + ``n`` held-out
    images. ``recorded``: a cell's aggregated study from the reproduction
    (``toymae.eval.study.aggregate_study``), used instead of measuring; ``recorded_n_train``: the labelled
    images behind its "all". The Representations page and ``python -m toymae pca`` call this."""
    train = eval_set(n, data, data_seed, "probe-train")
    test = eval_set(n, data, data_seed, "probe-test")
    ftr, fte = (
        protocol_features(model, train.images, protocol),
        protocol_features(model, test.images, protocol),
    )
    points = pca_projection(fte, fit_on=ftr)  # the same features score the probe below: extracted once
    if recorded is not None and protocol in recorded.get("trained", {}):
        n_seeds = recorded["trained"][protocol]["n_all"]["n"]
        trained, random_init = recorded["trained"][protocol], recorded["random_init"][protocol]
        source = f"the reproduction's {n_seeds} seed(s) of this configuration, 95% CI over seeds"
        return RepresentationView(
            protocol, test, points, _scores(trained), _scores(random_init), recorded_n_train or 2000, source
        )
    untrained = build_model(model.config, seed, device=model.cls_token.device)
    btr, bte = (
        protocol_features(untrained, train.images, protocol),
        protocol_features(untrained, test.images, protocol),
    )
    return RepresentationView(
        protocol,
        test,
        points,
        _single(scores_from_features(ftr, train, fte, test, LIVE_DRAWS)),
        _single(scores_from_features(btr, train, bte, test, LIVE_DRAWS)),
        n,
        f"measured now on {n} + {n} images (one model: no interval)",
    )


def checkpoint_view(ckpt: Checkpoint, protocol: str, results: dict | None = None) -> RepresentationView:
    """``representation_view`` of a loaded checkpoint. ``results``: the shipped reproduction's (pass
    them for shipped models only): its recorded study of this configuration is shown."""
    cfg = ckpt.train_config
    recorded = n_train = None
    if results:
        row = cell_row(results, dataset_name(cfg.data), cfg.model.mask_ratio, cfg.model.decoder_depth)
        recorded = row.get("study") if row else None
        n_train = results["runs"][0]["eval"]["probe_train"] if results.get("runs") else None
    return representation_view(ckpt.model, cfg.data, cfg.seed, protocol, recorded, n_train)


def _single(scores: dict[str, float]) -> dict[str, Score]:
    """One model's scores: no interval."""
    return {k: Score(scores[metric_key(k)], None) for k in (*LABELS, "pca2")}
