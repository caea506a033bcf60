"""Pretraining loop: AdamW, linear warmup + cosine decay, periodic evaluation, safe interruption.

``Trainer`` owns the model, optimiser and the data generator, so a run can be checkpointed and
resumed exactly (weights, optimiser moments, step and data-stream state are all saved).
A ``callback`` sees every step and every evaluation; it returns ``False`` to stop the run early
(the dashboard's stop button) and may block to pause it.

Stopping is exact wherever it lands: in the main thread, ``run`` turns SIGINT and SIGTERM (any number
of them) into a request that the loop honours between steps, so the step in flight finishes, the
state is written atomically, and only then ``TrainingInterrupted`` is raised. A step that fails by an
exception before it reaches the weights puts the data and mask streams back, so a saved state is
always one a resume continues bit for bit.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from toymae.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from toymae.config import TrainConfig
from toymae.data import ShapeBatch, eval_set, make_generator, sample
from toymae.model import MaskedAutoencoder, build_model, default_device
from toymae.probe import probe_model


def cpu_bf16_matmul() -> str | None:
    """The CPU's native bf16 matrix instructions ("amx_bf16" or "avx512_bf16"), or None."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return None
    return next((flag for flag in ("amx_bf16", "avx512_bf16") if flag in flags), None)


def resolve_precision(precision: str, device: torch.device) -> str:
    """Pick fp32 or bf16 for ``auto``: bf16 where the hardware multiplies bf16 natively (CUDA, or a
    CPU with AMX or AVX512-BF16). On CPUs, bf16 training steps were measured faster on an Intel Xeon
    with AMX and on an AMD EPYC with AVX512-BF16 (docs/speed.md)."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_bf16_matmul() else "fp32"


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warmup to ``lr`` then cosine decay to zero at ``steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@dataclass
class StepInfo:
    step: int  # steps completed so far
    total_steps: int
    loss: float
    lr: float
    images_per_s: float
    eval: dict | None = None  # set on evaluation steps: held_out_loss, probe_acc, pca2_acc


@dataclass
class EvalSet:
    """Fixed held-out images for the loss and the probe (train/test splits, disjoint from training)."""

    probe_train: ShapeBatch
    probe_test: ShapeBatch
    mask_generator_seed: int = 12345  # held-out loss uses the same masks at every evaluation


def make_eval_sets(config: TrainConfig) -> EvalSet:
    return EvalSet(
        probe_train=eval_set(config.eval_size, config.data, 0, "probe-train"),
        probe_test=eval_set(config.eval_size, config.data, 0, "probe-test"),
    )


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a run between two steps, after its state was written (when asked to)."""

    def __init__(self, signum: int, step: int) -> None:
        super().__init__(f"{signal.Signals(signum).name} at step {step}")
        self.signum, self.step = signum, step


