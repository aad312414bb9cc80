"""Write policies: which buffer rows a batch of new items goes to.

Where this sits: `IndexBuffer.write` asks its policy for one row per new item, then
scatters the items; `IndexBuffer.sample` asks it which rows hold valid items. A
policy holds no tensors of its own: it declares the state it needs
(`state_specs`), the buffer makes that state once, zero-filled, and passes it back.

- `ReservoirPolicy`: Vitter's algorithm R. After n items have been seen, every one
  of them is in the buffer with probability capacity / n, at any stream length
  (draws are int64, not float32).
- `TaskRingPolicy`: an equal share of rows per task, each share a ring that keeps
  the task's most recent items (what GEM uses).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, Self

import keras
import tensorflow as tf


class BufferView(Protocol):
    """What a write policy sees of the buffer it serves (`IndexBuffer` is one).

    A policy reads the buffer's size and counters and its task column, and keeps
    its own state in `policy_state`; it never writes the buffer's fields.
    """

    @property
    def capacity(self) -> int:
        """Rows in the buffer."""
        ...

    @property
    def num_seen(self) -> Any:
        """int64 [] variable: items offered so far."""
        ...

    @property
    def fields(self) -> Mapping[str, Any]:
        """The buffer's fields by name."""
        ...

    @property
    def variables_by_field(self) -> Mapping[str, Any]:
        """Each field's variable [capacity, ...] by name."""
        ...

    @property
    def policy_state(self) -> Mapping[str, Any]:
        """The policy's own variables, as its `state_specs` asked."""
        ...


_INT63_MASK = 0x7FFFFFFFFFFFFFFF  # a Python int: a tensor here would start TensorFlow on import


def uniform_below(random_bits: tf.Tensor, upper: tf.Tensor) -> tf.Tensor:
    """Maps random int64 draws to integers uniform in [0, upper).

    The bias of the modulo is below upper / 2**63 (under 2**-23 even at 2**40
    items), so draws stay uniform at any stream length a buffer will see.

    Args:
        random_bits: int64 [n], draws over the full int64 range.
        upper: int64 [] or [n], each >= 1.

    Returns:
        int64 [n].
    """
    mask = tf.constant(_INT63_MASK, tf.int64)
    return tf.math.floormod(tf.bitwise.bitwise_and(random_bits, mask), upper)


