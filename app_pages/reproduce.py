"""Reproduce: the 9-configuration, multi-seed results behind the shipped models beside the blog's; the
verdict matrix of its claims and the hypotheses, each with the numbers that decided it."""

from __future__ import annotations

import streamlit as st

from app_pages import cached
from app_pages.models import shipped_models
from toymae.app import figures
from toymae.app import reproduce_view as rv
from toymae.app.catalog import dataset_rows, load_convergence
from toymae.reproduce.report import markdown_tables, runs_of, training_summary

st.title("Reproduce the blog")
results = cached.results()
if not results:
    st.warning("No results are shipped in `checkpoints/`: `python -m toymae reproduce --ship checkpoints`.")
    st.stop()
datasets = list(results.get("datasets") or {"default": None})
data = st.segmented_control(
    "Dataset", datasets, default="default", required=True, key="r_data", bind="query-params"
)
rows, runs, meta = dataset_rows(results, data), runs_of(results["runs"], data), results["meta"]
minutes = sum(r["train_seconds"] for r in runs) / 60
st.caption(
    f"Each point: mean over {min(len(r['seeds']) for r in rows)}+ pretraining seeds, ± a 95% t "
    f"interval. Made by `{meta['command']}` (toymae {meta['toymae_version']}, torch "
    f"{meta['torch_version']}; {meta['executor']}; {len(runs)} jobs on `{data}`, {minutes:.0f} min of "
    f"training in all). Models: {training_summary(runs)}."
)
metric = st.segmented_control(
    "Metric", list(rv.METRICS), default="shape probe", required=True, key="r_metric", bind="query-params"
)
series, y_title, with_blog = rv.METRICS[metric]
c1, c2 = st.columns(2)
ratio_fig, depth_fig = figures.blog_sweep_charts(rv.sweep_rows(rows), series, y_title, with_blog)
c1.plotly_chart(ratio_fig, key="ratio_chart", alt=f"{metric} against mask ratio at decoder depth 2")
c2.plotly_chart(depth_fig, key="depth_chart", alt=f"{metric} against decoder depth at mask ratio 0.6")
if metric == "shape probe":
    st.caption(f"Shape probe: {rv.probe_label(rows)}; dashed, open markers: the same seeds at random init.")
if all("probe_acc_ci95" in r for r in rows):  # results made before the 95% intervals have no tables
    with st.expander("The tables (mean ± 95% t half-width over seeds)"):
        st.markdown(markdown_tables(rows))

st.markdown("#### The blog's claims: paired by seed, three states")
verdicts = [v for v in results.get("verdicts", []) if "state" in v]
if not verdicts:
    st.info(
        "These results predate the paired verdicts: `python -m toymae.reproduce.rejudge` judges them again."
    )
else:
    for line in rv.hallucination_lines([v for v in verdicts if v["dataset"] == data]):
        st.markdown(f"- {line}")
    st.dataframe(rv.verdict_matrix(verdicts), hide_index=True, column_config=rv.MATRIX_COLUMNS)
    st.caption(rv.STATE_LEGEND)

hypotheses = rv.load_hypotheses()
if hypotheses:
    st.markdown("#### Why the blog saw what it saw: hypotheses, each under a rule written before its run")
    for row in rv.hypothesis_rows(hypotheses):
        st.markdown(
            f"- **{row['hypothesis']}**: {row['state']} — {row['summary']}  \n  *Rule:* {row['rule']}"
        )
    best = rv.most_informative(hypotheses)
    link = rv.try_hypothesis(best, set(shipped_models()))
    if link is not None:
        st.markdown(f":material/arrow_forward: Try this: [{link.label}]({link.href()})")
    elif best is not None:
        st.caption(f"The most decided hypothesis, `{best['hypothesis']}`, needs models that are not shipped.")

curve = load_convergence()
if curve:
    st.markdown("#### How long the models trained, and why")
    st.plotly_chart(
        figures.convergence_chart(curve["rows"], curve.get("chosen_budget")),
        key="curve",
        alt="held-out loss and hallucination rate against training steps, per configuration",
    )
    st.caption(
        f"Rule, written before the run: {curve['rule']} Chosen: **{curve.get('chosen_budget')} steps** "
        f"(per configuration: {curve.get('per_cell_budget')}). Seed means over {len(curve['seeds'])} "
        "seeds; bars span the seeds."
    )

st.markdown("#### Run it yourself")
st.code(
    "python -m toymae reproduce --out runs/reproduce            # 9 configurations x 3 seeds, resumable\n"
    "python -m toymae reproduce --quick --out runs/quick        # a tiny end-to-end version\n"
    "python -m toymae reproduce --workers 2                     # N local processes, cores split\n"
    "python -m toymae reproduce --scheduler tcp://HOST:8786     # the same jobs on a Dask cluster\n"
    "python -m toymae reproduce --ship checkpoints              # copy the models + manifest here\n"
    "python -m toymae.app.page_cache                            # what the pages show, recorded",
    language="bash",
)
st.caption(
    "Jobs are keyed by their config and seed: re-running skips finished jobs, and an interrupted sweep "
    "continues where it stopped. The Dask path needs `pip install 'dask[distributed]'`."
)
