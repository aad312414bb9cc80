"""The codec a recollection store builds from its settings, and what it costs.

Where this sits: `RecollectionStore.from_plan` builds its codec here and its plan
(`recollection_plan.py`) counts the codec's parameters and checks a pretrained
codec file against the same settings; `agents.pretrain` builds the codec it
pretrains here, so a pretrained file fits the store that names the same settings.

```
settings (codec, codec_units, codec_kernel_size, codec_noise) + (c, l) + input_shape
    --build_codec-->     DiscreteAutoencoder
    --codec_settings-->  {input_shape, num_latents, ..., kernel_size}  (pretrained_codec)
    --param_count_fn-->  (c, l) -> |theta|                             (recollect.budget)
```
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from recollect import DiscreteAutoencoder, budget
from recollect import pretrained_codec as pretrained

CODECS = ("mlp", "conv")
# The codec's width argument for each architecture.
CODEC_UNITS_ARGUMENT = {"conv": "filters", "mlp": "hidden_units"}


class CodecSettings(Protocol):
    """The codec settings a store config and a pretraining config share."""

    @property
    def codec(self) -> str: ...  # noqa: D102
    @property
    def codec_units(self) -> int | None: ...  # noqa: D102
    @property
    def codec_kernel_size(self) -> int: ...  # noqa: D102
    @property
    def codec_noise(self) -> float: ...  # noqa: D102


def build_codec(
    settings: CodecSettings,
    *,
    num_latents: int,
    num_categories: int,
    input_shape: tuple[int, ...],
    seed: int,
) -> DiscreteAutoencoder:
    """The `DiscreteAutoencoder` that `settings` describe for a code shape (c, l)."""
    units = {CODEC_UNITS_ARGUMENT[settings.codec]: settings.codec_units}
    return DiscreteAutoencoder(
        input_shape=input_shape,
        num_latents=num_latents,
        num_categories=num_categories,
        architecture=settings.codec,
        noise_scale=settings.codec_noise,
        seed=seed,
        kernel_size=settings.codec_kernel_size,
        **units,  # type: ignore[arg-type]
    )


def codec_settings(
    settings: CodecSettings, *, num_latents: int, num_categories: int, input_shape: tuple[int, ...]
) -> dict[str, Any]:
    """`recollect.pretrained_codec.codec_settings` of the codec `build_codec` would build."""
    units = {CODEC_UNITS_ARGUMENT[settings.codec]: settings.codec_units}
    return pretrained.codec_settings(
        input_shape=input_shape,
        num_latents=num_latents,
        num_categories=num_categories,
        architecture=settings.codec,
        kernel_size=settings.codec_kernel_size,
        **units,  # type: ignore[arg-type]
    )


def param_count_fn(
    settings: CodecSettings, input_shape: tuple[int, ...]
) -> Callable[[int, int], int]:
    """|theta|(c, l): the parameters of the codec `build_codec` would build."""
    units = {CODEC_UNITS_ARGUMENT[settings.codec]: settings.codec_units}
    return budget.default_param_count(
        input_shape,
        architecture=settings.codec,
        kernel_size=settings.codec_kernel_size,
        **units,  # type: ignore[arg-type]
    )
