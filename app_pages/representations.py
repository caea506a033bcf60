"""Representations: shape probes under three feature protocols, beside the random init; PCA; labels."""

from __future__ import annotations

import streamlit as st
import torch

from app_pages._shared import (
    ModelChoice,
    all_models,
    ensure_choice,
    require_model,
)
from toymae.app import figures
from toymae.app.catalog import load_results
from toymae.app.representation_view import RepresentationView, checkpoint_view
from toymae.data import DATASETS, SHAPE_NAMES, dataset_name
from toymae.eval.study import LABELS, PROTOCOLS
from toymae.inference import reconstruct

st.title("Representations")
st.caption(
    "How well a linear classifier reads *circle or square* from the encoder, beside the same "
    "architecture at its random initialisation: on the default dataset an untrained encoder already "
    "separates the shapes by their area. Protocols — **mean**: full image, patch tokens averaged; "
    "**cls**: full image, the cls token; **visible**: the image masked at the model's training ratio, "
    "visible tokens averaged. Labels: how many labelled images the classifier is fit on."
)
require_model()
models = all_models()
c1, c2, c3 = st.columns(3)
data = c1.segmented_control("Dataset", list(DATASETS), default="default", key="rep_data", bind="query-params")
protocol = c2.segmented_control(
    "Protocol", list(PROTOCOLS), default="mean", key="rep_protocol", bind="query-params"
)
labels = c3.segmented_control("Labels", list(LABELS), default="all", key="rep_labels", bind="query-params")
data, protocol, labels = data or "default", protocol or "mean", labels or "all"
results = load_results()


def _view(m: ModelChoice, protocol: str) -> tuple[RepresentationView, list[str]]:
    view = checkpoint_view(m.checkpoint, protocol, results if m.origin == "shipped" else None)
    return view, view.hover_labels()


@st.cache_resource(max_entries=32, show_spinner="Extracting features…")
def shipped_view(name: str, protocol: str) -> tuple[RepresentationView, list[str]]:
    return _view(models[name], protocol)


def view_for(name: str, protocol: str) -> tuple[RepresentationView, list[str]]:
    if models[name].origin == "shipped":
        return shipped_view(name, protocol)
    with st.spinner("Probing the encoder and its random initialisation…"):
        return _view(models[name], protocol)


names = [n for n, m in models.items() if dataset_name(m.checkpoint.train_config.data) == data]
if not names:
    st.info(
        f"No model here was trained on the `{data}` dataset yet. Train one on the **Train** page "
        f"(Dataset: {data}), or run `python -m toymae reproduce --data {data}`."
    )
    st.stop()
prefix = "" if data == "default" else f"{data}-"
default_left = st.session_state.get("model") if st.session_state.get("model") in names else None
default_left = default_left or (f"{prefix}ratio0.6-dec1" if f"{prefix}ratio0.6-dec1" in names else names[0])
default_right = f"{prefix}ratio0.6-dec4" if f"{prefix}ratio0.6-dec4" in names else names[-1]
curves = []
cols = st.columns(2, gap="large")
for side, col, default in (("a", cols[0], default_left), ("b", cols[1], default_right)):
    key = f"rep_{side}"
    ensure_choice(key, names, default)
    with col:
        name = st.selectbox(
            "Model", names, key=key, format_func=lambda n: models[n].label, bind="query-params"
        )
        view, hover = view_for(name, protocol)
        t, r = view.trained[labels], view.random_init[labels]
        ci = f" ± {t.ci95:.3f}" if t.ci95 is not None else ""
        k1, k2 = st.columns(2)
        k1.metric(
            f"shape probe, {labels} labels",
            f"{t.mean:.3f}{ci}",
            f"{t.mean - r.mean:+.3f} vs random init {r.mean:.3f}",
        )
        p2, p2r = view.trained["pca2"], view.random_init["pca2"]
        k2.metric("PCA-2 probe", f"{p2.mean:.3f}", f"{p2.mean - p2r.mean:+.3f} vs random init {p2r.mean:.3f}")
        st.caption(f"Scores: {view.source}.")
        b = view.test
        event = st.plotly_chart(
            figures.pca_scatter(
                view.points,
                [SHAPE_NAMES[int(s)] for s in b.shape],
                hover,
                title=f"{models[name].label} · {protocol} features",
                height=360,
            ),
            key=f"pca_{side}",
            on_select="rerun",
            selection_mode="points",
        )
        picked = event.selection.points if event and event.selection else []
        if picked:
            i = int(picked[0]["customdata"])
            m = models[name].checkpoint.model
            rec = reconstruct(m, b.images[i : i + 1], generator=torch.Generator().manual_seed(0))
            st.plotly_chart(
                figures.image_panels(
                    [rec.images[0, 0], rec.pasted[0, 0].clamp(0, 1)],
                    [f"point #{i}: {SHAPE_NAMES[int(b.shape[i])]}", "reconstruction + visible"],
                    height=200,
                ),
                key=f"pick_{side}",
            )
        else:
            st.caption("Hover over a point for a picture of its image; click it for its reconstruction.")
        for which, dashed in (("trained", False), ("random_init", True)):
            xs, ys, cis = view.label_curve(which)
            suffix = " (random init)" if dashed else ""
            curves.append((f"{models[name].label}{suffix}", xs, ys, cis, dashed))

st.markdown("#### Label efficiency")
st.plotly_chart(
    figures.label_efficiency_chart(curves, title=f"{protocol} features: accuracy against labelled images"),
    key="label_curve",
)
st.caption(
    "Solid: the pretrained encoders; dashed: the same architectures at random initialisation. A gap "
    "between a solid line and its dashed twin is what pretraining taught the encoder about shape."
)
