"""SavedModel export of a `RecollectionMemory`.

Where this sits: at the end of a run, or whenever a consumer that does not have
this package (a serving stack, another language) needs the memory. The exported
model carries the codec's weights and the whole buffer, and has four signatures:

```
encode(x float32 [B, *input_shape])           -> int32 [B, c]
encode_packed(x float32 [B, *input_shape])    -> uint8 [B, ceil(k/8)]
decode(indices int32 [B, c])                  -> float32 [B, *input_shape]
recall(n int32 [], task int32 [])             -> {"x": float32 [n, ...], side fields...,
                                                  "rows": int64 [n]}   (task -1: any)
```

Every signature asserts its input (x finite and in [0, 1], indices in [0, l), n >= 1,
task -1 or a stored task id, items to recall): bad input fails with a
`tf.errors.InvalidArgumentError` whose message names the signature and the problem.

Load it with plain TensorFlow (keep the loaded object in a variable):

    loaded = tf.saved_model.load(path)
    out = loaded.recall(tf.constant(16), tf.constant(-1))
"""

from __future__ import annotations

import keras
import tensorflow as tf

from recollect import bits, memory_graph
from recollect.index_buffer import Field
from recollect.memory import RecollectionMemory


def export_saved_model(memory: RecollectionMemory, path: str) -> str:
    """Writes `memory` as a SavedModel that loads without this package.

    Args:
        memory: the memory to export.
        path: output directory.

    Returns:
        path.

    Raises:
        ValueError: if `memory` is not a `RecollectionMemory`.
    """
    if not isinstance(memory, RecollectionMemory):
        raise ValueError(f"Expected a RecollectionMemory. Received: {type(memory).__name__}")
    codec = memory.codec
    input_spec = tf.TensorSpec([None, *codec.input_spec_shape], tf.float32, name="x")
    index_spec = tf.TensorSpec([None, codec.num_latents], tf.int32, name="indices")
    task_field = memory.side_fields.get("task")

    archive = keras.export.ExportArchive()
    archive.track(memory)
    archive.add_endpoint(
        "encode", lambda x: codec.encode(_checked_inputs(x, "encode")), [input_spec]
    )
    archive.add_endpoint(
        "encode_packed",
        lambda x: bits.pack_codes(
            codec.encode(_checked_inputs(x, "encode_packed")), codec.num_categories
        ),
        [input_spec],
    )
    archive.add_endpoint("decode", lambda indices: codec.decode(indices), [index_spec])
    archive.add_endpoint(
        "recall",
        lambda n, task: memory_graph.recall(
            memory._parts(), n, _checked_task(task, task_field), decode=True
        ),
        input_signature=[
            tf.TensorSpec([], tf.int32, name="n"),
            tf.TensorSpec([], tf.int32, name="task"),
        ],
    )
    archive.write_out(path, verbose=False)
    return path


def _checked_inputs(x: tf.Tensor, endpoint: str) -> tf.Tensor:
    """x, once asserted finite and then in [0, 1] (graph-safe).

    Args:
        x: float32 [B, *input_shape].
        endpoint: the signature's name, for the messages.

    Returns:
        float32 [B, *input_shape], x itself.
    """
    finite = tf.debugging.assert_all_finite(x, f"{endpoint}: x must be finite (no NaN or Inf)")
    with tf.control_dependencies([finite]):  # NaN first: it also fails the range
        in_range = f"{endpoint}: x must be in [0, 1] (scale uint8 images by 1/255)"
        checks = [
            tf.debugging.assert_greater_equal(x, 0.0, message=in_range),
            tf.debugging.assert_less_equal(x, 1.0, message=in_range),
        ]
    return _after(checks, x)


def _checked_task(task: tf.Tensor, task_field: Field | None) -> tf.Tensor:
    """task, once asserted -1 (any task) or a task id in [0, num_tasks) (graph-safe).

    Args:
        task: int32 [].
        task_field: the memory's task field; None for a memory without one,
            where task must be -1.

    Returns:
        int32 [], task itself.
    """
    if task_field is None:
        message = "recall: task must be -1 (this memory stores no task ids)"
        return _after([tf.debugging.assert_equal(task, -1, message=message)], task)
    num_tasks = task_field.num_values
    message = f"recall: task must be -1 (any task) or a task id in [0, {num_tasks or 'inf'})"
    checks = [tf.debugging.assert_greater_equal(task, -1, message=message)]
    if num_tasks is not None:
        checks.append(tf.debugging.assert_less(task, num_tasks, message=message))
    return _after(checks, task)


def _after(checks: list[tf.Operation | None], value: tf.Tensor) -> tf.Tensor:
    """value, computed only once every check has passed."""
    with tf.control_dependencies(checks):
        return tf.identity(value)
