"""Representations: shape probes under each feature protocol, every number beside the random init; the
PCA of the features, raw and standardised, one click from Reconstruct; label efficiency."""

from __future__ import annotations

import streamlit as st

from app_pages import cached, state
from app_pages.models import all_models
from app_pages.sidebar import require_model
from toymae.app import figures
from toymae.app import representation_view as rv
from toymae.app.catalog import seed_files
from toymae.app.tour import reconstruct_link
from toymae.config import DATASETS, PROTOCOLS, SHAPE_NAMES
from toymae.eval.study import LABELS

state.follow()
st.title("Representations")
st.caption(rv.INTRO)
require_model()
models = all_models()
c1, c2, c3 = st.columns([2, 4, 4])
c4, c5, _ = st.columns([2, 4, 4])
data = c1.segmented_control(
    "Dataset", list(DATASETS), default="default", required=True, key="rep_data", bind="query-params"
)
protocol = c2.segmented_control(
    "Protocol", list(PROTOCOLS), default="mean", required=True, key="rep_protocol", bind="query-params"
)
labels = c3.segmented_control(
    "Labels", list(LABELS), default="all", required=True, key="rep_labels", bind="query-params"
)
seeds = sorted({s for (_, s) in seed_files()}) or [0]
seed = c4.segmented_control(
    "Seed", seeds, default=0, required=True, key="rep_seed", bind="query-params", help=rv.SEED_HELP
)
variant = c5.segmented_control(
    "PCA of", rv.PCA_VARIANTS, default="raw", required=True, key="rep_pca", bind="query-params"
)

names = [n for n, m in models.items() if m.dataset == data]
if not names:
    st.info(
        f"No model here was trained on the `{data}` dataset yet: train one on the **Train** page "
        f"(Dataset: {data})."
    )
    st.stop()
defaults = rv.default_pair(names, st.session_state.get("model"), "" if data == "default" else f"{data}-")
shipped_seeds = seed_files()


def data_of(name: str):
    return models[name].checkpoint.train_config.data


def open_point(key: str, name: str) -> None:
    """A click on a PCA point: open that image in Reconstruct, masked at the model's training ratio."""
    picked = st.session_state[key].selection.points
    if picked:
        i, cfg = int(picked[0]["customdata"]), models[name].checkpoint.train_config
        one = rv.probe_sets(cfg.data)[1][i : i + 1]
        state.open_page("", reconstruct_link(name, one, cfg.data, ratio=cfg.model.mask_ratio).params)


curves = []
for side, col in zip(("a", "b"), st.columns(2, gap="large"), strict=True):
    with col:
        name = state.choose(
            f"rep_{side}", names, defaults[side == "b"], "Model", format_func=lambda n: models[n].label
        )
        if models[name].problem:  # unloadable, or non-finite outputs: refused as on every page
            st.error(f"This model cannot be used: {models[name].problem}.")
            continue
        shown_seed = seed if (name, seed) in shipped_seeds else 0  # a model has its own seed only
        view = cached.representation(models[name], protocol, shown_seed)
        st.markdown(rv.probe_lines(view, labels))
        st.caption(rv.seed_line(view, labels, shown_seed, seed) + f" Scores: {view.source}.")
        shapes = [SHAPE_NAMES[int(s)] for s in view.test.shape]
        title = f"{models[name].label} · {protocol} features, {variant}"
        scatter = figures.pca_scatter(
            view.scatter(variant), shapes, rv.hover_labels(data_of(name)), title, 360
        )
        st.plotly_chart(
            scatter,
            key=f"pca_{side}",
            on_select=lambda key=f"pca_{side}", name=name: open_point(key, name),
            selection_mode="points",
            alt=rv.scatter_text(view, variant),
        )
        for which, dashed in (("trained", False), ("random_init", True)):
            xs, ys, cis = view.label_curve(which)
            curves.append((models[name].label + (" (random init)" if dashed else ""), xs, ys, cis, dashed))
st.caption(
    f"{rv.TABLE_NOTE} Hover over a point for a picture of its image; click it to open that image in "
    "**Reconstruct**."
)

st.markdown("#### Label efficiency")
st.plotly_chart(
    figures.label_efficiency_chart(curves, title=f"{protocol} features: accuracy against labelled images"),
    key="label_curve",
    alt=rv.curves_text(curves),
)
st.caption(
    "Solid: the pretrained encoders; dashed, open markers: the same architectures at random "
    "initialisation. The gap between a line and its dashed twin is what pretraining taught the encoder."
)
