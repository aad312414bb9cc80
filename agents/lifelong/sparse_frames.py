"""A lossless code for binary frames: the positions of their set values, bit-packed.

Where this sits: `LosslessTransitions` (lossless_transitions.py) codes every frame
it stores with `encode` and decodes sampled ones with `decode`; both are
TensorFlow ops, so they run inside the agent's compiled step.

```
frame uint8 [H, W, C], values 0 or 1, n = H * W * C values, m of them set
positions   p_0 < p_1 < ... < p_{m-1}, the flat (row-major) indices of the set values
code        each position in b = ceil(log2 n) bits, least significant bit first,
            back to back, zero-padded to whole bytes:  code_bytes(m) = ceil(m * b / 8)
            (MinAtar, n = 1,000: b = 10; 33 set values, Breakout's typical frame,
            take 42 bytes against 125 for the frame bit-packed)
```
The code of a frame is unique (positions ascending), so two frames are equal
exactly when their counts and codes are.
"""

from __future__ import annotations

import math

import tensorflow as tf


def position_bits(num_values: int) -> int:
    """b: the bits of one position among num_values (at least 1)."""
    return max(1, math.ceil(math.log2(num_values)))


def code_bytes(counts: tf.Tensor, bits: int) -> tf.Tensor:
    """Bytes of codes of `counts` set values each: ceil(counts * bits / 8), same dtype."""
    return (counts * bits + 7) // 8


def encode(frame: tf.Tensor, bits: int) -> tuple[tf.Tensor, tf.Tensor]:
    """One binary frame -> (its code uint8 [code_bytes(m)], m int32 []).

    Args:
        frame: uint8 [H, W, C] (any shape), values 0 or 1.
        bits: b, from `position_bits(frame.size)`.
    """
    positions = tf.cast(tf.where(tf.reshape(frame, [-1]) > 0)[:, 0], tf.int32)  # [m]
    count = tf.size(positions)
    stream = tf.bitwise.bitwise_and(
        tf.bitwise.right_shift(positions[:, None], tf.range(bits)[None, :]), 1
    )
    stream = tf.reshape(stream, [-1])  # int32 [m * b]
    stream = tf.pad(stream, [[0, tf.math.floormod(-count * bits, 8)]])
    octets = tf.reshape(stream, [-1, 8])
    packed = tf.reduce_sum(tf.bitwise.left_shift(octets, tf.range(8)[None, :]), axis=1)
    return tf.cast(packed, tf.uint8), count


def decode(packed: tf.Tensor, counts: tf.Tensor, num_values: int, bits: int) -> tf.Tensor:
    """The codes of F frames, back to back -> the frames, flat.

    Args:
        packed: uint8 [sum_f code_bytes(counts[f])], frame f's code after frame f-1's.
        counts: int32 [F], set values of each frame.
        num_values: n, values of a frame.
        bits: b.

    Returns:
        float32 [F, n], values 0 or 1.
    """
    counts = tf.cast(counts, tf.int32)
    starts = 8 * tf.cumsum(code_bytes(counts, bits), exclusive=True)  # each code's first bit
    stream = tf.bitwise.bitwise_and(
        tf.bitwise.right_shift(tf.cast(packed, tf.int32)[:, None], tf.range(8)[None, :]), 1
    )
    stream = tf.reshape(stream, [-1])  # int32 [8 * bytes]
    frame_of = tf.repeat(tf.range(tf.size(counts)), counts)  # [P], P = sum(counts)
    rank = tf.range(tf.size(frame_of)) - tf.gather(tf.cumsum(counts, exclusive=True), frame_of)
    first_bit = tf.gather(starts, frame_of) + rank * bits
    position_bits_at = tf.gather(stream, first_bit[:, None] + tf.range(bits)[None, :])  # [P, b]
    positions = tf.reduce_sum(
        tf.bitwise.left_shift(position_bits_at, tf.range(bits)[None, :]), axis=1
    )
    return tf.scatter_nd(
        tf.stack([frame_of, positions], axis=1),
        tf.ones_like(positions, tf.float32),
        [tf.size(counts), num_values],
    )
