"""Reconstructions for display and scoring: a trained model's output as pixel images.

Probe features are ``probe.extract_features``.

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
