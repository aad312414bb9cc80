"""Episodic stores a learner replays from: real examples or recollections.

Where this sits: a replay or GEM learner calls `recall` (and `stabilize`) before
its model step and `observe` after it. Both stores share one interface, so every
learner works with either storage; `STORES` names them for the run loop.

```
RealStore          IndexBuffer of raw uint8 inputs [capacity, *input_shape] + label + task
RecollectionStore  RecollectionMemory: packed k-bit codes + label + task, decoded on recall

plan(config, incremental_storage=, input_shape=) -> StoragePlan   (capacity, code shape)
from_plan(plan, config=, input_shape=, num_classes=, num_tasks=, policy=, seed=)
stabilize_batches   recalled batches its own stabilising uses per step (0: none)
observe(x, y, task) / recall(n, task) / read_rows(rows) -> (x float32 [n, ...], y, task)
stabilize(x, recollections) / size() / task_size(task) / footprint() -> Footprint
```

The write policy is injected: the learner says which one it needs.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Protocol, cast

import numpy as np
import tensorflow as tf

from recollect import (
    DiscreteAutoencoder,
    Field,
    Footprint,
    IndexBuffer,
    RecollectionMemory,
    WritePolicy,
    budget,
)
from recollect.footprint import raw_example_bytes

CODECS = ("mlp", "conv")
# The codec's width argument for each architecture.
_CODEC_UNITS_ARGUMENT = {"conv": "filters", "mlp": "hidden_units"}

StoreItems = tuple[tf.Tensor, tf.Tensor, tf.Tensor]


class EpisodicStore(Protocol):
    """What a learner may ask of its store (both stores below provide it)."""

    stabilize_batches: int

    @property
    def policy(self) -> WritePolicy: ...  # noqa: D102
    @property
    def capacity(self) -> int: ...  # noqa: D102
    def size(self) -> int: ...  # noqa: D102
    def task_size(self, task: int) -> int: ...  # noqa: D102
    def observe(self, x: np.ndarray, y: np.ndarray, task: int) -> None: ...  # noqa: D102
    def recall(self, n: int, task: int | None = None) -> StoreItems: ...  # noqa: D102
    def read_rows(self, rows: np.ndarray) -> StoreItems: ...  # noqa: D102
    def stabilize(  # noqa: D102
        self, x: np.ndarray, recollections: list[tf.Tensor] | None
    ) -> None: ...
    def footprint(self) -> Footprint: ...  # noqa: D102


@dataclasses.dataclass(frozen=True)
class StoragePlan:
    """How a budget is spent: buffer capacity and (for recollections) code shape."""

    capacity: int
    bits_per_item: int
    num_latents: int | None = None
    num_categories: int | None = None


@dataclasses.dataclass(frozen=True)
class RealStoreConfig:
    """Real storage keeps incremental_storage raw examples; it has no settings."""


class RealStore(tf.Module):
    """A buffer of real examples, stored as 8-bit values (the paper's raw unit).

    Args:
        capacity: examples kept.
        input_shape: shape of one input.
        num_classes: labels are in [0, num_classes).
        num_tasks: task ids are in [0, num_tasks).
        policy: the write policy.
        seed: seeds the buffer's draws.
    """

    config_class: ClassVar[type] = RealStoreConfig
    stabilize_batches: ClassVar[int] = 0

    @classmethod
    def plan(
        cls, config: RealStoreConfig, *, incremental_storage: float, input_shape: tuple[int, ...]
    ) -> StoragePlan:
        """Keeps int(incremental_storage) raw examples; raises ValueError below one."""
        del config
        capacity = int(incremental_storage)
        if capacity < 1:
            raise ValueError(
                f"Expected --incremental_storage >= 1 to hold one real example. Received: "
                f"{incremental_storage}"
            )
        return StoragePlan(capacity, budget.raw_example_bits(input_shape))

    @classmethod
    def from_plan(
        cls,
        plan: StoragePlan,
        *,
        config: RealStoreConfig,
        input_shape: tuple[int, ...],
        num_classes: int,
        num_tasks: int,
        policy: WritePolicy,
        seed: int = 0,
    ) -> RealStore:
        """A buffer of the planned capacity."""
        del config
        return cls(
            capacity=plan.capacity,
            input_shape=input_shape,
            num_classes=num_classes,
            num_tasks=num_tasks,
            policy=policy,
            seed=seed,
        )

    def __init__(
        self,
        *,
        capacity: int,
        input_shape: tuple[int, ...],
        num_classes: int,
        num_tasks: int,
        policy: WritePolicy,
        seed: int = 0,
    ) -> None:
        super().__init__(name="real_store")
        self.input_shape = tuple(int(d) for d in input_shape)
        self.buffer = IndexBuffer(
            capacity=capacity,
            fields={
                "x": Field(self.input_shape, "uint8"),
                "label": Field((), "int32", num_classes),
                "task": Field((), "int32", num_tasks),
            },
            policy=policy,
            seed=seed,
        )
        specs = {
            name: tf.TensorSpec([None, *spec.shape], spec.dtype)
            for name, spec in self.buffer.fields.items()
        }
        self._write = tf.function(self.buffer.write_unchecked, input_signature=[specs])

    @property
    def policy(self) -> WritePolicy:
        """The buffer's write policy."""
        return cast(WritePolicy, self.buffer.policy)

    @property
    def capacity(self) -> int:
        """Items the buffer holds."""
        return self.buffer.capacity

    def read_rows(self, rows: np.ndarray) -> StoreItems:
        """The items at the given rows: (x float32 [m, ...], y int32 [m], task int32 [m])."""
        items = self.buffer.read(tf.constant(np.asarray(rows, np.int64)))
        return tf.cast(items["x"], tf.float32) / 255.0, items["label"], items["task"]

    def size(self) -> int:
        """Items stored."""
        return int(self.buffer.size())

    def task_size(self, task: int) -> int:
        """Items of one task stored."""
        return int(self.buffer.task_size(task))

    def observe(self, x: np.ndarray, y: np.ndarray, task: int) -> None:
        """Stores x float32 [B, *input_shape] in [0, 1] as uint8, with labels and task."""
        pixels = np.clip(np.rint(np.asarray(x) * 255.0), 0, 255).astype(np.uint8)
        self._write(
            {
                "x": tf.constant(pixels),
                "label": tf.constant(np.asarray(y), tf.int32),
                "task": tf.fill([len(pixels)], tf.constant(task, tf.int32)),
            }
        )

    def recall(self, n: int, task: int | None = None) -> StoreItems:
        """Returns (x float32 [n, ...] in [0, 1], y int32 [n], task int32 [n])."""
        items = self.buffer.sample(n, task)
        return tf.cast(items["x"], tf.float32) / 255.0, items["label"], items["task"]

    def stabilize(self, x: np.ndarray, recollections: list[tf.Tensor] | None) -> None:
        """Real examples need no stabilising."""
        del x, recollections

    def footprint(self) -> Footprint:
        """Raw 8-bit inputs at capacity, plus int32 label and task per item."""
        raw_bytes = raw_example_bytes(math.prod(self.input_shape))
        capacity = self.buffer.capacity
        input_bytes = int(capacity * raw_bytes)
        return Footprint(
            kind="real",
            bits_per_item=math.prod(self.input_shape) * 8,
            items_stored=self.size(),
            capacity=capacity,
            input_bytes=input_bytes,
            buffer_bytes=input_bytes + capacity * 8,
            raw_example_bytes=raw_bytes,
        )


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
        codec_learning_rate: Adam step size of the autoencoder.
        codec_noise: scale of the Gumbel noise in autoencoder training (1.0: the
            Gumbel-softmax estimator; 0.0: straight-through on the mode).
        stabilize_steps: N, autoencoder steps per incoming batch (Algorithm 1).
    """

    items: int | None = None
    num_latents: int | None = None
    num_categories: int | None = None
    codec: str = "mlp"
    codec_units: int | None = None
    codec_learning_rate: float = 1e-3
    codec_noise: float = 1.0
    stabilize_steps: int = 1

    def __post_init__(self) -> None:
        """Checks the values; raises ValueError naming the flag to change."""
        if self.codec not in CODECS:
            raise ValueError(f"Expected --codec among {CODECS}. Received: codec={self.codec!r}")
        if self.num_latents and self.num_categories is None:
            raise ValueError(
                "Expected --num_categories with --num_latents. Received: "
                f"num_latents={self.num_latents}, num_categories={self.num_categories}"
            )
        if not (isinstance(self.stabilize_steps, int) and self.stabilize_steps >= 1):
            raise ValueError(
                f"Expected --stabilize_steps >= 1. Received: stabilize_steps={self.stabilize_steps}"
            )
        if not self.codec_learning_rate > 0 or not self.codec_noise >= 0:
            raise ValueError(
                "Expected --codec_learning_rate > 0 and --codec_noise >= 0. Received: "
                f"codec_learning_rate={self.codec_learning_rate}, codec_noise={self.codec_noise}"
            )


class RecollectionStore(tf.Module):
    """Recollections: a `RecollectionMemory` trained online on the stream.

    Args:
        memory: the memory (codec + packed buffer with its write policy).
        stabilize_steps: N, autoencoder steps per incoming batch (Algorithm 1).
    """

    config_class: ClassVar[type] = RecollectionStoreConfig

    @classmethod
    def plan(
        cls,
        config: RecollectionStoreConfig,
        *,
        incremental_storage: float,
        input_shape: tuple[int, ...],
    ) -> StoragePlan:
        """The code shape and item count that fit the budget, or a ValueError saying why."""
        if config.num_latents is not None:
            return _plan_fixed_shape(config, incremental_storage, input_shape)
        if config.items is None:
            raise ValueError(
                "Expected --items (the number of codes to store) or an explicit "
                "--num_latents/--num_categories for recollections. Received: neither"
            )
        shape = budget.best_code_shape(
            incremental_storage=incremental_storage,
            input_shape=input_shape,
            items=config.items,
            num_categories=config.num_categories,
        )
        return StoragePlan(
            config.items, shape.bits_per_item, shape.num_latents, shape.num_categories
        )

    @classmethod
    def from_plan(
        cls,
        plan: StoragePlan,
        *,
        config: RecollectionStoreConfig,
        input_shape: tuple[int, ...],
        num_classes: int,
        num_tasks: int,
        policy: WritePolicy,
        seed: int = 0,
    ) -> RecollectionStore:
        """A codec of the planned shape and a memory of the planned capacity."""
        if plan.num_latents is None or plan.num_categories is None:
            raise ValueError(f"Expected a plan with a code shape. Received: {plan}")
        units = {_CODEC_UNITS_ARGUMENT[config.codec]: config.codec_units}
        codec = DiscreteAutoencoder(
            input_shape=input_shape,
            num_latents=plan.num_latents,
            num_categories=plan.num_categories,
            architecture=config.codec,
            noise_scale=config.codec_noise,
            seed=seed,
            **units,  # type: ignore[arg-type]
        )
        memory = RecollectionMemory(
            codec,
            capacity=plan.capacity,
            num_classes=num_classes,
            num_tasks=num_tasks,
            policy=policy,
            learning_rate=config.codec_learning_rate,
            seed=seed,
        )
        return cls(memory, stabilize_steps=config.stabilize_steps)

    def __init__(self, memory: RecollectionMemory, *, stabilize_steps: int = 1) -> None:
        super().__init__(name="recollection_store")
        self.memory = memory
        self.memory_optimizer = memory.optimizer
        self.stabilize_batches = int(stabilize_steps)

    @property
    def policy(self) -> WritePolicy:
        """The buffer's write policy."""
        return cast(WritePolicy, self.memory.buffer.policy)

    @property
    def capacity(self) -> int:
        """Codes the buffer holds."""
        return self.memory.buffer.capacity

    def read_rows(self, rows: np.ndarray) -> StoreItems:
        """The decoded items at the given rows: (x float32 [m, ...], y [m], task [m])."""
        items = self.memory.recall_rows(rows)
        return items["x"], items["label"], items["task"]

    def size(self) -> int:
        """Items stored."""
        return int(self.memory.size())

    def task_size(self, task: int) -> int:
        """Items of one task stored."""
        return int(self.memory.buffer.task_size(task))

    def observe(self, x: np.ndarray, y: np.ndarray, task: int) -> None:
        """Encodes, packs and stores x with its labels and task."""
        self.memory.observe(x, y, task)

    def recall(self, n: int, task: int | None = None) -> StoreItems:
        """n decoded recollections: (x float32 [n, ...], y int32 [n], task int32 [n])."""
        return self.memory.recall(n, task)

    def stabilize(self, x: np.ndarray, recollections: list[tf.Tensor] | None) -> None:
        """One codec step on x joined with each recalled batch; N steps on x alone if none."""
        if recollections:
            self.memory.stabilize(x, recollections)
        else:
            self.memory.stabilize(x, num_steps=self.stabilize_batches)

    def footprint(self) -> Footprint:
        """The memory's packed codes and codec, in bytes and raw examples."""
        return self.memory.footprint()


def _plan_fixed_shape(
    config: RecollectionStoreConfig, incremental_storage: float, input_shape: tuple[int, ...]
) -> StoragePlan:
    c, l = config.num_latents, config.num_categories
    if c is None or l is None:
        raise ValueError(
            f"Expected --num_categories with --num_latents. Received: num_latents={c}, "
            f"num_categories={l}"
        )
    fit = budget.max_items(
        incremental_storage=incremental_storage,
        num_latents=c,
        num_categories=l,
        input_shape=input_shape,
    )
    items = config.items or fit
    if items < 1 or items > fit:
        need = budget.describe(
            num_latents=c, num_categories=l, items=max(items, 1), input_shape=input_shape
        )
        raise ValueError(
            f"Expected a code shape that fits the budget. Received: {c}x{l} codes "
            f"({need.code_bytes} bytes each) for {max(items, 1)} items need "
            f"{need.incremental_storage:.1f} raw examples, more than "
            f"--incremental_storage={incremental_storage} (at most {fit} items fit). "
            "Lower --items or --num_latents, or raise --incremental_storage."
        )
    return StoragePlan(items, c * math.ceil(math.log2(l)), c, l)


STORES: dict[str, type[RealStore] | type[RecollectionStore]] = {
    "real": RealStore,
    "recollections": RecollectionStore,
}
