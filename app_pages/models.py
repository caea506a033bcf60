"""The dashboard's models: shipped (read-only, loaded on first use), trained here, uploaded.

Shipped models are listed from the manifest and each loaded on first use, once per server, then
never modified (``toymae.app.model_store``); one that cannot be loaded (missing, truncated, a Git LFS
pointer, over the dashboard's compute budget) is listed as unavailable with its reason from then on,
and everything else works. Models trained on the Train page belong to the server
(``toymae.app.training_server``'s slot) and are listed for every session until the server restarts;
uploads live in the uploading session's state (``app_pages.uploads``). Inference always runs under
``no_grad`` with a per-request generator (``toymae`` does both), so sessions never share mutable state.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from toymae.app.catalog import CHECKPOINT_DIR, CatalogError, entry_label
from toymae.app.model_store import ShippedModels
from toymae.app.training_server import server_slot
from toymae.checkpoint import Checkpoint
from toymae.config import DASHBOARD_BUDGET, dataset_name

TRAINED_HERE = "trained on this server"


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


def server_models() -> dict[str, ModelChoice]:
    """Models finished on this server's Train page, whoever started them (until the server restarts)."""
    return {
        name: ModelChoice(name, f"{name} ({TRAINED_HERE})", m.checkpoint, TRAINED_HERE)
        for name, m in server_slot().models().items()
    }


def all_models() -> dict[str, ModelChoice]:
    """Every usable model (shipped, trained here, uploaded); unavailable shipped ones are not in it."""
    return {**shipped_models(), **server_models(), **session_models()}


def default_model_name(models: dict[str, ModelChoice]) -> str | None:
    for preferred in ("ratio0.6-dec1", "ratio0.6-dec2"):
        if preferred in models:
            return preferred
    return next(iter(models), None)


def current_model() -> ModelChoice | None:
    models = all_models()
    name = st.session_state.get("model")
    return models.get(name) if name else None


def model_caption(choice: ModelChoice) -> str:
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
