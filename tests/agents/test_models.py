"""Tests for agents.models: shapes, logits, parameter counts and the registry."""

import numpy as np
import pytest

from agents import models

# GEM's ResNet18(100, nf=20) on 32x32x3, counted from its PyTorch layers:
# stem conv 3*9*20 + BN 2*20, four stages of two BasicBlocks (3x3 convs, BN, 1x1
# shortcut where the shape changes), linear 160*100 + 100.
GEM_RESNET18_CIFAR100_PARAMS = 1_109_240


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize(
    "input_shape, batch",
    [((784,), np.zeros((3, 784), np.float32)), ((28, 28, 1), np.zeros((3, 28, 28, 1), np.float32))],
)
def test_mlp_accepts_flat_and_image_input(input_shape, batch):
    model = models.mlp(input_shape, 10)
    assert model(batch).shape == (3, 10)
    # 784 -> 200 -> 200 -> 10, the paper's MNIST-Rotations model.
    assert model.count_params() == 784 * 200 + 200 + 200 * 200 + 200 + 200 * 10 + 10


@pytest.mark.parametrize("num_layers, hidden_units", [(0, 5), (1, 7), (3, 4)])
def test_mlp_sizes(num_layers, hidden_units):
    model = models.mlp((6,), 3, hidden_units=hidden_units, num_layers=num_layers)
    dense = [layer for layer in model.layers if layer.name.startswith("hidden_")]
    assert len(dense) == num_layers
    assert all(layer.units == hidden_units for layer in dense)
    assert model(np.ones((2, 6), np.float32)).shape == (2, 3)


def test_models_return_logits_not_probabilities():
    rng = np.random.default_rng(0)
    mlp = models.mlp((12,), 4, hidden_units=8)
    outputs = np.asarray(mlp(rng.normal(size=(16, 12)).astype(np.float32)))
    assert np.any(outputs < 0.0)
    assert not np.allclose(outputs.sum(axis=1), 1.0)
    assert mlp.get_layer("logits").activation.__name__ == "linear"
    resnet = models.reduced_resnet18((8, 8, 1), 4, base_filters=2)
    assert resnet.get_layer("logits").activation.__name__ == "linear"


def test_reduced_resnet18_matches_gem_parameter_count():
    model = models.reduced_resnet18((32, 32, 3), 100)
    assert _count(model.trainable_weights) == GEM_RESNET18_CIFAR100_PARAMS
    # Batch-norm running mean and variance: 2 * (20*5 + 40*5 + 80*5 + 160*5) = 3000.
    assert _count(model.non_trainable_weights) == 3000
    # Strides 1, 2, 2, 2 take 32x32 to GEM's 4x4 map of 8 * nf = 160 channels.
    assert model.get_layer("stage4_block2_relu2").output.shape == (None, 4, 4, 160)
    assert model.output.shape == (None, 100)


@pytest.mark.parametrize(
    "input_shape", [(28, 28, 1), (32, 32, 3), (9, 13, 2)]
)  # Omniglot, CIFAR, odd sizes
def test_reduced_resnet18_any_input_size(input_shape):
    model = models.reduced_resnet18(input_shape, 5, base_filters=2)
    batch = np.random.default_rng(1).uniform(size=(2, *input_shape)).astype(np.float32)
    assert model(batch, training=True).shape == (2, 5)
    assert model(batch, training=False).shape == (2, 5)


def test_reduced_resnet18_has_gem_layout():
    model = models.reduced_resnet18((16, 16, 3), 7, base_filters=4)
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    # Stem + 8 blocks * 2 convs + 3 projection shortcuts (stages 2 to 4).
    assert len(convs) == 1 + 16 + 3
    assert all(not layer.use_bias for layer in convs)
    shortcut_convs = [layer for layer in convs if "shortcut" in layer.name]
    assert [layer.filters for layer in shortcut_convs] == [8, 16, 32]
    assert all(layer.strides == (2, 2) for layer in shortcut_convs)
    batch_norm = model.get_layer("stem_bn")
    assert batch_norm.momentum == pytest.approx(0.9)
    assert batch_norm.epsilon == pytest.approx(1e-5)


@pytest.mark.parametrize(
    "name, input_shape, kwargs",
    [
        ("mlp", (5,), {"hidden_units": 3}),
        ("reduced_resnet18", (8, 8, 1), {"base_filters": 2}),
    ],
)
def test_build_model_by_name(name, input_shape, kwargs):
    model = models.build_model(name, input_shape, 3, **kwargs)
    assert model.name == name
    assert model(np.zeros((1, *input_shape), np.float32)).shape == (1, 3)


def test_build_model_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"\['mlp', 'reduced_resnet18'\].*resnet50"):
        models.build_model("resnet50", (32, 32, 3), 10)


@pytest.mark.parametrize(
    "builder, args, kwargs, match",
    [
        (models.mlp, ((), 10), {}, "input_shape"),
        (models.mlp, ((0,), 10), {}, "input_shape"),
        (models.mlp, ((4,), 0), {}, "num_classes"),
        (models.mlp, ((4,), 2), {"hidden_units": 0}, "hidden_units"),
        (models.mlp, ((4,), 2), {"num_layers": -1}, "num_layers"),
        (models.mlp, ((4,), 2.0), {}, "num_classes"),
        (models.reduced_resnet18, ((784,), 10), {}, r"\(height, width, channels\)"),
        (models.reduced_resnet18, ((8, 8, 1), 10), {"base_filters": 0}, "base_filters"),
    ],
)
def test_rejects_bad_sizes(builder, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        builder(*args, **kwargs)
