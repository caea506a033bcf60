"""Shared fixtures: a tiny config that trains in seconds, and one briefly trained model."""

from __future__ import annotations

import pytest
import torch

from toymae.data import ShapeWorldConfig
from toymae.model import MAEConfig
from toymae.train import TrainConfig, Trainer

torch.set_num_threads(2)


def tiny_config(**overrides) -> TrainConfig:
    model = MAEConfig(
        image_size=16,
        patch_size=4,
        embed_dim=32,
        depth=2,
        num_heads=2,
        decoder_embed_dim=16,
        decoder_num_heads=2,
    )
    base = TrainConfig(
        model=model,
        data=ShapeWorldConfig(image_size=16),
        steps=60,
        batch_size=64,
        lr=3e-3,
        warmup_steps=10,
        eval_every=0,
        eval_size=128,
        precision="fp32",
    )
    from dataclasses import replace

    return replace(base, **overrides)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> tuple[Trainer, str]:
    """A small default-width model trained briefly (about 15 s), saved once for every test that needs one."""
    config = TrainConfig(steps=120, eval_every=0, eval_size=256, precision="fp32", warmup_steps=20)
    trainer = Trainer(config, device="cpu")
    path = tmp_path_factory.mktemp("ckpt") / "trained.safetensors"
    trainer.run(checkpoint_path=path)
    return trainer, str(path)
