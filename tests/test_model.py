import pytest
import torch

from toymae.checkpoint import parameter_shapes
from toymae.config import MAEConfig, config_problems
from toymae.inference import reconstruct
from toymae.model import build_model, sincos_pos_embed_2d
from toymae.probe import extract_features

CFG = MAEConfig(
    image_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=2, decoder_embed_dim=16, decoder_num_heads=2
)


@pytest.fixture(scope="module")
def model():
    return build_model(CFG, seed=0, device="cpu").eval()


def imgs(n=6, seed=0):
    return (torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(seed)) > 0.5).float()


def test_patchify_roundtrip(model):
    x = imgs()
    p = model.patchify(x)
    assert p.shape == (6, 16, 16)
    assert torch.equal(model.unpatchify(p), x)
    # patch 1 is the second patch of the first row: pixels [0:4, 4:8]
    assert torch.equal(p[:, 1].reshape(6, 4, 4), x[:, 0, 0:4, 4:8])


@pytest.mark.parametrize("ratio,hidden", [(0.0, 0), (0.25, 4), (0.6, 10), (0.75, 12), (0.9, 15)])
def test_random_masking_hides_the_expected_count(model, ratio, hidden):
    mask = model.random_masking(5, ratio, torch.Generator().manual_seed(0))
    assert mask.shape == (5, 16)
    assert (mask.sum(dim=1) == hidden).all()


