"""A masked autoencoder (He et al., 2021) small enough to train on a laptop CPU.

Naming follows facebookresearch/mae ``models_mae.py`` so a reader of the paper's code feels at home:
``patchify``, ``unpatchify``, ``random_masking``, ``forward_encoder``, ``forward_decoder``,
``forward_loss``. Mask convention everywhere: 1 = hidden (removed), 0 = visible.

Beyond the reference, the encoder accepts *explicit* masks with a different number of hidden patches
per image (a mask drawn by a user). Visible tokens are gathered to the front and padded to the longest
row; padded keys are excluded from attention, so each image's result equals running it alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class MAEConfig:
    image_size: int = 32
    patch_size: int = 4
    in_chans: int = 1
    embed_dim: int = 128
    depth: int = 4
    num_heads: int = 4
    decoder_embed_dim: int = 64
    decoder_depth: int = 1
    decoder_num_heads: int = 4
    mlp_ratio: float = 4.0
    mask_ratio: float = 0.6
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


def sincos_pos_embed_2d(dim: int, grid_size: int) -> torch.Tensor:
    """Fixed 2-D sin-cos position embedding, (grid_size**2, dim): half the channels encode y, half x."""
    pos = torch.arange(grid_size, dtype=torch.float64)
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4))

    def embed_1d(p: torch.Tensor) -> torch.Tensor:
        out = p[:, None] * omega[None]  # (L, dim/4)
        return torch.cat([out.sin(), out.cos()], dim=1)  # (L, dim/2)

    gy, gx = torch.meshgrid(pos, pos, indexing="ij")
    emb = torch.cat([embed_1d(gy.flatten()), embed_1d(gx.flatten())], dim=1)  # (L, dim)
    return emb.float()


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, N, D = x.shape
        qkv = self.qkv(x).view(B, N, 3, self.num_heads, D // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, D/heads)
        # key_mask: (B, 1, 1, N) boolean, True = may be attended to. None: every key is real.
        if q.dtype == torch.bfloat16 and q.device.type == "cpu":
            # Under bf16 autocast the linears gain (AMX), but CPU flash attention's bf16 backward is
            # ~10x slower than fp32 at these sizes: attend in fp32.
            with torch.autocast("cpu", enabled=False):
                x = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=key_mask).to(
                    q.dtype
                )
        else:
            x = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        return self.proj(x.transpose(1, 2).reshape(B, N, D))


class Block(nn.Module):
    """Pre-norm transformer block (ViT)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), key_mask)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


@dataclass
class MAEOutput:
    loss: torch.Tensor  # () mean squared error over hidden patches
    pred: torch.Tensor  # (B, L, patch_dim) predicted patches, for every patch
    mask: torch.Tensor  # (B, L) float, 1 = hidden


