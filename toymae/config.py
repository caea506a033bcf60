"""What defines a model and a pretraining run: the data, ``MAEConfig``, ``TrainConfig``, their bounds,
and the named recipes (``tiny``, ``default``, ``shipped``).

A leaf of the package that imports no torch: the model, the trainer and the checkpoint loader read
configs without importing one another, and the CLI builds every ``--help`` from here in milliseconds.
The bounds are the loader's first defence: a checkpoint's config is checked here before any tensor of
the size it describes is allocated.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import asdict, dataclass, field, replace

SHAPE_NAMES = ("circle", "square")  # the two classes, by label (data.CIRCLE = 0, data.SQUARE = 1)
# How an encoder's output becomes a probe's feature vector (probe.extract_features says how each is read).
PROTOCOLS = ("mean", "cls", "visible", "visible_avg")


@dataclass(frozen=True)
class ShapeWorldConfig:
    """How images are drawn. Defaults match the blog's figure (an object about half the image wide)."""

    image_size: int = 32
    size: float = 0.5  # object size as a fraction of the image side (used when size_range is None)
    size_range: tuple[float, float] | None = None  # sample the size uniformly in this range instead
    rotate: bool = False  # rotate squares by a random angle (circles are rotation-invariant)
    overflow: float = 0.1  # fraction of the object that may cross the border on each side

    def __post_init__(self) -> None:
        if not 8 <= self.image_size <= 256:
            raise ValueError(f"image_size must be in [8, 256], got {self.image_size}")
        lo, hi = self.size_range if self.size_range is not None else (self.size, self.size)
        if not 0.05 <= lo <= hi <= 1.0:
            raise ValueError(f"object size must satisfy 0.05 <= size <= 1, got {lo}..{hi}")
        if not 0.0 <= self.overflow <= 0.5:
            raise ValueError(f"overflow must be in [0, 0.5], got {self.overflow}")


# Named datasets. On "default" (the blog's: one size, axis-aligned squares) a square covers 4/pi times
# the pixels of a circle, so even a random encoder separates them by area; "varied" draws sizes from a
# range and rotates squares, so area and orientation are no shortcut and a probe must see the shape.
DATASETS: dict[str, ShapeWorldConfig] = {
    "default": ShapeWorldConfig(),
    "varied": ShapeWorldConfig(size_range=(0.25, 0.6), rotate=True),
}


def dataset(name: str, image_size: int = 32) -> ShapeWorldConfig:
    """The named dataset at ``image_size`` pixels."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return replace(DATASETS[name], image_size=image_size)


def dataset_name(config: ShapeWorldConfig) -> str:
    """The preset a config is (whatever its image size), or "custom"."""
    for name, preset in DATASETS.items():
        if replace(preset, image_size=config.image_size) == config:
            return name
    return "custom"


@dataclass(frozen=True)
class MAEConfig:
    """The model's shape and its pretraining task (He et al., 2021, at ShapeWorld's scale)."""

    image_size: int = 32  # ShapeWorld renders 32 px: enough for a circle to look unlike a square
    patch_size: int = 4  # an 8 x 8 grid: shapes span several patches, so hiding some leaves a puzzle
    in_chans: int = 1  # greyscale images
    embed_dim: int = 128  # the encoder's width: its features are what the probes read
    depth: int = 4
    num_heads: int = 4
    # The decoder is deliberately weaker than the encoder (the paper's asymmetric design): a strong
    # decoder learns to reconstruct by itself and leaves the encoder's features poorer.
    decoder_embed_dim: int = 64
    decoder_depth: int = 1
    decoder_num_heads: int = 4
    mlp_ratio: float = 4.0
    mask_ratio: float = 0.6  # the blog's best ratio on ShapeWorld (the paper's 0.75 is for ImageNet)
    norm_pix_loss: bool = False  # per-patch normalised target, as in the paper's best setting

    def __post_init__(self) -> None:
        problems = config_problems(self)
        if problems:
            raise ValueError("invalid MAEConfig: " + "; ".join(problems))

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2

    @property
    def patch_dim(self) -> int:
        return self.patch_size**2 * self.in_chans

    def to_dict(self) -> dict:
        d = asdict(self)
        if not d["train_pool"]:  # the default stays out: recorded configs and job keys keep their form
            del d["train_pool"]
        return d


# Sane bounds: wide enough for any experiment here, tight enough that a hostile checkpoint cannot
# make us allocate gigabytes before its tensors are checked.
_INT_BOUNDS = {
    "image_size": (8, 256),
    "patch_size": (1, 64),
    "in_chans": (1, 4),
    "embed_dim": (8, 1024),
    "depth": (1, 24),
    "num_heads": (1, 32),
    "decoder_embed_dim": (8, 1024),
    "decoder_depth": (1, 24),
    "decoder_num_heads": (1, 32),
}


def visible_patches(num_patches: int, mask_ratio: float) -> int:
    """Patches left visible at ``mask_ratio``: ``int(L * (1 - ratio))``, as the reference's masking keeps."""
    return int(num_patches * (1 - mask_ratio))


