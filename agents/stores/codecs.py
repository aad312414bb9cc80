"""The codec a recollection store builds from its settings, and what it costs.

Where this sits: `RecollectionStore.from_plan` builds its codec here and its plan
(`recollection_plan.py`) counts the codec's parameters and checks a pretrained
codec file against the same settings; `agents.pretrain` builds the codec it
pretrains here, so a pretrained file fits the store that names the same settings.

Both runners' codec settings are a `CodecConfig`: the continual store's
(`RecollectionStoreConfig`) and the lifelong agent's (`agents.lifelong.CodecConfig`)
add only what their own memories need (items and a budget search; frames).

```
settings (codec, codec_units, codec_kernel_size, codec_noise) + (c, l) + input_shape
    --build_codec-->     DiscreteAutoencoder
    --codec_settings-->  {input_shape, num_latents, ..., kernel_size}  (pretrained_codec)
    --param_count_fn-->  (c, l) -> |theta|                             (recollect.budget)
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

from agents.experiment.settings import check, is_int, is_number
from recollect import DiscreteAutoencoder, budget, codec_layers
from recollect import pretrained_codec as pretrained

CODECS = ("mlp", "conv", "grid")


@dataclasses.dataclass(frozen=True)
class CodecConfig:
    """A recollection memory's codec and how it learns, in both runners.

    Attributes:
        codec: the autoencoder's architecture, mlp, conv or grid (a spatial code:
            one set of latents per 4x4 patch, for natural images).
        codec_units: its width in one number: hidden units (mlp) or filters (conv,
            grid) per layer; None for the paper's c*l (mlp), c*l/4 (conv) or 64 (grid).
        codec_kernel_size: kernel size of the conv codec's layers (the paper: 5).
        codec_learning_rate: Adam step size of the autoencoder.
        codec_decoder_steps: autoencoder steps after which its decoder is fixed
            and only its encoder learns, so that every code written from then on
            decodes exactly as when it was written (0: fixed from the start, for a
            pretrained codec). None: the decoder learns throughout (Algorithm 1).
        codec_noise: scale of the Gumbel noise in autoencoder training (1.0: the
            Gumbel-softmax estimator; 0.0: straight-through on the mode).
        stabilize_steps: N, autoencoder steps per incoming batch, each on the batch
            joined with a recalled one (Algorithm 1); 0: one step on the incoming
            batch alone (no self-replay).
        codec_init: a pretrained codec's weights file (`runners.pretrain_codec` or
            `runners.pretrain_frames --output`), which the codec starts from (a
            resumed run: from its checkpoint); its code shape, architecture, input
            shape, units and kernel must be the run's. None: a randomly initialised codec.
        codec_init_sha256: the sha256 the --codec_init file must have; None: the
            file's own, read when the config is made (so config.json records it and
            a resume with another file is refused).
    """

    codec: str = "mlp"
    codec_units: int | None = None
    codec_kernel_size: int = 5
    codec_learning_rate: float = 1e-3
    codec_decoder_steps: int | None = None
    codec_noise: float = 1.0
    stabilize_steps: int = 1
    codec_init: str | None = None
    codec_init_sha256: str | None = None

    def __post_init__(self) -> None:
        """Checks the values; raises ValueError naming the flag to change."""
        check_codec_settings(self)
        steps = self.codec_decoder_steps
        check(
            steps is None or is_int(steps, 0),
            "--codec_decoder_steps >= 0 (or unset)",
            f"codec_decoder_steps={steps!r}",
        )
        check(
            is_int(self.stabilize_steps, 0),
            "--stabilize_steps >= 0",
            f"stabilize_steps={self.stabilize_steps!r}",
        )
        object.__setattr__(self, "codec_init_sha256", self._pinned_sha256())

    def _pinned_sha256(self) -> str | None:
        """The sha256 the --codec_init file must have: the given one, else the file's own."""
        sha256 = self.codec_init_sha256
        if self.codec_init is None:
            check(
                sha256 is None,
                "--codec_init with --codec_init_sha256",
                f"codec_init=None, codec_init_sha256={sha256!r}",
            )
            return None
        digest = pretrained.PretrainedCodec.read(self.codec_init).weights_sha256
        check(
            sha256 in (None, digest),
            f"--codec_init with sha256 {sha256} (the one recorded for this run)",
            f"{self.codec_init} has sha256 {digest}",
        )
        return digest


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


def check_codec_settings(settings: Any) -> None:
    """Refuses a bad codec, codec_units, codec_kernel_size, codec_learning_rate or codec_noise.

    Every config that builds a codec with `build_codec` checks its settings here
    (`CodecConfig`, and `agents.distill.DistillConfig`, which trains its codecs offline).

    Raises:
        ValueError: naming the flag to change.
    """
    codec, units = settings.codec, settings.codec_units
    check(codec in CODECS, f"--codec among {list(CODECS)}", f"codec={codec!r}")
    check(units is None or is_int(units, 1), "--codec_units >= 1", f"codec_units={units!r}")
    kernel = settings.codec_kernel_size
    check(is_int(kernel, 1), "--codec_kernel_size >= 1", f"codec_kernel_size={kernel!r}")
    rate, noise = settings.codec_learning_rate, settings.codec_noise
    check(
        is_number(rate) and rate > 0 and is_number(noise) and noise >= 0,
        "--codec_learning_rate > 0 and --codec_noise >= 0",
        f"codec_learning_rate={rate!r}, codec_noise={noise!r}",
    )


def build_codec(
    settings: CodecSettings,
    *,
    num_latents: int,
    num_categories: int,
    input_shape: tuple[int, ...],
    seed: int,
) -> DiscreteAutoencoder:
    """The `DiscreteAutoencoder` that `settings` describe for a code shape (c, l)."""
    return DiscreteAutoencoder(
        input_shape=input_shape,
        num_latents=num_latents,
        num_categories=num_categories,
        architecture=settings.codec,
        noise_scale=settings.codec_noise,
        seed=seed,
        kernel_size=settings.codec_kernel_size,
        width=settings.codec_units,
    )


def codec_settings(
    settings: CodecSettings, *, num_latents: int, num_categories: int, input_shape: tuple[int, ...]
) -> dict[str, Any]:
    """`recollect.pretrained_codec.codec_settings` of the codec `build_codec` would build."""
    return pretrained.codec_settings(
        input_shape=input_shape,
        num_latents=num_latents,
        num_categories=num_categories,
        architecture=settings.codec,
        kernel_size=settings.codec_kernel_size,
        width=settings.codec_units,
    )


def param_count_fn(
    settings: CodecSettings, input_shape: tuple[int, ...]
) -> Callable[[int, int], int]:
    """|theta|(c, l): the parameters of the codec `build_codec` would build."""
    return budget.default_param_count(
        input_shape,
        architecture=settings.codec,
        kernel_size=settings.codec_kernel_size,
        width=settings.codec_units,
    )


def latent_multiple(settings: CodecSettings, input_shape: tuple[int, ...]) -> int:
    """What c must be a multiple of: a grid codec's cells on input_shape, else 1."""
    return codec_layers.grid_cells(input_shape) if settings.codec == "grid" else 1
