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
    history = codec.fit(x, epochs=15, batch_size=16, verbose=0)
    assert float(codec.reconstruction_loss(x, training=False)) < before - 0.02
    losses = history.history["loss"]  # each epoch's mean loss, not a tracker left at 0
    assert all(v > 0 for v in losses) and losses[-1] < losses[0]


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


# ------------------------------------------------------------------ architecture
@pytest.mark.parametrize(("input_shape", "expected"), [((8, 8, 1), "conv"), ((64,), "mlp")])
def test_default_architecture_follows_the_input_rank(input_shape, expected):
    codec = DiscreteAutoencoder(input_shape=input_shape, num_latents=4, num_categories=2)
    assert codec.architecture == expected
    assert codec.get_config()["architecture"] == expected


@pytest.mark.parametrize("image_shape", [(28, 28, 1), (28, 28)])
def test_mlp_on_images_has_the_flat_codecs_weights_and_decodes(image_shape):
    kwargs = {"num_latents": 8, "num_categories": 4, "seed": 0}
    keras.utils.set_random_seed(7)
    flat = DiscreteAutoencoder(input_shape=(784,), **kwargs)
    keras.utils.set_random_seed(7)
    flat_mlp = DiscreteAutoencoder(input_shape=(784,), architecture="mlp", **kwargs)
    keras.utils.set_random_seed(7)
    image = DiscreteAutoencoder(input_shape=image_shape, architecture="mlp", **kwargs)
    assert image.architecture == "mlp"
    for other in (flat_mlp, image):
        mine, theirs = flat.get_weights(), other.get_weights()
        assert [w.shape for w in mine] == [w.shape for w in theirs]
        for a, b in zip(mine, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
    indices = np.random.default_rng(0).integers(0, 4, (5, 8))
    decoded = image.decode(indices)
    assert decoded.shape == (5, *image_shape)
    np.testing.assert_array_equal(
        decoded.numpy(), flat.decode(indices).numpy().reshape(5, *image_shape)
    )
    # Compiled too (a graph fuses the last dense layer with the sigmoid).
    np.testing.assert_array_equal(
        tf.function(image.decode)(indices).numpy(),
        tf.function(flat.decode)(indices).numpy().reshape(5, *image_shape),
    )
    x = np.random.default_rng(1).random((5, *image_shape), dtype=np.float32)
    assert float(image.distortion(x)) == float(flat.distortion(x.reshape(5, 784)))
    np.testing.assert_array_equal(image.encode(x).numpy(), flat.encode(x.reshape(5, 784)).numpy())
    assert image(x).shape == (5, *image_shape)
    assert float(image.reconstruction_loss(x, training=False)) == float(
        flat.reconstruction_loss(x.reshape(5, 784), training=False)
    )


@pytest.mark.parametrize("input_shape", [(28, 28, 1), (12, 10, 2), (28, 28), (64,)])
@pytest.mark.parametrize(("c", "l"), [(4, 2), (3, 7)])
def test_mlp_param_count_is_the_flat_shapes(input_shape, c, l):
    flat_shape = (int(np.prod(input_shape)),)
    expected = count_autoencoder_params(flat_shape, c * l)
    assert count_autoencoder_params(input_shape, c * l, architecture="mlp") == expected
    codec = DiscreteAutoencoder(
        input_shape=input_shape, num_latents=c, num_categories=l, architecture="mlp"
    )
    assert sum(int(np.prod(v.shape)) for v in codec.trainable_variables) == expected
    continuous = ContinuousAutoencoder(input_shape=input_shape, latent_size=c, architecture="mlp")
    assert continuous.count_params() == count_autoencoder_params(flat_shape, c)
    assert continuous.decode(continuous.encode(np.zeros((2, *input_shape)))).shape == (
        2,
        *input_shape,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_shape": (8, 8, 1), "architecture": "dense"}, "Expected architecture"),
        ({"input_shape": (8, 8, 1), "architecture": 3}, "architecture=3"),
        ({"input_shape": (64,), "architecture": "conv"}, "architecture='conv'"),
        ({"input_shape": (8, 8), "architecture": "conv"}, "input_shape=\\(8, 8\\)"),
        ({"input_shape": (8, 0, 1), "architecture": "mlp"}, "architecture='mlp'"),
        ({"input_shape": (), "architecture": "mlp"}, "input_shape=\\(\\)"),
    ],
)
def test_bad_architecture_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DiscreteAutoencoder(num_latents=4, num_categories=2, **kwargs)
    with pytest.raises(ValueError, match=message):
        ContinuousAutoencoder(latent_size=4, **kwargs)
    with pytest.raises(ValueError, match=message):
        count_autoencoder_params(kwargs["input_shape"], 8, architecture=kwargs["architecture"])


@pytest.mark.parametrize(
    "cls_kwargs",
    [
        (DiscreteAutoencoder, {"num_latents": 6, "num_categories": 3}),
        (ContinuousAutoencoder, {"latent_size": 5}),
    ],
)
def test_mlp_on_images_round_trips_through_keras(tmp_path, cls_kwargs):
    cls, kwargs = cls_kwargs
    codec = cls(input_shape=(6, 6, 1), architecture="mlp", **kwargs)
    assert codec.get_config()["architecture"] == "mlp"
    path = str(tmp_path / "codec.keras")
    codec.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.architecture == "mlp" and loaded.get_config() == codec.get_config()
    x = np.random.default_rng(3).random((2, 6, 6, 1), dtype=np.float32)
    np.testing.assert_allclose(loaded(x).numpy(), codec(x).numpy(), atol=1e-6)


def test_config_without_architecture_keeps_the_default():
    config = DiscreteAutoencoder(
        input_shape=(8, 8, 1), num_latents=4, num_categories=2
    ).get_config()
    del config["architecture"]  # a config saved before the argument existed
    assert DiscreteAutoencoder.from_config(config).architecture == "conv"


@pytest.mark.parametrize(("architecture", "shape"), [("conv", (28, 28, 1)), ("mlp", (28, 28, 1))])
def test_width_is_one_size_argument_whatever_the_architecture(architecture, shape):
    common = {"input_shape": shape, "num_latents": 8, "num_categories": 4}
    codec = DiscreteAutoencoder(architecture=architecture, width=12, **common)
    named = {"conv": "filters", "mlp": "hidden_units"}[architecture]
    same = DiscreteAutoencoder(architecture=architecture, **{named: 12}, **common)
    assert (codec.filters, codec.hidden_units) == (same.filters, same.hidden_units)
    assert getattr(codec, named) == 12
    trainable = [sum(int(np.prod(v.shape)) for v in c.trainable_variables) for c in (codec, same)]
    assert (
        trainable[0]
        == trainable[1]
        == count_autoencoder_params(shape, 32, architecture=architecture, width=12)
    )
    continuous = ContinuousAutoencoder(
        input_shape=shape, latent_size=16, architecture=architecture, width=12
    )
    assert getattr(continuous, named) == 12


def test_width_with_filters_or_hidden_units_is_refused():
    with pytest.raises(ValueError, match="Expected width, or filters and hidden_units, not both"):
        DiscreteAutoencoder(
            input_shape=(28, 28, 1), num_latents=8, num_categories=4, width=12, filters=8
        )
    with pytest.raises(ValueError, match="width"):
        DiscreteAutoencoder(input_shape=(8,), num_latents=8, num_categories=4, width=0)