def mask_ratio_problem(mask_ratio: float, num_patches: int) -> str | None:
    """Why ``mask_ratio`` cannot run on a grid of ``num_patches`` (None when it can): the encoder needs
    at least one visible patch (with none, its mean-pooled features are 0 / 0)."""
    if not 0.0 <= mask_ratio < 1.0:
        return f"must be in [0, 1), got {mask_ratio!r}"
    if visible_patches(num_patches, mask_ratio) < 1:
        return (
            f"{mask_ratio:g} leaves 0 of {num_patches} patches visible; the encoder needs at least one"
            f" (at most {num_patches - 1} of {num_patches} may be hidden)"
        )
    return None


def config_problems(c: MAEConfig) -> list[str]:
    """Everything wrong with a config, in words (empty when it is valid)."""
    out = []
    for name, (lo, hi) in _INT_BOUNDS.items():
        v = getattr(c, name)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            out.append(f"{name} must be an integer in [{lo}, {hi}], got {v!r}")
    if out:
        return out
    if c.image_size % c.patch_size:
        out.append(f"image_size {c.image_size} is not divisible by patch_size {c.patch_size}")
    elif not 2 <= c.grid_size <= 32:
        out.append(f"the patch grid must be 2..32 patches wide, got {c.grid_size}")
    for dim, heads, which in (
        (c.embed_dim, c.num_heads, "embed_dim"),
        (c.decoder_embed_dim, c.decoder_num_heads, "decoder_embed_dim"),
    ):
        if dim % heads or (dim // heads) % 2:
            out.append(f"{which} {dim} must split into {heads} heads of even width")
    if c.embed_dim % 4 or c.decoder_embed_dim % 4:
        out.append("embedding widths must be multiples of 4 (2-D sin-cos position embedding)")
    if not isinstance(c.mlp_ratio, (int, float)) or not 0.5 <= c.mlp_ratio <= 8:
        out.append(f"mlp_ratio must be in [0.5, 8], got {c.mlp_ratio!r}")
    if not isinstance(c.mask_ratio, (int, float)) or not 0.0 <= c.mask_ratio < 1.0:
        out.append(f"mask_ratio must be in [0, 1), got {c.mask_ratio!r}")
    elif not out and (why := mask_ratio_problem(c.mask_ratio, c.num_patches)):
        out.append(f"mask_ratio {why}")
    if not isinstance(c.norm_pix_loss, bool):
        out.append(f"norm_pix_loss must be true or false, got {c.norm_pix_loss!r}")
    return out


PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a pretraining run."""

    model: MAEConfig = field(default_factory=MAEConfig)
    data: ShapeWorldConfig = field(default_factory=ShapeWorldConfig)
    steps: int = 1000
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 50
    seed: int = 0  # initialisation and the training data stream
    threads: int | None = None  # torch intra-op threads; None = leave torch's default
    eval_every: int = 250  # steps between evaluations (0 = only at the end)
    eval_size: int = 512  # images per probe split and for the held-out loss
    # "auto": bf16 autocast where the hardware multiplies bf16 natively (CUDA, or a CPU with AMX or
    # AVX512-BF16), fp32 elsewhere. The resolved choice is recorded in the run's summary.
    precision: str = "auto"
    # 0: every batch is fresh images from the stream (no image seen twice). N: a fixed pool of N images,
    # drawn once, that batches are sampled from (an epoch-style dataset; the finite-pool hypothesis).
    train_pool: int = 0

    def __post_init__(self) -> None:
        if self.model.image_size != self.data.image_size:
            raise ValueError(
                f"model.image_size {self.model.image_size} != data.image_size {self.data.image_size}"
            )
        checks = {
            "steps": 1 <= self.steps <= 1_000_000,
            "batch_size": 1 <= self.batch_size <= 8192,
            "lr": 0 < self.lr <= 1,
            "weight_decay": 0 <= self.weight_decay <= 10,
            "warmup_steps": self.warmup_steps >= 0,
            "eval_every": self.eval_every >= 0,
            "eval_size": 16 <= self.eval_size <= 100_000,
            "threads": self.threads is None or 1 <= self.threads <= 256,
            "precision": self.precision in PRECISIONS,
            "train_pool": 0 <= self.train_pool <= 1_000_000,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                "invalid TrainConfig values: " + ", ".join(f"{k}={getattr(self, k)!r}" for k in bad)
            )

    def to_dict(self) -> dict:
        d = asdict(self)
        if not d["train_pool"]:  # the default stays out: recorded configs and job keys keep their form
            del d["train_pool"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        model = MAEConfig(**d.pop("model", {}))
        data = dict(d.pop("data", {}))
        if data.get("size_range") is not None:
            data["size_range"] = tuple(data["size_range"])
        return cls(model=model, data=ShapeWorldConfig(**data), **d)


# ------------------------------------------------------------------ named recipes
RECIPES: dict[str, TrainConfig] = {
    # Trains in seconds on a laptop CPU (16 px, widths 32/16, 40 steps): for tests, smoke runs and
    # `reproduce --quick`. Its numbers mean nothing; that every path runs end to end does.
    "tiny": TrainConfig(
        model=MAEConfig(
            image_size=16,
            patch_size=4,
            embed_dim=32,
            depth=2,
            num_heads=2,
            decoder_embed_dim=16,
            decoder_num_heads=2,
        ),
        data=ShapeWorldConfig(image_size=16),
        steps=40,
        batch_size=64,
        warmup_steps=5,
        eval_every=0,
        eval_size=64,
    ),
    # The dataclasses' defaults (widths 128/64, 1,000 steps of 128): what `train` runs without flags.
    # It probes every 250 steps, so a run shows how its representation is coming along.
    "default": TrainConfig(),
    # The shipped models (checkpoints/, `reproduce`): narrower than the default, with smaller batches,
    # because at equal CPU time that reaches a lower held-out loss (docs/search/README.md). 3,200 steps
    # by bench/convergence.py's rule (docs/convergence/): at 800 steps every model hallucinated at
    # about every hidden corner (rate ~0.5); at 3,200 the ratio-0.6 models do so rarely (0.03-0.07).
    # No evaluations during training: the sweep evaluates each model once, on larger sets.
    "shipped": TrainConfig(
        model=MAEConfig(embed_dim=64, decoder_embed_dim=32),
        batch_size=64,
        lr=4e-3,
        steps=3200,
        eval_every=0,
    ),
}


def recipe(name: str, data: str = "default") -> TrainConfig:
    """The named recipe (``RECIPES``) on the named dataset, drawn at the recipe's image size."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    base = RECIPES[name]
    return replace(base, data=dataset(data, base.data.image_size))


def with_changes(config: TrainConfig, **changes: object) -> TrainConfig:
    """``config`` with fields changed by name, wherever they live (field names are unique across the
    three dataclasses; ``image_size`` changes the model's and the data's together). ``ValueError``
    names an unknown field or a value out of bounds."""
    parts: dict[type, dict] = {MAEConfig: {}, ShapeWorldConfig: {}, TrainConfig: {}}
    for name, value in changes.items():
        owners = [cls for cls in parts if name in {f.name for f in dataclasses.fields(cls)}]
        if not owners:
            raise ValueError(f"no config has a field {name!r}")
        for cls in owners:
            parts[cls][name] = tuple(value) if isinstance(value, list) else value
    try:
        model = replace(config.model, **parts[MAEConfig])
        data = replace(config.data, **parts[ShapeWorldConfig])
        return replace(config, **{**parts[TrainConfig], "model": model, "data": data})
    except TypeError as e:  # a wrongly typed value meets a range check
        raise ValueError(str(e)) from None


# ------------------------------------------------------------------ what a model can run
@dataclass(frozen=True)
class ModelCost:
    """What one image costs a model, counted from its config alone (nothing is allocated)."""

    parameters: int
    patches: int
    gflop: float  # one forward pass with every patch visible (the probes' and features' path)


def model_cost(c: MAEConfig) -> ModelCost:
    """Multiply-adds x 2 of the encoder and decoder on all ``L + 1`` tokens, and the parameter count."""
    n, hidden = c.num_patches + 1, int(c.embed_dim * c.mlp_ratio)
    dec_hidden = int(c.decoder_embed_dim * c.mlp_ratio)

    def blocks(depth: int, d: int, h: int) -> tuple[int, int]:
        params = 4 * d * d + 2 * d * h + 9 * d + h  # qkv + proj + mlp weights, biases, two norms
        flops = 2 * n * (4 * d * d + 2 * d * h) + 4 * n * n * d  # projections, mlp, attention
        return depth * params, depth * flops

    ep, ef = blocks(c.depth, c.embed_dim, hidden)
    dp, df = blocks(c.decoder_depth, c.decoder_embed_dim, dec_hidden)
    d, dd, pd = c.embed_dim, c.decoder_embed_dim, c.patch_dim
    params = ep + dp + (pd + 4) * d + (d + 4) * dd + (dd + 1) * pd  # + embeddings, tokens, norms, head
    flops = ef + df + 2 * c.num_patches * pd * d + 2 * n * d * dd + 2 * c.num_patches * dd * pd
    return ModelCost(params, c.num_patches, flops / 1e9)


@dataclass(frozen=True)
class Budget:
    """The largest model a front end offers or runs; ``where`` and ``hint`` complete its refusal."""

    where: str
    max_gflop: float
    max_parameters: int
    max_patches: int
    hint: str = ""


# The command line runs what a user asked for on their own machine: generous, but a probe of a model at
# the limit (2 x 2,000 images) still ends in minutes on a 2-core laptop rather than hours.
CLI_BUDGET = Budget("the command line", 20.0, 50_000_000, 1024, "; --allow-large runs it anyway")
# The dashboard shares one server between every visitor: about twice the largest model its Train page
# makes (encoder 6 x 192, decoder 4 x 64 on 64 patches: ~0.4 GFLOP, ~2.9 M parameters), and 16 x 16 patches.
DASHBOARD_BUDGET = Budget("the dashboard", 1.0, 6_000_000, 256)


def budget_problem(c: MAEConfig, budget: Budget) -> str | None:
    """Why ``budget`` refuses the model (one sentence), or None when it fits."""
    cost = model_cost(c)
    if cost.gflop > budget.max_gflop:
        need = f"~{cost.gflop:.3g} GFLOP per image; {budget.where} allows {budget.max_gflop:g}"
    elif cost.parameters > budget.max_parameters:
        need = f"~{cost.parameters:,} parameters; {budget.where} allows {budget.max_parameters:,}"
    elif cost.patches > budget.max_patches:
        need = f"{cost.patches:,} patches per image; {budget.where} allows {budget.max_patches:,}"
    else:
        return None
    return f"this model needs {need}{budget.hint}"


# ------------------------------------------------------------------ configs read from JSON
def _short(value: object, limit: int = 60) -> str:
    """A value from a file, as JSON, cut short: messages quote the offending value, never a megabyte."""
    try:
        text = json.dumps(value, ensure_ascii=True, allow_nan=True)
    except (TypeError, ValueError):
        text = "something that is not JSON"
    return text if len(text) <= limit else text[: limit - 1] + "…"


_WORDS = {
    int: "an integer",
    float: "a finite number",
    bool: "true or false",
    str: "a string",
    type(None): "null",
}


def _describe(tp: object) -> str:
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        return f"a list of {len(typing.get_args(tp))} numbers"
    return _WORDS.get(tp, "an object")


def _matches(value: object, tp: object) -> bool:
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        return any(_matches(value, a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        return isinstance(value, list) and len(value) == len(args) and all(map(_matches, value, args))
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return tp in (bool, str, type(None)) and type(value) is tp


def config_type_problems(value: object, cls: type = TrainConfig, where: str = "") -> list[str]:
    """What in a JSON config has the wrong type or name for ``cls`` (a config dataclass), in words.

    The dataclasses check ranges, not types: a string where an integer belongs would otherwise
    surface as Python's own comparison error.
    """
    if not isinstance(value, dict):
        return [f"{where.rstrip('.') or 'the config'} must be a JSON object, got {_short(value)}"]
    hints = typing.get_type_hints(cls)
    out = []
    for key, v in value.items():
        if key not in hints:
            out.append(f"unknown field {_short(where + key)}")
        elif dataclasses.is_dataclass(hints[key]):
            out += config_type_problems(v, hints[key], f"{where}{key}.")
        elif not _matches(v, hints[key]):
            out.append(f"{where}{key} must be {_describe(hints[key])}, got {_short(v)}")
    return out


def train_config_from_json(value: object) -> TrainConfig:
    """A ``TrainConfig`` from parsed JSON, types first, then ranges; ``ValueError`` says what is wrong."""
    problems = config_type_problems(value)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ValueError("; ".join(problems[:3]) + more)
    try:
        return TrainConfig.from_dict(value)  # type: ignore[arg-type]
    except TypeError as e:  # cannot happen after the type check; kept as words, never a traceback
        raise ValueError(str(e)) from None
