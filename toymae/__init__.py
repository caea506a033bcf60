"""toymae: a toy masked autoencoder on ShapeWorld, with probes, a CLI and a dashboard.

The names a notebook needs, at the top level::

    from toymae import Trainer, recipe, eval_set, probe_model, evaluate_hallucination

    trainer = Trainer(recipe("tiny"))  # seconds on a CPU; recipe("shipped") trains the shipped models
    trainer.run()
    data = trainer.config.data
    probe = probe_model(trainer.model, eval_set(512, data, split="probe-train"), eval_set(512, data))
    halluc = evaluate_hallucination(trainer.model, eval_set(256, data), mask_ratio=0.6)

They are resolved on first use (a module ``__getattr__``), so ``import toymae`` imports no torch and
``toymae --help`` answers at once. The map below names modules as strings, not imports: this file is
the package's front door and points into every layer, while the layers import it only for
``__version__`` (tests/test_structure.py checks the import graph).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    # configs and data
    "MAEConfig": "toymae.config",
    "TrainConfig": "toymae.config",
    "ShapeWorldConfig": "toymae.config",
    "recipe": "toymae.config",
    "dataset": "toymae.config",
    "ShapeBatch": "toymae.data",
    "sample": "toymae.data",  # sample(n, config, generator): ShapeWorld images with their factors
    "eval_set": "toymae.data",  # eval_set(n, config, seed, split): a fixed set, disjoint from training
    "make_generator": "toymae.data",
    # the model, training and checkpoints
    "MaskedAutoencoder": "toymae.model",
    "build_model": "toymae.model",
    "Trainer": "toymae.train",
    "load_checkpoint": "toymae.checkpoint",
    "save_checkpoint": "toymae.checkpoint",
    # using a model
    "reconstruct": "toymae.inference",
    "features": "toymae.inference",
    "probe_model": "toymae.probe",
    "evaluate_hallucination": "toymae.eval.hallucination",
    "export_transformers": "toymae.export",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'toymae' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
