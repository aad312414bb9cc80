"""The recollection store's settings: its code shape, and its codec (a `CodecConfig`).

Where this sits: `ContinualConfig.store_config` for `--storage=recollections`;
`agents.stores.recollection_plan` reads it to fit the code shape to the budget,
and `agents.stores.recollections.RecollectionStore` builds its memory from it.
"""

from __future__ import annotations

import dataclasses

from agents.experiment.settings import check
from agents.stores.codecs import CodecConfig


@dataclasses.dataclass(frozen=True)
class RecollectionStoreConfig(CodecConfig):
    """The recollection store's code shape and buffer, beside `CodecConfig`'s codec.

    Attributes:
        items: codes the buffer holds; None: as many as fit (needs num_latents).
        num_latents: c; None with num_categories None: chosen by `recollect.budget`.
        num_categories: l; fixes l for the budget search when num_latents is None.
        (and every `CodecConfig` field: codec, codec_units, codec_kernel_size,
        codec_learning_rate, codec_decoder_steps, codec_noise, stabilize_steps,
        codec_init, codec_init_sha256)
    """

    items: int | None = None
    num_latents: int | None = None
    num_categories: int | None = None

    def __post_init__(self) -> None:
        """Checks the values; raises ValueError naming the flag to change."""
        check(
            not (self.num_latents and self.num_categories is None),
            "--num_categories with --num_latents",
            f"num_latents={self.num_latents}, num_categories={self.num_categories}",
        )
        super().__post_init__()
