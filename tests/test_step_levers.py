"""bench/step_levers.py: each variant really undoes its lever, and the swap is undone afterwards."""

import torch

from bench.step_levers import VARIANTS, attention, fp32_softmax_forward, measure
from toymae import model as model_module


def test_the_attention_swap_is_undone_even_on_error():
    shipped = model_module.Attention.forward
    try:
        with attention(fp32_softmax_forward):
            assert model_module.Attention.forward is fp32_softmax_forward
            raise RuntimeError
    except RuntimeError:
        pass
    assert model_module.Attention.forward is shipped


def test_the_fp32_softmax_variant_computes_the_same_attention_in_fp32():
    layer = model_module.Attention(32, 4)
    x = torch.randn(3, 9, 32, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(fp32_softmax_forward(layer, x), layer(x), atol=1e-6)


def test_measure_times_every_variant_each_round():
    times = measure(rounds=2, steps=1, warmup=0)
    assert set(times) == set(VARIANTS)
    assert all(len(t) == 2 and min(t) > 0 for t in times.values())
