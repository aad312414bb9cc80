"""Real storage: a buffer of raw 8-bit examples, the paper's baseline.

```
IndexBuffer  x uint8 [capacity, *input_shape]   label int32 [capacity]   task int32 [capacity]
```

Where this sits: `STORES["real"]`; replay and GEM recall from it, and it needs no
stabilising (`stabilize_batches = 0`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, cast

import numpy as np
import tensorflow as tf

from agents.stores.base import StoragePlan, StoreItems
from recollect import Field, Footprint, IndexBuffer, WritePolicy, budget, graph_checks
from recollect.footprint import raw_example_bytes
from recollect.tensor_types import TensorLike


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
    keeps_codes: ClassVar[bool] = False

    @classmethod
    def plan(
        cls,
        config: RealStoreConfig,
        *,
        incremental_storage: float,
        input_shape: tuple[int, ...],
        budget_kind: str = "incremental",
        examples: np.ndarray | None = None,
    ) -> StoragePlan:
        """Keeps int(incremental_storage) raw examples; raises ValueError below one.

        Real storage has no codec, so a total budget (eq. 5) is its incremental one;
        it needs no examples to size itself by.
        """
        del config, examples
        if budget_kind not in budget.BUDGETS:
            raise ValueError(
                f"Expected --budget among {budget.BUDGETS}. Received: budget={budget_kind!r}"
            )
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

    def read_rows(self, rows: TensorLike) -> StoreItems:
        """The items at the given rows: (x float32 [m, ...], y int32 [m], task int32 [m])."""
        items = self.buffer.read(tf.convert_to_tensor(rows, tf.int64))
        return tf.cast(items["x"], tf.float32) / 255.0, items["label"], items["task"]

    def size(self) -> tf.Tensor:
        """int64 []: items stored."""
        return self.buffer.size()

    def task_size(self, task: TensorLike) -> tf.Tensor:
        """int64 []: items of one task stored."""
        return self.buffer.task_size(task)

    def observe(self, x: TensorLike, y: TensorLike, task: TensorLike) -> tf.Tensor:
        """Stores x float32 [B, *input_shape] in [0, 1] as uint8, with labels and task.

        Returns int64 [B], each item's row (-1: dropped).
        """
        x = tf.convert_to_tensor(x, tf.float32)
        pixels = tf.cast(tf.round(tf.clip_by_value(x * 255.0, 0.0, 255.0)), tf.uint8)
        items = {
            "x": pixels,
            "label": tf.cast(y, tf.int32),
            "task": tf.fill(tf.shape(pixels)[:1], tf.cast(task, tf.int32)),
        }
        return self._write(items)

    def recall(self, n: TensorLike, task: TensorLike | None = None) -> StoreItems:
        """Returns (x float32 [n, ...] in [0, 1], y int32 [n], task int32 [n])."""
        if graph_checks.in_graph():
            items = self.buffer.sample_unchecked(n, task)  # the learner checks size first
        else:
            items = self.buffer.sample(int(n), None if task is None else int(task))
        return tf.cast(items["x"], tf.float32) / 255.0, items["label"], items["task"]

    def stabilize(self, x: TensorLike, recollections: list[tf.Tensor] | None) -> None:
        """Real examples need no stabilising."""
        del x, recollections

    def footprint(self) -> Footprint:
        """Raw 8-bit inputs at capacity, plus int32 label and task per item."""
        raw_bytes = raw_example_bytes(math.prod(self.input_shape))
        capacity = self.buffer.capacity
        input_bytes = int(capacity * raw_bytes)
        return Footprint(
            kind="real",
            bits_per_item=budget.raw_example_bits(self.input_shape),
            items_stored=int(self.size()),
            capacity=capacity,
            input_bytes=input_bytes,
            buffer_bytes=input_bytes + capacity * 8,
            raw_example_bytes=raw_bytes,
        )
