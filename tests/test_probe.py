"""The probe protocols: ours (mean-pooled, unmasked image) and the sensitivity-only variants."""

import numpy as np
import pytest
import torch

from toymae.data import ShapeWorldConfig, eval_set
from toymae.model import MAEConfig, build_model
from toymae.probe import (
    cls_features,
    extract_features,
    masked_features,
    pca_projection,
    shape_probe_accuracy,
    unstandardised_accuracy,
)

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


def test_masked_features_at_ratio_zero_are_the_protocol_features(model, images):
    full = extract_features(model, images)
    assert masked_features(model, images, 0.0).shape == full.shape == (40, CFG.embed_dim)
    np.testing.assert_allclose(masked_features(model, images, 0.0), full, atol=1e-5)


def test_masked_features_depend_on_the_mask_seed_only(model, images):
    a = masked_features(model, images, 0.75, seed=1)
    np.testing.assert_array_equal(a, masked_features(model, images, 0.75, seed=1))
    assert not np.allclose(a, masked_features(model, images, 0.75, seed=2))
    assert not np.allclose(a, extract_features(model, images))


def test_cls_features_are_the_cls_token_not_the_mean(model, images):
    cls = cls_features(model, images)
    assert cls.shape == (40, CFG.embed_dim)
    assert not np.allclose(cls, extract_features(model, images))


def test_probes_score_a_separable_and_an_uninformative_feature():
    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    informative = np.c_[y + 0.1 * rng.standard_normal(200), rng.standard_normal(200)]
    noise = rng.standard_normal((200, 2))
    for probe in (shape_probe_accuracy, unstandardised_accuracy):
        assert probe(informative[:100], y[:100], informative[100:], y[100:]) == 1.0
        assert probe(noise[:100], y[:100], noise[100:], y[100:]) < 0.7


@pytest.mark.parametrize(
    "extract",
    [extract_features, cls_features, lambda m, x: masked_features(m, x, 0.5)],
    ids=["mean-pool", "cls", "masked"],
)
def test_feature_extraction_restores_training_mode(extract, images):
    m = build_model(CFG, seed=0, device="cpu").train()
    with torch.enable_grad():
        feats = extract(m, images[:4])
    assert m.training
    assert isinstance(feats, np.ndarray) and feats.dtype == np.float64


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


def test_a_report_is_read_back_from_a_reproduction_summary_only_when_it_holds_one():
    from toymae.probe import ProbeReport

    summary = {
        "probe_acc": 0.98,
        "pca2_acc": 0.51,
        "r2_x": 0.99,
        "probe_protocol": {"n_train": 2000, "n_test": 4000},
    }
    r = ProbeReport.from_summary(summary)
    assert (r.probe_acc, r.pca2_acc, r.n_train, r.n_test, r.r2_x, r.r2_y) == (
        0.98,
        0.51,
        2000,
        4000,
        0.99,
        None,
    )
    assert ProbeReport.from_summary({"probe_acc": 0.98}) is None  # a plain training summary: no protocol