class MaskedAutoencoder(nn.Module):
    """ViT encoder over visible patches + a weaker ViT decoder with a learned mask token."""

    def __init__(
        self,
        config: MAEConfig,
        generator: torch.Generator | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        c = self.config = config
        # Modules are built on the meta device (no memory, no global-RNG draws), then materialised
        # and initialised from ``generator`` alone: the same seed gives the same weights in any thread.
        with torch.device("meta"):
            self._build(c)
        self.to_empty(device=device)
        # Fixed position embeddings are derived from the config, so they are not saved.
        self.register_buffer(
            "pos_embed",
            sincos_pos_embed_2d(c.embed_dim, c.grid_size)[None].to(device),
            persistent=False,
        )
        self.register_buffer(
            "decoder_pos_embed",
            sincos_pos_embed_2d(c.decoder_embed_dim, c.grid_size)[None].to(device),
            persistent=False,
        )
        self.initialize_weights(generator)

    def _build(self, c: MAEConfig) -> None:
        # --- encoder ---
        self.patch_embed = nn.Linear(c.patch_dim, c.embed_dim)  # a patch-sized conv is this matmul
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
        self.blocks = nn.ModuleList(Block(c.embed_dim, c.num_heads, c.mlp_ratio) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.embed_dim, eps=1e-6)
        # --- decoder ---
        self.decoder_embed = nn.Linear(c.embed_dim, c.decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c.decoder_embed_dim))
        self.decoder_blocks = nn.ModuleList(
            Block(c.decoder_embed_dim, c.decoder_num_heads, c.mlp_ratio) for _ in range(c.decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(c.decoder_embed_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(c.decoder_embed_dim, c.patch_dim)

    @torch.no_grad()
    def initialize_weights(self, generator: torch.Generator | None = None) -> None:
        """As the reference: xavier-uniform linears, zero biases, unit LayerNorms, N(0, 0.02) tokens."""
        if self.cls_token.is_meta:
            return  # shapes only (checkpoint validation): nothing to fill
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                fan_out, fan_in = m.weight.shape
                bound = math.sqrt(6.0 / (fan_in + fan_out))
                w = torch.rand(m.weight.shape, generator=generator) * 2 * bound - bound
                m.weight.copy_(w)
                m.bias.zero_()
            elif isinstance(m, nn.LayerNorm):
                m.weight.fill_(1.0)
                m.bias.zero_()
        for token in (self.cls_token, self.mask_token):
            token.copy_(torch.randn(token.shape, generator=generator) * 0.02)

    # ---------------------------------------------------------------- patches
    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, L, p*p*C)"""
        p, g, C = self.config.patch_size, self.config.grid_size, self.config.in_chans
        x = imgs.reshape(imgs.shape[0], C, g, p, g, p)
        return torch.einsum("nchpwq->nhwpqc", x).reshape(imgs.shape[0], g * g, p * p * C)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, p*p*C) -> (B, C, H, W)"""
        p, g, C = self.config.patch_size, self.config.grid_size, self.config.in_chans
        x = x.reshape(x.shape[0], g, g, p, p, C)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(x.shape[0], C, g * p, g * p)

    # ---------------------------------------------------------------- masking
    def random_masking(
        self,
        batch_size: int,
        mask_ratio: float,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """A random mask hiding round(L * mask_ratio) patches per image, by argsort of noise: (B, L)."""
        L = self.config.num_patches
        len_keep = int(L * (1 - mask_ratio))
        noise = torch.rand(batch_size, L, generator=generator)  # (B, L) on the generator's device
        ids_shuffle = torch.argsort(noise, dim=1)  # ascending: the first len_keep are kept
        mask = torch.ones(batch_size, L)
        mask[:, :len_keep] = 0
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        return torch.gather(mask, 1, ids_restore)  # (B, L), 1 = hidden

    def forward_encoder(
        self, imgs: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Encode the visible patches of ``imgs`` under ``mask`` (B, L), 1 = hidden.

        Returns latent (B, 1 + K, D) with the cls token first and the visible tokens in patch order,
        ids_restore (B, L) mapping that order back to the grid, and key_mask (B, 1, 1, 1 + K) or
        None when every image shows the same number K of patches (no padding).
        """
        x = self.patch_embed(self.patchify(imgs)) + self.pos_embed  # (B, L, D)
        B, _, D = x.shape
        # Stable sort puts visible (0) patches first, each group in patch order.
        ids_shuffle = torch.argsort(mask, dim=1, stable=True)  # (B, L)
        ids_restore = torch.argsort(ids_shuffle, dim=1)  # (B, L)
        n_visible = (mask < 0.5).sum(dim=1)  # (B,)
        K = int(n_visible.max())
        ids_keep = ids_shuffle[:, :K]  # (B, K); rows with fewer visible carry padding at the end
        x = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(B, K, D))  # (B, K, D)
        x = torch.cat([self.cls_token.expand(B, -1, -1), x], dim=1)  # (B, 1 + K, D)
        key_mask = None
        if bool((n_visible != K).any()):
            positions = torch.arange(K + 1, device=x.device)  # cls is position 0, always valid
            key_mask = (positions[None] <= n_visible[:, None]).view(B, 1, 1, K + 1)
        for blk in self.blocks:
            x = blk(x, key_mask)
        return self.norm(x), ids_restore, key_mask

    def forward_decoder(
        self, latent: torch.Tensor, ids_restore: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Predict every patch from the latent (B, 1 + K, D): returns (B, L, patch_dim)."""
        x = self.decoder_embed(latent)  # (B, 1 + K, Dd)
        B, L = ids_restore.shape
        Dd = x.shape[-1]
        K = x.shape[1] - 1
        # Fill: visible tokens, then mask tokens up to L, unshuffle to grid order. Padded slots of
        # rows with fewer than K visible patches are overwritten by mask tokens below.
        tokens = torch.cat([x[:, 1:], self.mask_token.expand(B, L - K, Dd)], dim=1)  # (B, L, Dd)
        tokens = torch.gather(tokens, 1, ids_restore.unsqueeze(-1).expand(B, L, Dd))
        hidden = mask.unsqueeze(-1) > 0.5  # (B, L, 1)
        tokens = torch.where(hidden, self.mask_token.to(tokens.dtype), tokens)
        x = torch.cat([x[:, :1], tokens], dim=1) + F.pad(self.decoder_pos_embed, (0, 0, 1, 0))
        for blk in self.decoder_blocks:
            x = blk(x)
        x = self.decoder_pred(self.decoder_norm(x))  # (B, 1 + L, patch_dim)
        return x[:, 1:]  # (B, L, patch_dim), cls dropped

    def loss_target(self, imgs: torch.Tensor) -> torch.Tensor:
        target = self.patchify(imgs)  # (B, L, patch_dim)
        if self.config.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6) ** 0.5
        return target

    def forward_loss(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error per patch, averaged over hidden patches only (0 if none is hidden)."""
        per_patch = ((pred - self.loss_target(imgs)) ** 2).mean(dim=-1)  # (B, L)
        return (per_patch * mask).sum() / mask.sum().clamp(min=1)

    def forward(
        self,
        imgs: torch.Tensor,
        mask_ratio: float | None = None,
        mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> MAEOutput:
        """Mask (randomly at ``mask_ratio``, default the config's, or by an explicit ``mask``), encode,
        decode and score. ``mask`` is (B, L) or (B, grid, grid), bool or 0/1, 1 = hidden."""
        mask = self.resolve_mask(imgs.shape[0], mask_ratio, mask, generator)
        latent, ids_restore, _ = self.forward_encoder(imgs, mask)
        pred = self.forward_decoder(latent, ids_restore, mask)
        return MAEOutput(self.forward_loss(imgs, pred, mask), pred, mask)

    def resolve_mask(
        self,
        batch_size: int,
        mask_ratio: float | None,
        mask: torch.Tensor | None,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        device = self.cls_token.device
        if mask is not None:
            mask = torch.as_tensor(mask).reshape(mask.shape[0], -1).float()
            if mask.shape != (batch_size, self.config.num_patches):
                raise ValueError(
                    f"mask must be ({batch_size}, {self.config.num_patches}), got {tuple(mask.shape)}"
                )
            return mask.to(device)
        ratio = self.config.mask_ratio if mask_ratio is None else mask_ratio
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {ratio}")
        return self.random_masking(batch_size, ratio, generator).to(device)

    # ---------------------------------------------------------------- uses
    @torch.no_grad()
    def features(
        self,
        imgs: torch.Tensor,
        batch_size: int = 256,
        pool: str = "mean",
        mask_ratio: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Probe features: the encoder on the full image, mean-pooled over patch tokens: (B, D).

        ``pool="cls"`` takes the cls token instead, ``pool="tokens"`` keeps every token (B, 1 + K, D);
        ``mask_ratio > 0`` hides random patches first (masks from ``generator``) and pools the
        visible ones, as the encoder sees images in pretraining."""
        if pool not in ("mean", "cls", "tokens"):
            raise ValueError(f"pool must be 'mean', 'cls' or 'tokens', got {pool!r}")
        out = []
        device = self.cls_token.device
        for i in range(0, imgs.shape[0], batch_size):
            chunk = imgs[i : i + batch_size].to(device)
            if mask_ratio > 0:
                mask = self.random_masking(chunk.shape[0], mask_ratio, generator).to(device)  # (b, L)
            else:
                mask = torch.zeros(chunk.shape[0], self.config.num_patches, device=device)
            latent, _, _ = self.forward_encoder(chunk, mask)  # same count visible per row: no padding
            pooled = {"cls": latent[:, 0], "mean": latent[:, 1:].mean(dim=1), "tokens": latent}[pool]
            out.append(pooled.float().cpu())
        if not out:
            return torch.zeros(0, self.config.embed_dim)
        return torch.cat(out)

    @torch.no_grad()
    def reconstruct(
        self,
        imgs: torch.Tensor,
        mask_ratio: float | None = None,
        mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Reconstruction:
        """Pixel images for display and scoring (see ``Reconstruction``)."""
        imgs = imgs.to(self.cls_token.device)
        out = self.forward(imgs, mask_ratio, mask, generator)
        pred = out.pred
        if self.config.norm_pix_loss:
            # Undo the per-patch normalisation with the true patch statistics (as the MAE demo does).
            target = self.patchify(imgs)
            mean = target.mean(dim=-1, keepdim=True)
            std = (target.var(dim=-1, keepdim=True) + 1e-6) ** 0.5
            pred = pred * std + mean
        p_mask = out.mask.unsqueeze(-1).expand_as(pred)  # (B, L, patch_dim)
        recon = self.unpatchify(pred)
        pixel_mask = self.unpatchify(p_mask)  # (B, C, H, W), 1 = hidden pixel
        pasted = imgs * (1 - pixel_mask) + recon * pixel_mask
        per_patch_error = ((pred - self.patchify(imgs)) ** 2).mean(dim=-1)  # (B, L)
        return Reconstruction(
            images=imgs.cpu(),
            mask=out.mask.cpu(),
            pixel_mask=pixel_mask.cpu(),
            reconstruction=recon.cpu(),
            pasted=pasted.cpu(),
            patch_error=per_patch_error.cpu(),
            loss=float(out.loss),
        )


@dataclass
class Reconstruction:
    images: torch.Tensor  # (B, C, H, W) the input
    mask: torch.Tensor  # (B, L) 1 = hidden patch
    pixel_mask: torch.Tensor  # (B, C, H, W) 1 = hidden pixel
    reconstruction: torch.Tensor  # (B, C, H, W) the decoder's prediction for every patch
    pasted: torch.Tensor  # (B, C, H, W) prediction on hidden patches, input on visible ones
    patch_error: torch.Tensor  # (B, L) per-patch MSE of the prediction against the input
    loss: float  # MSE over hidden patches (the training loss)


def build_model(
    config: MAEConfig, seed: int = 0, device: str | torch.device | None = None
) -> MaskedAutoencoder:
    """A freshly initialised model whose weights depend only on ``seed`` (not the global RNG)."""
    model = MaskedAutoencoder(config, torch.Generator().manual_seed(seed))
    return model.to(device or default_device())


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def training_flops_per_image(config: MAEConfig, mask_ratio: float | None = None) -> float:
    """Analytic FLOPs of one training step per image (forward + backward = 3x forward).

    Counts matmuls (2 FLOPs per multiply-add) in the linears and attention; norms and activations
    are negligible at these widths. Used by the throughput benchmark to report model FLOP utilisation.
    """
    c = config
    ratio = c.mask_ratio if mask_ratio is None else mask_ratio
    L = c.num_patches
    n_enc = 1 + int(L * (1 - ratio))
    n_dec = 1 + L

    def blocks(n: int, d: int, depth: int) -> float:
        hidden = int(d * c.mlp_ratio)
        linear = 2 * n * (3 * d * d + d * d + 2 * d * hidden)
        attention = 2 * 2 * n * n * d  # q @ k^T and attn @ v
        return depth * (linear + attention)

    forward = (
        2 * L * c.patch_dim * c.embed_dim
        + blocks(n_enc, c.embed_dim, c.depth)
        + 2 * n_enc * c.embed_dim * c.decoder_embed_dim
        + blocks(n_dec, c.decoder_embed_dim, c.decoder_depth)
        + 2 * n_dec * c.decoder_embed_dim * c.patch_dim
    )
    return 3.0 * forward


def parameter_shapes(config: MAEConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every saved tensor, computed without allocating weights (meta device)."""
    model = MaskedAutoencoder(config, device="meta")
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}
