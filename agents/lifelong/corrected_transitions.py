"""Transitions whose binary frames are recollections with their mistakes put right.

Where this sits: `agents.lifelong.stores.make_store("corrected", ...)` makes it;
`DQNAgent` calls `observe` and `learn_batch` inside its compiled step. It is the
byte-arena store of `LosslessTransitions` (rows, rings, eviction, exact byte
count) with `frame_coders.CorrectedCoder` as its frame code:

```
frame code    codec code (ceil(k/8) bytes) | positions of the values its decoding gets wrong
codec         the --codec_init file's codec (runners.pretrain_frames), never trained:
              its decoder is fixed, so a correction written once stays right
recall        round(decode(code)) XOR wrong values = the frame, exactly
bytes         the codec's bytes are counted apart from the budget (codec_bytes), as the
              recollection store counts them
```
A frame the codec decodes well costs its code and a few positions (10 bits each on
MinAtar's 1,000 values); a frame it decodes badly costs more, never less than
exactly. `frame_error` is the store's own round trip (0 unless the decoding is not
reproducible), and `footprint` gives the corrections' share of the bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from agents.lifelong import frame_coders
from agents.lifelong.config import CodecConfig
from agents.lifelong.lossless_transitions import LosslessTransitions
from agents.lifelong.recollection_transitions import load_frame_codec
from recollect.footprint import codec_param_bytes

DENSITY = 1 / 200  # wrong values a frame a pretrained codec is expected to leave (5 on MinAtar)


class CorrectedTransitions(LosslessTransitions):
    """Frames as a fixed pretrained codec's k-bit code plus the positions it gets wrong.

    Args:
        codec: a `CodecConfig` whose `codec_init` names a pretrained frame codec
            of its code shape (required: an untrained codec gets half the values
            wrong, which costs more than storing the frame's set values).
        expected_density: the share of wrong values a frame is expected to have,
            which sets the rows per game (`LosslessTransitions`).
        **kwargs: as `LosslessTransitions` (strategy is ignored: the store and
            its codec run on the host).

    Raises:
        ValueError: as `LosslessTransitions`; no `codec_init`; a file that does not
            fit the codec the settings build.
    """

    kind = "corrected"

    def __init__(self, *, codec: Any, expected_density: float = DENSITY, **kwargs: Any) -> None:
        super().__init__(codec=codec, expected_density=expected_density, **kwargs)
        self._round_trip = tf.function(self.coder.encode, reduce_retracing=True)

    def _coder(self, codec: Any, seed: int) -> frame_coders.CorrectedCoder:
        if not isinstance(codec, CodecConfig) or codec.codec_init is None:
            raise ValueError(
                "Expected --codec_init to name a pretrained frame codec for "
                "--storage=corrected (make one with python -m runners.pretrain_frames; "
                "its decoder is never trained, so its corrections stay exact). "
                f"Received: codec_init={getattr(codec, 'codec_init', None)}"
            )
        frame_codec = load_frame_codec(codec, self.obs_shape, seed)
        frame_codec.trainable = False
        self.codec_bytes = codec_param_bytes(frame_codec)
        return frame_coders.CorrectedCoder(frame_codec, self.obs_shape)

    def frame_error(self, frames: np.ndarray) -> float:
        """Mean wrong values a frame uint8 [n, H, W, C] after the store's code and back."""
        frames = np.asarray(frames, np.uint8)
        codes = [self._round_trip(tf.constant(f)) for f in frames]
        packed = tf.concat([c for c, _ in codes], 0)
        decoded = self.coder.decode(packed, tf.stack([m for _, m in codes]))
        flat = frames.reshape(len(frames), -1).astype(np.float32)
        return float(np.mean(np.sum(np.abs(decoded.numpy() - flat), axis=1)))

    def footprint(self) -> dict[str, Any]:
        """`LosslessTransitions.footprint`, with the codec's bytes and the corrections' bits.

        Every stored frame's code has the same 8 * prefix_bytes bits before its
        corrections, so their mean is bits_per_frame less those.
        """
        footprint = super().footprint()
        code_bits = 8 * self.coder.prefix_bytes if footprint["frames_stored"] else 0
        corrections = round(footprint["bits_per_frame"] - code_bits, 1)
        extra = {"codec_bytes": self.codec_bytes, "correction_bits_per_frame": corrections}
        return {**footprint, **extra}
