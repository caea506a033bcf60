"""Shared fixtures: a tiny config that trains in seconds, and one briefly trained model."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from toymae.config import RECIPES, TrainConfig
from toymae.train import Trainer

torch.set_num_threads(2)


def tiny_config(**overrides) -> TrainConfig:
    """The ``tiny`` recipe with a short, fp32 budget: trains in about a second."""
    base = replace(RECIPES["tiny"], steps=60, lr=3e-3, warmup_steps=10, eval_size=128, precision="fp32")
    return replace(base, **overrides)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> tuple[Trainer, str]:
    """A small default-width model trained briefly (about 15 s), saved once for every test that needs one."""
    config = TrainConfig(steps=120, eval_every=0, eval_size=256, precision="fp32", warmup_steps=20)
    trainer = Trainer(config, device="cpu")
    path = tmp_path_factory.mktemp("ckpt") / "trained.safetensors"
    trainer.run(checkpoint_path=path)
    return trainer, str(path)
