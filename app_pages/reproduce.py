"""Reproduce: the 9-configuration, multi-seed results behind the shipped models, beside the blog's."""

from __future__ import annotations

import streamlit as st

from toymae.app import figures
from toymae.app.catalog import load_convergence, load_results
from toymae.reproduce.claims import CLAIMS, MARK, verdict_markdown
from toymae.reproduce.report import markdown_tables, runs_of, training_summary

st.title("Reproduce the blog")
results = load_results()
if not results:
    st.warning(
        "No results are shipped in `checkpoints/`. Run `python -m toymae reproduce --ship checkpoints` "
        "to make them."
    )
    st.stop()

meta = results["meta"]
datasets = results.get("datasets") or {"default": results["table"]}
data = (
    st.segmented_control("Dataset", list(datasets), default="default", key="r_data", bind="query-params")
    or "default"
)
rows, runs = datasets[data], runs_of(results["runs"], data)
n_seeds = min(len(r["seeds"]) for r in rows)
minutes = sum(r["train_seconds"] for r in runs) / 60
st.caption(
    f"Each point: mean ± 95% t interval over {n_seeds}+ pretraining seeds. Made by `{meta['command']}` "
    f"(toymae {meta['toymae_version']}, torch {meta['torch_version']}; {meta['executor']}; "
    f"{len(runs)} jobs on `{data}`, {minutes:.0f} min of training in all). "
    f"Models: {training_summary(runs)}."
)
metric = st.segmented_control(
    "Metric",
    ["shape probe", "PCA-2 probe", "held-out loss", "hallucination"],
    default="shape probe",
    key="r_metric",
    bind="query-params",
)
choices = {
    "shape probe": ([("probe_acc", "shape probe")], "accuracy", True),
    "PCA-2 probe": ([("pca2_acc", "PCA-2 probe")], "accuracy", True),
    "held-out loss": ([("held_out_loss", "held-out loss")], "MSE on hidden patches", False),
    "hallucination": (
        [("halluc_rate_own", "at its training ratio"), ("halluc_rate_common", "at the common ratio")],
        "rate",
        False,
    ),
}
metrics, y_title, with_blog = choices[metric or "shape probe"]
c1, c2 = st.columns(2)
ratio_fig, depth_fig = figures.blog_sweep_charts(rows, metrics, y_title, with_blog)
c1.plotly_chart(ratio_fig, key="ratio_chart")
c2.plotly_chart(depth_fig, key="depth_chart")
st.markdown(markdown_tables(rows))

st.markdown("#### The blog's claims: paired by seed, three states, beside random init")
verdict_list = [v for v in results.get("verdicts", []) if v.get("dataset") == data and "state" in v]
if not verdict_list:
    st.info("These results predate the paired verdicts: rerun `python -m toymae reproduce --rejudge`.")
else:
    st.markdown(verdict_markdown(verdict_list))
    with st.expander("Every verdict's numbers"):
        st.dataframe(
            [
                {k: v[k] for k in ("protocol", "labels")}
                | {"claim": CLAIMS[v["claim"]], "state": MARK[v["state"]], "numbers": v["summary"]}
                for v in verdict_list
            ],
            hide_index=True,
        )

curve = load_convergence()
if curve:
    st.markdown("#### How long the models trained, and why")
    st.plotly_chart(figures.convergence_chart(curve["rows"], curve.get("chosen_budget")), key="curve")
    st.caption(
        f"Rule, written before the run: {curve['rule']} Chosen: **{curve.get('chosen_budget')} steps** "
        f"(per configuration: {curve.get('per_cell_budget')}). Seed means over {len(curve['seeds'])} seeds; "
        "bars span the seeds."
    )

st.markdown("#### Run it yourself")
st.code(
    "python -m toymae reproduce --out runs/reproduce            # 9 configurations x 3 seeds, resumable\n"
    "python -m toymae reproduce --quick --out runs/quick        # a tiny end-to-end version\n"
    "python -m toymae reproduce --workers 2                     # N local processes, cores split\n"
    "python -m toymae reproduce --device cuda --workers 12      # processes sharing one GPU\n"
    "python -m toymae reproduce --scheduler tcp://HOST:8786     # the same jobs on a Dask cluster\n"
    "python -m toymae reproduce --ship checkpoints              # copy seed-0 models + manifest here",
    language="bash",
)
st.caption(
    "Jobs are keyed by their config and seed: re-running skips finished jobs, and an interrupted sweep "
    "continues where it stopped. The Dask path needs `pip install 'dask[distributed]'`."
)
