"""Training in a background thread, with pause / resume / stop and live previews.

``TrainingSlot`` admits one run at a time per process, so one user's training cannot starve the
others on a small server; the dashboard shows who holds it instead of queueing silently. Runs and
the models they produce belong to the slot, not to whoever started them: a run is found again by
its id (the dashboard puts it in the URL), and every finished model is kept in the slot, for any
session to pick or download, until the process ends.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from toymae.checkpoint import Checkpoint, checkpoint_bytes
from toymae.config import TrainConfig
from toymae.data import eval_set
from toymae.finite import NonFiniteOutputError, check_model_outputs
from toymae.inference import reconstruct
from toymae.train import StepInfo, Trainer

MAX_STEPS = 3000  # a hosted demo's cap; the CLI has none
PREVIEW_EVERY = 25  # steps between live reconstructions
MAX_KEPT = 8  # finished models (and runs) a server keeps; the oldest go first


@dataclass
class Progress:
    state: str = "starting"  # starting, running, paused, stopped, done, failed
    step: int = 0
    total: int = 0
    images_per_s: float = 0.0
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    preview: list[np.ndarray] | None = None  # [originals..., reconstructions + visible...] (H, W)
    preview_step: int = 0
    error: str | None = None
    started: float = field(default_factory=time.time)


@dataclass
class TrainedModel:
    """A finished run's model, ready to pick (``checkpoint``) or download (``data``)."""

    name: str
    checkpoint: Checkpoint
    data: bytes  # the .safetensors file
    run_id: str
    finished_at: float = field(default_factory=time.time)


class BackgroundRun:
    """One training run on a daemon thread; read ``progress`` from any thread (replaced, never mutated).

    ``run_id`` is unguessable: whoever holds it may watch and control the run. When the run ends
    (done or stopped) its model is checked for non-finite outputs and becomes ``result``, and
    ``on_finish`` is called with the run, from the training thread, before the state says so.
    """

    def __init__(
        self,
        config: TrainConfig,
        owner: str,
        preview_images: int = 4,
        on_finish: Callable[[BackgroundRun], None] | None = None,
    ) -> None:
        if config.steps > MAX_STEPS:
            raise ValueError(f"at most {MAX_STEPS} steps here (asked for {config.steps})")
        self.config = config
        self.owner = owner
        self.run_id = secrets.token_hex(8)
        self.result: TrainedModel | None = None
        self._on_finish = on_finish
        self.trainer = Trainer(config, device="cpu")
        self._preview_batch = eval_set(preview_images, config.data, 0, "preview")
        self._lock = threading.Lock()
        self._resume = threading.Event()
        self._resume.set()
        self._stop = threading.Event()
        self._progress = Progress(total=config.steps)
        self._thread = threading.Thread(target=self._run, name=f"toymae-train-{owner}", daemon=True)

    # ------------------------------------------------------------ control (any thread)
    def start(self) -> None:
        self._thread.start()

    def pause(self) -> None:
        with self._lock:  # flag and state change together: see _update's "running" guard
            self._resume.clear()
            self._progress = Progress(**{**self._progress.__dict__, "state": "paused"})

    def resume(self) -> None:
        with self._lock:
            self._progress = Progress(**{**self._progress.__dict__, "state": "running"})
            self._resume.set()

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def progress(self) -> Progress:
        with self._lock:
            return self._progress

    @property
    def finished(self) -> bool:
        return self.progress.state in ("stopped", "done", "failed")

    # ------------------------------------------------------------ the worker
    def _update(self, **changes) -> None:
        with self._lock:
            if changes.get("state") == "running" and not self._resume.is_set():
                changes["state"] = "paused"  # paused before the worker started: it will hold
            p = self._progress
            self._progress = Progress(**{**p.__dict__, **changes})

    def _preview(self) -> list[np.ndarray]:
        model = self.trainer.model
        rec = reconstruct(model, self._preview_batch.images, generator=torch.Generator().manual_seed(0))
        model.train()
        originals = [x[0].numpy() for x in rec.images]
        pasted = [x[0].clamp(0, 1).numpy() for x in rec.pasted]
        return originals + pasted

    def _callback(self, info: StepInfo) -> bool:
        p = self.progress
        changes: dict = {
            "step": info.step,
            "images_per_s": info.images_per_s,
            "steps": [*p.steps, info.step],
            "losses": [*p.losses, info.loss],
        }
        if info.eval is not None:
            changes["evals"] = [*p.evals, info.eval]
        if info.step % PREVIEW_EVERY == 0 or info.step == info.total_steps:
            changes.update(preview=self._preview(), preview_step=info.step)
        self._update(**changes)
        if not math.isfinite(info.loss):
            return False  # nothing more to learn from NaN; _run reports the divergence
        while not self._resume.wait(timeout=0.2):  # paused: hold the training thread here
            if self._stop.is_set():
                break
        return not self._stop.is_set()

    def default_name(self) -> str:
        m = self.config.model
        return f"trained-{m.mask_ratio:g}-dec{m.decoder_depth}-s{self.config.seed}"

    def _finish(self, summary: dict) -> None:
        model = self.trainer.model.eval()
        check_model_outputs(model, self.config.data)
        model.requires_grad_(False)
        ckpt = Checkpoint(model, self.config, summary)
        data = checkpoint_bytes(model, self.config, summary)
        self.result = TrainedModel(self.default_name(), ckpt, data, self.run_id)
        if self._on_finish is not None:
            self._on_finish(self)

    def _divergence(self) -> str | None:
        """Why the run is numerically dead (NaN or inf loss or weights), or None while it is not."""
        losses = self.progress.losses
        if losses and not math.isfinite(losses[-1]):
            return (
                f"training diverged: the loss became {losses[-1]} at step {self.progress.steps[-1]}"
                " (try a lower learning rate)"
            )
        if not all(bool(torch.isfinite(p).all()) for p in self.trainer.model.parameters()):
            return "training diverged: the weights hold NaN or infinite values (try a lower learning rate)"
        return None

    def _run(self) -> None:
        try:
            self._update(state="running", preview=self._preview(), preview_step=0)
            summary = self.trainer.run(callback=self._callback)
            diverged = self._divergence()
            if diverged:
                self._update(state="failed", error=diverged)
                return
            self._finish(summary)
            self._update(state="stopped" if summary["stopped_early"] else "done")
        except NonFiniteOutputError as e:
            self._update(state="failed", error=f"training diverged: {e}")
        except Exception as e:  # shown to the user; the server keeps running
            # A NaN loss at an evaluation step fails inside the probe; say what really happened.
            self._update(state="failed", error=self._divergence() or f"{type(e).__name__}: {e}")


