"""Hallucinations: evaluation images whose hidden corners came back as the other shape, worst first."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages._shared import ModelChoice, all_models, require_model
from toymae.app import figures
from toymae.app.catalog import load_results
from toymae.app.images import grey_out
from toymae.data import SHAPE_NAMES, dataset_name, eval_set
from toymae.eval.hallucination import HallucinationReport, evaluate_hallucination
from toymae.finite import NonFiniteOutputError

st.title("Hallucinations")
st.caption(
    "An image's score is the share of its hidden *discriminative* pixels (where a square and a circle of "
    "the same size and place differ) that the reconstruction draws as the other shape. Score > 0.5 = "
    "hallucinated; too few hidden discriminative pixels = undecidable (never counted as clean)."
)
choice = require_model()
models = all_models()


@st.cache_resource(max_entries=32, show_spinner="Scoring evaluation images…")
def shipped_report(name: str, ratio: float, n: int, seed: int) -> HallucinationReport:
    """Reports of shipped models are shared across sessions (read-only)."""
    return _report(models[name], ratio, n, seed)


def _report(m: ModelChoice, ratio: float, n: int, seed: int) -> HallucinationReport:
    cfg = m.checkpoint.train_config
    batch = eval_set(n, cfg.data, seed, "hallucination")
    # Small batches: the same result with a lower peak of intermediate activations.
    return evaluate_hallucination(m.checkpoint.model, batch, ratio, seed=seed, batch_size=64)


c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
ratio = c1.slider("Mask ratio", 0.1, 0.95, 0.6, 0.05, key="h_ratio", bind="query-params")
shape_filter = c2.segmented_control(
    "True shape", ["any", *SHAPE_NAMES], default="any", key="h_shape", bind="query-params"
)
n = c3.selectbox("Images", [200, 500, 1000], index=1, key="h_n", bind="query-params")
seed = c4.number_input("Seed", 0, 10_000, 0, key="h_seed", bind="query-params")

try:
    if choice.origin == "shipped":
        report = shipped_report(choice.name, ratio, n, seed)
    else:
        with st.spinner("Scoring evaluation images…"):
            report = _report(choice, ratio, n, seed)
except NonFiniteOutputError as e:  # never a rate of 0 for a model that outputs NaN
    st.error(f"This model cannot be scored: {e}.")
    st.stop()
summary = report.summary()

m1, m2, m3, m4 = st.columns(4)
if summary["rate"] is None:
    m1.metric("Hallucination rate", "n/a")
else:
    lo, hi = summary["ci95"]
    m1.metric("Hallucination rate", f"{summary['rate']:.3f}", f"95% CI {lo:.3f}–{hi:.3f}", delta_color="off")
for col, name in zip((m2, m3), SHAPE_NAMES, strict=True):
    row = summary["by_shape"][name]
    col.metric(
        f"true {name}s",
        "n/a" if row["rate"] is None else f"{row['rate']:.3f}",
        f"n={row['n_decidable']}",
        delta_color="off",
    )
m4.metric("Undecidable", summary["n"] - summary["n_decidable"], f"of {summary['n']}", delta_color="off")

st.markdown("#### Worst cases")
st.caption(
    "Each row: the original, the masked input (grey = hidden), the reconstruction filled into the hidden "
    "patches, and the score map (bright = hidden patches drawn as the other shape)."
)
shape_idx = None if shape_filter in (None, "any") else SHAPE_NAMES.index(shape_filter)
worst = report.worst(8, shape=shape_idx)
if not worst:
    st.info("No decidable image with these settings.")
g = choice.checkpoint.train_config.model.grid_size
for row_start in range(0, len(worst), 2):
    cols = st.columns(2)
    for col, ex in zip(cols, worst[row_start : row_start + 2], strict=False):
        pm = report.pixel_mask[ex["index"], 0].numpy()
        masked = grey_out(ex["image"], pm)
        score_map = np.nan_to_num(ex["patch_score"].reshape(g, g), nan=0.0)
        p = ex["image"].shape[0] // g
        overlay = np.kron(score_map, np.ones((p, p)))
        with col:
            st.caption(
                f"#{ex['index']} · true **{ex['shape']}** · score **{ex['score']:.2f}** "
                f"({'hallucinated' if ex['hallucinated'] else 'faithful'}) · "
                f"{ex['visible_object_fraction']:.0%} of the object visible"
            )
            st.plotly_chart(
                figures.image_panels(
                    [ex["image"], masked, np.clip(ex["pasted"], 0, 1), overlay],
                    ["original", "masked", "filled in", "score map"],
                    colorscales=[None, None, None, figures.MAGMA],
                    height=190,
                ),
                key=f"worst_{row_start}_{ex['index']}",
            )

st.markdown("#### Where it happens")
left, right = st.columns(2)
left.plotly_chart(
    figures.rate_by_bin_chart(
        summary["by_visible_object_fraction"], "rate against the visible fraction of the object"
    ),
    key="by_visible",
)
results = load_results()
data = dataset_name(choice.checkpoint.train_config.data)
rows = (results.get("datasets") or {"default": results["table"]}).get(data) if results else None
if rows:
    with right:
        sweep = st.segmented_control(
            "Sweep", ["mask ratio", "decoder depth"], default="mask ratio", key="h_sweep", bind="query-params"
        )
        if sweep == "decoder depth":
            pick = [r for r in rows if r["mask_ratio"] == 0.6]
            x_key = "decoder_depth"
        else:
            pick = [r for r in rows if r["decoder_depth"] == 2]
            x_key = "mask_ratio"
        common = results["runs"][0]["eval"]["common_ratio"] if results["runs"] else 0.6
        st.plotly_chart(
            figures.sweep_chart(
                pick,
                x_key,
                [
                    ("halluc_rate_own", "at its training ratio"),
                    ("halluc_rate_common", f"at ratio {common:g}"),
                ],
                title=f"rate of the shipped {data} models (mean ± std over {len(pick[0]['seeds'])} seeds)",
                y_title="rate",
            ),
            key="rate_sweep",
        )
else:
    right.info(
        f"The rate against mask ratio and decoder depth appears here once `checkpoints/results.json` holds "
        f"the reproduction on the `{data}` dataset (this model's)."
    )
