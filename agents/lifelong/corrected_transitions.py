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
from agents.lifelong.recollection_transitions import build_frame_codec
from recollect import pretrained_codec

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
        kwargs.pop("strategy", None)
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
        frame_codec = build_frame_codec(codec, self.obs_shape, seed)
        pretrained_codec.PretrainedCodec.read(codec.codec_init).load_into(
            frame_codec, sha256=codec.codec_init_sha256
        )
        frame_codec.trainable = False
        self.codec_bytes = 4 * (
            frame_codec.encoder.count_params() + frame_codec.decoder.count_params()
        )
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
        """`LosslessTransitions.footprint`, with the codec's bytes and the corrections' bits."""
        frames, code = self.stored_frames()
        code_bits = 8 * self.coder.prefix_bytes * frames
        return {
            **super().footprint(),
            "codec_bytes": self.codec_bytes,
            "correction_bits_per_frame": round((8 * code - code_bits) / frames, 1)
            if frames
            else 0.0,
        }
