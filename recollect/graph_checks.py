"""Argument checks that also work inside a `tf.function`.

Where this sits: `RecollectionMemory`'s and the codec's public methods check their
arguments here before they encode, write or decode. Called eagerly, a bad value
raises `ValueError("Expected ... Received: ...")` at once. Called while a
`tf.function` is traced, values are not known yet: shapes and dtypes are still
checked at trace time (`ValueError`), and values by `tf.debugging` assertions
that raise `tf.errors.InvalidArgumentError` (with the same words) when the graph
runs. Every function returns the checked tensor with its assertions as control
dependencies, so nothing computed from it (a code, a buffer write) runs on a bad
value.

```
checked_inputs  x [B, *input_shape] float in [0, 1] or uint8  -> float32 [B, *input_shape]
checked_field   value [B, *field.shape] (or one value for the batch) -> field.dtype [B, ...]
checked_count   n int [] >= 1                                 -> int32 []
checked_task    task int [] in [0, num_tasks), or None (-1)   -> int32 []
checked_rows    rows int [m], each written                    -> int64 [m]
```
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from recollect.field import Field, check_values
from recollect.index_buffer import IndexBuffer
from recollect.tensor_types import TensorLike


def in_graph() -> bool:
    """True while a `tf.function` is being traced (values are symbolic)."""
    return not tf.executing_eagerly()


def _with_checks(value: tf.Tensor, checks: list[tf.Operation | None]) -> tf.Tensor:
    with tf.control_dependencies([c for c in checks if c is not None]):
        return tf.identity(value)


def checked_inputs(x: TensorLike, input_shape: Sequence[int], name: str = "x") -> tf.Tensor:
    """Checks a batch of inputs: shape, dtype, finite values in [0, 1].

    Args:
        x: float [B, *input_shape] in [0, 1], or uint8 (scaled by 1/255).
        input_shape: the expected shape of one input.
        name: the argument name used in messages.

    Returns:
        float32 [B, *input_shape].

    Raises:
        ValueError: on a wrong rank, shape or dtype; eagerly also on NaN/Inf or
            values outside [0, 1] (in a graph: assertions).
    """
    x = tf.convert_to_tensor(x)
    expected = [int(d) for d in input_shape]
    if x.shape.rank != len(expected) + 1 or list(x.shape[1:]) != expected:
        raise ValueError(
            f"Expected {name} of shape [batch, {', '.join(map(str, expected))}]. "
            f"Received: {name}.shape={x.shape.as_list()}"
        )
    if x.dtype == tf.uint8:
        return tf.cast(x, tf.float32) / 255.0
    if not x.dtype.is_floating:
        raise ValueError(
            f"Expected {name} float in [0, 1] or uint8. Received: {name}.dtype={x.dtype.name}"
        )
    x = tf.cast(x, tf.float32)
    if in_graph():
        return _with_checks(
            x,
            [
                tf.debugging.assert_all_finite(x, f"Expected finite values in {name}").op,
                tf.debugging.assert_non_negative(x, message=f"Expected {name} in [0, 1]"),
                tf.debugging.assert_less_equal(x, 1.0, message=f"Expected {name} in [0, 1]"),
            ],
        )
    if x.shape[0]:
        if not bool(tf.reduce_all(tf.math.is_finite(x))):
            raise ValueError(f"Expected finite values in {name}. Received: NaN or Inf")
        low, high = float(tf.reduce_min(x)), float(tf.reduce_max(x))
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"Expected {name} in [0, 1]. Received: values in [{low:.4g}, {high:.4g}]"
            )
    return x


def checked_field(name: str, value: TensorLike, spec: Field, batch: tf.Tensor) -> tf.Tensor:
    """Checks one side field's values for a write, in a graph.

    Args:
        name: the field's name, for messages.
        value: [B, *spec.shape], or one value for the batch when spec.shape is ().
        spec: the field's spec.
        batch: int32 [], the batch size.

    Returns:
        spec.dtype [B, *spec.shape].

    Raises:
        ValueError: at trace time, on a wrong shape or dtype kind.
    """
    value = tf.convert_to_tensor(value)
    if spec.shape == () and value.shape.rank == 0:
        value = tf.fill([batch], value)  # one task id for the whole batch
    if value.shape.rank != len(spec.shape) + 1 or tuple(value.shape[1:]) != spec.shape:
        raise ValueError(
            f"Expected {name} of shape [batch, {', '.join(map(str, spec.shape))}]. "
            f"Received: {name}.shape={value.shape.as_list()}"
        )
    check_values(name, np.zeros((0, *spec.shape), value.dtype.as_numpy_dtype), spec)  # dtype kind
    checks = [
        tf.debugging.assert_equal(
            tf.shape(value)[0], batch, message=f"Expected {name} to have the batch size of x"
        )
    ]
    if value.dtype.is_floating:
        checks.append(tf.debugging.assert_all_finite(value, f"Expected finite {name}").op)
    if spec.num_values is not None:
        message = f"Expected {name} in [0, {spec.num_values})"
        checks.append(tf.debugging.assert_non_negative(value, message=message))
        checks.append(
            tf.debugging.assert_less(value, tf.cast(spec.num_values, value.dtype), message=message)
        )
    return _with_checks(tf.cast(value, spec.dtype), checks)


def checked_count(n: TensorLike, name: str = "n") -> tf.Tensor:
    """Checks a count (int [] >= 1) in a graph; returns it as int32 []."""
    n = tf.convert_to_tensor(n)
    if not n.dtype.is_integer or n.shape.rank != 0:
        raise ValueError(f"Expected {name} an int >= 1. Received: {name}={n!r}")
    n = tf.cast(n, tf.int32)
    return _with_checks(n, [tf.debugging.assert_positive(n, message=f"Expected {name} >= 1")])


def checked_task(task: TensorLike | None, num_tasks: int | None) -> tf.Tensor:
    """Checks a task id in a graph; returns int32 [] (-1 for None: any task).

    Raises:
        ValueError: at trace time, on a task that is not an int [], or a task
            given to a memory without task ids.
    """
    if task is None:
        return tf.constant(-1, tf.int32)
    if num_tasks is None:
        raise ValueError("Expected a 'task' field to recall by task. Received: task=...")
    task = tf.convert_to_tensor(task)
    if not task.dtype.is_integer or task.shape.rank != 0:
        raise ValueError(f"Expected task an int []. Received: task={task!r}")
    task = tf.cast(task, tf.int32)
    message = f"Expected task in [0, {num_tasks})"
    return _with_checks(
        task,
        [
            tf.debugging.assert_non_negative(task, message=message),
            tf.debugging.assert_less(task, num_tasks, message=message),
        ],
    )


def checked_rows(rows: TensorLike, buffer: IndexBuffer) -> tf.Tensor:
    """Checks buffer rows in a graph: each in [0, capacity) and holding an item.

    Raises:
        ValueError: at trace time, on rows that are not integers.
    """
    rows = tf.convert_to_tensor(rows)
    if not rows.dtype.is_integer:
        raise ValueError(f"Expected integer rows. Received: rows of dtype {rows.dtype.name}")
    rows = tf.reshape(tf.cast(rows, tf.int64), [-1])
    in_range = tf.logical_and(rows >= 0, rows < buffer.capacity)
    message = f"Expected rows in [0, {buffer.capacity}) that hold items"
    held = buffer.policy.holds_items(buffer, tf.clip_by_value(rows, 0, buffer.capacity - 1))
    check = tf.debugging.assert_equal(
        tf.reduce_all(tf.logical_and(in_range, held)), True, message=message
    )
    return _with_checks(rows, [check])
