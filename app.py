"""toymae dashboard: ``streamlit run app.py``.

The entry point routes (a shared sidebar with the model picker, and ``st.navigation`` over
``app_pages/``) and gives the memory a page freed back to the operating system after each run.
"""

import ctypes
import ctypes.util
import functools
import gc
import os
import sys

import numpy as np
import streamlit as st
from PIL import Image

from app_pages.models import warm_shipped_models
from app_pages.sidebar import run_in_line, sidebar_model_picker


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_free_memory() -> None:
    """Return freed heap pages to the OS (glibc only; a no-op elsewhere).

    glibc keeps freed pages for reuse, in one arena per thread that allocated them, and Streamlit runs
    every session's script on its own thread: the memory behind one finished computation (a
    hallucination report's intermediate activations, ~130 MB) would stay in the server's resident
    size long after it was freed. Deployment tuning, so it lives here rather than in the library.
    ``TOYMAE_MALLOC_TRIM=0`` turns it off (bench/app_memory.py --compare measures both).
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@st.cache_resource(show_spinner=False)
def _frozen_at_modules() -> list[int]:
    """How many modules were imported when the objects alive were last frozen (one per server: this
    script's own globals start afresh every run)."""
    return [0]


def freeze_long_lived_objects() -> None:
    """Take the objects alive now out of the cyclic garbage collector's sweeps, once a run has imported
    new modules (at first, and when a page imports its libraries).

    Streamlit runs a full ``gc.collect`` after every script run, fragment reruns included. Over the
    ~370,000 objects that torch, plotly, pandas and the rest import, that cost ~0.2 s of CPU a rerun
    here: most of what the Train page's once-a-second live view cost the training beside it, and long
    enough to show Streamlit's "Running... Stop" in the header. Frozen objects are still freed by
    reference counting; only cycles among them would outlive the process, so what is garbage already
    is collected first.
    """
    frozen_at = _frozen_at_modules()
    if len(sys.modules) != frozen_at[0]:
        gc.collect()
        gc.freeze()
        frozen_at[0] = len(sys.modules)


def favicon() -> Image.Image:
    """A 4 x 4 patch grid with some patches hidden (grey), drawn here: with a Material icon as
    ``page_icon`` the browser fetches the icon from Google's font host, and the app makes no external
    request."""
    cells = np.array([[1, 0, 1, 1], [1, 1, 0, 1], [0, 1, 1, 1], [1, 1, 1, 0]], dtype=np.uint8)
    tile = np.where(cells[..., None] == 1, [38, 39, 48], [170, 170, 170]).astype(np.uint8)
    big = np.kron(tile, np.ones((7, 7, 1), dtype=np.uint8))  # 28 x 28, framed to 32 x 32 in white
    return Image.fromarray(np.pad(big, ((2, 2), (2, 2), (0, 0)), constant_values=255))


st.set_page_config(page_title="toymae · a toy masked autoencoder", page_icon=favicon(), layout="wide")

# Material icons, not emoji: a browser without an emoji font (Debian's Chromium) draws emoji as boxes.
pages = [
    st.Page(
        "app_pages/reconstruct.py", title="Reconstruct", icon=":material/grid_view:", default=True
    ),  # at /
    st.Page(
        "app_pages/hallucinations.py",
        title="Hallucinations",
        icon=":material/report:",
        url_path="hallucinations",
    ),
    st.Page(
        "app_pages/representations.py",
        title="Representations",
        icon=":material/scatter_plot:",
        url_path="representations",
    ),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("app_pages/reproduce.py", title="Reproduce", icon=":material/table_chart:", url_path="reproduce"),
]
# Less padding than Streamlit's wide layout gives: at a 1366 x 768 window the Reconstruct page's
# controls, its four panels and the verdict must fit on one screen. A style-only st.html takes no space.
# Captions: Streamlit draws them at 60% opacity, under 4.5:1 contrast on white; at 78% they pass.
st.html(
    "<style>.stMainBlockContainer { padding: 3rem 2rem 4rem 2rem; }"
    ' div[data-testid="stCaptionContainer"] { opacity: 0.78; }</style>'
)
sidebar_model_picker()
page = st.navigation(pages)
try:
    run_in_line(page.run)  # at most a few pages compute at once; the others say how many wait
    warm_shipped_models()  # the page is drawn: now load the other shipped models in the background
finally:
    if os.environ.get("TOYMAE_MALLOC_TRIM", "1") != "0":
        release_free_memory()  # a page's freed intermediates would otherwise stay in this thread's arena
    freeze_long_lived_objects()