class TrainingSlot:
    """At most one run per process, and the models runs have produced since the process started.

    ``claim`` returns None while another run is active. Runs are looked up by id (``get``); finished
    models are kept by name (``models``), the latest ``keep`` of each, whether or not anyone watched.
    """

    def __init__(self, keep: int = MAX_KEPT) -> None:
        self._lock = threading.Lock()
        self._keep = keep
        self.run: BackgroundRun | None = None  # the latest run
        self._runs: dict[str, BackgroundRun] = {}
        self._models: dict[str, TrainedModel] = {}

    def claim(self, config: TrainConfig, owner: str) -> BackgroundRun | None:
        with self._lock:
            if self.run is not None and not self.run.finished:
                return None
            self.run = BackgroundRun(config, owner, on_finish=self._keep_model)
            self._runs[self.run.run_id] = self.run
            while len(self._runs) > self._keep:
                self._runs.pop(next(iter(self._runs)))
            self.run.start()
            return self.run

    def get(self, run_id: str | None) -> BackgroundRun | None:
        """The run with this id, if this process still remembers it."""
        with self._lock:
            return self._runs.get(run_id) if run_id else None

    def active(self) -> BackgroundRun | None:
        """The run that is training or paused now, if any."""
        run = self.run
        return run if run is not None and not run.finished else None

    def busy_with(self, owner: str) -> BackgroundRun | None:
        """The active run of somebody else, if any."""
        run = self.active()
        return run if run is not None and run.owner != owner else None

    def models(self) -> dict[str, TrainedModel]:
        """Finished models, oldest first (a copy: safe to iterate while runs finish)."""
        with self._lock:
            return dict(self._models)

    def _keep_model(self, run: BackgroundRun) -> None:
        result = run.result
        if result is None:
            return
        with self._lock:
            base, n = result.name, 2
            while result.name in self._models:
                result.name, n = f"{base}-{n}", n + 1
            self._models[result.name] = result
            while len(self._models) > self._keep:
                self._models.pop(next(iter(self._models)))


_server_slot = TrainingSlot()


def server_slot() -> TrainingSlot:
    """The process's slot: one per server, shared by every session."""
    return _server_slot
