"""Streamlit glue shared by the pages: the model picker and cached, read-only shipped models.

Shipped models are loaded once per server (``st.cache_resource``) and never modified; models
trained on the Train page belong to the server (``toymae.app.training_server``'s slot) and are listed for
every session until the server restarts; uploads live in the uploading session's state. Inference
always runs under ``no_grad`` with a per-request generator (``toymae`` does both), so sessions never
share mutable state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import streamlit as st

from toymae.app.catalog import CHECKPOINT_DIR, entry_label, load_manifest
from toymae.app.training_server import server_slot
from toymae.checkpoint import Checkpoint, CheckpointError, load_checkpoint, load_checkpoint_bytes
from toymae.finite import NonFiniteOutputError, check_model_outputs

MAX_UPLOAD_MB = 50
TRAINED_HERE = "trained on this server"


@dataclass
class ModelChoice:
    name: str  # key in the picker
    label: str  # what the user reads
    checkpoint: Checkpoint
    origin: str  # "shipped", TRAINED_HERE, "uploaded"
    problem: str | None = None  # why its outputs cannot be shown (NaN / inf), if they cannot


@st.cache_resource(show_spinner="Loading the shipped models…")
def shipped_models() -> dict[str, ModelChoice]:
    out = {}
    for entry in load_manifest():
        ckpt = load_checkpoint(CHECKPOINT_DIR / entry["file"], device="cpu")
        ckpt.model.requires_grad_(False)
        try:
            check_model_outputs(ckpt.model, ckpt.train_config.data)
            problem = None
        except NonFiniteOutputError as e:
            problem = str(e)
        out[entry["name"]] = ModelChoice(entry["name"], entry_label(entry), ckpt, "shipped", problem)
    return out


def session_models() -> dict[str, ModelChoice]:
    return st.session_state.setdefault("session_models", {})


def add_session_model(name: str, ckpt: Checkpoint, origin: str) -> str:
    models = session_models()
    ckpt.model.requires_grad_(False).eval()
    models[name] = ModelChoice(name, f"{name} ({origin})", ckpt, origin)
    return name


def server_models() -> dict[str, ModelChoice]:
    """Models finished on this server's Train page, whoever started them (until the server restarts)."""
    return {
        name: ModelChoice(name, f"{name} ({TRAINED_HERE})", m.checkpoint, TRAINED_HERE)
        for name, m in server_slot().models().items()
    }


def all_models() -> dict[str, ModelChoice]:
    return {**shipped_models(), **server_models(), **session_models()}


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


def _on_upload() -> None:
    """The uploader's callback: runs before the script, so the picker can be set to the new model
    before it is drawn (Streamlit forbids changing a widget's value after it exists in a run)."""
    upload = st.session_state.get("upload")
    if upload is None:  # the user removed the file: its error goes with it
        st.session_state.pop("upload_error", None)
        return
    try:
        ckpt = load_checkpoint_bytes(upload.getvalue(), device="cpu", name=upload.name)
        check_model_outputs(ckpt.model, ckpt.train_config.data)
    except CheckpointError as e:
        st.session_state["upload_error"] = str(e)  # starts with the file's name
        return
    except NonFiniteOutputError as e:
        st.session_state["upload_error"] = f"{upload.name}: {e}"
        return
    st.session_state.pop("upload_error", None)
    name = add_session_model(model_name_for(upload.name, set(all_models())), ckpt, "uploaded")
    st.session_state["model"] = name


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
        if any(m.origin == TRAINED_HERE for m in models.values()):
            st.caption(f"Models {TRAINED_HERE} are listed for everyone until the server restarts.")
        st.file_uploader(
            "Upload a toymae checkpoint (.safetensors)",
            type=["safetensors"],
            key="upload",
            on_change=_on_upload,
            max_upload_size=MAX_UPLOAD_MB,
            help=f"Validated before use; at most {MAX_UPLOAD_MB} MB. Nothing is unpickled.",
        )
        if "upload_error" in st.session_state:
            st.error("That file was not loaded:")
            # Plain text: the file's name and anything quoted from inside it are the uploader's words.
            st.code(st.session_state["upload_error"], language=None, wrap_lines=True)


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
    if choice.problem:  # every page refuses it the same way, instead of drawing or scoring NaN
        st.error(f"This model cannot be used: {choice.problem}.")
        st.stop()
    return choice
