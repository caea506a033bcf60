"""Streamlit glue shared by the pages: the model picker and cached, read-only shipped models.

Shipped models are loaded once per server (``st.cache_resource``) and never modified; models a
session trains or uploads live in that session's state. Inference always runs under ``no_grad``
with a per-request generator (``toymae`` does both), so sessions never share mutable state.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import streamlit as st

from toymae.catalog import CHECKPOINT_DIR, entry_label, load_manifest
from toymae.checkpoint import Checkpoint, CheckpointError, load_checkpoint, load_checkpoint_bytes

MAX_UPLOAD_MB = 50


_run = threading.local()  # each session's script runs on its own thread: per-run flags live here
_SEEN = "_toymae_session_has_run"  # session-state key: set once any page of this session has run


def mark_entry() -> None:
    """Called by ``app.py`` at the top of every run: this run goes through the entry point."""
    _run.via_app = True


def enter_page() -> None:
    """Make sure a page has the shared sidebar even when Streamlit ran it without ``app.py``.

    A ``pages/`` folder beside the entry point puts a fresh Streamlit server in its legacy
    multipage mode until ``st.navigation`` has been called once: a direct link such as
    ``/hallucinations`` then runs the page file alone, under an automatic menu of the files in
    ``pages/``. Leave that mode, so every later run goes through ``app.py`` and its navigation. On a
    session's first run, rerun at once: that run goes through ``app.py`` too and replaces the
    automatic menu; a first run carries no user input that a rerun could drop. Any other run that
    arrives here gets the sidebar drawn for this one run instead.
    """
    via_app = getattr(_run, "via_app", False)
    _run.via_app = False
    first_run = not st.session_state.get(_SEEN, False)
    st.session_state[_SEEN] = True
    if not via_app:
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
        if first_run:
            st.rerun()
        sidebar_model_picker()


@dataclass
class ModelChoice:
    name: str  # key in the picker
    label: str  # what the user reads
    checkpoint: Checkpoint
    origin: str  # "shipped", "trained here", "uploaded"


@st.cache_resource(show_spinner="Loading the shipped models…")
def shipped_models() -> dict[str, ModelChoice]:
    out = {}
    for entry in load_manifest():
        ckpt = load_checkpoint(CHECKPOINT_DIR / entry["file"], device="cpu")
        ckpt.model.requires_grad_(False)
        out[entry["name"]] = ModelChoice(entry["name"], entry_label(entry), ckpt, "shipped")
    return out


def session_models() -> dict[str, ModelChoice]:
    return st.session_state.setdefault("session_models", {})


def add_session_model(name: str, ckpt: Checkpoint, origin: str) -> str:
    models = session_models()
    ckpt.model.requires_grad_(False).eval()
    models[name] = ModelChoice(name, f"{name} ({origin})", ckpt, origin)
    return name


def all_models() -> dict[str, ModelChoice]:
    return {**shipped_models(), **session_models()}


def default_model_name(models: dict[str, ModelChoice]) -> str | None:
    for preferred in ("ratio0.6-dec1", "ratio0.6-dec2"):
        if preferred in models:
            return preferred
    return next(iter(models), None)


def ensure_choice(key: str, options: list[str], default: str | None) -> None:
    """Give a bound selectbox a valid value: keep the session's, else the URL's, else ``default``."""
    if st.session_state.get(key) in options:
        return
    from_url = st.query_params.get(key)
    st.session_state[key] = from_url if from_url in options else default


def sidebar_model_picker() -> None:
    """The shared sidebar: pick a shipped, trained or uploaded model (bound to ``?model=``)."""
    models = all_models()
    with st.sidebar:
        st.markdown("### Model")
        if models:
            names = list(models)
            ensure_choice("model", names, default_model_name(models))
            st.selectbox(
                "Model",
                names,
                format_func=lambda n: models[n].label,
                key="model",
                bind="query-params",
                label_visibility="collapsed",
            )
            choice = models[st.session_state["model"]]
            cfg = choice.checkpoint.train_config
            st.caption(
                f"{choice.origin} · {cfg.model.image_size} px, "
                f"{cfg.model.grid_size}×{cfg.model.grid_size} patches, "
                f"encoder {cfg.model.depth}×{cfg.model.embed_dim}, decoder {cfg.model.decoder_depth}×"
                f"{cfg.model.decoder_embed_dim}, trained at ratio {cfg.model.mask_ratio:g}, "
                f"{choice.checkpoint.summary.get('steps', '?')} steps"
            )
        else:
            st.info("No model yet: train one on the **Train** page or upload a checkpoint.")
        upload = st.file_uploader(
            "Upload a toymae checkpoint (.safetensors)",
            type=["safetensors"],
            key="upload",
            max_upload_size=MAX_UPLOAD_MB,
            help=f"Validated before use; at most {MAX_UPLOAD_MB} MB. Nothing is unpickled.",
        )
        if upload is not None and st.session_state.get("upload_seen") != upload.file_id:
            st.session_state["upload_seen"] = upload.file_id
            try:
                ckpt = load_checkpoint_bytes(upload.getvalue(), device="cpu", name=upload.name)
            except CheckpointError as e:
                st.session_state["upload_error"] = str(e)
            else:
                st.session_state.pop("upload_error", None)
                name = add_session_model(upload.name.removesuffix(".safetensors"), ckpt, "uploaded")
                st.session_state["model"] = name
                st.rerun()
        if "upload_error" in st.session_state:
            st.error(f"That file was not loaded: {st.session_state['upload_error']}")


def current_model() -> ModelChoice | None:
    models = all_models()
    name = st.session_state.get("model")
    return models.get(name) if name else None


def require_model() -> ModelChoice:
    choice = current_model()
    if choice is None:
        st.warning(
            "No model is loaded. Train one on the **Train** page, or upload a checkpoint in the sidebar."
        )
        st.stop()
    return choice