class WritePolicy:
    """Base class for write policies. Subclasses are registered Keras objects."""

    def state_specs(self, *, capacity: int) -> dict[str, tuple[tuple[int, ...], str]]:
        """Returns the state the policy needs: name -> (shape, dtype)."""
        del capacity
        return {}

    def check(self, *, capacity: int, fields: Mapping[str, Any]) -> None:
        """Raises ValueError if the policy cannot work with this buffer."""

    def rows(self, buffer: BufferView, tasks: tf.Tensor, random_bits: tf.Tensor) -> tf.Tensor:
        """Returns int64 [batch]: the row of each new item, or -1 to drop it.

        Also updates the policy's own state in `buffer.policy_state`.

        Args:
            buffer: the buffer being written.
            tasks: int [batch], the new items' task ids (zeros without a task field).
            random_bits: int64 [batch], one draw per item.
        """
        raise NotImplementedError

    def size(self, buffer: BufferView) -> tf.Tensor:
        """Returns int64 []: how many rows hold items."""
        raise NotImplementedError

    def task_size(self, buffer: BufferView, task: int | tf.Tensor) -> tf.Tensor:
        """Returns int64 []: how many valid rows hold items of `task`."""
        raise NotImplementedError

    def holds_items(self, buffer: BufferView, rows: tf.Tensor) -> tf.Tensor:
        """Returns bool [m]: whether each row (in [0, capacity)) was ever written.

        This default fits policies that fill rows 0, 1, 2, ... in order and never
        leave a gap; a policy that places rows otherwise overrides it.

        Args:
            buffer: the buffer.
            rows: int64 [m], each in [0, capacity).
        """
        return tf.cast(rows, tf.int64) < self.size(buffer)

    def sample_rows(
        self,
        buffer: BufferView,
        n: int | tf.Tensor,
        task: int | tf.Tensor | None,
        random_bits: tf.Tensor,
    ) -> tf.Tensor:
        """Returns int64 [n] valid rows drawn uniformly (from `task` if not None)."""
        raise NotImplementedError

    def get_config(self) -> dict:
        """The constructor's arguments, for Keras serialisation."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Self:
        """A policy built from the dict `get_config` returns."""
        return cls(**config)


def _task_column(buffer: BufferView, task_field: str) -> tf.Tensor:
    if task_field not in buffer.fields:
        raise ValueError(
            f"Expected the buffer to have a '{task_field}' field to filter by task. "
            f"Received: fields={sorted(buffer.fields)}"
        )
    return buffer.variables_by_field[task_field]


@keras.saving.register_keras_serializable(package="recollect")
class ReservoirPolicy(WritePolicy):
    """Reservoir sampling (Vitter, 1985, algorithm R), vectorised over a batch.

    Item number i of the stream (counting from 0) goes to row i while the buffer
    is filling; after that it replaces row j, j uniform in [0, i], if j < capacity,
    and is dropped otherwise. Within one batch a later item that draws the same
    row as an earlier one wins, exactly as the sequential algorithm.

    Args:
        task_field: name of the buffer field holding task ids, used by
            `sample_rows(..., task=t)`.
    """

    def __init__(self, task_field: str = "task") -> None:
        self.task_field = task_field

    def rows(self, buffer: BufferView, tasks: tf.Tensor, random_bits: tf.Tensor) -> tf.Tensor:
        """Row i while filling; then row j ~ U[0, i] if j < capacity, else -1 (dropped)."""
        del tasks
        batch = tf.shape(random_bits, out_type=tf.int64)[0]
        position = buffer.num_seen + tf.range(batch, dtype=tf.int64)
        draw = uniform_below(random_bits, position + 1)
        capacity = tf.constant(buffer.capacity, tf.int64)
        replace = tf.where(draw < capacity, draw, tf.constant(-1, tf.int64))
        return tf.where(position < capacity, position, replace)

    def size(self, buffer: BufferView) -> tf.Tensor:
        """Returns int64 []: min(items seen, capacity)."""
        return tf.minimum(buffer.num_seen.value, buffer.capacity)

    def task_size(self, buffer: BufferView, task: int | tf.Tensor) -> tf.Tensor:
        """Returns int64 []: stored rows whose task field equals `task`."""
        column = _task_column(buffer, self.task_field)[: self.size(buffer)]
        return tf.reduce_sum(tf.cast(tf.equal(column, tf.cast(task, column.dtype)), tf.int64))

    def sample_rows(
        self,
        buffer: BufferView,
        n: int | tf.Tensor,
        task: int | tf.Tensor | None,
        random_bits: tf.Tensor,
    ) -> tf.Tensor:
        """Returns int64 [n]: rows uniform over the stored ones (of `task` if given)."""
        size = self.size(buffer)
        if task is None:
            return uniform_below(random_bits, size)
        column = _task_column(buffer, self.task_field)[:size]
        candidates = tf.where(tf.equal(column, tf.cast(task, column.dtype)))[:, 0]
        picks = uniform_below(random_bits, tf.maximum(tf.size(candidates, tf.int64), 1))
        return tf.gather(candidates, picks)

    def get_config(self) -> dict:
        """The constructor's arguments, for Keras serialisation."""
        return {"task_field": self.task_field}


