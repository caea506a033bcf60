"""Training in a background thread, with pause / resume / stop and live previews.

``TrainingSlot`` admits one run at a time per process, so one user's training cannot starve the
others on a small server; the dashboard shows who holds it instead of queueing silently.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .data import eval_set
from .train import StepInfo, TrainConfig, Trainer

MAX_STEPS = 3000  # a hosted demo's cap; the CLI has none
PREVIEW_EVERY = 25  # steps between live reconstructions


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


class BackgroundRun:
    """One training run on a daemon thread; read ``progress`` from any thread (replaced, never mutated)."""

    def __init__(self, config: TrainConfig, owner: str, preview_images: int = 4) -> None:
        if config.steps > MAX_STEPS:
            raise ValueError(f"at most {MAX_STEPS} steps here (asked for {config.steps})")
        self.config = config
        self.owner = owner
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
        self._resume.clear()
        self._update(state="paused")

    def resume(self) -> None:
        self._update(state="running")
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
            p = self._progress
            self._progress = Progress(**{**p.__dict__, **changes})

    def _preview(self) -> list[np.ndarray]:
        model = self.trainer.model
        rec = model.reconstruct(self._preview_batch.images, generator=torch.Generator().manual_seed(0))
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
        while not self._resume.wait(timeout=0.2):  # paused: hold the training thread here
            if self._stop.is_set():
                break
        return not self._stop.is_set()

    def _run(self) -> None:
        try:
            self._update(state="running", preview=self._preview(), preview_step=0)
            summary = self.trainer.run(callback=self._callback)
            self._update(state="stopped" if summary["stopped_early"] else "done")
        except Exception as e:  # shown to the user; the server keeps running
            self._update(state="failed", error=f"{type(e).__name__}: {e}")


class TrainingSlot:
    """At most one run per process. ``claim`` returns None while another owner's run is active."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.run: BackgroundRun | None = None

    def claim(self, config: TrainConfig, owner: str) -> BackgroundRun | None:
        with self._lock:
            if self.run is not None and not self.run.finished:
                return None
            self.run = BackgroundRun(config, owner)
            self.run.start()
            return self.run

    def busy_with(self, owner: str) -> BackgroundRun | None:
        """The active run of somebody else, if any."""
        run = self.run
        if run is not None and not run.finished and run.owner != owner:
            return run
        return None
