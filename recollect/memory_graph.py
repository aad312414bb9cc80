"""The memory's compiled core: graph functions over the codec and the buffer.

Where this sits: `RecollectionMemory` compiles these once, in `__init__`, and its
eager methods call them after checking their arguments; `export.py` traces
`recall` into the SavedModel's `recall` signature. Nothing here checks input:
callers validate first.

```
encode_packed   x float32 [B, *input_shape] -> encoder -> argmax -> pack -> uint8 [B, ceil(k/8)]
stabilize_step  x float32 [B, *input_shape] -> reconstruction loss -> one Adam step -> float32 []
recall          n int32 [], task int32 [] (-1: any) -> policy rows int64 [n] -> items_at
items_at        rows int64 [m] -> buffer.read -> unpack -> decoder -> x float32 [m, *input_shape]
                (or the packed codes uint8 [m, ceil(k/8)]), side fields [m, ...], "rows"
write           {field: [B, ...]} -> policy rows -> one scatter per field -> int64 [B]
observe         {input or side field: [B, ...]} -> in-graph checks -> encode_packed -> write
```

`observe` and `recall` are also the bodies of `RecollectionMemory.observe` and
`recall` when those are called inside a user's `tf.function`: there the checks are
`tf.debugging` assertions (`graph_checks.py`), run before anything is written or drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import keras
import tensorflow as tf

from recollect import bits, graph_checks, replicas
from recollect.memory_layout import (
    MemoryParts,
    check_num_steps,
    check_recollections,
    codes_field,
)
from recollect.tensor_types import TensorLike


class CompiledFunctions(NamedTuple):
    """The memory's `tf.function`s, each with a fixed input signature."""

    encode_packed: Callable[[tf.Tensor], tf.Tensor]
    stabilize_step: Callable[[tf.Tensor], tf.Tensor]
    recall_items: Callable[[tf.Tensor, tf.Tensor], dict[str, tf.Tensor]]
    recall_codes: Callable[[tf.Tensor, tf.Tensor], dict[str, tf.Tensor]]
    read_rows: Callable[[tf.Tensor], dict[str, tf.Tensor]]
    write: Callable[[dict[str, tf.Tensor]], tf.Tensor]


def items_at(parts: MemoryParts, rows: tf.Tensor, *, decode: bool) -> dict[str, tf.Tensor]:
    """Side fields and decoded inputs (or packed codes) at the given rows.

    Args:
        parts: the memory's parts.
        rows: int64 [m], rows that hold items.
        decode: decode the codes (True) or return the packed bytes.

    Returns:
        dict: side field -> [m, ...], and encoded input name -> float32
        [m, *input_shape] (or `<name>_codes` -> uint8 [m, ceil(k/8)]).
    """
    codec = parts.codec
    stored = parts.buffer.read(rows)
    out = {name: stored[name] for name in parts.side_fields}
    for name in parts.encoded_inputs:
        packed = stored[codes_field(name)]
        if decode:
            indices = bits.unpack_codes(packed, codec.num_latents, codec.num_categories)
            out[name] = codec.decode_unchecked(indices)  # in [0, l): written by pack_codes
        else:
            out[codes_field(name)] = packed
    return out


def draw_rows(parts: MemoryParts, n: tf.Tensor, task: tf.Tensor) -> tf.Tensor:
    """int64 [n]: rows drawn uniformly from the items of `task` (any task when task < 0).

    Args:
        parts: the memory's parts.
        n: int32 [], rows to draw (with replacement).
        task: int32 [], a task id, or -1 for any task.
    """
    buffer, policy = parts.buffer, parts.buffer.policy
    by_task = "task" in parts.side_fields
    if by_task:
        available = tf.cond(task < 0, buffer.size, lambda: buffer.task_size(tf.maximum(task, 0)))
    else:
        available = buffer.size()
    checks = [
        tf.debugging.assert_positive(
            available, message="recall: the memory holds no item (of this task) to recall"
        ),
        tf.debugging.assert_positive(n, message="recall: n must be >= 1"),
    ]
    with tf.control_dependencies(checks):  # a refused recall must not advance the seed
        random_bits = buffer._random_bits(n)
    if by_task:
        rows = tf.cond(
            task < 0,
            lambda: policy.sample_rows(buffer, n, None, random_bits),
            lambda: policy.sample_rows(buffer, n, task, random_bits),
        )
    else:
        rows = policy.sample_rows(buffer, n, None, random_bits)
    return rows


