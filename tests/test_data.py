import torch

from toymae.config import ShapeWorldConfig
from toymae.data import CIRCLE, SQUARE, counterfactual, eval_set, make_generator, render, sample, stream_seed


def test_images_are_binary_and_shaped():
    b = sample(64, ShapeWorldConfig(image_size=32), make_generator(0))
    assert b.images.shape == (64, 1, 32, 32)
    assert set(b.images.unique().tolist()) <= {0.0, 1.0}
    assert (b.images.sum(dim=(1, 2, 3)) > 0).all()


def test_classes_are_balanced():
    b = sample(1000, ShapeWorldConfig(), make_generator(1))
    assert int((b.shape == SQUARE).sum()) == 500
    odd = sample(7, ShapeWorldConfig(), make_generator(1))
    assert abs(int((odd.shape == SQUARE).sum()) - int((odd.shape == CIRCLE).sum())) == 1


def test_labels_match_pixels():
    # A square of side s fills s^2 of the image, a circle of diameter s only pi/4 of that:
    # the pixel count alone separates the classes (when little of the object leaves the image).
    cfg = ShapeWorldConfig(image_size=64, overflow=0.0)
    b = sample(200, cfg, make_generator(2))
    area = b.images.sum(dim=(1, 2, 3)) / 64**2
    ideal_square = b.size**2
    is_square = (area - ideal_square).abs() < (area - torch.pi / 4 * ideal_square).abs()
    assert torch.equal(is_square, b.shape == SQUARE)


def test_square_corners_are_filled_and_circle_corners_empty():
    one = torch.ones(1)
    sq = render(torch.tensor([SQUARE]), 0.5 * one, 0.5 * one, 0.5 * one, 0 * one, 32)[0, 0]
    ci = render(torch.tensor([CIRCLE]), 0.5 * one, 0.5 * one, 0.5 * one, 0 * one, 32)[0, 0]
    assert sq[8, 8] == 1 and sq[23, 23] == 1  # corners of the square [8, 24)
    assert ci[8, 8] == 0 and ci[16, 16] == 1
    assert int(sq.sum()) == 256


def test_deterministic_for_a_seed():
    a = sample(32, ShapeWorldConfig(), make_generator(5))
    b = sample(32, ShapeWorldConfig(), make_generator(5))
    c = sample(32, ShapeWorldConfig(), make_generator(6))
    assert torch.equal(a.images, b.images) and torch.equal(a.cx, b.cx)
    assert not torch.equal(a.images, c.images)


def test_eval_streams_are_disjoint_from_training():
    assert stream_seed(0, "train") != stream_seed(0, "eval-test")
    train = sample(64, ShapeWorldConfig(), make_generator(0, "train"))
    test = eval_set(64, ShapeWorldConfig(), seed=0)
    assert not torch.equal(train.cx, test.cx)
    assert torch.equal(test.images, eval_set(64, ShapeWorldConfig(), seed=0).images)


def test_factors_are_in_range_and_object_mostly_inside():
    cfg = ShapeWorldConfig(size_range=(0.3, 0.6), rotate=True)
    b = sample(500, cfg, make_generator(3))
    assert ((b.size >= 0.3) & (b.size <= 0.6)).all()
    lo = b.size * (0.5 - cfg.overflow)
    assert ((b.cx >= lo - 1e-6) & (b.cx <= 1 - lo + 1e-6)).all()
    assert (b.angle[b.shape == CIRCLE] == 0).all() and (b.angle[b.shape == SQUARE] > 0).any()
    head = b[:7].factors()  # slicing a batch slices every factor alike
    assert all(torch.equal(head[name], v[:7]) for name, v in b.factors().items())


def test_counterfactual_swaps_shape_only():
    b = sample(16, ShapeWorldConfig(), make_generator(4))
    cf = counterfactual(b)
    again = counterfactual(b[torch.arange(16)])
    assert torch.equal(cf, again)
    swapped = b[torch.arange(16)]
    swapped.shape = 1 - swapped.shape
    assert torch.equal(counterfactual(swapped), b.images)


def test_sample_renders_on_the_requested_device_with_the_same_objects():
    cfg = ShapeWorldConfig()
    on_cpu = sample(16, cfg, make_generator(3))
    elsewhere = sample(16, cfg, make_generator(3), device="meta")  # any device: factors stay CPU-drawn
    assert elsewhere.images.device.type == "meta" and elsewhere.shape.device.type == "meta"
    assert on_cpu.images.device.type == "cpu"
    same_seed = sample(16, cfg, make_generator(3), device="cpu")
    assert torch.equal(same_seed.images, on_cpu.images) and torch.equal(same_seed.cx, on_cpu.cx)
