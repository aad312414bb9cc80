"""The recollection store's settings: its code shape, codec and how the codec learns.

Where this sits: `ContinualConfig.store_config` for `--storage=recollections`;
`agents.stores.recollection_plan` reads it to fit the code shape to the budget,
and `agents.stores.recollections.RecollectionStore` builds its memory from it.
"""

from __future__ import annotations

import dataclasses

from agents.stores.codecs import CODECS
from recollect import pretrained_codec as pretrained


@dataclasses.dataclass(frozen=True)
class RecollectionStoreConfig:
    """The recollection store's codec and code shape.

    Attributes:
        items: codes the buffer holds; None: as many as fit (needs num_latents).
        num_latents: c; None with num_categories None: chosen by `recollect.budget`.
        num_categories: l; fixes l for the budget search when num_latents is None.
        codec: the autoencoder's architecture, mlp or conv.
        codec_units: hidden units (mlp) or filters (conv); None for the paper's c*l
            (mlp) or c*l/4 (conv).
        codec_kernel_size: kernel size of the conv codec's layers (the paper: 5).
        codec_learning_rate: Adam step size of the autoencoder.
        codec_decoder_steps: autoencoder steps after which its decoder is fixed
            and only its encoder learns, so that every code written from then on
            decodes exactly as when it was written (N steps per incoming batch;
            N = 0: one). None: the decoder learns throughout (Algorithm 1).
        codec_noise: scale of the Gumbel noise in autoencoder training (1.0: the
            Gumbel-softmax estimator; 0.0: straight-through on the mode).
        stabilize_steps: N, autoencoder steps per incoming batch, each on the batch
            joined with a recalled one (Algorithm 1); 0: one step on the incoming
            batch alone (no self-replay).
        codec_init: a pretrained codec's weights file (`runners.pretrain_codec
            --output`), which the codec starts from (a resumed run: from its
            checkpoint); its code shape, architecture, input shape, units and kernel
            must be the run's. None: a randomly initialised codec.
        codec_init_sha256: the sha256 the --codec_init file must have; None: the
            file's own, read when the config is made (so config.json records it and
            a resume with another file is refused).
    """

    items: int | None = None
    num_latents: int | None = None
    num_categories: int | None = None
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
        if self.codec not in CODECS:
            raise ValueError(f"Expected --codec among {CODECS}. Received: codec={self.codec!r}")
        if self.num_latents and self.num_categories is None:
            raise ValueError(
                "Expected --num_categories with --num_latents. Received: "
                f"num_latents={self.num_latents}, num_categories={self.num_categories}"
            )
        if not (isinstance(self.stabilize_steps, int) and self.stabilize_steps >= 0):
            raise ValueError(
                f"Expected --stabilize_steps >= 0. Received: stabilize_steps={self.stabilize_steps}"
            )
        if not (isinstance(self.codec_kernel_size, int) and self.codec_kernel_size >= 1):
            raise ValueError(
                "Expected --codec_kernel_size >= 1. Received: "
                f"codec_kernel_size={self.codec_kernel_size!r}"
            )
        if not self.codec_learning_rate > 0 or not self.codec_noise >= 0:
            raise ValueError(
                "Expected --codec_learning_rate > 0 and --codec_noise >= 0. Received: "
                f"codec_learning_rate={self.codec_learning_rate}, codec_noise={self.codec_noise}"
            )
        steps = self.codec_decoder_steps
        if steps is not None and not (isinstance(steps, int) and steps >= 0):
            raise ValueError(
                "Expected --codec_decoder_steps >= 0 (or unset). Received: "
                f"codec_decoder_steps={steps!r}"
            )
        self._check_codec_init()

    def _check_codec_init(self) -> None:
        """Reads the --codec_init file and pins its sha256 (raises ValueError if it differs)."""
        if self.codec_init is None:
            if self.codec_init_sha256 is not None:
                raise ValueError(
                    "Expected --codec_init with --codec_init_sha256. Received: "
                    f"codec_init=None, codec_init_sha256={self.codec_init_sha256!r}"
                )
            return
        digest = pretrained.PretrainedCodec.read(self.codec_init).weights_sha256
        if self.codec_init_sha256 is None:
            object.__setattr__(self, "codec_init_sha256", digest)
        elif self.codec_init_sha256 != digest:
            raise ValueError(
                f"Expected --codec_init with sha256 {self.codec_init_sha256} (the one recorded "
                f"for this run). Received: {self.codec_init} has sha256 {digest}"
            )
