"""Training in a child process, with pause / resume / stop, a live preview and one slot per server.

``TrainingSlot`` admits one run at a time per process, so one user's training cannot starve the
others on a small server; the dashboard shows who holds it instead of queueing silently. Runs and
the models they produce belong to the slot, not to whoever started them: a run is found again by
its id (the dashboard puts it in the URL). A run that trains all its steps publishes its model to
every session until the process ends; a stopped run keeps its model to itself ("stopped at step N")
unless someone watching it keeps it. A paused run still holds the slot, so it stops by itself after
``PAUSE_TIMEOUT_S``, and once it has been paused ``PAUSE_GRACE_S`` any visitor may end it.

Why a process and not a thread: in the server's process, training competed for the GIL with every
page rerun (the live view polls once a second), and the server's other sessions shared its torch
thread pool, so a page trained at about half the CLI's speed and its polls ran long enough to show
Streamlit's "Running... Stop" in the header. The child runs the CLI's training loop with the CLI's
threads; it checks stop and pause after every step and sends one small message a step. It ends when
the server does (a closed pipe stops it at the next step).
"""

from __future__ import annotations

import io
import math
import multiprocessing
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

from toymae.checkpoint import Checkpoint, load_checkpoint_bytes
from toymae.config import TrainConfig

MAX_STEPS = 4000  # a hosted demo's cap, above the shipped recipe's 3,200; the CLI has none
PREVIEW_SECONDS = 1.0  # wall time between live reconstructions: the page shows one a second
PAUSE_TIMEOUT_S = 600.0  # a paused run holds the server's only slot: it stops by itself after this long
PAUSE_GRACE_S = 120.0  # paused this long, a run may be ended by anyone (its owner may have left)
MAX_KEPT = 8  # models (and runs) a server keeps; the oldest go first
FINISHED = ("stopped", "done", "failed")
# spawn, not fork: a forked child of a server whose threads hold locks (torch's thread pools
# included) can hang; a spawned one starts clean, at the cost of importing torch (a few seconds).
_MP = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Progress:
    """A snapshot of a run, replaced (never mutated) as the child's messages arrive."""

    state: str = "starting"  # starting, running, paused, evaluating, stopped, done, failed
    step: int = 0
    total: int = 0
    loss: float = float("nan")
    images_per_s: float = 0.0  # over training time: pauses and evaluations do not count
    train_seconds: float = 0.0
    paused_since: float | None = None  # time.time() when the current pause began
    evals: tuple[dict, ...] = ()  # evaluation rows (held_out_loss, probe_acc, pca2_acc) with "step"
    preview: bytes | None = None  # PNG: original | masked | reconstruction | reconstruction + visible
    preview_step: int = 0
    stop_reason: str | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def eta_seconds(self, batch_size: int) -> float | None:
        """Training time left at the run's speed so far (None before it has one)."""
        if self.images_per_s <= 0 or self.finished:
            return None
        return (self.total - self.step) * batch_size / self.images_per_s

    def pause_left(self, now: float | None = None) -> float | None:
        """Seconds until a paused run stops by itself (None when it is not paused)."""
        if self.paused_since is None:
            return None
        return max(0.0, PAUSE_TIMEOUT_S - ((now or time.time()) - self.paused_since))


@dataclass
class TrainedModel:
    """A run's model, ready to pick (``checkpoint``) or download (``data``)."""

    name: str
    checkpoint: Checkpoint
    data: bytes  # the .safetensors file
    run_id: str
    steps: int
    total: int