class _DeferredStop:
    """In the main thread: SIGINT / SIGTERM set ``signum`` instead of raising (previous handlers are put
    back on exit). Elsewhere signals never arrive (Python delivers them to the main thread only)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        self.signum = signum

    def __enter__(self) -> _DeferredStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():  # None: a handler installed outside Python
            signal.signal(s, signal.SIG_DFL if handler is None else handler)  # type: ignore[arg-type]


class Trainer:
    """Holds a run's full state; ``run`` trains until ``config.steps`` or until stopped."""

    def __init__(self, config: TrainConfig, device: str | torch.device | None = None) -> None:
        self.config = config
        self.device = torch.device(device) if device is not None else default_device()
        self.model: MaskedAutoencoder = build_model(config.model, config.seed, self.device)
        self.optimizer = torch.optim.AdamW(
            self._param_groups(),
            lr=config.lr,
            betas=(0.9, 0.95),
            weight_decay=config.weight_decay,
            # One kernel for all parameter tensors instead of a Python loop over them: 0.4 ms a step
            # instead of 2.1 on one CPU thread (docs/speed.md); same update up to rounding order.
            fused=self.device.type in ("cpu", "cuda"),
        )
        self.data_generator = make_generator(config.seed, "train")
        self.mask_generator = make_generator(config.seed, "mask")
        self.pool = (  # a finite training set, drawn once from its own stream
            sample(config.train_pool, config.data, make_generator(config.seed, "pool"), device=self.device)
            if config.train_pool
            else None
        )
        self.precision = resolve_precision(config.precision, self.device)
        self.step = 0
        self.history: list[dict] = []  # one row per evaluation
        self.last_loss: float | None = None  # None until a step ran (JSON has no NaN)
        self._eval_sets: EvalSet | None = None

    def _param_groups(self) -> list[dict]:
        # As in the MAE reference: no weight decay on biases, norms and tokens.
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            (no_decay if p.ndim < 2 or name.endswith("_token") else decay).append(p)
        return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]

    @property
    def eval_sets(self) -> EvalSet:
        if self._eval_sets is None:
            self._eval_sets = make_eval_sets(self.config)
        return self._eval_sets

    def train_step(self) -> float:
        c = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.step, c)
        streams = self.data_generator.get_state(), self.mask_generator.get_state()
        try:
            if self.pool is None:
                images = sample(c.batch_size, c.data, self.data_generator, device=self.device).images
            else:
                pick = torch.randint(len(self.pool), (c.batch_size,), generator=self.data_generator)
                images = self.pool.images[pick.to(self.device)]
            self.model.train()
            with torch.autocast(self.device.type, torch.bfloat16, enabled=self.precision == "bf16"):
                out = self.model(images, generator=self.mask_generator)
            self.optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
        except BaseException:  # nothing reached the weights yet: the step can be redone exactly
            self.data_generator.set_state(streams[0])
            self.mask_generator.set_state(streams[1])
            raise
        self.optimizer.step()
        self.step += 1
        self.last_loss = out.loss.item()
        return self.last_loss

    def evaluate(self) -> dict:
        """Held-out reconstruction loss (fixed masks) and shape-probe accuracies."""
        t0 = time.perf_counter()
        sets = self.eval_sets
        self.model.eval()
        gen = torch.Generator().manual_seed(sets.mask_generator_seed)
        with torch.no_grad():
            losses = []
            imgs = sets.probe_test.images
            for i in range(0, len(imgs), 256):
                chunk = imgs[i : i + 256].to(self.device)
                losses.append(float(self.model(chunk, generator=gen).loss) * len(chunk))
        report = probe_model(self.model, sets.probe_train, sets.probe_test, regressions=False)
        row = {
            "step": self.step,
            "held_out_loss": sum(losses) / len(imgs),
            "probe_acc": report.probe_acc,
            "pca2_acc": report.pca2_acc,
            "seconds": time.perf_counter() - t0,  # evaluation is not training time
        }
        self.history.append(row)
        return row

    def run(
        self,
        callback: Callable[[StepInfo], bool | None] | None = None,
        progress: bool = False,
        checkpoint_path: str | Path | None = None,
        final_eval: bool = True,
    ) -> dict:
        """Train to ``config.steps``. Returns the summary. On SIGINT / SIGTERM (see the module's
        docstring) or an error mid-run the state is written to ``checkpoint_path`` (when given) before
        ``TrainingInterrupted`` or the error propagates. ``final_eval=False`` skips the evaluation after
        the last step (a caller that runs its own)."""
        with _DeferredStop() as stop:
            summary = self._run(stop, callback, progress, checkpoint_path, final_eval)
        if stop.signum is not None and self.step < self.config.steps:  # a finished run is no interruption
            raise TrainingInterrupted(stop.signum, self.step)
        return summary

    def _run(self, stop, callback, progress, checkpoint_path, final_eval) -> dict:
        c = self.config
        if c.threads is not None:
            torch.set_num_threads(c.threads)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=c.steps, initial=self.step, unit="step", dynamic_ncols=True)
        stopped = False
        try:
            tick, tick_step = time.perf_counter(), self.step
            while self.step < c.steps and stop.signum is None:
                loss = self.train_step()
                now = time.perf_counter()
                speed = (self.step - tick_step) * c.batch_size / max(now - tick, 1e-9)
                info = StepInfo(self.step, c.steps, loss, lr_at(self.step - 1, c), speed)
                last = self.step == c.steps
                due = last or (c.eval_every and self.step % c.eval_every == 0)
                if due and (final_eval or not last):
                    info.eval = self.evaluate()
                    tick, tick_step = (
                        time.perf_counter(),
                        self.step,
                    )  # evaluation is not training time
                if bar is not None:
                    postfix = {"loss": f"{loss:.4f}", "img/s": f"{speed:.0f}"}
                    if info.eval:
                        postfix["probe"] = f"{info.eval['probe_acc']:.3f}"
                    bar.set_postfix(postfix, refresh=False)
                    bar.update(1)
                if callback is not None and callback(info) is False:
                    stopped = True
                    break
        finally:
            if bar is not None:
                bar.close()
            if checkpoint_path is not None:
                self.save(checkpoint_path)  # signals meanwhile are only recorded: the write completes
        summary = self.summary()
        summary["stopped_early"] = stopped
        return summary

    def summary(self) -> dict:
        from toymae import __version__

        last = self.history[-1] if self.history else {}
        return {
            "steps": self.step,
            "seed": self.config.seed,
            "precision": self.precision,
            "final_loss": self.last_loss,
            "held_out_loss": last.get("held_out_loss"),
            "probe_acc": last.get("probe_acc"),
            "pca2_acc": last.get("pca2_acc"),
            "history": self.history,
            "toymae_version": __version__,
        }

    def save(self, path: str | Path, include_optimizer: bool = True) -> Path:
        extra = self.resume_state() if include_optimizer else None
        return save_checkpoint(path, self.model, self.config, self.summary(), extra)

    def resume_state(self) -> dict[str, torch.Tensor]:
        """Optimiser moments, step counter and generator states as plain tensors (safetensors)."""
        tensors: dict[str, torch.Tensor] = {}
        names = {id(p): n for n, p in self.model.named_parameters()}
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                state = self.optimizer.state.get(p)
                if state:
                    tensors[f"optim.exp_avg.{names[id(p)]}"] = state["exp_avg"]
                    tensors[f"optim.exp_avg_sq.{names[id(p)]}"] = state["exp_avg_sq"]
        tensors["train.step"] = torch.tensor([self.step], dtype=torch.int64)
        tensors["train.data_rng"] = self.data_generator.get_state()
        tensors["train.mask_rng"] = self.mask_generator.get_state()
        return tensors

    def load_resume_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore ``resume_state``'s tensors (shapes and ranges already checked by the loader);
        a state that is incomplete or that torch refuses raises ``CheckpointError``."""
        if missing := {"train.step", "train.data_rng", "train.mask_rng"} - set(tensors):
            raise CheckpointError(f"the training state lacks {', '.join(sorted(missing))}")
        names = [n for n, _ in self.model.named_parameters()]
        moments = [(f"optim.exp_avg.{n}" in tensors, f"optim.exp_avg_sq.{n}" in tensors) for n in names]
        if len(set(moments)) > 1:
            raise CheckpointError("the optimiser state covers some parameters or moments but not all")
        self.step = int(tensors["train.step"][0])
        try:
            self.data_generator.set_state(tensors["train.data_rng"].to(torch.uint8))
            self.mask_generator.set_state(tensors["train.mask_rng"].to(torch.uint8))
        except RuntimeError:  # torch checks the generator state's own invariants
            raise CheckpointError("the training state's random generator states are corrupt") from None
        for name, p in self.model.named_parameters():
            if f"optim.exp_avg.{name}" in tensors:
                self.optimizer.state[p] = {
                    "step": torch.tensor(float(self.step)),
                    "exp_avg": tensors[f"optim.exp_avg.{name}"].to(p.device, p.dtype),
                    "exp_avg_sq": tensors[f"optim.exp_avg_sq.{name}"].to(p.device, p.dtype),
                }

    @classmethod
    def resume(
        cls,
        path: str | Path,
        device: str | torch.device | None = None,
        steps: int | None = None,
    ) -> Trainer:
        """Continue a run from a checkpoint written by ``save`` (optionally to a new step budget)."""
        ckpt = load_checkpoint(path, device="cpu", budget=None)  # training is the user's explicit choice
        if "train.step" not in ckpt.extra:
            raise CheckpointError(f"{path} holds no training state (was it saved without the optimiser?)")
        config = ckpt.train_config if steps is None else replace(ckpt.train_config, steps=steps)
        trainer = cls(config, device)
        trainer.model.load_state_dict(ckpt.model.state_dict())
        try:
            trainer.load_resume_state(ckpt.extra)
        except CheckpointError as e:
            raise CheckpointError(f"{path}: {e}") from None
        trainer.history = list(ckpt.summary.get("history", []))
        trainer.last_loss = ckpt.summary.get("final_loss")
        return trainer
