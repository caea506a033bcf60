"""Uploaded checkpoints: validated in the uploader's callback, kept in the uploading session, capped
in count and bytes so that uploads cannot pile up in the server's memory."""

from __future__ import annotations

import re

import streamlit as st

from app_pages.models import ModelChoice, all_models, session_models, unavailable_models
from toymae.checkpoint import Checkpoint, CheckpointError, load_checkpoint_bytes
from toymae.config import DASHBOARD_BUDGET
from toymae.finite import NonFiniteOutputError, check_model_outputs

MAX_UPLOAD_MB = 50
# Per session: a visitor comparing models keeps a few; more would pile up in the server's memory.
MAX_SESSION_UPLOADS = 3
MAX_SESSION_UPLOAD_MB = 100  # float32 weights of the session's uploads together


def _weight_mb(ckpt: Checkpoint) -> float:
    return sum(p.numel() * p.element_size() for p in ckpt.model.parameters()) / 1e6


def add_session_model(name: str, ckpt: Checkpoint, origin: str) -> str:
    """Add a model to this session; the oldest uploads go to stay within the per-session caps."""
    models = session_models()
    ckpt.model.requires_grad_(False).eval()
    models[name] = ModelChoice(name, f"{name} ({origin})", ckpt, origin)
    dropped = []
    while len(models) > 1 and (
        len(models) > MAX_SESSION_UPLOADS
        or sum(_weight_mb(m.checkpoint) for m in models.values()) > MAX_SESSION_UPLOAD_MB
    ):
        dropped.append(models.pop(next(iter(models))).name)  # dicts keep insertion order
    if dropped:
        st.session_state["upload_note"] = (
            f"Removed {', '.join(dropped)}: a session keeps at most {MAX_SESSION_UPLOADS} uploaded models"
            f" ({MAX_SESSION_UPLOAD_MB} MB of weights)."
        )
    return name


def model_name_for(file_name: str, taken: set[str]) -> str:
    """A picker name from an uploaded file's name: letters, digits, '.', '-' only, never one in use.

    The name appears in labels and captions; keeping it to these characters means no page can
    render a user's file name as Markdown, and an upload never shadows a shipped model.
    """
    stem = file_name.removesuffix(".safetensors")
    base = re.sub(r"[^0-9A-Za-z.\-]+", "-", stem).strip(".-")[:48] or "uploaded"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def upload_key() -> str:
    return f"upload-{st.session_state.get('upload_round', 0)}"


def on_upload() -> None:
    """The uploader's callback: runs before the script, so the picker can be set to the new model
    before it is drawn (Streamlit forbids changing a widget's value after it exists in a run).

    The uploader is then replaced by a fresh one (a new key), so its copy of the file's bytes is
    dropped at the end of the run rather than held beside the loaded model for the whole session.
    """
    upload = st.session_state.get(upload_key())
    if upload is None:
        return
    st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1
    st.session_state.pop("upload_note", None)
    try:
        ckpt = load_checkpoint_bytes(
            upload.getvalue(), device="cpu", name=upload.name, budget=DASHBOARD_BUDGET
        )
        check_model_outputs(ckpt.model, ckpt.train_config.data)
    except CheckpointError as e:
        st.session_state["upload_error"] = str(e)  # starts with the file's name
        return
    except NonFiniteOutputError as e:
        st.session_state["upload_error"] = f"{upload.name}: {e}"
        return
    st.session_state.pop("upload_error", None)
    taken = set(all_models()) | set(unavailable_models())
    st.session_state["model"] = add_session_model(model_name_for(upload.name, taken), ckpt, "uploaded")
