"""The feature protocols (one extractor, protocols as arguments) and the probes read from them."""

import numpy as np
import pytest
import torch

from toymae.config import PROTOCOLS, ShapeWorldConfig
from toymae.data import eval_set
from toymae.model import MAEConfig, build_model
from toymae.probe import extract_features, pca_projection, shape_probe_accuracy

CFG = MAEConfig(
    image_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=2, decoder_embed_dim=16, decoder_num_heads=2
)
DATA = ShapeWorldConfig(image_size=16)


@pytest.fixture(scope="module")
def model():
    return build_model(CFG, seed=0, device="cpu").eval()


@pytest.fixture(scope="module")
def images():
    return eval_set(40, DATA, 0, "probe-test").images


def test_every_protocol_from_one_call(model, images):
    feats = extract_features(model, images, PROTOCOLS)
    assert list(feats) == list(PROTOCOLS)
    assert all(f.shape == (40, CFG.embed_dim) and f.dtype == np.float64 for f in feats.values())
    # mean and cls share a pass; the visible protocols share their first mask
    np.testing.assert_array_equal(feats["mean"], extract_features(model, images)["mean"])
    np.testing.assert_array_equal(feats["visible"], extract_features(model, images, ("visible",))["visible"])
    for a, b in (("cls", "mean"), ("visible", "mean"), ("visible_avg", "visible")):
        assert not np.allclose(feats[a], feats[b], atol=1e-3), (a, b)
    with pytest.raises(ValueError, match="unknown protocols"):
        extract_features(model, images, ("mean", "max"))


def test_visible_features_at_ratio_zero_are_the_mean_features(model, images):
    visible = extract_features(model, images, ("visible",), mask_ratio=0.0)["visible"]
    np.testing.assert_allclose(visible, extract_features(model, images)["mean"], atol=1e-5)


def test_visible_features_depend_on_the_mask_seed_only(model, images):
    def visible(seed: int) -> np.ndarray:
        return extract_features(model, images, ("visible",), mask_ratio=0.75, mask_seed=seed)["visible"]

    np.testing.assert_array_equal(visible(1), visible(1))
    assert not np.allclose(visible(1), visible(2))


def test_features_of_an_image_do_not_depend_on_its_neighbours(model, images):
    # Not visible_avg: its later masks continue the generator past the whole set, so an image's
    # average depends on how many images came with it (fixed evaluation sets keep it reproducible).
    protocols = [p for p in PROTOCOLS if p != "visible_avg"]
    alone = extract_features(model, images[:1], protocols)
    together = extract_features(model, images[:20], protocols, batch_size=8)
    for p in protocols:
        np.testing.assert_allclose(alone[p][0], together[p][0], atol=1e-5, err_msg=p)


def test_probes_score_a_separable_and_an_uninformative_feature():
    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    informative = np.c_[y + 0.1 * rng.standard_normal(200), rng.standard_normal(200)]
    noise = rng.standard_normal((200, 2))
    assert shape_probe_accuracy(informative[:100], y[:100], informative[100:], y[100:]) == 1.0
    assert shape_probe_accuracy(noise[:100], y[:100], noise[100:], y[100:]) < 0.7


def test_feature_extraction_restores_training_mode(images):
    m = build_model(CFG, seed=0, device="cpu").train()
    with torch.enable_grad():
        extract_features(m, images[:4], PROTOCOLS)
    assert m.training


def test_pca_basis_matches_scikit_learn():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).standard_normal((300, 12)) @ np.diag(np.linspace(3, 0.5, 12))
    ours = pca_projection(x[100:], fit_on=x[:100])
    theirs = PCA(n_components=2, svd_solver="full").fit(x[:100]).transform(x[100:])
    np.testing.assert_allclose(ours, theirs, atol=1e-10)


def test_importing_the_probes_does_not_import_scikit_learn():
    import subprocess
    import sys

    code = "import sys, toymae.probe; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
