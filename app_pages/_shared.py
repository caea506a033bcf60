"""Streamlit glue shared by the pages: the model picker, cached read-only shipped models, URL hygiene.

Shipped models are listed from the manifest and each loaded on first use, once per server, then
never modified (``toymae.app.model_store``); one that cannot be loaded (missing, truncated, a Git LFS
pointer, over the dashboard's compute budget) is listed as unavailable with its reason from then on,
and everything else works. Models trained on the Train page belong to the
server (``toymae.app.training_server``'s slot) and are listed for every session until the server
restarts; uploads live in the uploading session's state, capped in count and bytes. Inference always
runs under ``no_grad`` with a per-request generator (``toymae`` does both), so sessions never share
mutable state.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from dataclasses import dataclass

import streamlit as st

from toymae.app.busy import WorkQueue
from toymae.app.catalog import CHECKPOINT_DIR, CatalogError, entry_label
from toymae.app.model_store import ShippedModels
from toymae.app.training_server import server_slot
from toymae.checkpoint import Checkpoint, CheckpointError, load_checkpoint_bytes
from toymae.config import DASHBOARD_BUDGET, dataset_name
from toymae.finite import NonFiniteOutputError, check_model_outputs

MAX_UPLOAD_MB = 50
# Per session: a visitor comparing models keeps a few; more would pile up in the server's memory.
MAX_SESSION_UPLOADS = 3
MAX_SESSION_UPLOAD_MB = 100  # float32 weights of the session's uploads together
TRAINED_HERE = "trained on this server"
# Pages that compute at once; the rest wait in line (2 cores: more would only slow everyone down).
# TOYMAE_WORK_SLOTS changes it (bench/load.py compares).
MODEL_WORK_SLOTS = int(os.environ.get("TOYMAE_WORK_SLOTS", "2"))


@dataclass
class ModelChoice:
    name: str  # key in the picker
    label: str  # what the user reads
    checkpoint: Checkpoint
    origin: str  # "shipped", TRAINED_HERE, "uploaded"
    problem: str | None = None  # why its outputs cannot be shown (NaN / inf), if they cannot

    @property
    def dataset(self) -> str:
        return dataset_name(self.checkpoint.train_config.data)


class ShippedChoice(ModelChoice):
    """A shipped model: listed from the manifest, loaded on its first use, once per server
    (``ShippedModels``), so a restarted server's first page waits for one model, not all."""

    def __init__(self, store: ShippedModels, entry: dict) -> None:
        self.name, self.label, self.origin, self._store = entry["name"], entry_label(entry), "shipped", store
        self.entry = entry  # the manifest's: config, cell, recorded results (no need to load the model)

    @property
    def checkpoint(self) -> Checkpoint:
        return self._store.get(self.name).checkpoint

    @property
    def problem(self) -> str | None:
        loaded = self._store.get(self.name)
        return loaded.problem or loaded.unavailable

    @property
    def dataset(self) -> str:
        return self.entry.get("dataset", "default")


@st.cache_resource(show_spinner=False)
def _store() -> ShippedModels | str:
    """The shipped models (nothing loaded yet), or why the manifest cannot be read."""
    try:
        return ShippedModels(CHECKPOINT_DIR, DASHBOARD_BUDGET)
    except CatalogError as e:
        return str(e)


def _shipped() -> tuple[dict[str, ModelChoice], dict[str, str]]:
    """(usable shipped models, name -> "label: why unavailable" for those found unusable so far)."""
    store = _store()
    if isinstance(store, str):
        return {}, {"shipped models": store}
    failed = store.failed()
    models = {n: ShippedChoice(store, e) for n, e in store.entries.items() if n not in failed}
    return models, {n: f"{entry_label(store.entries[n])}: {why}" for n, why in failed.items()}


def warm_shipped_models() -> None:
    """Load the shipped models not used yet in the background (after a page has been drawn)."""
    store = _store()
    if not isinstance(store, str):
        store.warm()


def shipped_models() -> dict[str, ModelChoice]:
    return _shipped()[0]


def unavailable_models() -> dict[str, str]:
    """Shipped models that could not be loaded: name -> what the picker says about each."""
    return _shipped()[1]


def session_models() -> dict[str, ModelChoice]:
    return st.session_state.setdefault("session_models", {})


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


def server_models() -> dict[str, ModelChoice]:
    """Models finished on this server's Train page, whoever started them (until the server restarts)."""
    return {
        name: ModelChoice(name, f"{name} ({TRAINED_HERE})", m.checkpoint, TRAINED_HERE)
        for name, m in server_slot().models().items()
    }


def all_models() -> dict[str, ModelChoice]:
    """Every usable model (shipped, trained here, uploaded); unavailable shipped ones are not in it."""
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


def _upload_key() -> str:
    return f"upload-{st.session_state.get('upload_round', 0)}"


def _on_upload() -> None:
    """The uploader's callback: runs before the script, so the picker can be set to the new model
    before it is drawn (Streamlit forbids changing a widget's value after it exists in a run).

    The uploader is then replaced by a fresh one (a new key), so its copy of the file's bytes is
    dropped at the end of the run rather than held beside the loaded model for the whole session.
    """
    upload = st.session_state.get(_upload_key())
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
                st.caption(_model_caption(models[name]))
            else:
                st.warning(f"Unavailable: {unavailable[name]}")
        else:
            st.info("No model yet: train one on the **Train** page or upload a checkpoint.")
        if any(m.origin == TRAINED_HERE for m in models.values()):
            st.caption(f"Models {TRAINED_HERE} are listed for everyone until the server restarts.")
        st.file_uploader(
            "Upload a toymae checkpoint (.safetensors)",
            type=["safetensors"],
            key=_upload_key(),
            on_change=_on_upload,
            max_upload_size=MAX_UPLOAD_MB,
            help=f"Validated before use; at most {MAX_UPLOAD_MB} MB. Nothing is unpickled.",
        )
        if "upload_error" in st.session_state:
            st.error("That file was not loaded:")
            # Plain text: the file's name and anything quoted from inside it are the uploader's words.
            st.code(st.session_state["upload_error"], language=None, wrap_lines=True)
        if "upload_note" in st.session_state:
            st.caption(st.session_state["upload_note"])


def _model_caption(choice: ModelChoice) -> str:
    if choice.checkpoint is None:  # a shipped model found unloadable on its first use
        return f"unavailable: {choice.problem}"
    cfg = choice.checkpoint.train_config
    return (
        f"{choice.origin} · {cfg.model.image_size} px, "
        f"{cfg.model.grid_size}×{cfg.model.grid_size} patches, "
        f"encoder {cfg.model.depth}×{cfg.model.embed_dim}, decoder {cfg.model.decoder_depth}×"
        f"{cfg.model.decoder_embed_dim}, trained at ratio {cfg.model.mask_ratio:g}, "
        f"{choice.checkpoint.summary.get('steps', '?')} steps"
    )


def current_model() -> ModelChoice | None:
    models = all_models()
    name = st.session_state.get("model")
    return models.get(name) if name else None


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
