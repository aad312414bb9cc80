"""DiscreteAutoencoder and ContinuousAutoencoder: shapes, gradients, configs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from recollect import ContinuousAutoencoder, DiscreteAutoencoder
from recollect.autoencoder import count_autoencoder_params, default_filters

SHAPES = [(28, 28, 1), (32, 32, 3), (12, 10, 2), (784,)]


@pytest.mark.parametrize("input_shape", SHAPES)
def test_encode_decode_shapes_and_ranges(input_shape):
    codec = DiscreteAutoencoder(input_shape=input_shape, num_latents=6, num_categories=5, seed=0)
    x = np.random.default_rng(0).random((4, *input_shape), dtype=np.float32)
    indices = codec.encode(x)
    assert indices.dtype == tf.int32 and indices.shape == (4, 6)
    assert int(tf.reduce_min(indices)) >= 0 and int(tf.reduce_max(indices)) < 5
    x_hat = codec.decode(indices)
    assert x_hat.dtype == tf.float32 and x_hat.shape == (4, *input_shape)
    assert float(tf.reduce_min(x_hat)) >= 0.0 and float(tf.reduce_max(x_hat)) <= 1.0
    assert codec.bits_per_item == 6 * 3


@pytest.mark.parametrize("input_shape", SHAPES)
@pytest.mark.parametrize(("c", "l"), [(4, 2), (10, 4), (3, 7)])
def test_param_count_formula_matches_the_model(input_shape, c, l):
    codec = DiscreteAutoencoder(input_shape=input_shape, num_latents=c, num_categories=l)
    trainable = sum(int(np.prod(v.shape)) for v in codec.trainable_variables)
    assert trainable == count_autoencoder_params(input_shape, c * l)
    continuous = ContinuousAutoencoder(input_shape=input_shape, latent_size=c)
    assert continuous.count_params() == count_autoencoder_params(input_shape, c)


def test_default_filters_follow_the_paper():
    assert default_filters(104, 4) == 104
    codec = DiscreteAutoencoder(input_shape=(28, 28, 1), num_latents=104, num_categories=4)
    assert codec.filters == 104
    assert codec.encoder.layers[0].filters == 104


def test_bottleneck_is_hard_one_hot_and_straight_through():
    codec = DiscreteAutoencoder(input_shape=(8, 8, 1), num_latents=5, num_categories=4, seed=3)
    logits = tf.Variable(tf.random.normal([2, 5, 4], seed=1))
    with tf.GradientTape() as tape:
        sample = codec.sample_bottleneck(logits, training=True)
        loss = tf.reduce_sum(sample * tf.range(4, dtype=tf.float32))
    np.testing.assert_allclose(tf.reduce_sum(sample, -1).numpy(), 1.0, atol=1e-6)
    assert set(np.round(sample.numpy(), 5).ravel().tolist()) <= {0.0, 1.0}
    gradient = tape.gradient(loss, logits)
    assert gradient is not None and float(tf.reduce_max(tf.abs(gradient))) > 0


def test_encode_is_the_deterministic_mode():
    codec = DiscreteAutoencoder(input_shape=(8, 8, 1), num_latents=5, num_categories=4)
    x = np.random.default_rng(1).random((3, 8, 8, 1), dtype=np.float32)
    np.testing.assert_array_equal(codec.encode(x).numpy(), codec.encode(x).numpy())
    expected = np.argmax(codec.encode_logits(x).numpy(), axis=-1)
    np.testing.assert_array_equal(codec.encode(x).numpy(), expected)


def test_fit_lowers_reconstruction_loss():
    keras.utils.set_random_seed(0)
    codec = DiscreteAutoencoder(input_shape=(64,), num_latents=8, num_categories=4, seed=0)
    codec.compile(optimizer=keras.optimizers.Adam(3e-3))
    x = (np.random.default_rng(0).random((64, 64)) > 0.5).astype(np.float32)
    before = float(codec.reconstruction_loss(x, training=False))
    codec.fit(x, epochs=15, batch_size=16, verbose=0)
    assert float(codec.reconstruction_loss(x, training=False)) < before - 0.02


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_shape": (28, 28), "num_latents": 4, "num_categories": 2}, "input_shape"),
        ({"input_shape": (8,), "num_latents": 0, "num_categories": 2}, "num_latents"),
        ({"input_shape": (8,), "num_latents": 4, "num_categories": 1}, "num_categories"),
        ({"input_shape": (8,), "num_latents": 4, "num_categories": 300}, "num_categories"),
        (
            {"input_shape": (8,), "num_latents": 4, "num_categories": 2, "temperature": 0.0},
            "temperature",
        ),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DiscreteAutoencoder(**kwargs)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((2, 8, 8), np.float32), "shape"),
        (np.zeros((2, 8, 8, 2), np.float32), "shape"),
        (np.full((2, 8, 8, 1), 1.5, np.float32), "\\[0, 1\\]"),
        (np.full((2, 8, 8, 1), np.nan, np.float32), "finite"),
        (np.zeros((2, 8, 8, 1), np.int32), "dtype"),
    ],
)
def test_check_inputs_rejects(x, message):
    codec = DiscreteAutoencoder(input_shape=(8, 8, 1), num_latents=4, num_categories=2)
    with pytest.raises(ValueError, match=message):
        codec.check_inputs(x)


def test_uint8_inputs_are_scaled():
    codec = DiscreteAutoencoder(input_shape=(2,), num_latents=4, num_categories=2)
    np.testing.assert_allclose(
        codec.check_inputs(np.array([[0, 255]], np.uint8)).numpy(), [[0.0, 1.0]]
    )


@pytest.mark.parametrize(
    "cls_kwargs",
    [
        (DiscreteAutoencoder, {"num_latents": 6, "num_categories": 3, "temperature": 0.5}),
        (ContinuousAutoencoder, {"latent_size": 5}),
    ],
)
def test_keras_save_and_load_round_trip(tmp_path, cls_kwargs):
    cls, kwargs = cls_kwargs
    codec = cls(input_shape=(12, 12, 1), **kwargs)
    x = np.random.default_rng(2).random((3, 12, 12, 1), dtype=np.float32)
    path = str(tmp_path / "codec.keras")
    codec.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is cls and loaded.get_config() == codec.get_config()
    np.testing.assert_allclose(loaded(x).numpy(), codec(x).numpy(), atol=1e-6)


def test_continuous_autoencoder_codes_are_float():
    codec = ContinuousAutoencoder(input_shape=(32, 32, 3), latent_size=7)
    z = codec.encode(np.zeros((2, 32, 32, 3), np.float32))
    assert z.dtype == tf.float32 and z.shape == (2, 7)
    assert codec.bits_per_item == 32 * 7
    assert codec.decode(z).shape == (2, 32, 32, 3)
