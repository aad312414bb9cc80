"""How a byte-arena store codes one binary frame: exactly, as bytes of varying length.

Where this sits: `LosslessTransitions` (lossless_transitions.py) holds one coder and
calls `encode` on every frame it writes and `decode` on the frames it samples;
`frame_bytes(m)` is the length of a frame's code from its count m alone, which is
all a row keeps. Both coders are exact: `decode(encode(frame)) == frame` for every
binary frame.

```
SparseCoder      the positions of the set values       code_bytes(m) bytes
                 m = set values                         (sparse_frames)
CorrectedCoder   a fixed codec's k-bit code, then the   ceil(k/8) + code_bytes(m) bytes
                 positions its decoded frame gets wrong
                 m = wrong values
```
The corrected coder's decode is `round(codec.decode(code)) XOR wrong`: the
recollection with its mistakes put right. Its codec never trains (its decoder is
fixed), so a stored correction stays right however long it is kept; a codec
pretrained on frames of the games (`runners.pretrain_frames`) gets few values
wrong, so most frames cost the code and a few positions.
"""

from __future__ import annotations

import math

import tensorflow as tf

from agents.lifelong import sparse_frames
from recollect import DiscreteAutoencoder, bits


class SparseCoder:
    """A binary frame as the bit-packed positions of its set values.

    Args:
        num_values: n, values of a frame.
    """

    prefix_bytes = 0  # bytes of every code before its positions

    def __init__(self, num_values: int) -> None:
        self.num_values = num_values
        self.bits = sparse_frames.position_bits(num_values)

    def frame_bytes(self, counts: tf.Tensor | int) -> tf.Tensor | int:
        """Bytes of the code of a frame with `counts` positions (same type)."""
        return self.prefix_bytes + sparse_frames.code_bytes(counts, self.bits)

    def encode(self, frame: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """One frame uint8 [H, W, C] (0 or 1) -> (its code uint8 [bytes], m int32 [])."""
        return sparse_frames.encode(frame, self.bits)

    def decode(self, packed: tf.Tensor, counts: tf.Tensor) -> tf.Tensor:
        """F codes back to back, their counts int [F] -> float32 [F, n], 0 or 1."""
        return sparse_frames.decode(packed, counts, self.num_values, self.bits)


class CorrectedCoder(SparseCoder):
    """A binary frame as a fixed codec's code and the positions its decoding gets wrong.

    Args:
        codec: the frame codec; it is only run, never trained.
        frame_shape: (H, W, C) of a frame, the codec's input shape.
    """

    def __init__(self, codec: DiscreteAutoencoder, frame_shape: tuple[int, ...]) -> None:
        super().__init__(math.prod(frame_shape))
        self.codec, self.frame_shape = codec, tuple(frame_shape)
        self.prefix_bytes = bits.code_bytes(codec.num_latents, codec.num_categories)

    def _guess(self, indices: tf.Tensor) -> tf.Tensor:
        """int32 [F, c] -> the codec's decoded frames, rounded, float32 [F, n]."""
        decoded = self.codec.decode_unchecked(indices)
        return tf.round(tf.reshape(decoded, [-1, self.num_values]))

    def encode(self, frame: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """One frame -> (the packed code, then the wrong values' positions; m = wrong values)."""
        flat = tf.reshape(tf.cast(frame, tf.float32), [1, -1])
        indices = self.codec.encode(tf.reshape(flat, [1, *self.frame_shape]))
        wrong = tf.cast(tf.not_equal(self._guess(indices)[0], flat[0]), tf.uint8)
        positions, count = sparse_frames.encode(wrong, self.bits)
        code = bits.pack_codes(indices, self.codec.num_categories)[0]
        return tf.concat([code, positions], 0), count

    def decode(self, packed: tf.Tensor, counts: tf.Tensor) -> tf.Tensor:
        """F corrected codes back to back -> the frames, float32 [F, n], exactly."""
        counts = tf.cast(counts, tf.int32)
        starts = tf.cumsum(self.frame_bytes(counts), exclusive=True)
        prefix_at = starts[:, None] + tf.range(self.prefix_bytes)[None, :]  # [F, K]
        ones = tf.ones([tf.size(prefix_at)], tf.int32)
        in_prefix = tf.scatter_nd(tf.reshape(prefix_at, [-1, 1]), ones, tf.shape(packed))
        positions = tf.boolean_mask(packed, tf.equal(in_prefix, 0))
        wrong = super().decode(positions, counts)
        c, l = self.codec.num_latents, self.codec.num_categories
        guess = self._guess(bits.unpack_codes(tf.gather(packed, prefix_at), c, l))
        return tf.abs(guess - wrong)
