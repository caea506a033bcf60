"""The Train page's logic without Streamlit: presets, the form's choices, a run's settings and status.

The first preset is the shipped models' recipe exactly (``config.recipe("shipped")``), so the page
can rebuild a shipped model; "Quick look" is the same model on a short schedule, which shows a
reconstruction taking shape within about a minute on a 2-core CPU.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from toymae.app.training_server import (
    MAX_KEPT,
    MAX_STEPS,
    PAUSE_TIMEOUT_S,
    BackgroundRun,
    Progress,
    TrainedModel,
)
from toymae.config import DATASETS, TrainConfig, dataset_name, recipe

# The shipped model's reconstruction takes shape between steps 200 and 300 (its loss falls from ~0.15
# to ~0.07): ~15 s of training on an idle 2-core CPU (~20 steps/s), two minutes on a busy one.
QUICK_STEPS = 300
PRESETS = ("Shipped recipe", "Quick look")  # any change on the form makes a custom run from one of these
_M, _S = recipe("shipped").model, recipe("shipped")
PRESET_HELP = {
    "Shipped recipe": f"the shipped models' recipe exactly: encoder {_M.depth} × {_M.embed_dim}, decoder "
    f"{_M.decoder_depth} × {_M.decoder_embed_dim}, {_S.steps:,} steps of {_S.batch_size} images, learning "
    f"rate {_S.lr:g} (tens of minutes on a 2-core CPU)",
    "Quick look": f"the shipped model for {QUICK_STEPS} steps: watch the reconstruction take shape within a "
    "minute on an idle 2-core CPU (far from converged)",
}
CHART_SECONDS = 5.0  # the loss chart's refresh; the status line and preview refresh every second
# The form's choices: each preset's values are among them.
CHOICES: dict[str, tuple] = {
    "mask_ratio": tuple(round(0.1 + 0.05 * i, 2) for i in range(17)),
    "decoder_depth": (1, 2, 3, 4),
    "depth": (1, 2, 3, 4, 5, 6),
    "embed_dim": (32, 64, 128, 192),
    "decoder_embed_dim": (16, 32, 64),
    "lr": (5e-4, 1e-3, 2e-3, 4e-3, 8e-3),
    "batch_size": (32, 64, 128),
    "data": tuple(DATASETS),
}
NUMBER_RANGES = {"steps": (1, MAX_STEPS), "seed": (0, 10_000)}  # the form's number fields, inclusive
LABELS = {
    "mask_ratio": "Mask ratio",
    "decoder_depth": "Decoder depth",
    "depth": "Encoder depth",
    "embed_dim": "Encoder width",
    "decoder_embed_dim": "Decoder width",
    "lr": "Learning rate",
    "batch_size": "Batch",
    "data": "Dataset",
    "steps": "Steps",
    "seed": "Seed",
}
START_HINT = "Pick a preset and press **Start training**: the page stays usable while it runs."
SERVER_RUN = (
    "The run belongs to the server: reload or share this page's link and it is still here. Paused for "
    f"{PAUSE_TIMEOUT_S / 60:.0f} min, it stops by itself."
)
MODELS_NOTE = (
    "Every session can pick these in the sidebar and download them here. They stay in memory until the "
    f"server restarts (the latest {MAX_KEPT}): download one to keep it."
)
MODEL_FIELDS = ("mask_ratio", "decoder_depth", "depth", "embed_dim", "decoder_embed_dim")


def preset_config(name: str, data: str = "default") -> TrainConfig:
    """The preset's full training config."""
    shipped = recipe("shipped", data)
    if name == "Quick look":
        # Same model and peak learning rate; a warm-up and schedule scaled to the short budget, and a
        # smaller final evaluation (batch 32 was measured no faster to a visible shape).
        return replace(shipped, steps=QUICK_STEPS, warmup_steps=20, eval_size=256)
    return shipped


def form_values(config: TrainConfig) -> dict:
    """The form's field values for ``config`` (keys as in ``LABELS``)."""
    m = config.model
    values = {k: getattr(m, k) for k in MODEL_FIELDS}
    return {
        **values,
        "lr": config.lr,
        "batch_size": config.batch_size,
        "steps": config.steps,
        "seed": config.seed,
        "data": dataset_name(config.data),
    }


def values_from_params(params: dict[str, str]) -> dict:
    """The form's values that a link sets (``?decoder_embed_dim=64&data=varied``): each one a choice the
    form offers (steps and seed: a number in range); anything else in the link is left out."""
    out = {}
    for k, text in params.items():
        if k in CHOICES:
            match = [c for c in CHOICES[k] if str(c) == text]
            if match:
                out[k] = match[0]
        elif k in NUMBER_RANGES and text.isdigit():
            lo, hi = NUMBER_RANGES[k]
            if lo <= int(text) <= hi:
                out[k] = int(text)
    return out


LINKED = "Settings from this link"


def linked_note(values: dict) -> str:
    """What a link set on the form, in words."""
    return (
        f"{LINKED}: "
        + ", ".join(
            f"{LABELS[k].lower()} {v:g}" if isinstance(v, float) else f"{LABELS[k].lower()} {v}"
            for k, v in values.items()
        )
        + " (the rest is the preset's)."
    )


def config_from_form(preset: str, values: dict) -> TrainConfig:
    """The preset's config with the form's values on top; ValueError says what is wrong, in words."""
    steps = int(values["steps"])
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be 1 to {MAX_STEPS:,} here (the CLI has no cap)")
    base = preset_config(preset, values["data"])
    model = replace(base.model, **{k: values[k] for k in MODEL_FIELDS})  # the model checks itself
    return replace(
        base,
        model=model,
        steps=steps,
        lr=float(values["lr"]),
        batch_size=int(values["batch_size"]),
        seed=int(values["seed"]),
    )


