"""Export to transformers: ViTMAEForPreTraining predicts what toymae predicts under the same mask."""

from __future__ import annotations

import errno
import json

import pytest
import torch

from toymae.checkpoint import load_checkpoint, save_checkpoint
from toymae.cli import main
from toymae.config import MAEConfig, TrainConfig
from toymae.data import ShapeWorldConfig
from toymae.export import ExportError, to_transformers, vitmae_state_dict
from toymae.model import build_model, random_patch_mask

transformers = pytest.importorskip("transformers")


def perturbed_model(config: MAEConfig, seed: int = 1):
    """A model whose every weight is off its initial value (zero biases and unit norms would hide a
    swapped or dropped bias or norm), in eval mode."""
    model = build_model(config, seed=seed, device="cpu")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model.eval()


def same_mask_outputs(model, hf, n: int = 6, seed: int = 0):
    """Both models on the same images and the same mask: toymae takes the mask, ViTMAE the noise
    whose argsort keeps exactly the visible patches (its count is fixed by mask_ratio, as ours)."""
    c = model.config
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, c.in_chans, c.image_size, c.image_size, generator=g)
    mask = random_patch_mask(n, c.num_patches, c.mask_ratio, g)
    noise = mask + 0.5 * torch.rand(mask.shape, generator=g)  # visible in [0, .5), hidden in [1, 1.5)
    with torch.no_grad():
        ours = model(images, mask=mask)
        theirs = hf(pixel_values=images, noise=noise)
    return ours, theirs


@pytest.mark.parametrize(
    "config",
    [
        MAEConfig(),
        # three channels and a non-integer MLP ratio: the conv kernel's (channel, row, col) permutation
        # and the MLP widths; norm_pix_loss: the loss's target
        MAEConfig(in_chans=3, decoder_depth=2, mlp_ratio=2.5, norm_pix_loss=True),
        MAEConfig(image_size=16, patch_size=2, mask_ratio=0.75, embed_dim=64, num_heads=8),
    ],
    ids=["default", "rgb-normpix", "small-patches"],
)
def test_predictions_match_under_the_same_mask(config):
    model = perturbed_model(config)
    ours, theirs = same_mask_outputs(model, to_transformers(model))
    assert torch.equal(ours.mask, theirs.mask)
    assert ours.pred.abs().max() > 0.5  # predictions of a size where a wrong weight would show
    torch.testing.assert_close(theirs.logits, ours.pred, atol=1e-5, rtol=0)
    torch.testing.assert_close(theirs.loss, ours.loss, atol=1e-5, rtol=0)


def test_a_wrong_mapping_would_be_caught():
    """The comparison above is sharp: swapping the q and k projections changes the predictions."""
    model = perturbed_model(MAEConfig())
    hf = to_transformers(model)
    attn = hf.vit.layers[0].attention
    with torch.no_grad():
        q = attn.q_proj.weight.clone()
        attn.q_proj.weight.copy_(attn.k_proj.weight)
        attn.k_proj.weight.copy_(q)
    ours, theirs = same_mask_outputs(model, hf)
    assert (theirs.logits - ours.pred).abs().max() > 1e-3


def test_the_cli_writes_a_directory_transformers_loads(tmp_path, capsys):
    config = TrainConfig(model=MAEConfig(decoder_depth=2), data=ShapeWorldConfig())
    model = perturbed_model(config.model, seed=3)
    ckpt_path = save_checkpoint(tmp_path / "m.safetensors", model, config)
    out = tmp_path / "hf"
    assert main(["export", str(ckpt_path), "--to", "transformers", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["model_type"] == "vit_mae"
    loaded = transformers.ViTMAEForPreTraining.from_pretrained(out).eval()
    # from_pretrained keeps our position tables (it would otherwise fill in its own, laid out (x, y))
    expected = vitmae_state_dict(load_checkpoint(ckpt_path).model)
    for name in ("vit.embeddings.position_embeddings", "decoder.decoder_pos_embed"):
        torch.testing.assert_close(loaded.state_dict()[name], expected[name], atol=0, rtol=0)
    ours, theirs = same_mask_outputs(load_checkpoint(ckpt_path).model, loaded)
    torch.testing.assert_close(theirs.logits, ours.pred, atol=1e-5, rtol=0)


def test_export_refuses_an_output_that_is_a_file_in_one_line(tmp_path, capsys):
    config = TrainConfig(model=MAEConfig(), data=ShapeWorldConfig())
    ckpt_path = save_checkpoint(tmp_path / "m.safetensors", perturbed_model(config.model), config)
    blocker = tmp_path / "taken"
    blocker.write_text("")
    assert main(["export", str(ckpt_path), "--to", "transformers", str(blocker)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "taken" in err and "is a file" in err


def test_export_reports_a_full_disk_in_one_line(tmp_path, monkeypatch, capsys):
    config = TrainConfig(model=MAEConfig(), data=ShapeWorldConfig())
    ckpt_path = save_checkpoint(tmp_path / "m.safetensors", perturbed_model(config.model), config)

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(transformers.ViTMAEForPreTraining, "save_pretrained", full)
    out = tmp_path / "hf"
    assert main(["export", str(ckpt_path), "--to", "transformers", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"toymae export: error: cannot write {out}: No space left on device", err


def test_a_transformers_with_other_weight_names_is_refused(monkeypatch):
    """An exporter that silently loaded half the weights would be worse than none."""
    from toymae import export

    real = export.vitmae_state_dict
    monkeypatch.setattr(export, "vitmae_state_dict", lambda m: {k + "_x": v for k, v in real(m).items()})
    with pytest.raises(ExportError, match="names or shapes ViTMAE's weights differently"):
        export.to_transformers(perturbed_model(MAEConfig()))
