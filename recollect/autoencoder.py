"""The codecs: a discrete (Gumbel-softmax) autoencoder and a continuous one.

Where this sits: `RecollectionMemory.observe` calls `DiscreteAutoencoder.encode`
(input -> c categorical indices) before packing; `recall` calls `decode` (indices
-> recollection); `stabilize` trains it with `reconstruction_loss`.

```
images  float32 [B, H, W, C] --conv5/2--conv5/2--conv5/2--dense--> logits [B, c, l]
          --Gumbel-softmax, straight-through hard sample (tau = 1)--> one-hot [B, c, l]
          --dense--deconv5/2--deconv5/2--deconv5/2--crop--sigmoid--> x^ [B, H, W, C]
vectors float32 [B, n]: the same with dense layers of c*l units instead of convs.
```

Filters per conv layer default to c * l / 4, so a 2x2 map of them holds as many
hidden units as the bottleneck (the paper's rule). Inputs are in [0, 1]; the loss
is binary cross-entropy, as in the paper.
"""

from __future__ import annotations

import math
import random

import keras
import tensorflow as tf

from recollect import bits

KERNEL_SIZE = 5
NUM_STAGES = 3  # three stride-2 convs, three stride-2 transposed convs


def _check_input_shape(input_shape) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) not in (1, 3) or min(shape, default=0) < 1:
        raise ValueError(
            "Expected input_shape (height, width, channels) for images or (features,) "
            f"for vectors. Received: input_shape={input_shape!r}"
        )
    return shape


def default_filters(num_latents: int, num_categories: int) -> int:
    """The paper's filter count per conv layer: c * l / 4 (at least 1)."""
    return max(1, (num_latents * num_categories) // 4)


def count_autoencoder_params(
    input_shape, bottleneck: int, *, filters: int | None = None, hidden_units: int | None = None
) -> int:
    """Parameters of an autoencoder built by this module, without building it.

    Args:
        input_shape: (H, W, C) or (n,).
        bottleneck: width of the code layer: c * l for the discrete
            autoencoder, h for the continuous one.
        filters: conv filters (images); default bottleneck // 4.
        hidden_units: dense units (vectors); default bottleneck.

    Returns:
        int, trainable parameters of encoder + decoder.
    """
    shape = _check_input_shape(input_shape)
    if len(shape) == 3:
        height, width, channels = shape
        f = filters or max(1, bottleneck // 4)
        cells = _reduced(height) * _reduced(width)
        conv = KERNEL_SIZE * KERNEL_SIZE
        encoder = (conv * channels * f + f) + 2 * (conv * f * f + f) + cells * f * bottleneck
        encoder += bottleneck
        decoder = bottleneck * cells * f + cells * f + 2 * (conv * f * f + f)
        decoder += conv * f * channels + channels
        return encoder + decoder
    (features,) = shape
    h = hidden_units or bottleneck
    encoder = (features * h + h) + (h * h + h) + (h * bottleneck + bottleneck)
    decoder = (bottleneck * h + h) + (h * h + h) + (h * features + features)
    return encoder + decoder


def _reduced(size: int) -> int:
    return math.ceil(size / 2**NUM_STAGES)


def _build_encoder(shape, out_units, filters, hidden_units, name):
    if len(shape) == 3:
        layers = [
            keras.layers.Conv2D(filters, KERNEL_SIZE, strides=2, padding="same", activation="relu")
            for _ in range(NUM_STAGES)
        ]
        layers += [keras.layers.Flatten(), keras.layers.Dense(out_units)]
    else:
        layers = [
            keras.layers.Dense(hidden_units, activation="relu"),
            keras.layers.Dense(hidden_units, activation="relu"),
            keras.layers.Dense(out_units),
        ]
    return keras.Sequential([keras.Input(shape), *layers], name=name)


def _build_decoder(shape, in_units, filters, hidden_units, name):
    if len(shape) == 3:
        height, width, channels = shape
        rows, cols = _reduced(height), _reduced(width)
        layers = [
            keras.layers.Dense(rows * cols * filters, activation="relu"),
            keras.layers.Reshape((rows, cols, filters)),
            keras.layers.Conv2DTranspose(
                filters, KERNEL_SIZE, strides=2, padding="same", activation="relu"
            ),
            keras.layers.Conv2DTranspose(
                filters, KERNEL_SIZE, strides=2, padding="same", activation="relu"
            ),
            keras.layers.Conv2DTranspose(channels, KERNEL_SIZE, strides=2, padding="same"),
            keras.layers.Cropping2D(((0, rows * 8 - height), (0, cols * 8 - width))),
        ]
    else:
        layers = [
            keras.layers.Dense(hidden_units, activation="relu"),
            keras.layers.Dense(hidden_units, activation="relu"),
            keras.layers.Dense(shape[0]),
        ]
    return keras.Sequential([keras.Input((in_units,)), *layers], name=name)


class _Autoencoder(keras.Model):
    """Shared parts: input checks, the loss, and distortion."""

    input_spec_shape: tuple[int, ...]

    def check_inputs(self, x, name: str = "x") -> tf.Tensor:
        """Validates a batch of inputs eagerly and returns it as float32.

        Args:
            x: float [B, *input_shape] in [0, 1], or uint8 (scaled by 1/255).
            name: the argument name used in error messages.

        Returns:
            float32 [B, *input_shape].

        Raises:
            ValueError: on a wrong rank, shape or dtype, NaN/Inf, or values
                outside [0, 1].
        """
        x = tf.convert_to_tensor(x)
        expected = list(self.input_spec_shape)
        if x.shape.rank != len(expected) + 1 or list(x.shape[1:]) != expected:
            raise ValueError(
                f"Expected {name} of shape [batch, {', '.join(map(str, expected))}]. "
                f"Received: {name}.shape={x.shape.as_list()}"
            )
        if x.dtype == tf.uint8:
            return tf.cast(x, tf.float32) / 255.0
        if not x.dtype.is_floating:
            raise ValueError(
                f"Expected {name} float in [0, 1] or uint8. Received: {name}.dtype={x.dtype.name}"
            )
        x = tf.cast(x, tf.float32)
        if x.shape[0]:
            if not bool(tf.reduce_all(tf.math.is_finite(x))):
                raise ValueError(f"Expected finite values in {name}. Received: NaN or Inf")
            low, high = float(tf.reduce_min(x)), float(tf.reduce_max(x))
            if low < 0.0 or high > 1.0:
                raise ValueError(
                    f"Expected {name} in [0, 1]. Received: values in [{low:.4g}, {high:.4g}]"
                )
        return x

    def reconstruction_loss(self, x, training: bool = True) -> tf.Tensor:
        """Mean binary cross-entropy between x and its reconstruction.

        Args:
            x: float32 [B, *input_shape] in [0, 1].
            training: sample the bottleneck (True) or take its mode (False).

        Returns:
            float32 [].
        """
        logits = self.reconstruction_logits(x, training=training)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits))

    def distortion(self, x) -> tf.Tensor:
        """Mean L1 distance on [0, 1] pixels between x and its reconstruction."""
        x = tf.convert_to_tensor(x, tf.float32)
        return tf.reduce_mean(tf.abs(self(x, training=False) - x))

    def call(self, x, training=False):
        return tf.sigmoid(self.reconstruction_logits(x, training=training))

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            loss = self.reconstruction_loss(x, training=True)
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return {"loss": loss}

    def test_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        return {
            "loss": self.reconstruction_loss(x, training=False),
            "distortion": self.distortion(x),
        }