class BackgroundRun:
    """One training run in a child process; read ``progress`` from any thread.

    ``run_id`` is unguessable: whoever holds it may watch and control the run. When the run ends
    (done or stopped) its model, checked for non-finite outputs in the child, becomes ``result``; a
    run that trained all its steps is handed to ``on_done`` before its state says "done".
    """

    def __init__(
        self,
        config: TrainConfig,
        owner: str,
        on_done: Callable[[BackgroundRun], None] | None = None,
    ) -> None:
        if config.steps > MAX_STEPS:
            raise ValueError(f"at most {MAX_STEPS:,} steps here (asked for {config.steps:,})")
        self.config = config
        self.owner = owner
        self.run_id = secrets.token_hex(8)
        self.result: TrainedModel | None = None
        self.kept = False  # its model is in every session's picker
        self._on_done = on_done
        self._lock = threading.Lock()
        self._resume = _MP.Event()
        self._resume.set()
        self._stop = _MP.Event()
        self._stop_reason = "on request"
        self._steps: list[int] = []  # append-only; read under the lock
        self._losses: list[float] = []
        self._progress = Progress(total=config.steps)
        self._inbox, outbox = _MP.Pipe(duplex=False)
        self._process = _MP.Process(
            target=train_process,
            args=(config, outbox, self._resume, self._stop),
            name=f"toymae-train-{owner}",
            daemon=True,
        )
        self._outbox = outbox
        self._reader = threading.Thread(target=self._read, name=f"toymae-train-{owner}", daemon=True)

    # ------------------------------------------------------------ control (any thread)
    def start(self) -> None:
        self._process.start()
        self._outbox.close()  # the child holds the only sending end: its exit closes the pipe
        self._reader.start()

    def pause(self) -> None:
        with self._lock:  # flag and state change together: the reader reads both under the lock
            if self._progress.finished or self._progress.state == "evaluating":
                return
            self._resume.clear()
            self._progress = replace(self._progress, state="paused", paused_since=time.time())

    def resume(self) -> None:
        with self._lock:
            if self._progress.state == "paused":
                self._progress = replace(self._progress, state="running", paused_since=None)
            self._resume.set()

    def stop(self, reason: str = "on request", wait: float = 0.0) -> None:
        """Stop after the current step (at once when paused or starting); ``reason`` completes
        "stopped at step N ..." on the page. ``wait``: seconds to wait for the run to say so."""
        self._stop_reason = reason
        self._stop.set()
        self._resume.set()
        if wait:
            self.wait_finished(wait)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the run to end and its model (if any) to arrive."""
        self._reader.join(timeout)

    def wait_finished(self, timeout: float) -> bool:
        """Wait until the state is final (stopped, done or failed); True if it is."""
        deadline = time.monotonic() + timeout
        while not self.progress.finished and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.progress.finished

    @property
    def progress(self) -> Progress:
        with self._lock:
            return self._progress

    @property
    def finished(self) -> bool:
        return self.progress.finished

    @property
    def alive(self) -> bool:
        """Still training, or still sending its model."""
        return self._reader.is_alive()

    def loss_history(self) -> tuple[list[int], list[float]]:
        """(steps, training losses) so far: copies, safe to keep."""
        with self._lock:
            return list(self._steps), list(self._losses)

    def default_name(self) -> str:
        m = self.config.model
        return f"trained-{m.mask_ratio:g}-dec{m.decoder_depth}-s{self.config.seed}"

    # ------------------------------------------------------------ the server's side of the pipe
    def _update(self, changes: dict) -> None:
        with self._lock:
            if "loss" in changes:
                self._steps.append(changes["step"])
                self._losses.append(changes["loss"])
            if changes.get("state") == "running" and not self._resume.is_set():
                changes = {**changes, "state": "paused"}  # paused before the child started: it holds
            if changes.get("state") == "stopped":
                changes = {**changes, "stop_reason": self._stop_reason}
            if changes.get("state") in FINISHED:
                changes = {**changes, "paused_since": None}
            self._progress = replace(self._progress, **changes)

    def _receive_model(self, data: bytes, steps: int) -> None:
        ckpt = load_checkpoint_bytes(data, device="cpu", name="the trained model")
        ckpt.model.requires_grad_(False).eval()
        name = self.default_name() if steps == self.config.steps else f"{self.default_name()}-step{steps}"
        self.result = TrainedModel(name, ckpt, data, self.run_id, steps, self.config.steps)
        if steps == self.config.steps and self._on_done is not None:
            self._on_done(self)  # before the state says "done": a page that sees it finds the model

    def _read(self) -> None:
        try:
            while True:
                if not self._inbox.poll(0.5):
                    left = self.progress.pause_left()
                    if left is not None and left <= 0:
                        self.stop(f"after {PAUSE_TIMEOUT_S / 60:.0f} min paused, to free the server")
                    continue
                kind, payload = self._inbox.recv()
                if kind == "update":
                    self._update(payload)
                else:  # "model": the checkpoint's bytes and the steps it was trained
                    self._receive_model(*payload)
        except EOFError:
            pass  # the child has ended and its pipe is drained
        except Exception as e:  # a model that does not load: say so, keep serving
            self._update({"state": "failed", "error": f"{type(e).__name__}: {e}"})
        self._process.join(timeout=10)
        if not self.progress.finished:
            code = self._process.exitcode
            self._update(
                {"state": "failed", "error": f"the training process ended unexpectedly (exit code {code})"}
            )


# ------------------------------------------------------------ the child
def train_process(config: TrainConfig, outbox: Connection, resume: Event, stop: Event) -> None:
    """Train ``config`` and report on ``outbox``: ("update", progress changes) as it goes, then
    ("model", (checkpoint bytes, steps)) for a run that ends done or stopped. ``resume`` cleared
    holds it after the current step; ``stop`` set ends it there. A closed pipe (the server has gone)
    ends it too."""
    try:
        _ChildRun(config, outbox, resume, stop).run()
    except (BrokenPipeError, ConnectionResetError, EOFError):
        pass  # the server is gone: nobody to train for
    except KeyboardInterrupt:  # TrainingInterrupted: SIGINT or SIGTERM to the server's process group
        pass  # the server is stopping (docker stop, a Space restart): it keeps nothing, so neither do we
    except Exception as e:  # before training began (an import, the model); shown to the user
        outbox.send(("update", {"state": "failed", "error": f"{type(e).__name__}: {e}"}))
    finally:
        outbox.close()


class _ChildRun:
    """The training loop in the child: the CLI's ``Trainer.run``, with a per-step report and hold."""

    def __init__(self, config: TrainConfig, outbox: Connection, resume: Event, stop: Event) -> None:
        from toymae.data import eval_set
        from toymae.train import Trainer

        self.config, self.outbox, self.resume, self.stop = config, outbox, resume, stop
        # Evaluations run between steps here (not inside Trainer.run), so stop, pause and the speed
        # figure see them; the checkpoint records the config that was asked for.
        self.trainer = Trainer(replace(config, eval_every=0), device="cpu")
        self.image = eval_set(1, config.data, 0, "preview").images  # the preview's one fixed image
        self.evals: list[dict] = []
        self.train_seconds = 0.0
        self.mark = self.last_preview = time.perf_counter()

    def send(self, **changes) -> None:
        self.outbox.send(("update", changes))

    def run(self) -> None:
        from toymae.checkpoint import checkpoint_bytes
        from toymae.finite import NonFiniteOutputError, check_model_outputs

        if self.stop.is_set():
            return self.send(state="stopped")
        self.send(state="running", preview=_preview_png(self.trainer.model, self.image), preview_step=0)
        self.mark = self.last_preview = time.perf_counter()
        trainer = self.trainer
        try:
            trainer.run(callback=self.callback, final_eval=False)
            why = self.divergence()
            if why:
                return self.send(state="failed", error=why)
            stopped = trainer.step < self.config.steps
            if stopped:
                self.send(state="stopped")  # say so at once; the model follows in a moment
            else:
                self.send(state="evaluating")
                self.evals.append(trainer.evaluate())
            model = trainer.model.eval()
            check_model_outputs(model, self.config.data)
            summary = {**trainer.summary(), "stopped_early": stopped}
            self.outbox.send(("model", (checkpoint_bytes(model, self.config, summary), trainer.step)))
            if not stopped:
                self.send(state="done", evals=tuple(self.evals))
        except NonFiniteOutputError as e:
            self.send(state="failed", error=f"training diverged: {e}")
        except (BrokenPipeError, ConnectionResetError):
            raise
        except Exception as e:  # shown to the user; the server keeps running
            # A NaN loss at an evaluation step fails inside the probe; say what really happened.
            self.send(state="failed", error=self.divergence() or f"{type(e).__name__}: {e}")

    def callback(self, info) -> bool:
        now = time.perf_counter()
        self.train_seconds += now - self.mark
        self.mark = now
        changes: dict = {
            "step": info.step,
            "loss": info.loss,
            "train_seconds": self.train_seconds,
            "images_per_s": info.step * self.config.batch_size / max(self.train_seconds, 1e-9),
        }
        if now - self.last_preview >= PREVIEW_SECONDS or info.step == info.total_steps:
            self.last_preview = now  # its cost counts as training time, as the CLI's progress bar's does
            changes.update(preview=_preview_png(self.trainer.model, self.image), preview_step=info.step)
        every = self.config.eval_every
        if every and info.step % every == 0 and info.step < info.total_steps and not self.stop.is_set():
            self.evals.append(self.trainer.evaluate())
            changes["evals"] = tuple(self.evals)
            self.mark = time.perf_counter()  # evaluation is not training time
        self.outbox.send(("update", changes))
        if not math.isfinite(info.loss):
            return False  # nothing more to learn from NaN
        if not self.resume.is_set():  # paused: hold here until resumed or stopped
            while not self.resume.wait(timeout=0.5) and not self.stop.is_set():
                pass
            self.mark = time.perf_counter()  # a pause is not training time
        return not self.stop.is_set()

    def divergence(self) -> str | None:
        """Why the run is numerically dead (NaN or inf loss or weights), or None while it is not."""
        import torch

        lower = "(try a lower learning rate)"
        loss, step = self.trainer.last_loss, self.trainer.step
        if step and not math.isfinite(loss):
            return f"training diverged: the loss became {loss} at step {step} {lower}"
        if not all(bool(torch.isfinite(w).all()) for w in self.trainer.model.parameters()):
            return f"training diverged: the weights hold NaN or infinite values {lower}"
        return None