def recall(
    parts: MemoryParts, n: tf.Tensor, task: tf.Tensor, *, decode: bool
) -> dict[str, tf.Tensor]:
    """Draws n stored items uniformly (of `task`, or any task when task < 0).

    Inside a strategy's `run`, every replica's n are drawn at once
    (`replicas.draw_rows`) and each replica decodes its own rows.

    Args:
        parts: the memory's parts.
        n: int32 [], items to draw (with replacement).
        task: int32 [], a task id, or -1 for any task.
        decode: decode the codes (True) or return the packed bytes.

    Returns:
        `items_at`'s dict for the drawn rows, plus "rows" -> int64 [n].
    """
    context = replicas.replica_context()
    if context is None:
        rows = draw_rows(parts, n, task)
    else:
        rows = replicas.draw_rows(context, lambda m, t: draw_rows(parts, m, t), n, task)
    return {**items_at(parts, rows, decode=decode), "rows": rows}


def observe(parts: MemoryParts, items: Mapping[str, TensorLike]) -> tf.Tensor:
    """Checks (in-graph assertions), encodes, packs and writes a batch: graph-safe.

    Args:
        parts: the memory's parts.
        items: dict encoded input or side field name -> [B, ...]; a scalar side
            field may be one value for the batch.

    Returns:
        int64 [B]: the row each item went to (-1: dropped by the policy); an
        empty batch writes nothing and draws nothing.

    Raises:
        ValueError: at trace time, on missing or unknown names, or a wrong shape
            or dtype (values are asserted when the graph runs).
    """
    expected = set(parts.encoded_inputs) | set(parts.side_fields)
    if set(items) != expected:
        raise ValueError(
            f"Expected exactly the inputs {sorted(expected)}. Received: {sorted(items)}"
        )
    codec = parts.codec
    inputs = {name: codec.check_inputs(items[name], name) for name in parts.encoded_inputs}
    batch = tf.shape(inputs["x"])[0]
    stored = {
        name: graph_checks.checked_field(name, items[name], spec, batch)
        for name, spec in parts.side_fields.items()
    }
    same_batch = [
        tf.debugging.assert_equal(tf.shape(x)[0], batch, message=f"Expected {name} of x's batch")
        for name, x in inputs.items()
    ]

    def packed() -> dict[str, tf.Tensor]:
        with tf.control_dependencies(same_batch):
            for name, x in inputs.items():
                stored[codes_field(name)] = bits.pack_codes(codec.encode(x), codec.num_categories)
        return {name: stored[name] for name in parts.buffer.fields}

    context = replicas.replica_context()
    if context is not None:  # no tf.cond: replicas cannot synchronise inside one
        return replicas.write(context, parts.buffer.write_unchecked, packed())
    return tf.cond(
        batch > 0, lambda: parts.buffer.write_unchecked(packed()), lambda: tf.zeros([0], tf.int64)
    )


def stabilize(
    parts: MemoryParts,
    step: Callable[[tf.Tensor], tf.Tensor],
    x_new: tf.Tensor,
    recollections: Sequence[TensorLike] | None,
    num_steps: int,
    batch_size: int | None,
) -> tf.Tensor:
    """`RecollectionMemory.stabilize` inside a `tf.function`: the same steps, in order.

    Args:
        parts: the memory's parts.
        step: the compiled `stabilize_step`.
        x_new: float32 [B, *input_shape], checked.
        recollections: float [m, *input_shape] batches, one per step, or None to
            recall num_steps batches of batch_size (default B) here: none if the
            memory is empty (then each step is on x_new alone).
        num_steps: N, used when recollections is None.
        batch_size: items recalled per step when recalling here.

    Returns:
        float32 [steps]: each step's reconstruction loss.
    """
    context = replicas.replica_context()
    if context is not None:
        # Inlined: replicas cannot synchronise inside a nested tf.function or a tf.cond.
        step = getattr(step, "python_function", step)
        if recollections is None:
            raise ValueError(
                "Expected the recalled batches passed to stabilize inside a strategy's run "
                "(recalled = [memory.recall(n) ...]; memory.stabilize(x, [r[0] for r in "
                "recalled])). Received: recollections=None"
            )
    if recollections is not None:
        checked = check_recollections(parts.codec, recollections)
        return tf.stack([step(tf.concat([x_new, r], 0)) for r in checked])
    check_num_steps(num_steps, batch_size)
    size = tf.constant(batch_size, tf.int32) if batch_size else tf.shape(x_new)[0]
    any_task = tf.constant(-1, tf.int32)

    def recalled() -> tf.Tensor:
        # Drawn and decoded before the first step, as eagerly.
        drawn = [recall(parts, size, any_task, decode=True)["x"] for _ in range(num_steps)]
        return tf.stack([step(tf.concat([x_new, r], 0)) for r in drawn])

    def alone() -> tf.Tensor:
        return tf.stack([step(x_new) for _ in range(num_steps)])

    return tf.cond(parts.buffer.size() > 0, recalled, alone)


