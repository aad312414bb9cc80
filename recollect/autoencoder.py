"""The discrete (Gumbel-softmax) autoencoder, and what every codec here shares.

Where this sits: `RecollectionMemory.observe` calls `DiscreteAutoencoder.encode`
(input -> c categorical indices) before packing; `recall` calls `decode` (indices
-> recollection); `stabilize` trains it with `reconstruction_loss`. The encoder and
decoder stacks are built in `codec_layers.py`.

```
images  float32 [B, H, W, C] --conv5/2--conv5/2--conv5/2--dense--> logits [B, c, l]
          --Gumbel-softmax, straight-through hard sample (tau = 1)--> one-hot [B, c, l]
          --dense--deconv5/2--deconv5/2--deconv5/2--crop--sigmoid--> x^ [B, H, W, C]
mlp     float32 [B, *input_shape]: the same with dense layers of c*l units instead of
          convs, flattened on the way in and reshaped back on the way out.
```

`architecture` picks the stacks: "conv" (a 3-D input_shape), "grid" (a 3-D
input_shape, the code a map of one set of latents per 4x4 patch: c a multiple of
ceil(H/4) * ceil(W/4)) or "mlp" (any input shape); by default "conv" for (H, W, C)
and "mlp" for (n,). Filters per conv layer
default to c * l / 4, so a 2x2 map of them holds as many hidden units as the
bottleneck (the paper's rule). Inputs are in [0, 1]; the loss is binary
cross-entropy, as in the paper. The continuous autoencoder, for comparison, is in
`continuous_autoencoder.py`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from recollect import arguments, bits, graph_checks, replicas
from recollect.codec_layers import (
    KERNEL_SIZE,
    NUM_STAGES,
    build_decoder,
    build_encoder,
    check_grid_latents,
    count_autoencoder_params,
    default_filters,
    resolve_architecture,
    resolve_units,
)
from recollect.tensor_types import TensorLike

__all__ = [
    "KERNEL_SIZE",
    "NUM_STAGES",
    "Autoencoder",
    "DiscreteAutoencoder",
    "count_autoencoder_params",
    "default_filters",
]


class Autoencoder(keras.Model):
    """What both codecs share: input checks, the loss, and distortion (not built alone)."""

    input_spec_shape: tuple[int, ...]
    architecture: str

    def _build_stacks(self, units: int) -> None:
        """Makes the encoder and decoder (every weight) for a code layer of `units`."""
        options = {
            "architecture": self.architecture,
            "filters": self.filters,
            "hidden_units": self.hidden_units,
            "kernel_size": self.kernel_size,
        }
        self.encoder = build_encoder(self.input_spec_shape, units, name="encoder", **options)
        self.decoder = build_decoder(self.input_spec_shape, units, name="decoder", **options)

    def _code(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        """Maps float32 [B, *input_shape] to the decoder's input float32 [B, units]."""
        raise NotImplementedError

    def _decoded(self, code: tf.Tensor) -> tf.Tensor:
        """Maps a code float32 [B, units] to x^ float32 [B, *input_shape] in [0, 1].

        An mlp on a multi-axis shape takes the sigmoid before its final Reshape: in
        a graph the sigmoid then fuses with the last dense layer (oneDNN's
        MatMul+BiasAdd+Sigmoid) as it does in a flat codec, so recollections match
        the same codec's on flattened inputs bit for bit.
        """
        if self.architecture != "mlp" or len(self.input_spec_shape) == 1:
            return tf.sigmoid(self.decoder(code))
        *layers, reshape = self.decoder.layers
        for layer in layers:
            code = layer(code)
        return reshape(tf.sigmoid(code))

    def reconstruction_logits(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Maps float32 [B, *input_shape] through the code to logits of that shape.

        Args:
            x: float32 [B, *input_shape] in [0, 1].
            training: sample the bottleneck (True) or take its mode (False).

        Returns:
            float32 [B, *input_shape].
        """
        return self.decoder(self._code(x, training))

    def check_inputs(self, x: TensorLike, name: str = "x") -> tf.Tensor:
        """Validates a batch of inputs and returns it as float32 (eagerly or in a graph).

        Args:
            x: float [B, *input_shape] in [0, 1], or uint8 (scaled by 1/255).
            name: the argument name used in error messages.

        Returns:
            float32 [B, *input_shape].

        Raises:
            ValueError: on a wrong rank, shape or dtype; eagerly also on NaN/Inf or
                values outside [0, 1] (inside a `tf.function`: assertions that
                raise `tf.errors.InvalidArgumentError`; see `graph_checks.py`).
        """
        return graph_checks.checked_inputs(x, self.input_spec_shape, name)

    def reconstruction_loss(self, x: TensorLike, training: bool = True) -> tf.Tensor:
        """Mean binary cross-entropy between x and its reconstruction.

        Args:
            x: float32 [B, *input_shape] in [0, 1].
            training: sample the bottleneck (True) or take its mode (False).

        Returns:
            float32 [].
        """
        logits = self.reconstruction_logits(x, training=training)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits))

    def distortion(self, x: TensorLike) -> tf.Tensor:
        """Mean L1 distance on [0, 1] pixels between x and its reconstruction.

        Args:
            x: float32 [B, *input_shape] in [0, 1].

        Returns:
            float32 [].
        """
        x = tf.convert_to_tensor(x, tf.float32)
        return tf.reduce_mean(tf.abs(self(x, training=False) - x))

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Reconstructs float32 [B, *input_shape] into float32 [B, *input_shape] in [0, 1]."""
        return self._decoded(self._code(x, training))

    def train_step(self, data: tf.Tensor | tuple) -> dict[str, tf.Tensor]:
        """One optimizer step on the reconstruction loss (for `fit`); the epoch's mean loss.

        `compile` makes the "loss" tracker that `fit` reports (0 if never updated).
        """
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            loss = self.reconstruction_loss(x, training=True)
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        tracker = next((m for m in self.metrics if m.name == "loss"), None)
        if tracker is None:
            return {"loss": loss}
        tracker.update_state(loss)
        return {"loss": tracker.result()}

    def test_step(self, data: tf.Tensor | tuple) -> dict[str, tf.Tensor]:
        """Loss and distortion on one batch with the bottleneck's mode (for `evaluate`)."""
        x = data[0] if isinstance(data, tuple) else data
        return {
            "loss": self.reconstruction_loss(x, training=False),
            "distortion": self.distortion(x),
        }


@keras.saving.register_keras_serializable(package="recollect")
class DiscreteAutoencoder(Autoencoder):
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
        input_shape: (H, W, C) for images or (n,) for vectors; any shape for
            architecture "mlp".
        num_latents: int, c.
        num_categories: int, l, in [2, 256].
        width: the codec's size in one argument whatever its architecture: the
            conv filters per layer, or the MLP's dense units per layer; an int >= 1;
            None: c * l / 4 filters, c * l units (or filters / hidden_units).
        filters: conv filters per layer (as width, for a conv codec); kept for
            saved configs, which name both.
        hidden_units: dense units per layer of the MLP variant (as width, for an mlp).
        temperature: float > 0, the Gumbel-softmax temperature (default 1.0).
        noise_scale: float >= 0, scale of the Gumbel noise in training: 1.0 is the
            Gumbel-softmax estimator; 0.0 trains the straight-through estimator on
            the mode, the code `encode` stores (often lower distortion online).
        seed: int seed for the Gumbel noise; None draws one from Python's `random`.
        architecture: "conv" (needs a 3-D input_shape), "grid" (a 3-D input_shape
            and c a multiple of its cells, `codec_layers.grid_cells`), "mlp" (any input_shape:
            encode, decode and reconstructions keep the input's shape), or None:
            "conv" for a 3-D input_shape and "mlp" for a 1-D one.
        kernel_size: the conv layers' kernel size (5, as the paper; 3 costs ~2.8x
            fewer FLOPs).

    Raises:
        ValueError: on an unknown architecture, an input_shape it cannot take, or
            an out-of-range c, l, width, filters, hidden_units, temperature,
            noise_scale, seed or kernel_size, or width with filters or hidden_units.
    """

    def __init__(
        self,
        *,
        input_shape: Sequence[int],
        num_latents: int,
        num_categories: int,
        width: int | None = None,
        filters: int | None = None,
        hidden_units: int | None = None,
        temperature: float = 1.0,
        noise_scale: float = 1.0,
        seed: int | None = None,
        architecture: str | None = None,
        kernel_size: int = KERNEL_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.input_spec_shape, self.architecture = resolve_architecture(input_shape, architecture)
        arguments.check_int("kernel_size", kernel_size, minimum=1)
        self.kernel_size = int(kernel_size)
        self.bits_per_item = bits.bits_per_item(num_latents, num_categories)
        if self.architecture == "grid":  # bits_per_item has checked num_latents
            check_grid_latents(self.input_spec_shape, num_latents)
        if not temperature > 0:
            raise ValueError(f"Expected temperature > 0. Received: temperature={temperature!r}")
        if not noise_scale >= 0:
            raise ValueError(f"Expected noise_scale >= 0. Received: noise_scale={noise_scale!r}")
        arguments.check_seed("seed", seed, optional=True)
        self.noise_scale = float(noise_scale)
        self.num_latents = int(num_latents)
        self.num_categories = int(num_categories)
        units = self.num_latents * self.num_categories
        self.filters, self.hidden_units = resolve_units(
            units, filters, hidden_units, width=width, architecture=self.architecture
        )
        self.temperature = float(temperature)
        self.seed = seed
        self._build_stacks(units)
        # A plain int64 variable (not a keras SeedGenerator) so that
        # tf.train.Checkpoint and SavedModel keep the noise stream's position.
        initial_seed = seed if seed is not None else random.randrange(2**31)
        self.noise_seed = self.add_weight(
            shape=(2,),
            dtype="int64",
            initializer=keras.initializers.Constant([initial_seed, 0]),
            trainable=False,
            aggregation="only_first_replica",  # one step of the stream per step, on every replica
            name="noise_seed",
        )
        self.built = True  # every weight exists now: state is made once

    def encode_logits(self, x: TensorLike) -> tf.Tensor:
        """Maps float32 [B, *input_shape] to float32 logits [B, c, l]."""
        logits = self.encoder(x)
        return tf.reshape(logits, [-1, self.num_latents, self.num_categories])

    def encode(self, x: TensorLike) -> tf.Tensor:
        """Maps float32 [B, *input_shape] in [0, 1] to int32 indices [B, c] (the mode)."""
        return tf.argmax(self.encode_logits(x), axis=-1, output_type=tf.int32)

    def decode_logits(self, one_hot: tf.Tensor) -> tf.Tensor:
        """Maps float32 one-hot [B, c, l] to float32 logits [B, *input_shape]."""
        flat = tf.reshape(one_hot, [-1, self.num_latents * self.num_categories])
        return self.decoder(flat)

    def decode(self, indices: TensorLike) -> tf.Tensor:
        """Maps int [B, c] in [0, l) to float32 recollections [B, *input_shape] in [0, 1].

        Raises:
            ValueError: on indices that are not int [B, c] in [0, l) (in a graph,
                an assertion: `tf.errors.InvalidArgumentError`); see `bits.check_indices`.
        """
        checked = bits.check_indices(indices, self.num_latents, self.num_categories)
        return self.decode_unchecked(checked)

    def decode_unchecked(self, indices: TensorLike) -> tf.Tensor:
        """`decode` for indices known to be int [B, c] in [0, l) (graph-safe, no checks)."""
        one_hot = tf.one_hot(indices, self.num_categories, dtype=tf.float32)
        return self._decoded(tf.reshape(one_hot, [-1, self.num_latents * self.num_categories]))

    def sample_bottleneck(self, logits: tf.Tensor, training: bool) -> tf.Tensor:
        """Straight-through Gumbel-softmax sample (training) or the mode's one-hot.

        Args:
            logits: float32 [B, c, l].
            training: draw Gumbel noise (True) or take the argmax (False).

        Returns:
            float32 [B, c, l]: exactly one-hot in the forward pass.
        """
        if not training:
            return tf.one_hot(tf.argmax(logits, axis=-1), self.num_categories, dtype=tf.float32)
        seed = replicas.replica_seed(tf.identity(self.noise_seed.value))
        self.noise_seed.assign_add(tf.constant([0, 1], tf.int64))
        uniform = tf.random.stateless_uniform(tf.shape(logits), seed=seed, minval=1e-10, maxval=1.0)
        gumbel = -tf.math.log(-tf.math.log(uniform))
        noisy = tf.nn.log_softmax(logits, axis=-1) + self.noise_scale * gumbel
        soft = tf.nn.softmax(noisy / self.temperature, axis=-1)
        hard = tf.one_hot(tf.argmax(noisy, axis=-1), self.num_categories, dtype=soft.dtype)
        return soft + tf.stop_gradient(hard - soft)

    def _code(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        sample = self.sample_bottleneck(self.encode_logits(x), training)
        return tf.reshape(sample, [-1, self.num_latents * self.num_categories])

    def get_config(self) -> dict:
        """The constructor's arguments (architecture resolved), for Keras serialisation."""
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
                "architecture": self.architecture,
                "kernel_size": self.kernel_size,
            }
        )
        return config
