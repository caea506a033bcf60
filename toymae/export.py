"""Export a toymae model as a Hugging Face transformers ``ViTMAEForPreTraining`` directory.

toymae's network is the reference MAE (facebookresearch/mae), and so is transformers' ViTMAE; the
weights map one to one. What had to be matched rather than renamed:

- patch embedding: ours is a ``Linear`` over patches flattened as (row, column, channel), theirs a
  patch-sized ``Conv2d`` whose kernel is (channel, row, column): the same numbers, permuted;
- attention: our fused ``qkv`` projection splits into their ``q_proj``, ``k_proj``, ``v_proj`` (both
  have biases: ``qkv_bias=True``);
- position embeddings: both are fixed 2-D sin-cos tables with a zero row for the cls token, but ViTMAE
  lays the halves out as (x, y) and ours as (y, x), so our tables are written into the checkpoint
  rather than recomputed (ours are buffers derived from the config; theirs are frozen parameters);
- layer norms: eps 1e-6 (ViTMAE's default is 1e-12); GELU: the exact one in both;
- the MLP width ``int(dim * mlp_ratio)`` for encoder and decoder; ``norm_pix_loss`` and
  ``mask_ratio`` as in our config (ViTMAE computes the target and the loss as we do).

One thing does not carry over: ViTMAE masks ``int(L * (1 - mask_ratio))`` visible patches per image,
chosen by ``noise``, so a drawn mask with another count (which ``MaskedAutoencoder`` accepts) cannot
be given to the exported model. The transformers package is imported only when exporting.
"""

from __future__ import annotations

from pathlib import Path

import torch

from toymae.checkpoint import Checkpoint, load_checkpoint
from toymae.config import MAEConfig
from toymae.files import WriteError, require_writable_dir
from toymae.model import MaskedAutoencoder, sincos_pos_embed_2d

LAYER_NORM_EPS = 1e-6  # toymae.model.Block and the final norms


class ExportError(ValueError):
    """The model cannot be written in the requested format; the message says why (one line)."""


def vitmae_config(config: MAEConfig) -> dict:
    """The ``ViTMAEConfig`` keyword arguments that describe a toymae model."""
    return {
        "image_size": config.image_size,
        "patch_size": config.patch_size,
        "num_channels": config.in_chans,
        "hidden_size": config.embed_dim,
        "num_hidden_layers": config.depth,
        "num_attention_heads": config.num_heads,
        "intermediate_size": int(config.embed_dim * config.mlp_ratio),
        "decoder_hidden_size": config.decoder_embed_dim,
        "decoder_num_hidden_layers": config.decoder_depth,
        "decoder_num_attention_heads": config.decoder_num_heads,
        "decoder_intermediate_size": int(config.decoder_embed_dim * config.mlp_ratio),
        "hidden_act": "gelu",
        "layer_norm_eps": LAYER_NORM_EPS,
        "qkv_bias": True,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "mask_ratio": config.mask_ratio,
        "norm_pix_loss": config.norm_pix_loss,
    }


def _block(ours: dict[str, torch.Tensor], src: str, dst: str) -> dict[str, torch.Tensor]:
    """One transformer block: toymae ``blocks.i`` -> ViTMAE ``layers.i``."""
    q, k, v = ours[f"{src}.attn.qkv.weight"].chunk(3, dim=0)  # rows: q, then k, then v (model.Attention)
    qb, kb, vb = ours[f"{src}.attn.qkv.bias"].chunk(3, dim=0)
    out = {
        f"{dst}.attention.q_proj.weight": q,
        f"{dst}.attention.q_proj.bias": qb,
        f"{dst}.attention.k_proj.weight": k,
        f"{dst}.attention.k_proj.bias": kb,
        f"{dst}.attention.v_proj.weight": v,
        f"{dst}.attention.v_proj.bias": vb,
    }
    for a, b in (
        ("attn.proj", "attention.o_proj"),
        ("norm1", "layernorm_before"),
        ("norm2", "layernorm_after"),
        ("fc1", "mlp.fc1"),
        ("fc2", "mlp.fc2"),
    ):
        for p in ("weight", "bias"):
            out[f"{dst}.{b}.{p}"] = ours[f"{src}.{a}.{p}"]
    return out


