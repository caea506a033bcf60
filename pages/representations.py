"""Representations: linear probes and the 2-D PCA of encoder features, two models side by side."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from pages._shared import (
    ModelChoice,
    all_models,
    default_model_name,
    ensure_choice,
    enter_page,
    require_model,
)
from toymae import figures
from toymae.catalog import load_results
from toymae.data import SHAPE_NAMES, ShapeBatch, eval_set
from toymae.images import text_thumbnail
from toymae.probe import ProbeReport, extract_features, pca_projection, probe_features
from toymae.reproduce import format_mean_std

enter_page()
st.title("Representations")
st.caption(
    "Features: the encoder on the full image, mean-pooled over patches. Shape probe: standardised "
    "logistic regression, fit on one split, scored on another. PCA-2: a linear classifier on the first "
    "two principal components. Position/size: linear regression R²."
)
require_model()
models = all_models()
N_PROBE = 600


@dataclass
class FeatureView:
    batch: ShapeBatch  # the held-out split (the points in the scatter)
    points: np.ndarray  # (N, 2) PCA projection fit on the train split
    hover: list[str]  # per point: factors and a small text picture of the image
    report: ProbeReport
    source: str  # where the probe numbers come from


def _hover_labels(b: ShapeBatch) -> list[str]:
    """Factors and a small text picture of each point's image (plotly hovers show no images)."""
    return [
        f"{SHAPE_NAMES[int(s)]} at ({float(x):.2f}, {float(y):.2f}), size {float(z):.2f}<br>"
        + text_thumbnail(img, max_cols=16)
        for s, x, y, z, img in zip(b.shape, b.cx, b.cy, b.size, b.images, strict=True)
    ]


def _compute(m: ModelChoice) -> FeatureView:
    data = m.checkpoint.train_config.data
    train = eval_set(N_PROBE, data, 0, "probe-train")
    test = eval_set(N_PROBE, data, 0, "probe-test")
    ftr = extract_features(m.checkpoint.model, train.images)
    fte = extract_features(m.checkpoint.model, test.images)
    points, hover = pca_projection(fte, fit_on=ftr), _hover_labels(test)
    recorded = ProbeReport.from_summary(m.checkpoint.summary) if m.origin == "shipped" else None
    if recorded is not None:  # the full protocol's numbers, and no need to load scikit-learn
        source = f"recorded by the reproduction run ({recorded.n_train:,} + {recorded.n_test:,} images)"
        return FeatureView(test, points, hover, recorded, source)
    report = probe_features(ftr, train, fte, test)
    return FeatureView(test, points, hover, report, f"measured now ({N_PROBE} + {N_PROBE} images)")


@st.cache_resource(max_entries=16, show_spinner="Extracting features…")
def shipped_view(name: str) -> FeatureView:
    return _compute(models[name])


def view_for(name: str) -> FeatureView:
    m = models[name]
    if m.origin == "shipped":
        return shipped_view(name)
    with st.spinner("Extracting features…"):
        return _compute(m)


names = list(models)
default_right = "ratio0.6-dec4" if "ratio0.6-dec4" in models else names[-1]
default_left = st.session_state.get("model") or default_model_name(models)
cols = st.columns(2, gap="large")
for side, col, default in (("a", cols[0], default_left), ("b", cols[1], default_right)):
    key = f"rep_{side}"
    ensure_choice(key, names, default)
    with col:
        name = st.selectbox(
            "Model", names, key=key, format_func=lambda n: models[n].label, bind="query-params"
        )
        view = view_for(name)
        r = view.report
        k1, k2, k3 = st.columns(3)
        k1.metric("shape probe", f"{r.probe_acc:.3f}")
        k2.metric("PCA-2 probe", f"{r.pca2_acc:.3f}")
        k3.metric("R² x / y", f"{r.r2_x:.2f}/{r.r2_y:.2f}")
        st.caption(
            f"Probe numbers {view.source}; the scatter shows {N_PROBE} held-out images. Size: "
            + ("fixed in this dataset, nothing to predict." if r.r2_size is None else f"R² {r.r2_size:.2f}.")
        )
        b = view.batch
        event = st.plotly_chart(
            figures.pca_scatter(
                view.points, [SHAPE_NAMES[int(s)] for s in b.shape], view.hover, title=models[name].label
            ),
            key=f"pca_{side}",
            on_select="rerun",
            selection_mode="points",
        )
        picked = event.selection.points if event and event.selection else []
        if picked:
            i = int(picked[0]["customdata"])
            m = models[name].checkpoint.model
            rec = m.reconstruct(b.images[i : i + 1], generator=torch.Generator().manual_seed(0))
            st.plotly_chart(
                figures.image_panels(
                    [rec.images[0, 0], rec.pasted[0, 0].clamp(0, 1)],
                    [f"point #{i}: {SHAPE_NAMES[int(b.shape[i])]}", "reconstruction + visible"],
                    height=200,
                ),
                key=f"pick_{side}",
            )
        else:
            st.caption(
                "Hover over a point for a small picture of its image; "
                "click it for the image and its reconstruction."
            )

st.markdown("#### The blog's tables, beside ours")
results = load_results()
if not results:
    st.info(
        "The reproduced tables appear here once `checkpoints/results.json` exists (see the Reproduce page)."
    )
else:
    rows = results["table"]
    t1, t2 = st.columns(2)
    ratio_fig, depth_fig = figures.blog_sweep_charts(
        rows, [("probe_acc", "shape probe"), ("pca2_acc", "PCA-2 probe")]
    )
    t1.plotly_chart(ratio_fig, key="tab_ratio")
    t2.plotly_chart(depth_fig, key="tab_depth")
    st.dataframe(
        [
            {
                "mask ratio": r["mask_ratio"],
                "decoder depth": r["decoder_depth"],
                "blog": r["blog_probe_acc"],
                "probe acc": format_mean_std(r["probe_acc"], r["probe_acc_std"]),
                "PCA-2 acc": format_mean_std(r["pca2_acc"], r["pca2_acc_std"]),
                "R² x": f"{r['r2_x']:.3f}",
                "R² y": f"{r['r2_y']:.3f}",
                "seeds": len(r["seeds"]),
            }
            for r in sorted(
                rows, key=lambda r: (r["decoder_depth"] != 2, r["mask_ratio"], r["decoder_depth"])
            )
        ],
        hide_index=True,
    )