def _stabilize_step(
    codec: Any,
    optimizer: keras.optimizers.Optimizer,
    codec_variables: Sequence[keras.Variable],
    decoder_steps: int | None,
) -> Callable[[tf.Tensor], tf.Tensor]:
    """The compiled autoencoder step of `compile_functions` (see its arguments)."""
    input_spec = tf.TensorSpec([None, *codec.input_spec_shape], tf.float32)
    variables = list(codec_variables)
    decoder_ids = {id(v) for v in codec.decoder.weights}
    # By identity: Keras variables compare elementwise.
    decoder_variables = [v for v in variables if id(v) in decoder_ids]

    @tf.function(input_signature=[input_spec])
    def stabilize_step(x: tf.Tensor) -> tf.Tensor:
        context = replicas.replica_context()  # None: one device, as always
        with tf.GradientTape() as tape:
            # Watched explicitly: the tape must not depend on Keras' trainable flags.
            tape.watch([v.value for v in variables])
            loss = codec.reconstruction_loss(x, training=True)
            # Under a strategy: this replica's share, so that the all-reduced sum of
            # gradients is that of the loss over every replica's rows.
            weighted = (
                loss if context is None else loss * replicas.loss_weight(context, tf.shape(x)[0])
            )
        if decoder_steps is None:
            optimizer.apply(tape.gradient(weighted, variables), variables)
            return loss
        # Past decoder_steps the decoder's weights are put back after the step, so
        # that they stay exactly as they were (Adam's moments would move them).
        frozen = optimizer.iterations >= decoder_steps
        before = [tf.identity(v.value) for v in decoder_variables]
        optimizer.apply(tape.gradient(weighted, variables), variables)
        restored = [
            tf.where(frozen, b, v.value) for v, b in zip(decoder_variables, before, strict=True)
        ]
        if context is not None:
            replicas.assign(context, decoder_variables, restored)
            return loss
        for variable, value in zip(decoder_variables, restored, strict=True):
            variable.assign(value)
        return loss

    return stabilize_step


def compile_functions(
    parts: MemoryParts,
    optimizer: keras.optimizers.Optimizer,
    codec_variables: Sequence[keras.Variable],
    decoder_steps: int | None = None,
) -> CompiledFunctions:
    """Compiles the memory's graph functions with fixed input signatures.

    Args:
        parts: the memory's parts.
        optimizer: the optimizer `stabilize_step` applies, built on
            codec_variables.
        codec_variables: the codec's variables `stabilize_step` trains, listed
            while the codec was trainable: a memory frozen to its host (Keras
            `trainable=False`) reports none, yet `stabilize` must train them all.
        decoder_steps: once the optimizer has taken this many steps, a step leaves
            the decoder's weights as they were (the encoder still learns); None:
            every step trains both.

    Returns:
        `CompiledFunctions`; none retraces across batch sizes.
    """
    codec = parts.codec
    input_spec = tf.TensorSpec([None, *codec.input_spec_shape], tf.float32)
    recall_spec = [tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)]

    @tf.function(input_signature=[input_spec])
    def encode_packed(x: tf.Tensor) -> tf.Tensor:
        return bits.pack_codes(codec.encode(x), codec.num_categories)

    stabilize_step = _stabilize_step(codec, optimizer, codec_variables, decoder_steps)

    @tf.function(input_signature=recall_spec)
    def recall_items(n: tf.Tensor, task: tf.Tensor) -> dict[str, tf.Tensor]:
        return recall(parts, n, task, decode=True)

    @tf.function(input_signature=recall_spec)
    def recall_codes(n: tf.Tensor, task: tf.Tensor) -> dict[str, tf.Tensor]:
        return recall(parts, n, task, decode=False)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
    def read_rows(rows: tf.Tensor) -> dict[str, tf.Tensor]:
        return items_at(parts, rows, decode=True)

    write_spec = {
        name: tf.TensorSpec([None, *spec.shape], spec.dtype)
        for name, spec in parts.buffer.fields.items()
    }
    write = tf.function(parts.buffer.write_unchecked, input_signature=[write_spec])
    return CompiledFunctions(
        encode_packed, stabilize_step, recall_items, recall_codes, read_rows, write
    )
