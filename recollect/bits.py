"""Packs categorical latent codes into bytes and back.

Where this sits: `RecollectionMemory.observe` encodes an input to `c` indices in
`[0, l)`, calls `pack_codes` and writes the bytes to the `IndexBuffer`;
`recall` reads bytes, calls `unpack_codes` and hands the indices to the decoder;
a caller's own indices pass `check_indices` on the way to the decoder.

Layout of one packed item (b = ceil(log2 l) bits per latent, k = c * b bits):

```
latent:   z_0              z_1              ...  z_{c-1}          zero pad
bits:     [b-1 ... 0]      [b-1 ... 0]      ...  [b-1 ... 0]      [0 ... 0]
          '------------------ k bits -------------------------'  '< 8 bits'
bytes:    | byte 0 (MSB first) | byte 1 | ... | byte ceil(k/8)-1 |
```

Each latent is written most significant bit first and the stream is cut into
bytes most significant bit first, exactly as `np.packbits` (big bit order) packs
the concatenated bits. Nothing is stored as float; an item costs ceil(k/8) bytes.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from recollect.tensor_types import TensorLike

MIN_CATEGORIES = 2
MAX_CATEGORIES = 256


def bits_per_latent(num_categories: int) -> int:
    """Returns ceil(log2(num_categories)), the bits one latent needs.

    Args:
        num_categories: int, l, the categories of each latent, in [2, 256].

    Returns:
        int in [1, 8].

    Raises:
        ValueError: if num_categories is not an int in [2, 256].
    """
    _check_num_categories(num_categories)
    return max(1, math.ceil(math.log2(num_categories)))


def bits_per_item(num_latents: int, num_categories: int) -> int:
    """Returns k = c * ceil(log2 l), the bits of one packed item."""
    _check_num_latents(num_latents)
    return num_latents * bits_per_latent(num_categories)


def code_bytes(num_latents: int, num_categories: int) -> int:
    """Returns ceil(k / 8), the bytes one packed item occupies in the buffer."""
    return -(-bits_per_item(num_latents, num_categories) // 8)


def pack_codes(indices: TensorLike, num_categories: int) -> tf.Tensor:
    """Packs categorical indices into bytes.

    Usable inside `tf.function`. Out-of-range indices raise a `ValueError` when run
    eagerly and a `tf.errors.InvalidArgumentError` inside a graph.

    Args:
        indices: integer [batch, c], each in [0, num_categories).
        num_categories: int, l, in [2, 256].

    Returns:
        uint8 [batch, ceil(c * ceil(log2 l) / 8)].

    Raises:
        ValueError: on a wrong rank, a non-integer dtype, or out-of-range values.
    """
    bits = bits_per_latent(num_categories)
    indices = tf.convert_to_tensor(indices)
    if not indices.dtype.is_integer:
        raise ValueError(f"Expected integer indices. Received: indices.dtype={indices.dtype.name}")
    if indices.shape.rank != 2:
        raise ValueError(
            f"Expected indices of rank 2 [batch, num_latents]. Received: "
            f"indices.shape={indices.shape}"
        )
    num_latents = indices.shape[1]
    if num_latents is None or num_latents < 1:
        raise ValueError(
            f"Expected a static num_latents >= 1. Received: indices.shape={indices.shape}"
        )
    indices = tf.cast(indices, tf.int32)
    if tf.executing_eagerly():
        if indices.shape[0] and (
            int(tf.reduce_min(indices)) < 0 or int(tf.reduce_max(indices)) >= num_categories
        ):
            raise ValueError(
                f"Expected indices in [0, {num_categories}). Received: values in "
                f"[{int(tf.reduce_min(indices))}, {int(tf.reduce_max(indices))}]"
            )
    else:
        tf.debugging.assert_non_negative(indices, message="pack_codes: indices < 0")
        tf.debugging.assert_less(
            indices, num_categories, message="pack_codes: indices >= num_categories"
        )
    num_bytes = code_bytes(num_latents, num_categories)
    shifts = tf.range(bits - 1, -1, -1, dtype=tf.int32)  # MSB first
    bit_stream = tf.bitwise.bitwise_and(tf.bitwise.right_shift(indices[..., None], shifts), 1)
    batch = tf.shape(indices)[0]
    bit_stream = tf.reshape(bit_stream, [batch, num_latents * bits])
    pad = num_bytes * 8 - num_latents * bits
    bit_stream = tf.pad(bit_stream, [[0, 0], [0, pad]])
    bit_stream = tf.reshape(bit_stream, [batch, num_bytes, 8])
    weights = tf.constant([128, 64, 32, 16, 8, 4, 2, 1], tf.int32)
    return tf.cast(tf.reduce_sum(bit_stream * weights, axis=-1), tf.uint8)


def unpack_codes(packed: TensorLike, num_latents: int, num_categories: int) -> tf.Tensor:
    """Unpacks bytes written by `pack_codes` into categorical indices.

    Args:
        packed: uint8 [batch, ceil(k/8)].
        num_latents: int, c.
        num_categories: int, l, in [2, 256].

    Returns:
        int32 [batch, num_latents]. For an l that is not a power of two, bytes
        that were not written by `pack_codes` may give values >= l; they are
        clipped to l - 1 so the decoder always receives a valid one-hot.

    Raises:
        ValueError: on a wrong dtype or a byte width that does not match (c, l).
    """
    bits = bits_per_latent(num_categories)
    _check_num_latents(num_latents)
    packed = tf.convert_to_tensor(packed)
    if packed.dtype != tf.uint8:
        raise ValueError(f"Expected uint8 packed codes. Received: packed.dtype={packed.dtype.name}")
    num_bytes = code_bytes(num_latents, num_categories)
    if packed.shape.rank != 2 or packed.shape[1] != num_bytes:
        raise ValueError(
            f"Expected packed codes of shape [batch, {num_bytes}] for num_latents="
            f"{num_latents}, num_categories={num_categories}. Received: "
            f"packed.shape={packed.shape}"
        )
    batch = tf.shape(packed)[0]
    shifts = tf.range(7, -1, -1, dtype=tf.int32)
    bit_stream = tf.bitwise.bitwise_and(
        tf.bitwise.right_shift(tf.cast(packed, tf.int32)[..., None], shifts), 1
    )
    bit_stream = tf.reshape(bit_stream, [batch, num_bytes * 8])[:, : num_latents * bits]
    bit_stream = tf.reshape(bit_stream, [batch, num_latents, bits])
    weights = tf.bitwise.left_shift(1, tf.range(bits - 1, -1, -1, dtype=tf.int32))
    indices = tf.reduce_sum(bit_stream * weights, axis=-1)
    return tf.minimum(indices, num_categories - 1)


def check_indices(
    indices: TensorLike, num_latents: int, num_categories: int, name: str = "indices"
) -> tf.Tensor:
    """Checks codes before they are decoded: int [B, c], each in [0, l).

    A code outside [0, l) would decode to the decoder's output for an all-zero
    one-hot (a flat grey image), so it is refused: eagerly with a ValueError, and
    in a graph (`tf.function`, a SavedModel signature) by assertions that fail
    with `tf.errors.InvalidArgumentError` when run.

    Args:
        indices: int [B, c].
        num_latents: c.
        num_categories: l.
        name: the argument name used in error messages.

    Returns:
        the indices as int32 or int64 [B, c] (other integer dtypes become int64).

    Raises:
        ValueError: on a non-integer dtype, another shape, or (eagerly) a value
            outside [0, l).
    """
    indices = tf.convert_to_tensor(indices)
    if not indices.dtype.is_integer:
        raise ValueError(
            f"Expected {name} of an integer dtype. Received: {name}.dtype={indices.dtype.name}"
        )
    shape = indices.shape
    if shape.rank is not None and (shape.rank != 2 or shape[1] not in (None, num_latents)):
        raise ValueError(
            f"Expected {name} of shape [batch, {num_latents}]. Received: "
            f"{name}.shape={shape.as_list()}"
        )
    if indices.dtype not in (tf.int32, tf.int64):
        indices = tf.cast(indices, tf.int64)
    expected = f"Expected {name} in [0, {num_categories})"
    if tf.executing_eagerly():
        values = indices.numpy()
        if values.size and (values.min() < 0 or values.max() >= num_categories):
            raise ValueError(f"{expected}. Received: values in [{values.min()}, {values.max()}]")
        return indices
    upper = tf.constant(num_categories, indices.dtype)
    checks = [
        tf.debugging.assert_non_negative(indices, message=expected),
        tf.debugging.assert_less(indices, upper, message=expected),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(indices)


def pack_codes_numpy(indices: np.ndarray, num_categories: int) -> np.ndarray:
    """A numpy reference for `pack_codes`, built on `np.packbits`.

    Args:
        indices: integer [batch, c] in [0, num_categories).
        num_categories: int, l.

    Returns:
        uint8 [batch, ceil(k/8)].
    """
    bits = bits_per_latent(num_categories)
    indices = np.asarray(indices, dtype=np.int64)
    shifts = np.arange(bits - 1, -1, -1)
    bit_stream = (indices[..., None] >> shifts) & 1
    bit_stream = bit_stream.reshape(indices.shape[0], indices.shape[1] * bits).astype(np.uint8)
    return np.packbits(bit_stream, axis=1, bitorder="big")


def _check_num_categories(num_categories: int) -> None:
    if (
        isinstance(num_categories, bool)
        or not isinstance(num_categories, int | np.integer)
        or not MIN_CATEGORIES <= num_categories <= MAX_CATEGORIES
    ):
        raise ValueError(
            f"Expected num_categories an int in [{MIN_CATEGORIES}, {MAX_CATEGORIES}]. "
            f"Received: num_categories={num_categories!r}"
        )


def _check_num_latents(num_latents: int) -> None:
    if (
        isinstance(num_latents, bool)
        or not isinstance(num_latents, int | np.integer)
        or num_latents < 1
    ):
        raise ValueError(f"Expected num_latents an int >= 1. Received: num_latents={num_latents!r}")
