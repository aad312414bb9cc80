"""The interface every episodic store provides, and a budget's plan.

Where this sits: learners (`agents/learners/`) type their store as an
`EpisodicStore`; `agents.continual.build` asks a store class for a `StoragePlan`
and builds the store from it.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import tensorflow as tf

from recollect import Footprint, WritePolicy
from recollect.tensor_types import TensorLike

StoreItems = tuple[tf.Tensor, tf.Tensor, tf.Tensor]


class EpisodicStore(Protocol):
    """What a learner may ask of its store (both stores below provide it).

    Every method takes and returns tensors and works both eagerly and inside the
    learner's compiled step; `size` and `task_size` are int64 [] tensors.
    """

    stabilize_batches: int

    @property
    def policy(self) -> WritePolicy: ...  # noqa: D102
    @property
    def capacity(self) -> int: ...  # noqa: D102
    def size(self) -> tf.Tensor: ...  # noqa: D102
    def task_size(self, task: TensorLike) -> tf.Tensor: ...  # noqa: D102
    def observe(self, x: TensorLike, y: TensorLike, task: TensorLike) -> tf.Tensor: ...  # noqa: D102
    def recall(self, n: TensorLike, task: TensorLike | None = None) -> StoreItems: ...  # noqa: D102
    def read_rows(self, rows: TensorLike) -> StoreItems: ...  # noqa: D102
    def stabilize(  # noqa: D102
        self, x: TensorLike, recollections: list[tf.Tensor] | None
    ) -> None: ...
    def footprint(self) -> Footprint: ...  # noqa: D102


class CodeStore(EpisodicStore, Protocol):
    """A store that keeps codes (`keeps_codes`): what a drift probe reads.

    `codes` maps x float32 [B, *input_shape] to the uint8 [B, code_bytes] codes
    `observe` writes with the codec as it is now; `decode_codes` maps such codes
    back to float32 [B, *input_shape] with the codec as it is now.
    """

    def codes(self, x: TensorLike) -> tf.Tensor: ...  # noqa: D102
    def decode_codes(self, codes: TensorLike) -> tf.Tensor: ...  # noqa: D102


@dataclasses.dataclass(frozen=True)
class StoragePlan:
    """How a budget is spent: buffer capacity and (for recollections) code shape."""

    capacity: int
    bits_per_item: int
    num_latents: int | None = None
    num_categories: int | None = None
