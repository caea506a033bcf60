"""What the analysis pages read or measure, kept so that a control change does not measure again.

Shipped models' numbers come from the results and the page cache recorded at ship time (one read per
server). A number a page has to measure now (a model trained here or uploaded, or a shipped one the
cache lacks) is measured once under a progress bar with an estimate of the time left, then kept: per
server for shipped models (every session sees the same), per session for the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

import streamlit as st

from toymae.app import representation_view as rv
from toymae.app.catalog import load_results, seed_files
from toymae.app.page_cache import PageCache
from toymae.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from toymae.config import DASHBOARD_BUDGET, TrainConfig

T = TypeVar("T")
KEEP = 12  # measured results kept per store; the oldest goes first


@st.cache_resource(show_spinner=False)
def results() -> dict | None:
    """checkpoints/results.json, read once per server."""
    return load_results()


@st.cache_resource(show_spinner=False)
def page_cache() -> PageCache | None:
    """checkpoints/page_cache.npz (``python -m toymae.app.page_cache``), opened once per server."""
    return PageCache.open()


@st.cache_resource(show_spinner=False)
def _server_store() -> tuple[dict, threading.Lock]:
    return {}, threading.Lock()


def measured(
    key: Hashable, compute: Callable[[Callable[[float, str], None]], T], shared: bool, what: str
) -> T:
    """``compute(progress)`` once per ``key``: kept for every session when ``shared`` (shipped models),
    else for this session. The first time, a progress bar says ``what`` and the time left."""
    store, lock = (
        _server_store() if shared else (st.session_state.setdefault("_measured", {}), threading.Lock())
    )
    with lock:
        if key in store:
            return store[key]
    bar, start = st.progress(0.0, text=f"{what}: starting…"), time.perf_counter()

    def progress(done: float, text: str) -> None:
        done = min(max(done, 0.0), 1.0)
        left = (time.perf_counter() - start) * (1 - done) / done if 0 < done < 1 else None
        bar.progress(done, text=f"{what}: {text}" + ("" if left is None else f" · about {left:.0f} s left"))

    try:
        value = compute(progress)
    finally:
        bar.empty()
    with lock:
        store[key] = value
        while len(store) > KEEP:
            store.pop(next(iter(store)))
    return value


@st.cache_resource(max_entries=8, show_spinner=False)
def seed_checkpoint(name: str, seed: int) -> Checkpoint | str:
    """Seed ``seed`` of shipped model ``name`` (read-only, once per server), or why it cannot be used
    (not shipped with this copy, or a broken file): a broken seed must not take the page down."""
    path = seed_files().get((name, seed))
    if path is None:
        return f"seed {seed} of {name} is not shipped with this copy of toymae"
    try:
        return load_checkpoint(path, device="cpu", budget=DASHBOARD_BUDGET)
    except CheckpointError as e:
        return str(e)


def representation(choice, protocol: str, seed: int) -> rv.RepresentationView:
    """The Representations view of a model: for a shipped one, its cell's recorded scores and seed
    ``seed``'s recorded PCA (measured now when the page cache lacks it); any other is measured now."""
    if choice.origin != "shipped":
        return measured(
            ("rep", choice.name, id(choice.checkpoint), protocol),
            lambda progress: rv.checkpoint_view(choice.checkpoint, protocol, None, None, progress),
            shared=False,
            what="Probing the encoder and its random initialisation",
        )
    config = TrainConfig.from_dict(choice.entry["config"])
    cache = page_cache()
    points = cache.projections(choice.name, seed, protocol) if cache else None
    cell = (choice.dataset, config.model.mask_ratio, config.model.decoder_depth)
    if points is not None and rv.recorded_scores(results(), *cell, protocol) is not None:
        return rv.shipped_view(config, seed, protocol, results(), points)  # no model runs

    def compute(progress):
        ckpt = choice.checkpoint if seed == 0 else seed_checkpoint(choice.name, seed)
        if isinstance(ckpt, str):
            st.error(f"This seed's model is unavailable: {ckpt}. Pick seed 0.")
            st.stop()
        return rv.shipped_view(config, seed, protocol, results(), None, ckpt.model, progress)

    return measured(
        ("rep", choice.name, seed, protocol), compute, shared=True, what="Extracting the features"
    )
