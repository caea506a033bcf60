"""The shipped models, listed from the manifest at once and each loaded on first use.

A server's first visitor waits for one model (the page's), not eighteen: ``ShippedModels`` reads the
manifest (names, labels, datasets: all the model picker needs) and loads a checkpoint the first time
a page asks for it, once per server, under a lock per model. ``warm`` then loads the rest on a
background thread, so that switching models later does not wait either. A model that cannot be
loaded is reported unavailable with its reason, the first time anything asks for it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from toymae.app.catalog import CHECKPOINT_DIR, load_manifest
from toymae.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from toymae.config import Budget
from toymae.finite import NonFiniteOutputError, check_model_outputs


@dataclass(frozen=True)
class Loaded:
    """One shipped model after its first use: the checkpoint (None when it could not be loaded), why
    its outputs cannot be shown (non-finite), or why it is unavailable."""

    checkpoint: Checkpoint | None
    problem: str | None = None
    unavailable: str | None = None


class ShippedModels:
    def __init__(self, directory: str | Path = CHECKPOINT_DIR, budget: Budget | None = None) -> None:
        """Read the manifest of ``directory`` (``CatalogError`` when it is unreadable); load nothing."""
        self.directory, self.budget = Path(directory), budget
        self.entries = {e["name"]: e for e in load_manifest(self.directory)}
        self._loaded: dict[str, Loaded] = {}
        self._locks = {name: threading.Lock() for name in self.entries}
        self._warming: threading.Thread | None = None

    def get(self, name: str) -> Loaded:
        """The model ``name``, loaded now if this is its first use (others asking meanwhile wait)."""
        if name in self._loaded:
            return self._loaded[name]
        with self._locks[name]:
            if name not in self._loaded:
                self._loaded[name] = self._load(self.entries[name])
            return self._loaded[name]

    def _load(self, entry: dict) -> Loaded:
        path = self.directory / entry["file"]
        try:
            ckpt = load_checkpoint(path, device="cpu", budget=self.budget)
        except CheckpointError as e:  # the message starts with the server's path: visitors get the name
            return Loaded(None, unavailable=f"{entry['file']}: {str(e).removeprefix(f'{path}: ')}")
        ckpt.model.requires_grad_(False)
        try:
            check_model_outputs(ckpt.model, ckpt.train_config.data)
        except NonFiniteOutputError as e:
            return Loaded(ckpt, problem=str(e))
        return Loaded(ckpt)

    def failed(self) -> dict[str, str]:
        """The models found unavailable so far: name -> why."""
        return {n: x.unavailable for n, x in self._loaded.items() if x.unavailable is not None}

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded

    def warm(self) -> threading.Thread:
        """Load every model not used yet, one after another on a background thread (started once). Not
        a daemon: a process that exits meanwhile waits for the load in progress (seconds) rather than
        killing a thread inside torch, which aborts the interpreter."""
        if self._warming is None:
            self._warming = threading.Thread(
                target=lambda: [self.get(n) for n in self.entries], name="toymae-warm-models", daemon=False
            )  # explicit: a thread started from a Streamlit script's (daemon) thread would inherit daemon
            self._warming.start()
        return self._warming