def test_same_generator_same_mask_and_no_global_rng(model):
    state = torch.random.get_rng_state()
    a = model.random_masking(4, 0.5, torch.Generator().manual_seed(7))
    b = model.random_masking(4, 0.5, torch.Generator().manual_seed(7))
    c = model.random_masking(4, 0.5, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(state, torch.random.get_rng_state())


def test_ids_restore_is_the_inverse_permutation(model):
    mask = model.random_masking(4, 0.5, torch.Generator().manual_seed(1))
    ids_shuffle = torch.argsort(mask, dim=1, stable=True)
    _, ids_restore, _ = model.encode_visible(imgs(4), mask)
    assert torch.equal(torch.gather(ids_shuffle, 1, ids_restore), torch.arange(16).expand(4, 16))
    # visible patches come first in the shuffled order
    assert (torch.gather(mask, 1, ids_shuffle)[:, :8] == 0).all()


def test_explicit_masks_of_any_count_equal_one_by_one(model):
    g = torch.Generator().manual_seed(3)
    x = imgs(6)
    counts = [0, 1, 5, 9, 15, 16]  # nothing hidden ... everything hidden
    mask = torch.zeros(6, 16)
    for i, k in enumerate(counts):
        mask[i, torch.randperm(16, generator=g)[:k]] = 1
    with torch.no_grad():
        batched = model(x, mask=mask.bool())
        single = [model(x[i : i + 1], mask=mask[i : i + 1]) for i in range(6)]
    assert torch.equal(batched.mask, mask)
    for i in range(6):
        torch.testing.assert_close(batched.pred[i], single[i].pred[0], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(batched.pred).all()


def test_explicit_mask_accepts_grid_shape(model):
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[:, :, :2] = True  # left half hidden
    out = model(imgs(2), mask=mask)
    assert out.mask.sum().item() == 16
    with pytest.raises(ValueError, match="mask must be"):
        model(imgs(2), mask=torch.zeros(2, 15))


def test_loss_only_counts_hidden_patches(model):
    x = imgs(3)
    mask = model.random_masking(3, 0.5, torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = model(x, mask=mask)
    changed = out.pred.clone()
    changed[mask == 0] += 5.0  # wreck every visible patch's prediction
    assert model.forward_loss(x, changed, mask) == pytest.approx(float(out.loss), abs=1e-6)
    target = model.patchify(x)
    changed[mask == 1] = target[mask == 1]  # perfect on hidden patches, still wrecked on visible ones
    assert float(model.forward_loss(x, changed, mask)) == 0.0
    # by hand: mean over hidden patches of per-patch MSE
    per_patch = ((out.pred - model.patchify(x)) ** 2).mean(-1)
    assert float(out.loss) == pytest.approx(float(per_patch[mask == 1].mean()), rel=1e-5)


def test_nothing_hidden_gives_zero_loss(model):
    with torch.no_grad():
        out = model(imgs(2), mask=torch.zeros(2, 16))
    assert float(out.loss) == 0.0


def test_features_and_reconstruct_shapes(model):
    x = imgs(5)
    assert extract_features(model, x, batch_size=2)["mean"].shape == (5, 32)
    rec = reconstruct(model, x, mask_ratio=0.5, generator=torch.Generator().manual_seed(0))
    assert rec.reconstruction.shape == x.shape and rec.patch_error.shape == (5, 16)
    visible = rec.pixel_mask == 0
    assert torch.equal(rec.pasted[visible], x[visible])
    assert torch.equal(rec.pasted[~visible], rec.reconstruction[~visible])


def test_weights_depend_only_on_seed():
    torch.manual_seed(123)
    a = build_model(CFG, seed=1, device="cpu").state_dict()
    torch.manual_seed(456)
    b = build_model(CFG, seed=1, device="cpu").state_dict()
    c = build_model(CFG, seed=2, device="cpu").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["blocks.0.fc1.weight"], c["blocks.0.fc1.weight"])


def test_config_validation():
    assert config_problems(CFG) == []
    with pytest.raises(ValueError, match="not divisible"):
        MAEConfig(image_size=30, patch_size=4)
    with pytest.raises(ValueError, match="mask_ratio"):
        MAEConfig(mask_ratio=1.0)
    with pytest.raises(ValueError, match="embed_dim"):
        MAEConfig(embed_dim=10**6)


def test_parameter_shapes_match_a_real_model():
    real = build_model(CFG, device="cpu").state_dict()
    assert parameter_shapes(CFG) == {k: tuple(v.shape) for k, v in real.items()}


def test_pos_embed_distinguishes_positions():
    pe = sincos_pos_embed_2d(32, 4)
    assert pe.shape == (16, 32)
    assert torch.cdist(pe, pe).fill_diagonal_(1.0).min() > 0.1


@pytest.mark.parametrize("padded", [False, True])
def test_cpu_attention_equals_pytorch_sdpa(padded):
    """The explicit-matmul attention used on CPU computes what F.scaled_dot_product_attention does,
    padded keys included."""
    from torch.nn import functional as F

    from toymae.model import Attention

    gen = torch.Generator().manual_seed(3)
    attn = Attention(32, 4)
    x = torch.randn(5, 9, 32, generator=gen)
    attendable = None
    if padded:
        n_real = torch.tensor([9, 4, 1, 7, 2])
        attendable = (torch.arange(9)[None] < n_real[:, None]).view(5, 1, 1, 9)
    q, k, v = attn.qkv(x).view(5, 9, 3, 4, 8).permute(2, 0, 3, 1, 4).unbind(0)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=attendable)
    expected = attn.proj(expected.transpose(1, 2).reshape(5, 9, 32))
    assert torch.allclose(attn(x, attendable), expected, atol=1e-5)


def test_bf16_attention_softmax_equals_an_fp32_softmax_rounded_to_bf16():
    """Under bf16 autocast the attention's softmax runs in bf16, which is only sound while the CPU
    kernel accumulates in fp32: then its probabilities are the fp32 ones rounded (but for a rare
    last-bit tie) and its gradient errs little more than bf16's own rounding."""
    gen = torch.Generator().manual_seed(0)
    scores = (torch.randn(8, 4, 65, 65, generator=gen) * 3).bfloat16().requires_grad_()
    upstream = torch.randn(8, 4, 65, 65, generator=gen).bfloat16()
    fast = scores.softmax(-1)
    rounded = scores.float().softmax(-1).bfloat16()
    assert (fast != rounded).float().mean() < 1e-3
    assert (fast.float() - rounded.float()).abs().max() <= 2**-8  # one bf16 step at most
    exact = scores.detach().double().requires_grad_()
    (grad_exact,) = torch.autograd.grad(exact.softmax(-1), exact, upstream.double())
    (grad_fast,) = torch.autograd.grad(fast, scores, upstream)
    rounding = (grad_exact.bfloat16().double() - grad_exact).norm()
    assert (grad_fast.double() - grad_exact).norm() < 2 * rounding


def test_bf16_attention_rows_shorter_than_a_vector_take_the_exact_fp32_round_trip():
    """PyTorch's CPU bf16 softmax is slow on rows shorter than one vector; those rows go through fp32,
    which gives exactly the fp32 probabilities rounded to bf16, and longer rows keep the bf16 kernel."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from toymae.model import BF16_SOFTMAX_MIN_KEYS, attention_weights

    class SoftmaxDtypes(TorchDispatchMode):  # the precision each softmax kernel ran in
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[torch.dtype] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is torch.ops.aten._softmax.default:
                self.seen.append(args[0].dtype)
            return func(*args, **(kwargs or {}))

    gen = torch.Generator().manual_seed(0)
    for keys in (7, 26, BF16_SOFTMAX_MIN_KEYS - 1, BF16_SOFTMAX_MIN_KEYS, 65):
        scores = (torch.randn(4, 4, 9, keys, generator=gen) * 3).bfloat16().requires_grad_()
        upstream = torch.randn(4, 4, 9, keys, generator=gen).bfloat16()
        with SoftmaxDtypes() as ran:
            weights = attention_weights(scores)
        assert ran.seen == [torch.float32 if keys < BF16_SOFTMAX_MIN_KEYS else torch.bfloat16]
        assert weights.dtype == torch.bfloat16
        # Either path: within one bf16 step of the exact probabilities, and a gradient that errs
        # little more than bf16's own rounding of the exact one.
        exact = scores.detach().double().requires_grad_()
        assert (weights.double() - exact.softmax(-1)).abs().max() <= 2**-8
        (grad_exact,) = torch.autograd.grad(exact.softmax(-1), exact, upstream.double())
        (grad,) = torch.autograd.grad(weights, scores, upstream)
        rounding = (grad_exact.bfloat16().double() - grad_exact).norm()
        assert (grad.double() - grad_exact).norm() < 2 * rounding
    fp32 = torch.randn(2, 4, 5, 5, generator=gen)
    assert torch.equal(attention_weights(fp32), fp32.softmax(-1))


def test_the_dashboards_random_mask_is_the_models(model):
    from toymae.masks import random_mask

    for ratio, seed in ((0.6, 0), (0.25, 7), (0.9, 123)):
        drawn = model.random_masking(1, ratio, torch.Generator().manual_seed(seed))
        assert torch.equal(torch.from_numpy(random_mask(4, ratio, seed).reshape(1, -1)).float(), drawn)