@keras.saving.register_keras_serializable(package="recollect")
class DiscreteAutoencoder(_Autoencoder):
    """An autoencoder with c categorical latents of l categories each.

    The forward pass in training draws a hard one-hot sample with the Gumbel-max
    trick and back-propagates through the Gumbel-softmax relaxation at
    `temperature` (straight-through). `encode` takes the mode (argmax), so the
    code stored for an input is deterministic.

    Usage:

        codec = DiscreteAutoencoder(input_shape=(28, 28, 1), num_latents=104,
                                    num_categories=4)
        codec.compile(optimizer="adam"); codec.fit(x_train, epochs=1)
        indices = codec.encode(x)        # int32 [B, 104]
        x_hat = codec.decode(indices)    # float32 [B, 28, 28, 1]

    Args:
        input_shape: (H, W, C) for images (convolutional) or (n,) for vectors (MLP).
        num_latents: int, c.
        num_categories: int, l, in [2, 256].
        filters: conv filters per layer; default c * l / 4.
        hidden_units: dense units per layer of the MLP variant; default c * l.
        temperature: float > 0, the Gumbel-softmax temperature (default 1.0).
        noise_scale: float >= 0, scale of the Gumbel noise in training: 1.0 is the
            Gumbel-softmax estimator; 0.0 trains the straight-through estimator on
            the mode, the code `encode` stores (often lower distortion online).
        seed: int seed for the Gumbel noise.
    """

    def __init__(
        self,
        *,
        input_shape,
        num_latents: int,
        num_categories: int,
        filters: int | None = None,
        hidden_units: int | None = None,
        temperature: float = 1.0,
        noise_scale: float = 1.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_spec_shape = _check_input_shape(input_shape)
        self.bits_per_item = bits.bits_per_item(num_latents, num_categories)
        if not temperature > 0:
            raise ValueError(f"Expected temperature > 0. Received: temperature={temperature!r}")
        if not noise_scale >= 0:
            raise ValueError(f"Expected noise_scale >= 0. Received: noise_scale={noise_scale!r}")
        self.noise_scale = float(noise_scale)
        self.num_latents = int(num_latents)
        self.num_categories = int(num_categories)
        self.filters = int(filters or default_filters(num_latents, num_categories))
        self.hidden_units = int(hidden_units or num_latents * num_categories)
        self.temperature = float(temperature)
        self.seed = seed
        units = self.num_latents * self.num_categories
        self.encoder = _build_encoder(
            self.input_spec_shape, units, self.filters, self.hidden_units, "encoder"
        )
        self.decoder = _build_decoder(
            self.input_spec_shape, units, self.filters, self.hidden_units, "decoder"
        )
        # A plain int64 variable (not a keras SeedGenerator) so that
        # tf.train.Checkpoint and SavedModel keep the noise stream's position.
        initial_seed = seed if seed is not None else random.randrange(2**31)
        self.noise_seed = self.add_weight(
            shape=(2,),
            dtype="int64",
            initializer=keras.initializers.Constant([initial_seed, 0]),
            trainable=False,
            name="noise_seed",
        )
        self.built = True  # every weight exists now: state is made once

    def encode_logits(self, x) -> tf.Tensor:
        """float32 [B, *input_shape] -> float32 logits [B, c, l]."""
        logits = self.encoder(x)
        return tf.reshape(logits, [-1, self.num_latents, self.num_categories])

    def encode(self, x) -> tf.Tensor:
        """float32 [B, *input_shape] in [0, 1] -> int32 indices [B, c] (the mode)."""
        return tf.argmax(self.encode_logits(x), axis=-1, output_type=tf.int32)

    def decode_logits(self, one_hot) -> tf.Tensor:
        """float32 one-hot [B, c, l] -> float32 logits [B, *input_shape]."""
        flat = tf.reshape(one_hot, [-1, self.num_latents * self.num_categories])
        return self.decoder(flat)

    def decode(self, indices) -> tf.Tensor:
        """int [B, c] in [0, l) -> float32 recollections [B, *input_shape] in [0, 1]."""
        one_hot = tf.one_hot(indices, self.num_categories, dtype=tf.float32)
        return tf.sigmoid(self.decode_logits(one_hot))

    def sample_bottleneck(self, logits, training: bool) -> tf.Tensor:
        """Straight-through Gumbel-softmax sample (training) or the mode's one-hot.

        Args:
            logits: float32 [B, c, l].
            training: draw Gumbel noise (True) or take the argmax (False).

        Returns:
            float32 [B, c, l]: exactly one-hot in the forward pass.
        """
        if not training:
            return tf.one_hot(tf.argmax(logits, axis=-1), self.num_categories, dtype=tf.float32)
        seed = tf.identity(self.noise_seed.value)
        self.noise_seed.assign_add(tf.constant([0, 1], tf.int64))
        uniform = tf.random.stateless_uniform(tf.shape(logits), seed=seed, minval=1e-10, maxval=1.0)
        gumbel = -tf.math.log(-tf.math.log(uniform))
        noisy = tf.nn.log_softmax(logits, axis=-1) + self.noise_scale * gumbel
        soft = tf.nn.softmax(noisy / self.temperature, axis=-1)
        hard = tf.one_hot(tf.argmax(noisy, axis=-1), self.num_categories, dtype=soft.dtype)
        return soft + tf.stop_gradient(hard - soft)

    def reconstruction_logits(self, x, training=False):
        return self.decode_logits(self.sample_bottleneck(self.encode_logits(x), training))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "input_shape": list(self.input_spec_shape),
                "num_latents": self.num_latents,
                "num_categories": self.num_categories,
                "filters": self.filters,
                "hidden_units": self.hidden_units,
                "temperature": self.temperature,
                "noise_scale": self.noise_scale,
                "seed": self.seed,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="recollect")
