"""A memory's layout: its buffer fields, what they cost, and checks against them.

Where this sits: between the caller and `RecollectionMemory`. Its `__init__` checks
its arguments here (`checked_codec`, before anything is built) and lays out the
buffer's fields here, `footprint()` counts their bytes here and the
checkpoint side file records `checkpoint_config` from here; `observe`, `recall`,
`recall_rows` and `stabilize` check their arguments here first. Every
check raises `ValueError("Expected ... Received: ...")` or returns the checked
values; none changes any state, so a bad call leaves the memory as it was.

Buffer fields of a memory (one row per item, k = c * ceil(log2 l) bits a code):

```
supervised    codes uint8 [capacity, ceil(k/8)]   label int32 [capacity]   task int32 [capacity]
side_fields   codes uint8 [capacity, ceil(k/8)]   <name>_codes uint8 [capacity, ceil(k/8)] ...
              (one codes field per encoded input)  + the side fields, e.g. action, reward
```
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from recollect import bits
from recollect.arguments import check_int, check_seed
from recollect.autoencoder import DiscreteAutoencoder
from recollect.footprint import Footprint, codec_param_bytes, raw_example_bytes
from recollect.index_buffer import Field, IndexBuffer, supervised_fields
from recollect.tensor_types import TensorLike

CODES = "codes"


class MemoryParts(NamedTuple):
    """A memory's parts, as its graph functions and its footprint read them.

    Attributes:
        codec: the discrete autoencoder.
        buffer: the index buffer of packed codes and side fields.
        side_fields: the buffer's fields other than codes.
        encoded_inputs: names of the inputs stored as codes ("x" first).
    """

    codec: DiscreteAutoencoder
    buffer: IndexBuffer
    side_fields: Mapping[str, Field]
    encoded_inputs: tuple[str, ...]


def codes_field(name: str) -> str:
    """Buffer field that stores the codes of encoded input `name`.

    Args:
        name: an encoded input, e.g. "x" or "next_x".

    Returns:
        "codes" for "x", else "<name>_codes".
    """
    return CODES if name == "x" else f"{name}_codes"


def checked_codec(
    codec: DiscreteAutoencoder | dict,
    *,
    capacity: int,
    num_classes: int | None,
    num_tasks: int | None,
    encoded_inputs: Sequence[str],
    learning_rate: float,
    decoder_steps: int | None,
    seed: int,
) -> DiscreteAutoencoder:
    """Checks a memory's arguments, then returns its codec (built from a config if given one).

    The scalar arguments are checked first: a codec config builds layers, which
    draw default seeds from Python's global `random`.

    Args:
        codec: a `DiscreteAutoencoder`, or its serialized config.
        capacity: rows of the buffer, an int >= 1.
        num_classes: None or an int >= 1.
        num_tasks: None or an int >= 1.
        encoded_inputs: a tuple or list of input names (str).
        learning_rate: a number > 0.
        decoder_steps: None or an int >= 0.
        seed: an int that fits int64.

    Returns:
        The codec.

    Raises:
        ValueError: on an argument of the wrong type (a bool is not an int) or
            out of range, or a codec that is not a `DiscreteAutoencoder`.
    """
    check_int("capacity", capacity, minimum=1)
    check_int("num_classes", num_classes, minimum=1, optional=True)
    check_int("num_tasks", num_tasks, minimum=1, optional=True)
    names = encoded_inputs if isinstance(encoded_inputs, tuple | list) else None
    if names is None or not all(isinstance(name, str) for name in names):
        raise ValueError(
            "Expected encoded_inputs a tuple or list of input names (str). "
            f"Received: encoded_inputs={encoded_inputs!r}"
        )
    number = isinstance(learning_rate, numbers.Real) and not isinstance(learning_rate, bool)
    if not number or not learning_rate > 0:
        raise ValueError(f"Expected learning_rate > 0. Received: learning_rate={learning_rate!r}")
    check_int("decoder_steps", decoder_steps, minimum=0, optional=True)
    check_seed("seed", seed)
    if isinstance(codec, dict):
        codec = keras.saving.deserialize_keras_object(codec)
    if not isinstance(codec, DiscreteAutoencoder):
        raise ValueError(f"Expected a DiscreteAutoencoder. Received: codec={codec!r}")
    return codec


def memory_fields(
    *,
    code_bytes: int,
    encoded_inputs: tuple[str, ...],
    num_classes: int | None,
    num_tasks: int | None,
    side_fields: Mapping[str, Field | dict] | None,
) -> tuple[dict[str, Field], dict[str, Field]]:
    """Lays out a memory's buffer: its side fields and all of its fields.

    Args:
        code_bytes: ceil(k / 8), bytes of one packed code.
        encoded_inputs: names of the inputs stored as codes, "x" among them.
        num_classes: labels are in [0, num_classes) (supervised items).
        num_tasks: task ids are in [0, num_tasks) (supervised items).
        side_fields: dict name -> `Field` (or its config) replacing the supervised
            label and task, or None for supervised items.

    Returns:
        (side fields, every buffer field): dicts name -> `Field`.

    Raises:
        ValueError: without "x" among encoded_inputs, without num_classes and
            num_tasks for supervised items, or on a side field named like a codes
            field.
    """
    if "x" not in encoded_inputs:
        raise ValueError(f"Expected 'x' among encoded_inputs. Received: {encoded_inputs!r}")
    if side_fields is None:
        if num_classes is None or num_tasks is None:
            raise ValueError(
                "Expected num_classes and num_tasks for supervised items (or side_fields). "
                f"Received: num_classes={num_classes!r}, num_tasks={num_tasks!r}"
            )
        fields = supervised_fields(
            code_bytes=code_bytes, num_classes=num_classes, num_tasks=num_tasks
        )
        sides = {k: v for k, v in fields.items() if k != CODES}
    else:
        sides = {k: v if isinstance(v, Field) else Field(**v) for k, v in side_fields.items()}
        codes = {codes_field(n): Field((code_bytes,), "uint8") for n in encoded_inputs}
        fields = {**codes, **sides}
    clash = set(sides) & {codes_field(n) for n in encoded_inputs}
    if clash:
        raise ValueError(f"Expected side fields not named like code fields. Received: {clash}")
    return sides, fields


def footprint(parts: MemoryParts, *, items_stored: int, bits_per_value: int = 8) -> Footprint:
    """The storage a memory's layout uses, in bytes and the paper's units.

    Args:
        parts: the memory's parts.
        items_stored: items in the buffer now.
        bits_per_value: bit depth of one raw input value, to count storage in raw
            examples.

    Returns:
        `Footprint` of kind "recollections": k bits a code per encoded input,
        input_bytes the codes of a full buffer, buffer_bytes the codes and side
        fields, codec_bytes the float32 encoder and decoder parameters.

    Raises:
        ValueError: if bits_per_value is not an int >= 1.
    """
    codec, capacity = parts.codec, parts.buffer.capacity
    raw_bytes = raw_example_bytes(
        int(np.prod(codec.input_spec_shape)), bits_per_value=bits_per_value
    )
    code_fields = len(parts.encoded_inputs)
    side_bytes = sum(f.bytes_per_item() for f in parts.side_fields.values())
    input_bytes = capacity * bits.code_bytes(codec.num_latents, codec.num_categories) * code_fields
    return Footprint(
        kind="recollections",
        bits_per_item=codec.bits_per_item * code_fields,
        items_stored=items_stored,
        capacity=capacity,
        input_bytes=input_bytes,
        buffer_bytes=input_bytes + capacity * side_bytes,
        codec_bytes=codec_param_bytes(codec),
        raw_example_bytes=raw_bytes,
        num_latents=codec.num_latents,
        num_categories=codec.num_categories,
    )


def checkpoint_config(
    parts: MemoryParts, *, learning_rate: float, decoder_steps: int | None = None
) -> dict:
    """What a checkpoint must match to restore into a memory of these parts.

    The checkpoint holds the state (weights, rows, counters, seeds, optimizer
    slots); this is everything that shapes or gives meaning to that state. The
    codec's name, trainable flag and seed are left out: the noise seed's position
    is state, restored with the rest.

    Args:
        parts: the memory's parts.
        learning_rate: the memory's Adam step size (the optimizer's variable is
            in the checkpoint).
        decoder_steps: the step from which the decoder is fixed; None (no such
            step) adds nothing, so checkpoints written before it existed match.

    Returns:
        JSON-friendly dict: capacity, fields (shape, dtype, num_values), encoded
        inputs, policy (registered class, config, state shapes), codec config,
        learning_rate, and decoder_steps when it is set.
    """
    buffer, policy = parts.buffer, parts.buffer.policy
    codec = parts.codec.get_config()
    state = policy.state_specs(capacity=buffer.capacity)
    config = {
        "capacity": buffer.capacity,
        "fields": {name: spec.to_config() for name, spec in buffer.fields.items()},
        "encoded_inputs": list(parts.encoded_inputs),
        "policy": {
            "class": keras.saving.get_registered_name(type(policy)),
            "config": policy.get_config(),
            "state": {k: {"shape": list(s), "dtype": d} for k, (s, d) in state.items()},
        },
        "codec": {k: v for k, v in codec.items() if k not in ("name", "trainable", "seed")},
        "learning_rate": float(learning_rate),
    }
    if decoder_steps is not None:
        config["decoder_steps"] = int(decoder_steps)
    return config


def check_observe_items(
    codec: DiscreteAutoencoder,
    items: Mapping[str, TensorLike],
    *,
    encoded_inputs: tuple[str, ...],
    side_fields: Mapping[str, Field],
) -> tuple[dict[str, tf.Tensor], dict[str, TensorLike]]:
    """Checks a batch for `observe`: the inputs to encode and the side fields.

    Args:
        codec: the memory's codec, which checks the inputs' shape and values.
        items: dict input or side field name -> [B, ...]; a scalar side field
            of shape () may be one value for the whole batch.
        encoded_inputs: names of the inputs stored as codes.
        side_fields: the memory's side fields.

    Returns:
        (encoded input -> float32 [B, *input_shape], side field -> [B, ...]).
        The side fields' values are checked when the buffer validates them.

    Raises:
        ValueError: on missing or unknown names, a malformed input, or inputs of
            different batch sizes.
    """
    expected = set(encoded_inputs) | set(side_fields)
    if set(items) != expected:
        raise ValueError(
            f"Expected exactly the inputs {sorted(expected)}. Received: {sorted(items)}"
        )
    checked = {name: codec.check_inputs(items[name], name) for name in encoded_inputs}
    batch = int(checked["x"].shape[0])
    for name, value in checked.items():
        if int(value.shape[0]) != batch:
            raise ValueError(
                f"Expected {name} to have batch size {batch}. Received: "
                f"{name}.shape={value.shape.as_list()}"
            )
    sides = {}
    for name, spec in side_fields.items():
        value = items[name]
        if spec.shape == () and np.ndim(value) == 0:
            value = np.full([batch], value)  # one task id for the whole batch
        sides[name] = value
    return checked, sides


def check_recall(
    buffer: IndexBuffer, side_fields: Mapping[str, Field], n: int, task: int | None
) -> None:
    """Checks `recall`'s arguments against what the buffer holds.

    Args:
        buffer: the memory's buffer.
        side_fields: the memory's side fields.
        n: items to recall, an int >= 1.
        task: None, or a task id in [0, num_tasks).

    Raises:
        ValueError: on a bad n or task, or when nothing (of the task) is stored.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"Expected n an int >= 1. Received: n={n!r}")
    if task is not None:
        spec = side_fields.get("task")
        if spec is None:
            raise ValueError("Expected a 'task' field to recall by task. Received: task=...")
        valid = isinstance(task, int | np.integer) and not isinstance(task, bool)
        if not valid or not 0 <= task < (spec.num_values or 2**31):
            raise ValueError(f"Expected task in [0, {spec.num_values}). Received: task={task!r}")
    available = int(buffer.size() if task is None else buffer.task_size(task))
    if available == 0:
        what = "The memory is empty" if task is None else f"The memory holds no item of task {task}"
        raise ValueError(f"{what}: nothing to recall. Call observe() first. Received: n={n}")