def _preview_png(model, image) -> bytes:
    """original | masked | reconstruction | reconstruction + visible, under one fixed mask, as PNG."""
    import torch

    from toymae.app.images import grid_image, reconstruction_panels
    from toymae.inference import reconstruct

    model.eval()
    try:
        rec = reconstruct(model, image, generator=torch.Generator().manual_seed(0))  # one fixed mask
    finally:
        model.train()
    # A diverging model's NaN has no grey level: draw it black (cast to uint8, NaN warns).
    rec = replace(rec, reconstruction=rec.reconstruction.nan_to_num(), pasted=rec.pasted.nan_to_num())
    buf = io.BytesIO()
    grid_image([reconstruction_panels(rec, 0)], scale=5, gap=4).save(buf, format="PNG")
    return buf.getvalue()


class TrainingSlot:
    """At most one run per process, and the models runs have produced since the process started.

    ``claim`` returns None while another run is active (``refusal`` says why, in words). Runs are
    looked up by id (``get``); models that finished, or that someone kept, are listed by ``models``
    (the latest ``keep``).
    """

    def __init__(self, keep: int = MAX_KEPT) -> None:
        self._lock = threading.Lock()
        self._keep = keep
        self.run: BackgroundRun | None = None  # the latest run
        self._runs: dict[str, BackgroundRun] = {}
        self._models: dict[str, TrainedModel] = {}

    def refusal(self, owner: str) -> str | None:
        """Why ``owner`` cannot start a run now, or None when they can. No figures that go stale: a
        page shows this beside its Start button until its next full rerun."""
        run = self.active()
        if run is None:
            return None
        if run.owner == owner:
            return "Your run has not finished: stop it first."
        if run.progress.state == "paused":
            return (
                "The server trains one run at a time, and another visitor's run is paused: it stops by "
                f"itself after {PAUSE_TIMEOUT_S / 60:.0f} min paused."
            )
        return "The server trains one run at a time, and another visitor's run is going (see below)."

    def claim(self, config: TrainConfig, owner: str) -> BackgroundRun | None:
        with self._lock:
            previous = self.run
            if previous is not None and not previous.finished:
                return None
            if previous is not None:
                previous.join(timeout=10)  # a stopped run's model is still on its way
            self.run = BackgroundRun(config, owner, on_done=self._publish)
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
        """The run that is starting, training, paused or evaluating now, if any."""
        run = self.run
        return run if run is not None and not run.finished else None

    def abandoned(self) -> BackgroundRun | None:
        """The active run if it has been paused at least ``PAUSE_GRACE_S``: anyone may end it."""
        run = self.active()
        since = run.progress.paused_since if run is not None else None
        return run if since is not None and time.time() - since >= PAUSE_GRACE_S else None

    def end_abandoned(self, run_id: str) -> bool:
        """Stop the run ``run_id`` if it is ``abandoned``; True if it was."""
        run = self.abandoned()
        if run is None or run.run_id != run_id:
            return False
        minutes = (time.time() - (run.progress.paused_since or time.time())) / 60
        run.stop(f"by another visitor, after {minutes:.0f} min paused")
        return True

    def keep(self, run: BackgroundRun) -> TrainedModel | None:
        """Publish a stopped run's model to every session (a finished run's is already)."""
        if run.result is None:
            return None
        self._publish(run)
        return run.result

    def models(self) -> dict[str, TrainedModel]:
        """Published models, oldest first (a copy: safe to iterate while runs finish)."""
        with self._lock:
            return dict(self._models)

    def _publish(self, run: BackgroundRun) -> None:
        result = run.result
        if result is None or run.kept:
            return
        with self._lock:
            base, n = result.name, 2
            while result.name in self._models:
                result.name, n = f"{base}-{n}", n + 1
            self._models[result.name] = result
            run.kept = True
            while len(self._models) > self._keep:
                self._models.pop(next(iter(self._models)))


_server_slot = TrainingSlot()


def server_slot() -> TrainingSlot:
    """The process's slot: one per server, shared by every session."""
    return _server_slot