def checked_config(preset: str, values: dict) -> tuple[TrainConfig | None, str | None]:
    """(config, None), or (None, why the form's values make no run)."""
    try:
        return config_from_form(preset, values), None
    except ValueError as e:
        return None, str(e)


def matching_preset(config: TrainConfig) -> str:
    """Which preset ``config`` is exactly, or "Custom"."""
    data = form_values(config)["data"]
    return next((p for p in PRESETS if preset_config(p, data) == config), "Custom")


def settings_markdown(config: TrainConfig) -> str:
    """A run's settings, for the page (what the run uses, not what the form shows)."""
    m = config.model
    return (
        f"**{matching_preset(config)}** · encoder {m.depth} × {m.embed_dim}, decoder {m.decoder_depth} × "
        f"{m.decoder_embed_dim} · mask ratio {m.mask_ratio:g} · {config.steps:,} steps of "
        f"{config.batch_size} images · lr {config.lr:g} (warm-up {config.warmup_steps}, cosine) · seed "
        f"{config.seed} · data {form_values(config)['data']} · {m.image_size} px, patch {m.patch_size}"
    )


def duration(seconds: float) -> str:
    """``seconds`` in words: "45 s", "3 min 05 s", "1 h 02 min"."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def status_line(p: Progress, batch_size: int) -> str:
    """One line: state, step, speed, time left (or why it stopped)."""
    speed = f"{p.images_per_s:.0f} img/s" if p.images_per_s else "measuring speed"
    if p.state == "stopped":
        return f"stopped at step {p.step:,} of {p.total:,} ({p.stop_reason}) · {speed}"
    if p.state == "done":
        return f"done · {p.step:,} steps · {speed}"
    if p.state == "failed":
        return f"failed at step {p.step:,}"
    if p.state == "evaluating":
        return f"all {p.total:,} steps trained · evaluating the model (held-out loss, shape probe)"
    if p.state == "paused":
        return (
            f"paused at step {p.step:,} of {p.total:,} · a paused run holds the server's only training "
            f"slot, so it stops by itself in {duration(p.pause_left() or 0)}"
        )
    eta = p.eta_seconds(batch_size)
    left = f" · about {duration(eta)} left" if eta is not None else ""
    return f"{p.state} · step {p.step:,} of {p.total:,} · {speed}{left}"


def loss_points(steps: list[int], losses: list[float], max_points: int = 400) -> dict[str, list]:
    """The loss curve in at most ``max_points`` points (means over equal runs of steps)."""
    if len(steps) <= max_points:
        return {"step": list(steps), "loss": list(losses)}
    k = -(-len(steps) // max_points)
    n = len(steps) // k * k
    s = np.asarray(steps[:n], dtype=float).reshape(-1, k)[:, -1]
    v = np.asarray(losses[:n], dtype=float).reshape(-1, k).mean(axis=1)
    return {"step": [*s.astype(int).tolist(), *steps[n:]], "loss": [*v.tolist(), *losses[n:]]}


def throttled_loss_points(run: BackgroundRun, cache: dict, every: float = CHART_SECONDS) -> dict[str, list]:
    """``loss_points`` of ``run``, recomputed at most once every ``every`` seconds (and when it ends);
    ``cache`` is the caller's (a session's) dict. The page polls once a second for the status line and
    preview; an unchanged chart costs the browser nothing to redraw, a changed one ~65 ms of CPU,
    measured here, which the browser takes from the training beside it on a small machine."""
    now = time.monotonic()
    if cache.get("run") != run.run_id or now - cache.get("at", -math.inf) >= every or run.finished:
        cache.update(run=run.run_id, at=now, points=loss_points(*run.loss_history()))
    return cache["points"]


def loss_chart_spec(total_steps: int, height: int = 260) -> dict:
    """A Vega-Lite line chart of training loss (log scale) over the run's whole step range.

    Vega-Lite rather than plotly: the page redraws it every second during a run, and a spec plus a
    few hundred points costs the server ~1 ms where a plotly figure costs ~50 ms of the training's CPU.
    """
    return {
        "height": height,
        "mark": {"type": "line", "clip": True},
        "encoding": {
            "x": {"field": "step", "type": "quantitative", "scale": {"domain": [0, total_steps]}},
            "y": {"field": "loss", "type": "quantitative", "scale": {"type": "log"}, "title": "train loss"},
        },
    }


def others_run(p: Progress, config: TrainConfig) -> str:
    """Another visitor's run, for a page that may not control it."""
    return f"Another visitor's run: {status_line(p, config.batch_size)}. {settings_markdown(config)}"


def preview_caption(p: Progress) -> str:
    """What the preview shows, and the latest evaluation when there is one."""
    text = (
        f"Step {p.preview_step:,}: original · masked (the same mask each time) · reconstruction · "
        "reconstruction + visible"
    )
    if p.evals:
        e = p.evals[-1]
        text += (
            f". At step {e['step']:,}: held-out loss {e['held_out_loss']:.4f} · shape probe "
            f"{e['probe_acc']:.3f} · PCA-2 {e['pca2_acc']:.3f}"
        )
    return text


def model_label(name: str, model: TrainedModel) -> str:
    """A published model in the page's list: a kept stopped run says so."""
    stopped = (
        f" (stopped at step {model.steps:,} of {model.total:,}, kept)" if model.steps < model.total else ""
    )
    return f"{name} · {model.steps:,} steps{stopped}"
