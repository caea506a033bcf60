"""Uses of a trained model beyond its training loss: probe features and display reconstructions.

Functions rather than methods, so ``model.py`` stays the network itself (as in ``models_mae.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from toymae.model import MaskedAutoencoder


@dataclass
class Reconstruction:
    images: torch.Tensor  # (B, C, H, W) the input
    mask: torch.Tensor  # (B, L) 1 = hidden patch
    pixel_mask: torch.Tensor  # (B, C, H, W) 1 = hidden pixel
    reconstruction: torch.Tensor  # (B, C, H, W) the decoder's prediction for every patch
    pasted: torch.Tensor  # (B, C, H, W) prediction on hidden patches, input on visible ones
    patch_error: torch.Tensor  # (B, L) per-patch MSE of the prediction against the input
    loss: float  # MSE over hidden patches (the training loss)


@torch.no_grad()
def features(
    model: MaskedAutoencoder,
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
    device = model.cls_token.device
    for i in range(0, imgs.shape[0], batch_size):
        chunk = imgs[i : i + batch_size].to(device)
        if mask_ratio > 0:
            mask = model.random_masking(chunk.shape[0], mask_ratio, generator).to(device)  # (b, L)
        else:
            mask = torch.zeros(chunk.shape[0], model.config.num_patches, device=device)
        latent, _, _ = model.encode_visible(chunk, mask)  # same count visible per row: no padding
        pooled = {"cls": latent[:, 0], "mean": latent[:, 1:].mean(dim=1), "tokens": latent}[pool]
        out.append(pooled.float().cpu())
    if not out:
        return torch.zeros(0, model.config.embed_dim)
    return torch.cat(out)


@torch.no_grad()
def reconstruct(
    model: MaskedAutoencoder,
    imgs: torch.Tensor,
    mask_ratio: float | None = None,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Reconstruction:
    """Pixel images for display and scoring (see ``Reconstruction``); masks as ``model.forward``."""
    imgs = imgs.to(model.cls_token.device)
    out = model(imgs, mask_ratio, mask, generator)
    pred = out.pred
    if model.config.norm_pix_loss:
        # Undo the per-patch normalisation with the true patch statistics (as the MAE demo does).
        target = model.patchify(imgs)
        mean = target.mean(dim=-1, keepdim=True)
        std = (target.var(dim=-1, keepdim=True) + 1e-6) ** 0.5
        pred = pred * std + mean
    p_mask = out.mask.unsqueeze(-1).expand_as(pred)  # (B, L, patch_dim)
    recon = model.unpatchify(pred)
    pixel_mask = model.unpatchify(p_mask)  # (B, C, H, W), 1 = hidden pixel
    pasted = imgs * (1 - pixel_mask) + recon * pixel_mask
    per_patch_error = ((pred - model.patchify(imgs)) ** 2).mean(dim=-1)  # (B, L)
    return Reconstruction(
        images=imgs.cpu(),
        mask=out.mask.cpu(),
        pixel_mask=pixel_mask.cpu(),
        reconstruction=recon.cpu(),
        pasted=pasted.cpu(),
        patch_error=per_patch_error.cpu(),
        loss=float(out.loss),
    )
