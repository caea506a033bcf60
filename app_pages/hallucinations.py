"""Hallucinations: protocol v2's three labels per true shape beside a blind decoder, and every decidable
image worst first, each one click from Reconstruct under its own mask."""

from __future__ import annotations

import streamlit as st

from app_pages import cached, state
from app_pages.sidebar import require_model
from toymae.app import figures
from toymae.app import hallucination_view as hv
from toymae.config import SHAPE_NAMES, dataset_name, mask_ratio_problem
from toymae.finite import NonFiniteOutputError

state.follow()
st.title("Hallucinations")
st.caption(hv.INTRO)
choice = require_model()
data, model = choice.checkpoint.train_config.data, choice.checkpoint.model
first_page = {"on_change": st.session_state.pop, "args": ("h_page", None)}  # a new filter starts at page 1
c1, c2, c3 = st.columns([2, 2, 3])
ratio = round(c1.slider("Mask ratio", 0.1, 0.95, 0.6, 0.05, key="h_ratio", bind="query-params"), 2)
shape = c2.segmented_control(
    "True shape",
    ["any", *SHAPE_NAMES],
    default="any",
    required=True,
    key="h_shape",
    bind="query-params",
    **first_page,
)
label = c3.segmented_control(
    "Gallery shows",
    ["any", *hv.LABELS],
    default="any",
    required=True,
    key="h_label",
    bind="query-params",
    **first_page,
)

if why := mask_ratio_problem(ratio, model.config.num_patches):  # a small upload's grid at a high ratio
    st.error(f"Mask ratio {why}.")
    st.stop()
shipped = choice.origin == "shipped"
cache = cached.page_cache() if shipped else None
try:
    table = (cache and cache.hallucination(choice.name, ratio)) or cached.measured(
        ("halluc", choice.name, id(model), ratio),
        lambda progress: hv.measure(model, data, ratio, progress),
        shared=shipped,
        what=f"Scoring {hv.N_IMAGES:,} images at ratio {ratio:g}",
    )
except NonFiniteOutputError as e:  # never a rate of 0 for a model that outputs NaN
    st.error(f"This model cannot be scored: {e}.")
    st.stop()
s = table.summary
cols = st.columns(4)
for col, lab in zip(cols, hv.LABELS, strict=False):
    rate, base = s["balanced"][lab], s["blind"]["balanced"][lab]
    col.metric(
        f"{lab} (balanced)",
        "n/a" if rate is None else f"{rate:.3f}",
        None if base is None else f"blind decoder {base:.3f}",
        delta_color="off",
        delta_arrow="off",
        help="The mean of the two shapes' shares: a decoder biased to one shape cannot hide behind the mix.",
    )
undecidable = s["n"] - s["n_decidable"]
cols[3].metric(
    "undecidable", f"{undecidable:,}", f"of {s['n']:,} images", delta_color="off", delta_arrow="off"
)
st.plotly_chart(figures.fraction_chart(hv.chart_bars(s)), key="fractions", alt=hv.chart_text(s))
with st.expander("The same as a table, with 95% Wilson intervals"):
    st.dataframe(hv.fraction_rows(s), hide_index=True)

st.markdown("#### Every decidable image, worst first")
shapes = hv.evaluation_set(data).shape.numpy()
order = table.ranking(shapes, None if shape == "any" else shape, None if label == "any" else label)
page = st.pagination(hv.pages(len(order)), key="h_page", bind="query-params", max_visible_pages=5)
st.caption(f"{len(order):,} images, {hv.PER_PAGE} a page: {hv.STRIP_TITLES}. {hv.VOTE_LEGEND}")
shown = order[(page - 1) * hv.PER_PAGE : page * hv.PER_PAGE]
if not len(shown):
    st.info("No decidable image with these settings.")
examples = hv.examples(model, choice.name, data, table, shown)  # one forward pass for the page
for start in range(0, len(examples), 2):
    for col, ex in zip(st.columns(2), examples[start : start + 2], strict=False):
        score = "no clear vote" if ex.score is None else f"score {ex.score:.2f}"
        col.image(
            ex.strip, caption=f"#{ex.index} · true {ex.shape} · {ex.label.upper()} ({score}) · {ex.counts}"
        )
        col.button(
            "Open in Reconstruct",
            key=f"open_{ex.index}",
            icon=":material/open_in_new:",
            on_click=state.open_page,
            args=("", ex.link.params),
            help="This image under this mask, on the Reconstruct page",
        )

st.markdown("#### Where it happens")
left, right = st.columns(2)
bins = s["by_visible_object_fraction"]
left.plotly_chart(
    figures.rate_by_bin_chart(bins, "hallucinated share by visible object"),
    key="by_visible",
    alt=hv.bins_text(bins),
)
rows = hv.sweep_rows(cached.results(), dataset_name(data))
if rows:
    with right:
        opts = ["mask ratio", "decoder depth"]
        sweep = st.segmented_control(
            "Sweep", opts, default=opts[0], required=True, key="h_sweep", bind="query-params"
        )
        st.plotly_chart(hv.sweep_figure(rows, sweep), key="rate_sweep", alt=hv.sweep_text(rows, sweep))
else:
    right.info(
        "The shares against mask ratio and decoder depth appear here once `checkpoints/results.json` "
        "holds the protocol-v2 reproduction on this model's dataset."
    )