@keras.saving.register_keras_serializable(package="recollect")
class TaskRingPolicy(WritePolicy):
    """An equal share of rows per task, each a ring of the task's newest items.

    Rows [t * share, (t + 1) * share) belong to task t, share = capacity //
    num_tasks; the task's next item overwrites its oldest one.

    Args:
        num_tasks: int, how many tasks share the buffer.
        task_field: name of the buffer field that holds task ids.
    """

    def __init__(self, num_tasks: int, task_field: str = "task") -> None:
        if isinstance(num_tasks, bool) or not isinstance(num_tasks, int) or num_tasks < 1:
            raise ValueError(f"Expected num_tasks an int >= 1. Received: num_tasks={num_tasks!r}")
        self.num_tasks = num_tasks
        self.task_field = task_field

    def state_specs(self, *, capacity: int) -> dict[str, tuple[tuple[int, ...], str]]:
        """Returns the per-task item counts: task_counts int64 [num_tasks]."""
        del capacity
        return {"task_counts": ((self.num_tasks,), "int64")}

    def check(self, *, capacity: int, fields: Mapping[str, Any]) -> None:
        """Raises ValueError without a row per task or without a task field."""
        if capacity < self.num_tasks:
            raise ValueError(
                f"Expected capacity >= num_tasks so every task gets a row. Received: "
                f"capacity={capacity}, num_tasks={self.num_tasks}"
            )
        if self.task_field not in fields:
            raise ValueError(
                f"Expected a '{self.task_field}' field for TaskRingPolicy. Received: "
                f"fields={sorted(fields)}"
            )

    def share(self, capacity: int) -> int:
        """Rows per task."""
        return capacity // self.num_tasks

    def rows(self, buffer: BufferView, tasks: tf.Tensor, random_bits: tf.Tensor) -> tf.Tensor:
        """Each item's row: its task's share, at the task's next ring position."""
        del random_bits
        share = tf.constant(self.share(buffer.capacity), tf.int64)
        tasks = tf.cast(tasks, tf.int64)
        one_hot = tf.one_hot(tasks, self.num_tasks, dtype=tf.int64)
        rank = tf.reduce_sum(tf.cumsum(one_hot, axis=0, exclusive=True) * one_hot, axis=1)
        counts = buffer.policy_state["task_counts"]
        position = tf.gather(counts, tasks) + rank
        counts.assign_add(tf.reduce_sum(one_hot, axis=0))
        return tasks * share + tf.math.floormod(position, share)

    def _sizes(self, buffer: BufferView) -> tf.Tensor:
        share = tf.constant(self.share(buffer.capacity), tf.int64)
        return tf.minimum(buffer.policy_state["task_counts"].value, share)

    def size(self, buffer: BufferView) -> tf.Tensor:
        """Returns int64 []: stored items over all tasks."""
        return tf.reduce_sum(self._sizes(buffer))

    def task_size(self, buffer: BufferView, task: int | tf.Tensor) -> tf.Tensor:
        """Returns int64 []: min(items of `task` seen, share)."""
        return tf.gather(self._sizes(buffer), tf.cast(task, tf.int64))

    def holds_items(self, buffer: BufferView, rows: tf.Tensor) -> tf.Tensor:
        """Returns bool [m]: the row lies in a task's ring within what it has filled.

        The rows past num_tasks * share belong to no task and are never written.
        """
        share = self.share(buffer.capacity)
        rows = tf.cast(rows, tf.int64)
        task = rows // share
        filled = tf.gather(self._sizes(buffer), tf.minimum(task, self.num_tasks - 1))
        return tf.logical_and(task < self.num_tasks, rows - task * share < filled)

    def sample_rows(
        self,
        buffer: BufferView,
        n: int | tf.Tensor,
        task: int | tf.Tensor | None,
        random_bits: tf.Tensor,
    ) -> tf.Tensor:
        """Returns int64 [n]: rows uniform over the stored items (of `task` if given)."""
        share = tf.constant(self.share(buffer.capacity), tf.int64)
        sizes = self._sizes(buffer)
        if task is not None:
            task = tf.cast(task, tf.int64)
            offset = uniform_below(random_bits, tf.maximum(tf.gather(sizes, task), 1))
            return task * share + offset
        ends = tf.cumsum(sizes)
        draw = uniform_below(random_bits, tf.maximum(ends[-1], 1))
        owner = tf.searchsorted(ends, draw, side="right", out_type=tf.int64)
        offset = draw - (tf.gather(ends, owner) - tf.gather(sizes, owner))
        return owner * share + offset

    def get_config(self) -> dict:
        """The constructor's arguments, for Keras serialisation."""
        return {"num_tasks": self.num_tasks, "task_field": self.task_field}