def vitmae_state_dict(model: MaskedAutoencoder) -> dict[str, torch.Tensor]:
    """``model``'s weights under ``ViTMAEForPreTraining``'s names and layouts (float32, CPU)."""
    c = model.config
    ours = {k: v.detach().to("cpu", torch.float32) for k, v in model.state_dict().items()}
    p = c.patch_size
    # Linear weight (D, p*p*C) over (row, col, channel) -> Conv2d weight (D, C, p, p).
    conv = ours["patch_embed.weight"].reshape(c.embed_dim, p, p, c.in_chans).permute(0, 3, 1, 2)
    zero_row = lambda dim: torch.zeros(1, dim)  # noqa: E731  (the cls token's position: none)
    out = {
        "vit.embeddings.cls_token": ours["cls_token"],
        "vit.embeddings.position_embeddings": torch.cat(
            [zero_row(c.embed_dim), sincos_pos_embed_2d(c.embed_dim, c.grid_size)]
        )[None],
        "vit.embeddings.patch_embeddings.projection.weight": conv,
        "vit.embeddings.patch_embeddings.projection.bias": ours["patch_embed.bias"],
        "vit.layernorm.weight": ours["norm.weight"],
        "vit.layernorm.bias": ours["norm.bias"],
        "decoder.mask_token": ours["mask_token"],
        "decoder.decoder_pos_embed": torch.cat(
            [zero_row(c.decoder_embed_dim), sincos_pos_embed_2d(c.decoder_embed_dim, c.grid_size)]
        )[None],
    }
    for name in ("decoder_embed", "decoder_norm", "decoder_pred"):
        for q in ("weight", "bias"):
            out[f"decoder.{name}.{q}"] = ours[f"{name}.{q}"]
    for i in range(c.depth):
        out |= _block(ours, f"blocks.{i}", f"vit.layers.{i}")
    for i in range(c.decoder_depth):
        out |= _block(ours, f"decoder_blocks.{i}", f"decoder.decoder_layers.{i}")
    return {k: v.contiguous() for k, v in out.items()}


def to_transformers(model: MaskedAutoencoder):
    """A ``transformers.ViTMAEForPreTraining`` (eval mode) with ``model``'s weights.

    Raises ``ExportError`` when transformers is missing or lays ViTMAE out under other names."""
    try:
        import transformers
        from transformers import ViTMAEConfig, ViTMAEForPreTraining
    except ImportError:
        raise ExportError("exporting to transformers needs it installed: pip install transformers") from None
    hf = ViTMAEForPreTraining(ViTMAEConfig(**vitmae_config(model.config)))
    weights = vitmae_state_dict(model)
    expected = {k: tuple(v.shape) for k, v in hf.state_dict().items()}
    given = {k: tuple(v.shape) for k, v in weights.items()}
    if expected != given:
        diff = sorted(set(expected.items()) ^ set(given.items()))
        raise ExportError(
            f"transformers {transformers.__version__} names or shapes ViTMAE's weights differently "
            f"({len(diff)} mismatches, first: {diff[0][0]}); this exporter maps onto transformers 5"
        )
    hf.load_state_dict(weights, strict=True)
    return hf.eval()


def export_transformers(checkpoint: str | Path | Checkpoint, out_dir: str | Path) -> Path:
    """Write ``checkpoint`` as a ViTMAEForPreTraining directory (config.json, model.safetensors).

    Load it with ``ViTMAEForPreTraining.from_pretrained(out_dir)``; inputs are ``pixel_values`` of
    shape (B, in_chans, image_size, image_size) in [0, 1], as toymae's, with no normalisation."""
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint, "cpu")
    out = require_writable_dir(out_dir)
    hf = to_transformers(ckpt.model.to("cpu"))
    try:
        hf.save_pretrained(out)
    except OSError as e:  # a full disk or a folder turned read-only: one line, as every other write
        raise WriteError(f"cannot write {out}: {e.strerror or e}") from None
    return out
