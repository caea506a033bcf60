"""The sidebar every page shares (the model picker and the upload box), the URL hygiene that runs
before any widget, and the line pages wait in when the server is busy."""

from __future__ import annotations

import contextlib
import math
import os

import streamlit as st

from app_pages.models import (
    TRAINED_HERE,
    ModelChoice,
    all_models,
    current_model,
    default_model_name,
    model_caption,
    unavailable_models,
)
from app_pages.uploads import MAX_UPLOAD_MB, on_upload, upload_key
from toymae.app.busy import WorkQueue

# Pages that compute at once; the rest wait in line (2 cores: more would only slow everyone down).
# TOYMAE_WORK_SLOTS changes it (bench/load.py compares).
MODEL_WORK_SLOTS = int(os.environ.get("TOYMAE_WORK_SLOTS", "2"))


def ensure_choice(key: str, options: list[str], default: str | None) -> None:
    """Give a bound selectbox a valid value: keep the session's, else the URL's, else ``default``."""
    if st.session_state.get(key) in options:
        return
    from_url = st.query_params.get(key)
    st.session_state[key] = from_url if from_url in options else default


def drop_unreadable_numbers_from_url() -> None:
    """Remove URL values that read as infinite numbers (``1e400``, ``inf``) before any widget reads them.

    Streamlit seeds a number box bound to the URL by ``int(float(value))``, and ``int(inf)`` raises an
    OverflowError that its URL parser does not catch: the page would show a traceback. Widgets are
    seeded from the URL the run started with, so after removing such values the run starts again
    from the cleaned URL. A finite value out of a widget's range Streamlit resets to the default.
    """
    dropped = False
    for key in list(st.query_params):
        try:
            finite = math.isfinite(float(st.query_params[key]))
        except ValueError:
            continue  # not a number at all: the widget's own parser refuses it
        if not finite:  # (a key bound to a widget earlier in this session cannot be deleted: kept)
            with contextlib.suppress(st.errors.StreamlitAPIException):
                del st.query_params[key]
                dropped = True
    if dropped:
        st.rerun()


def sidebar_model_picker() -> None:
    """The shared sidebar: pick a shipped, trained or uploaded model (always in the URL as ``?model=``).

    Runs first on every page, so it also cleans the URL for the page's own widgets."""
    drop_unreadable_numbers_from_url()
    models, unavailable = all_models(), unavailable_models()
    with st.sidebar:
        st.markdown("### Model")
        if models or unavailable:
            names = list(models) + [n for n in unavailable if n not in models]
            ensure_choice("model", names, default_model_name(models) or names[0])
            st.selectbox(
                "Model",
                names,
                format_func=lambda n: models[n].label if n in models else f"{n} (unavailable)",
                key="model",
                label_visibility="collapsed",
            )
            name = st.session_state["model"]
            # Written by hand, not bound: Streamlit would put the label in the URL (and refuse a link
            # naming the model), and leave the first option out as a default the page does not show.
            if st.query_params.get("model") != name:
                st.query_params["model"] = name
            if name in models:
                st.caption(model_caption(models[name]))
            else:
                st.warning(f"Unavailable: {unavailable[name]}")
        else:
            st.info("No model yet: train one on the **Train** page or upload a checkpoint.")
        if any(m.origin == TRAINED_HERE for m in models.values()):
            st.caption(f"Models {TRAINED_HERE} are listed for everyone until the server restarts.")
        st.file_uploader(
            "Upload a toymae checkpoint (.safetensors)",
            type=["safetensors"],
            key=upload_key(),
            on_change=on_upload,
            max_upload_size=MAX_UPLOAD_MB,
            help=f"Validated before use; at most {MAX_UPLOAD_MB} MB. Nothing is unpickled.",
        )
        if "upload_error" in st.session_state:
            st.error("That file was not loaded:")
            # Plain text: the file's name and anything quoted from inside it are the uploader's words.
            st.code(st.session_state["upload_error"], language=None, wrap_lines=True)
        if "upload_note" in st.session_state:
            st.caption(st.session_state["upload_note"])


def require_model() -> ModelChoice:
    choice = current_model()
    name = st.session_state.get("model")
    if choice is None and name in unavailable_models():
        st.error(f"This model is unavailable: {unavailable_models()[name]}. Pick another in the sidebar.")
        st.stop()
    if choice is None:
        st.warning(
            "No model is loaded. Train one on the **Train** page, or upload a checkpoint in the sidebar."
        )
        st.stop()
    if choice.problem:  # every page refuses it the same way, instead of drawing or scoring NaN
        st.error(f"This model cannot be used: {choice.problem}.")
        st.stop()
    return choice


@st.cache_resource
def _work_queue() -> WorkQueue:
    return WorkQueue(MODEL_WORK_SLOTS)


def run_in_line(run) -> None:
    """Run a page (``run()``) once a model-work slot is free; meanwhile the page says how many wait.

    A visitor to a busy server sees "busy, N in line" at once instead of a page that stays blank."""
    notice = st.empty()

    def waiting(place: int) -> None:
        notice.info(
            f"The server is busy: you are number {place} in line. This page continues when it is your turn.",
            icon=":material/hourglass_top:",
        )

    with _work_queue().slot(waiting):
        notice.empty()
        run()
