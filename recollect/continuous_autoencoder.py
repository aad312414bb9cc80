"""A continuous autoencoder with h float32 latents, to compare codes against.

Where this sits: the same stacks, loss and input checks as `DiscreteAutoencoder`
(`autoencoder.Autoencoder`), with the bottleneck left continuous; the paper's
Table 6 and `benchmarks.rate_distortion` count its latents at 32, 16 or 8 bits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from recollect import arguments
from recollect.autoencoder import Autoencoder
from recollect.codec_layers import (
    KERNEL_SIZE,
    check_grid_latents,
    resolve_architecture,
    resolve_units,
)
from recollect.tensor_types import TensorLike


@keras.saving.register_keras_serializable(package="recollect")
class ContinuousAutoencoder(Autoencoder):
    """A plain autoencoder with h float32 latents, for comparison (32h bits a code).

    Args:
        input_shape: (H, W, C) or (n,); any shape for architecture "mlp".
        latent_size: int, h.
        width: conv filters per layer or the MLP's dense units, whatever the
            architecture; None: max(1, h // 4) filters, h units.
        filters: conv filters per layer, an int >= 1 (as width, for a conv codec).
        hidden_units: dense units of the MLP variant, an int >= 1 (as width, for an mlp).
        architecture: "conv", "mlp", "grid" (h a multiple of its cells) or None, as
            for `DiscreteAutoencoder`.
        kernel_size: the conv layers' kernel size.

    Raises:
        ValueError: on an unknown architecture, an input_shape it cannot take, a
            latent_size < 1, or filters or hidden_units neither None nor an int >= 1.
    """

    def __init__(
        self,
        *,
        input_shape: Sequence[int],
        latent_size: int,
        width: int | None = None,
        filters: int | None = None,
        hidden_units: int | None = None,
        architecture: str | None = None,
        kernel_size: int = KERNEL_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.input_spec_shape, self.architecture = resolve_architecture(input_shape, architecture)
        arguments.check_int("kernel_size", kernel_size, minimum=1)
        self.kernel_size = int(kernel_size)
        if isinstance(latent_size, bool) or not isinstance(latent_size, int) or latent_size < 1:
            raise ValueError(f"Expected latent_size an int >= 1. Received: {latent_size!r}")
        self.latent_size = latent_size
        if self.architecture == "grid":
            check_grid_latents(self.input_spec_shape, latent_size)
        self.filters, self.hidden_units = resolve_units(
            latent_size, filters, hidden_units, width=width, architecture=self.architecture
        )
        self.bits_per_item = 32 * latent_size
        self._build_stacks(latent_size)
        self.built = True

    def encode(self, x: TensorLike) -> tf.Tensor:
        """Maps float32 [B, *input_shape] to float32 latents [B, h]."""
        return self.encoder(x)

    def decode(self, z: TensorLike) -> tf.Tensor:
        """Maps float32 [B, h] to float32 reconstructions [B, *input_shape] in [0, 1]."""
        return self._decoded(z)

    def _code(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        del training
        return self.encoder(x)

    def get_config(self) -> dict:
        """The constructor's arguments (architecture resolved), for Keras serialisation."""
        config = super().get_config()
        config.update(
            {
                "input_shape": list(self.input_spec_shape),
                "latent_size": self.latent_size,
                "filters": self.filters,
                "hidden_units": self.hidden_units,
                "architecture": self.architecture,
                "kernel_size": self.kernel_size,
            }
        )
        return config
