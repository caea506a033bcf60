"""bench/step_levers.py: each variant really undoes its lever, and the swap is undone afterwards."""

import torch

from bench.step_levers import VARIANTS, attention_weights, fp32_softmax, measure, speed_up
from toymae import model as model_module


def test_the_softmax_swap_is_undone_even_on_error():
    shipped = model_module.attention_weights
    try:
        with attention_weights(fp32_softmax):
            assert model_module.attention_weights is fp32_softmax
            raise RuntimeError
    except RuntimeError:
        pass
    assert model_module.attention_weights is shipped


def test_the_fp32_softmax_variant_reaches_the_model_and_computes_the_same_attention_in_fp32():
    layer = model_module.Attention(32, 4)
    x = torch.randn(3, 9, 32, generator=torch.Generator().manual_seed(0))
    calls = []

    def spy(scores):
        calls.append(scores.shape)
        return fp32_softmax(scores)

    shipped = layer(x)
    with attention_weights(spy):
        swapped = layer(x)
    assert calls == [(3, 4, 9, 9)]
    assert torch.allclose(swapped, shipped, atol=1e-6)


def test_measure_times_every_variant_each_round():
    times = measure(rounds=2, steps=1, warmup=0)
    assert set(times) == set(VARIANTS)
    assert all(len(t) == 2 and min(t) > 0 for t in times.values())


def test_speed_up_pairs_rounds_and_reports_quartiles_of_the_ratios():
    low, mid, high = speed_up([1.0, 2.0, 1.0, 2.0, 1.0], [1.5, 2.0, 1.2, 3.0, 1.1])
    assert (low, mid, high) == (1.1, 1.2, 1.5)
    assert speed_up([2.0], [3.0]) == (1.5, 1.5, 1.5)