def check_rows(rows: TensorLike, buffer: IndexBuffer) -> np.ndarray:
    """Checks buffer rows for `recall_rows`: each in range and written.

    Args:
        rows: int [m], or any shape (flattened).
        buffer: the memory's buffer; its policy says which rows were written.

    Returns:
        int64 numpy [m].

    Raises:
        ValueError: on rows that are not integers, a row outside [0, capacity),
            or one never written (it would decode an all-zero code).
    """
    array = np.asarray(rows)
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(f"Expected integer rows. Received: rows of dtype {array.dtype}")
    rows = array.astype(np.int64).reshape(-1)
    capacity = buffer.capacity
    if rows.size and (rows.min() < 0 or rows.max() >= capacity):
        raise ValueError(
            f"Expected rows in [0, {capacity}). Received: values in [{rows.min()}, {rows.max()}]"
        )
    unwritten = np.unique(rows[~buffer.policy.holds_items(buffer, tf.constant(rows)).numpy()])
    if unwritten.size:
        shown = ", ".join(str(r) for r in unwritten[:10]) + (", ..." if unwritten.size > 10 else "")
        raise ValueError(
            f"Expected rows that hold items ({int(buffer.size())} of {capacity} rows "
            f"hold one). Received: rows never written: [{shown}]"
        )
    return rows


def check_num_steps(num_steps: int, batch_size: int | None = None) -> None:
    """Raises ValueError unless num_steps (and batch_size, if given) is an int >= 1.

    Args:
        num_steps: N, the autoencoder steps of `stabilize`.
        batch_size: items recalled per step, or None for the batch's size.

    Raises:
        ValueError: if num_steps, or a batch_size that is not None, is not an
            int >= 1.
    """
    for name, value in (("num_steps", num_steps), ("batch_size", batch_size)):
        if value is None and name == "batch_size":
            continue
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"Expected {name} an int >= 1. Received: {value!r}")


def check_recollections(
    codec: DiscreteAutoencoder, recollections: Sequence[TensorLike]
) -> list[tf.Tensor]:
    """Checks the recalled batches given to `stabilize`.

    Args:
        codec: the memory's codec.
        recollections: float [m, *input_shape] batches in [0, 1], one per step.

    Returns:
        list of float32 [m, *input_shape].

    Raises:
        ValueError: on a malformed batch, or no batch at all.
    """
    checked = [codec.check_inputs(r, f"recollections[{i}]") for i, r in enumerate(recollections)]
    if not checked:
        raise ValueError("Expected at least one recollection batch. Received: []")
    return checked
