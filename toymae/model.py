"""A masked autoencoder (He et al., 2021) small enough to train on a laptop CPU.

Laid out as facebookresearch/mae ``models_mae.py``: position embedding, blocks, then the model's
``patchify``, ``random_masking``, encoder, ``forward_decoder``, ``forward_loss`` and ``forward``.
The config is ``toymae.config.MAEConfig``; features and display reconstructions are in
``toymae.inference``. Mask convention everywhere: 1 = hidden (removed), 0 = visible.

Beyond the reference, the encoder takes an *explicit* mask, which may hide a different number of
patches in each image (a mask drawn by a user), so it is named ``encode_visible`` rather than the
reference's ``forward_encoder(x, mask_ratio) -> (latent, mask, ids_restore)``. Visible tokens are
gathered to the front and padded to the longest row; padded keys are excluded from attention, so
each image's result equals running it alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from toymae.config import MAEConfig


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


def random_patch_mask(
    batch_size: int, num_patches: int, mask_ratio: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The reference's masking by argsort of uniform noise: (B, L) float, 1 = hidden, keeping
    int(L * (1 - mask_ratio)) patches of each image."""
    len_keep = int(num_patches * (1 - mask_ratio))
    noise = torch.rand(batch_size, num_patches, generator=generator)  # (B, L) on the generator's device
    ids_shuffle = torch.argsort(noise, dim=1)  # ascending: the first len_keep are kept
    mask = torch.ones(batch_size, num_patches)
    mask[:, :len_keep] = 0
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    return torch.gather(mask, 1, ids_restore)  # (B, L)


# Up to this many tokens (the project's models have at most 257) CPU attention is explicit matmuls;
# longer sequences use PyTorch's fused kernel, which never builds the (N, N) matrix.
EXPLICIT_ATTENTION_MAX_TOKENS = 512


# PyTorch's CPU softmax in bf16 is slow on rows shorter than one 32-lane bf16 vector: forward and
# backward take 11-12 ns per entry there against 4-5 ns through fp32 and back. Longer rows are mixed
# (33-63 keys: 0.8-1.5x) and the decoder's 65 twice as fast in bf16 (docs/speed.md). The encoder's
# rows are that short from mask ratio 0.6 up (26 keys or fewer of an 8 x 8 grid).
BF16_SOFTMAX_MIN_KEYS = 32


def softmax_through_fp32(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over the keys computed in fp32 and returned in the scores' precision."""
    return scores.float().softmax(dim=-1).to(scores.dtype)


def attention_weights(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over the keys, returned in the scores' precision.

    Under bf16 it stays bf16 where the keys fill a vector: the CPU kernel accumulates in fp32, so its
    output equals an fp32 softmax rounded to bf16 (all but ~1 in 10^5 entries) and its gradient errs
    1.5x bf16's rounding, at half the cost of casting to fp32 and back. Shorter rows take the fp32
    round trip, which is exactly that rounding and, there, 2-3x faster (docs/speed.md)."""
    if scores.dtype == torch.bfloat16 and scores.shape[-1] < BF16_SOFTMAX_MIN_KEYS:
        return softmax_through_fp32(scores)
    return scores.softmax(dim=-1)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, attendable: torch.Tensor | None = None) -> torch.Tensor:
        B, N, D = x.shape
        qkv = self.qkv(x).view(B, N, 3, self.num_heads, D // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, D/heads)
        # attendable: (B, 1, 1, N) boolean, True = a real token (cls or visible) that may be attended
        # to, False = padding. None: every key is real.
        if x.device.type == "cpu" and N <= EXPLICIT_ATTENTION_MAX_TOKENS:
            # At these sizes explicit matmuls beat CPU flash attention (~1.2x in fp32), and under bf16
            # autocast by far more: its bf16 backward is slow.
            attn = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)  # (B, heads, N, N)
            if attendable is not None:
                attn = attn.masked_fill(~attendable, float("-inf"))
            x = attention_weights(attn) @ v  # (B, heads, N, D/heads)
        else:
            x = F.scaled_dot_product_attention(q, k, v, attn_mask=attendable)
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

    def forward(self, x: torch.Tensor, attendable: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), attendable)
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
        """A random mask hiding L - int(L * (1 - mask_ratio)) patches per image: (B, L), 1 = hidden."""
        return random_patch_mask(batch_size, self.config.num_patches, mask_ratio, generator)

    def encode_visible(
        self, imgs: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Encode the visible patches of ``imgs`` under ``mask`` (B, L), 1 = hidden.

        Returns latent (B, 1 + K, D) with the cls token first and the visible tokens in patch order,
        ids_restore (B, L) mapping that order back to the grid, and attendable (B, 1, 1, 1 + K) or
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
        attendable = None
        if bool((n_visible != K).any()):
            positions = torch.arange(K + 1, device=x.device)  # cls is position 0, always valid
            attendable = (positions[None] <= n_visible[:, None]).view(B, 1, 1, K + 1)
        for blk in self.blocks:
            x = blk(x, attendable)
        return self.norm(x), ids_restore, attendable

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
        is_hidden = mask.unsqueeze(-1) > 0.5  # (B, L, 1)
        tokens = torch.where(is_hidden, self.mask_token.to(tokens.dtype), tokens)
        x = torch.cat([x[:, :1], tokens], dim=1) + F.pad(self.decoder_pos_embed, (0, 0, 1, 0))
        for blk in self.decoder_blocks:
            x = blk(x)
        x = self.decoder_pred(self.decoder_norm(x))  # (B, 1 + L, patch_dim)
        return x[:, 1:]  # (B, L, patch_dim), cls dropped

    def forward_loss(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error per patch, averaged over hidden patches only (0 if none is hidden)."""
        target = self.patchify(imgs)  # (B, L, patch_dim)
        if self.config.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6) ** 0.5
        per_patch = ((pred - target) ** 2).mean(dim=-1)  # (B, L)
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
        latent, ids_restore, _ = self.encode_visible(imgs, mask)
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
        mask_ratio = self.config.mask_ratio if mask_ratio is None else mask_ratio
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        return self.random_masking(batch_size, mask_ratio, generator).to(device)


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