class ContinuousAutoencoder(_Autoencoder):
    """A plain autoencoder with h float32 latents, for comparison (32h bits a code).

    Args:
        input_shape: (H, W, C) or (n,).
        latent_size: int, h.
        filters: conv filters per layer; default max(1, h // 4).
        hidden_units: dense units of the MLP variant; default h.
    """

    def __init__(
        self,
        *,
        input_shape,
        latent_size: int,
        filters: int | None = None,
        hidden_units: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_spec_shape = _check_input_shape(input_shape)
        if isinstance(latent_size, bool) or not isinstance(latent_size, int) or latent_size < 1:
            raise ValueError(f"Expected latent_size an int >= 1. Received: {latent_size!r}")
        self.latent_size = latent_size
        self.filters = int(filters or max(1, latent_size // 4))
        self.hidden_units = int(hidden_units or latent_size)
        self.bits_per_item = 32 * latent_size
        self.encoder = _build_encoder(
            self.input_spec_shape, latent_size, self.filters, self.hidden_units, "encoder"
        )
        self.decoder = _build_decoder(
            self.input_spec_shape, latent_size, self.filters, self.hidden_units, "decoder"
        )
        self.built = True

    def encode(self, x) -> tf.Tensor:
        """float32 [B, *input_shape] -> float32 latents [B, h]."""
        return self.encoder(x)

    def decode(self, z) -> tf.Tensor:
        """float32 [B, h] -> float32 reconstructions [B, *input_shape] in [0, 1]."""
        return tf.sigmoid(self.decoder(z))

    def reconstruction_logits(self, x, training=False):
        del training
        return self.decoder(self.encoder(x))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "input_shape": list(self.input_spec_shape),
                "latent_size": self.latent_size,
                "filters": self.filters,
                "hidden_units": self.hidden_units,
            }
        )
        return config
