"""The index buffer: fixed-capacity storage of packed codes and small side fields.

Where this sits: `RecollectionMemory.observe` packs codes and calls `write`;
`recall` calls `sample` and unpacks. A write policy (reservoir, per-task ring)
decides rows; the buffer only stores.

Storage layout (capacity rows, one tf.Variable per field, all made once in
`__init__`, zero-filled, non-trainable, on CPU by default):

```
row    codes uint8 [capacity, code_bytes]   label int32 [capacity]   task int32 [capacity]
0      | b0 b1 ... b_{code_bytes-1} |       | y |                    | t |
...
cap-1  | ...                        |       | y |                    | t |

num_seen  int64 []      items offered so far (written or dropped)
rng_seed  int64 [2]     counter-based seed for the stateless draws
policy state            e.g. task_counts int64 [num_tasks] for TaskRingPolicy
```

Fields are described by `Field` specs (`field.py`), so supervised items (codes, label, task)
and reinforcement-learning transitions (codes, action, reward, discount,
next_codes) use the same buffer.

Usage:

    buffer = IndexBuffer(capacity=1000, fields=supervised_fields(
        code_bytes=26, num_classes=10, num_tasks=20))
    buffer.write({"codes": codes, "label": y, "task": t})
    batch = buffer.sample(32)          # dict of tensors, plus "rows"
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from recollect import replicas
from recollect.arguments import check_seed
from recollect.field import Field, check_values, supervised_fields, transition_fields
from recollect.tensor_types import TensorLike
from recollect.write_policies import ReservoirPolicy, WritePolicy

__all__ = ["Field", "IndexBuffer", "supervised_fields", "transition_fields"]


@keras.saving.register_keras_serializable(package="recollect")
class IndexBuffer(keras.layers.Layer):
    """Fixed-capacity storage of items described by field specs.

    Args:
        capacity: int, the number of rows.
        fields: dict name -> `Field` (or its config dict).
        policy: a `WritePolicy`; `ReservoirPolicy()` by default.
        seed: int, seeds the policy's and the sampler's draws.
        device: where the variables live; "/CPU:0" by default, since rows are
            gathered a few at a time and a GPU would hold them for nothing.

    Raises:
        ValueError: on a capacity < 1, an empty or malformed field spec, a
            policy that cannot work with these fields, or a seed that is not an int.
    """

    def __init__(
        self,
        *,
        capacity: int,
        fields: Mapping[str, Field | dict],
        policy: WritePolicy | dict | None = None,
        seed: int = 0,
        device: str | None = "/CPU:0",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer) or capacity < 1:
            raise ValueError(f"Expected capacity an int >= 1. Received: capacity={capacity!r}")
        check_seed("seed", seed)
        if not fields:
            raise ValueError(f"Expected at least one field. Received: fields={fields!r}")
        self.capacity = int(capacity)
        self.fields = {
            name: spec if isinstance(spec, Field) else Field(**spec)
            for name, spec in fields.items()
        }
        if isinstance(policy, dict):
            policy = keras.saving.deserialize_keras_object(policy)
        if not isinstance(policy, WritePolicy | None):
            raise ValueError(f"Expected a WritePolicy. Received: policy={policy!r}")
        self.policy: WritePolicy = policy if policy is not None else ReservoirPolicy()
        self.policy.check(capacity=self.capacity, fields=self.fields)
        self.seed = int(seed)
        self.device = device
        self.build()

    def build(self, input_shape: tuple[int | None, ...] | None = None) -> None:
        """Makes every variable once, zero-filled (called by `__init__`).

        Under a tf.distribute strategy's scope they are still plain variables on
        this host, one buffer per worker (`replicas.host_local`).
        """
        del input_shape
        replicas.host_local(self._make_variables)
        self.built = True

    def _make_variables(self) -> None:
        with tf.device(self.device) if self.device else contextlib.nullcontext():
            # Each variable is a direct attribute so that tf.train.Checkpoint tracks it.
            for name, spec in self.fields.items():
                variable = self.add_weight(
                    shape=(self.capacity, *spec.shape),
                    dtype=spec.dtype,
                    initializer="zeros",
                    trainable=False,
                    name=name,
                )
                setattr(self, f"field_{name}", variable)
            self.num_seen = self.add_weight(
                shape=(), dtype="int64", initializer="zeros", trainable=False, name="num_seen"
            )
            self.rng_seed = self.add_weight(
                shape=(2,),
                dtype="int64",
                initializer=keras.initializers.Constant([self.seed, 0]),
                trainable=False,
                name="rng_seed",
            )
            self._policy_state_names = []
            for name, (shape, dtype) in self.policy.state_specs(capacity=self.capacity).items():
                variable = self.add_weight(
                    shape=shape, dtype=dtype, initializer="zeros", trainable=False, name=name
                )
                setattr(self, f"policy_{name}", variable)
                self._policy_state_names.append(name)

    @property
    def variables_by_field(self) -> dict[str, keras.Variable]:
        """The fields' storage: dict field name -> its variable [capacity, *field.shape]."""
        return {name: getattr(self, f"field_{name}") for name in self.fields}

    @property
    def policy_state(self) -> dict[str, keras.Variable]:
        """The write policy's state: dict name -> its variable (made by `build`)."""
        return {name: getattr(self, f"policy_{name}") for name in self._policy_state_names}

    # ------------------------------------------------------------------ state
    def size(self) -> tf.Tensor:
        """Returns int64 []: the number of rows that hold items."""
        return self.policy.size(self)

    def task_size(self, task: int | tf.Tensor) -> tf.Tensor:
        """Returns int64 []: the number of stored items of `task`."""
        return self.policy.task_size(self, task)

    def bytes_per_item(self) -> int:
        """Bytes one row occupies, over all fields."""
        return sum(spec.bytes_per_item() for spec in self.fields.values())

    def clear(self) -> None:
        """Zeroes every row and counter (the seed counter keeps running)."""
        for variable in [*self.variables_by_field.values(), *self.policy_state.values()]:
            variable.assign(tf.zeros_like(variable))
        self.num_seen.assign(0)

    # ----------------------------------------------------------------- writes
    def validate(self, items: Mapping[str, TensorLike]) -> int:
        """Checks a batch of items against the field specs, changing nothing.

        Args:
            items: dict field name -> array [batch, *field.shape].

        Returns:
            int, the batch size.

        Raises:
            ValueError: on missing or unknown fields, a wrong shape or dtype kind,
                NaN or Inf, or integer values outside [0, num_values).
        """
        if not isinstance(items, dict) or set(items) != set(self.fields):
            got = sorted(items) if isinstance(items, dict) else type(items).__name__
            raise ValueError(
                f"Expected items with exactly the fields {sorted(self.fields)}. Received: {got}"
            )
        batch = -1  # the first field's batch size, once read
        for name, spec in self.fields.items():
            value = np.asarray(items[name]) if not tf.is_tensor(items[name]) else items[name]
            shape = tuple(value.shape)
            if len(shape) != len(spec.shape) + 1 or tuple(shape[1:]) != spec.shape:
                raise ValueError(
                    f"Expected {name} of shape [batch, {', '.join(map(str, spec.shape))}]."
                    f" Received: {name}.shape={list(shape)}"
                )
            if batch == -1:
                batch = int(shape[0])
            elif shape[0] != batch:
                raise ValueError(
                    f"Expected every field to have the same batch size {batch}. "
                    f"Received: {name}.shape={list(shape)}"
                )
            check_values(name, value, spec)
        return batch

    def write(self, items: Mapping[str, TensorLike]) -> tf.Tensor:
        """Validates and writes a batch of items in one vectorised scatter per field.

        Args:
            items: dict field name -> array [batch, *field.shape].

        Returns:
            int64 [batch]: the row each item went to, -1 where the policy dropped it.
            An empty batch changes nothing (no draw is made).

        Raises:
            ValueError: as `validate`, before anything is written.
        """
        if self.validate(items) == 0:
            return tf.zeros([0], tf.int64)
        return self.write_unchecked(
            {
                name: tf.cast(tf.convert_to_tensor(items[name]), spec.dtype)
                for name, spec in self.fields.items()
            }
        )

    def write_unchecked(self, items: Mapping[str, tf.Tensor]) -> tf.Tensor:
        """`write` without validation, for callers that validated (graph-safe)."""
        first = next(iter(self.fields))
        batch = tf.shape(items[first], out_type=tf.int64)[0]
        task_field = getattr(self.policy, "task_field", None)  # a policy may have none
        if isinstance(task_field, str) and task_field in items:
            tasks = items[task_field]
        else:
            tasks = tf.zeros([batch], tf.int64)
        rows = self.policy.rows(self, tasks, self._random_bits(batch))
        keep = _last_write_per_row(rows)
        target = tf.gather(rows, keep)[:, None]
        for name, variable in self.variables_by_field.items():
            replicas.scatter(variable, target, tf.gather(items[name], keep))
        self.num_seen.assign_add(batch)
        return rows

    # ------------------------------------------------------------------ reads
    def sample(self, n: int, task: int | None = None) -> dict[str, tf.Tensor]:
        """Draws n rows uniformly from the stored items (of `task` if given).

        Args:
            n: int >= 1, rows to draw (with replacement).
            task: optional int task id; then only that task's items are drawn.

        Returns:
            dict field name -> tensor [n, *field.shape], plus "rows": int64 [n].

        Raises:
            ValueError: if n < 1, or the buffer (or the task's part) is empty.
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"Expected n an int >= 1. Received: n={n!r}")
        available = int(self.size() if task is None else self.task_size(task))
        if available == 0:
            where = "The buffer" if task is None else f"The buffer's part for task {task}"
            raise ValueError(
                f"{where} is empty: nothing to sample. Observe some items first. "
                f"Received: n={n}, task={task}"
            )
        return self.sample_unchecked(n, task)

    def sample_unchecked(
        self, n: int | tf.Tensor, task: int | tf.Tensor | None = None
    ) -> dict[str, tf.Tensor]:
        """`sample` without the empty check (graph-safe)."""
        rows = self.policy.sample_rows(self, n, task, self._random_bits(n))
        return {**self.read(rows), "rows": rows}

    def read(self, rows: TensorLike) -> dict[str, tf.Tensor]:
        """Gathers the given rows: dict field name -> tensor [len(rows), ...]."""
        return {name: tf.gather(v.value, rows) for name, v in self.variables_by_field.items()}

    def _random_bits(self, n: int | tf.Tensor) -> tf.Tensor:
        seed = tf.identity(self.rng_seed.value)
        self.rng_seed.assign_add(tf.constant([0, 1], tf.int64))
        return tf.random.stateless_uniform([n], seed=seed, minval=None, maxval=None, dtype=tf.int64)

    # ---------------------------------------------------------------- configs
    def get_config(self) -> dict:
        """The constructor's arguments, for Keras serialisation."""
        config = super().get_config()
        config.update(
            {
                "capacity": self.capacity,
                "fields": {name: spec.to_config() for name, spec in self.fields.items()},
                "policy": keras.saving.serialize_keras_object(self.policy),
                "seed": self.seed,
                "device": self.device,
            }
        )
        return config


def _last_write_per_row(rows: tf.Tensor) -> tf.Tensor:
    """Positions to scatter: the last item for each row, skipping rows < 0.

    Args:
        rows: int64 [batch].

    Returns:
        int32 [m], positions into rows, m <= batch, rows at them unique and >= 0.
    """
    batch = tf.shape(rows)[0]
    reversed_rows = tf.reverse(rows, [0])
    unique, index = tf.unique(reversed_rows)
    first_in_reversed = tf.math.unsorted_segment_min(tf.range(batch), index, tf.size(unique))
    positions = batch - 1 - first_in_reversed
    return tf.boolean_mask(positions, tf.gather(rows, positions) >= 0)
