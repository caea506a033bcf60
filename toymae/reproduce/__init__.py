"""Reproduce the blog's two sweeps with several pretraining seeds, resumably, on one machine or Dask.

One import for the whole reproduction, as the pages and the benchmarks use it. The work is in
``blog`` (the blog's numbers and cells), ``sweep`` (jobs, executors, the resumable sweep), ``claims``
(the one judge of the blog's claims), ``report`` (aggregates, tables), ``ship`` (copying the models
that ship) and ``run`` (all of it in one call, as ``python -m toymae reproduce`` starts it).
"""

from __future__ import annotations

from toymae.reproduce.blog import BLOG_DECODER_DEPTH, BLOG_MASK_RATIO, Cell, blog_cells
from toymae.reproduce.report import (
    METRICS,
    aggregate,
    csv_text,
    format_mean_ci,
    markdown_tables,
    run_meta,
    split_by_dataset,
    training_summary,
    write_reports,
)
from toymae.reproduce.ship import ship
from toymae.reproduce.sweep import (
    DaskExecutor,
    EvalSpec,
    Job,
    LocalExecutor,
    base_config,
    checkpoint_path,
    execute_job,
    load_done,
    make_jobs,
    result_path,
    run_sweep,
)

__all__ = [
    "BLOG_DECODER_DEPTH",
    "BLOG_MASK_RATIO",
    "METRICS",
    "Cell",
    "DaskExecutor",
    "EvalSpec",
    "Job",
    "LocalExecutor",
    "aggregate",
    "base_config",
    "blog_cells",
    "checkpoint_path",
    "csv_text",
    "execute_job",
    "format_mean_ci",
    "load_done",
    "make_jobs",
    "markdown_tables",
    "result_path",
    "run_meta",
    "run_sweep",
    "ship",
    "split_by_dataset",
    "training_summary",
    "write_reports",
]
