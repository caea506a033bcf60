"""What defines a model and a pretraining run: ``MAEConfig``, ``TrainConfig`` and their bounds.

A leaf of the package (it imports only ``data``), so the model, the trainer and the checkpoint loader
all read configs without importing one another. The bounds are the loader's first defence: a
checkpoint's config is checked here before any tensor of the size it describes is allocated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from toymae.data import ShapeWorldConfig


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
        return asdict(self)


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
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                "invalid TrainConfig values: " + ", ".join(f"{k}={getattr(self, k)!r}" for k in bad)
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        model = MAEConfig(**d.pop("model", {}))
        data = dict(d.pop("data", {}))
        if data.get("size_range") is not None:
            data["size_range"] = tuple(data["size_range"])
        return cls(model=model, data=ShapeWorldConfig(**data), **d)
