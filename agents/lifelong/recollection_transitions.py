"""Transitions stored as k-bit codes: the agent's replay memory as recollections.

Where this sits: `agents.lifelong.stores.make_store("recollections", ...)` makes it;
`DQNAgent` calls `observe`, `learn_batch` and `stabilize` inside its compiled step.

```
recent (optional)   RealTransitions, one FIFO ring of the newest K transitions,
                    raw (bit-packed); a transition leaving it is encoded into:
memory              RecollectionMemory  x_codes, next_x_codes uint8 [capacity, ceil(k/8)]
                    action, reward, discount, task (game) | per-game rings or reservoir
                    + DiscreteAutoencoder over frames and its Adam optimizer
budget              K * raw bytes + capacity * (2 * ceil(k/8) + 16) <= memory_bytes
```

With K = 0 every transition is encoded when it arrives, by a codec that may not
have seen its game yet. With K > 0 (`CodecConfig.recent_transitions`) a
transition is encoded only when K newer ones have arrived, after the codec has
trained on it: the learn batch's share of the game being played comes from the
raw ring, the rest are recollections, and the codec's step (Algorithm 1) is on
the raw frames joined with the recalled ones.

The codec starts from a pretrained file when `CodecConfig.codec_init` names one
(`runners.pretrain_frames`: unlabelled frames of a random policy), and with
`codec_decoder_steps` its decoder is fixed after that many codec steps (0: from
the start), so a stored code decodes the same however long it stays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from agents import strategies
from agents.lifelong import frame_stacks
from agents.lifelong.config import CodecConfig
from agents.lifelong.replay import (
    SIDE_BYTES,
    RealTransitions,
    checked_capacity,
    make_policy,
    sampled_side,
    side_fields,
    side_items,
)
from agents.stores import codecs
from recollect import DiscreteAutoencoder, RecollectionMemory, bits, pretrained_codec
from recollect.memory_layout import codes_field


def build_frame_codec(
    codec: CodecConfig, frame_shape: tuple[int, ...], seed: int
) -> DiscreteAutoencoder:
    """The `DiscreteAutoencoder` over frames [*frame_shape] that a `CodecConfig` describes.

    The continual store's builder (`agents.stores.codecs.build_codec`) at the
    config's own code shape.
    """
    return codecs.build_codec(
        codec,
        num_latents=codec.num_latents,
        num_categories=codec.num_categories,
        input_shape=frame_shape,
        seed=seed,
    )


def load_frame_codec(
    codec: CodecConfig, frame_shape: tuple[int, ...], seed: int
) -> DiscreteAutoencoder:
    """`build_frame_codec`, with the --codec_init file's weights when the config names one.

    Raises:
        ValueError: a --codec_init file whose codec differs from the one the
            settings build (naming each setting), or whose sha256 changed.
    """
    frame_codec = build_frame_codec(codec, frame_shape, seed)
    if codec.codec_init is not None:
        pretrained_codec.PretrainedCodec.read(codec.codec_init).load_into(
            frame_codec, sha256=codec.codec_init_sha256
        )
    return frame_codec


class RecollectionTransitions(tf.Module):
    """Frames stored as k-bit codes of a codec trained online on the agent's frames.

    Args:
        obs_shape, binary, num_actions, num_games, memory_bytes, policy, seed: as
            `RealTransitions`.
        codec: a `CodecConfig`.
        strategy: a `tf.distribute` strategy the agent's learn step runs under: the
            codec and its optimizer are made in its scope (mirrored), the buffers
            and the raw ring outside it (plain, on the host). None: one device.
    """

    kind = "recollections"

    def __init__(
        self,
        *,
        obs_shape: tuple[int, int, int],
        binary: bool,
        num_actions: int,
        num_games: int,
        memory_bytes: int,
        policy: str,
        seed: int,
        codec: CodecConfig,
        stored_frames: str = "observation",
        strategy: tf.distribute.Strategy | None = None,
    ) -> None:
        super().__init__(name="recollection_transitions")
        self.obs_shape, self.binary, self.num_games = tuple(obs_shape), bool(binary), num_games
        self.depth, self.frame_shape = frame_stacks.frame_layout(stored_frames, obs_shape, policy)
        self.codec_config = codec
        with strategies.scope(strategy):
            # a --codec_init that does not fit fails here
            frame_codec = load_frame_codec(codec, self.frame_shape, seed)
        self.scale = 1.0 if binary else 1.0 / 255.0
        self.bits_per_frame = bits.bits_per_item(codec.num_latents, codec.num_categories)
        code_bytes = bits.code_bytes(codec.num_latents, codec.num_categories)
        self.bytes_per_transition = 2 * code_bytes + SIDE_BYTES + frame_stacks.age_bytes(self.depth)
        recent_bytes = self._recent_bytes(memory_bytes)
        self.recent = None
        if recent_bytes:
            self.recent = RealTransitions(
                obs_shape=obs_shape,
                binary=binary,
                num_actions=num_actions,
                num_games=num_games,
                memory_bytes=recent_bytes,
                policy="fifo",
                seed=seed,
                stored_frames=stored_frames,
            )
        self.capacity = checked_capacity(
            memory_bytes - recent_bytes, self.bytes_per_transition, num_games
        )
        with strategies.scope(strategy):
            self.memory = self._memory(frame_codec, num_actions, policy, seed)

    def _memory(
        self, frame_codec: DiscreteAutoencoder, num_actions: int, policy: str, seed: int
    ) -> RecollectionMemory:
        codec = self.codec_config
        return RecollectionMemory(
            frame_codec,
            capacity=self.capacity,
            side_fields={
                **side_fields(num_actions, self.num_games),
                **frame_stacks.age_field(self.depth),
            },
            encoded_inputs=("x", "next_x"),
            policy=make_policy(policy, self.num_games),
            learning_rate=codec.codec_learning_rate,
            decoder_steps=codec.codec_decoder_steps,
            seed=seed,
        )

    def _recent_bytes(self, memory_bytes: int) -> int:
        """Bytes of the raw ring of the newest transitions (0 without one).

        Raises:
            ValueError: if the budget cannot hold the ring and one coded
                transition per game.
        """
        count = self.codec_config.recent_transitions
        if not count:
            return 0
        per_item = RealTransitions.transition_bytes(
            self.frame_shape, self.binary, fifo=True, depth=self.depth
        )
        recent_bytes = count * per_item
        if recent_bytes + self.bytes_per_transition * self.num_games > memory_bytes:
            raise ValueError(
                f"Expected --memory_bytes to hold --recent_transitions={count} raw "
                f"transitions ({recent_bytes} bytes) and {self.num_games} coded ones "
                f"({self.bytes_per_transition} bytes each). Received: memory_bytes={memory_bytes}"
            )
        return recent_bytes

    def _frames(self, frames: tf.Tensor) -> tf.Tensor:
        return tf.cast(frames, tf.float32) * self.scale

    def _decoded(self, frames: tf.Tensor) -> tf.Tensor:
        return tf.round(frames) if self.binary and self.codec_config.binarize_frames else frames

    def size(self) -> tf.Tensor:
        """int64 []: transitions stored (encoded and, if kept, raw)."""
        return self.memory.size() + (self.recent.size() if self.recent else 0)

    def _encode(self, transition: dict[str, tf.Tensor]) -> tf.Tensor:
        """Writes transitions whose obs and next_obs are float frames as stored."""
        age = {"age": frame_stacks.age_of(transition, self.depth)} if self.depth > 1 else {}
        return self.memory.observe_items(
            {
                "x": transition["obs"],
                "next_x": transition["next_obs"],
                **side_items(transition),
                **age,
            }
        )

    def _stored(self, frames: tf.Tensor) -> tf.Tensor:
        """uint8 observations [B, H, W, C] -> the float frames a row codes."""
        return self._frames(frame_stacks.newest(frames, self.depth))

    def observe(self, transition: dict[str, tf.Tensor]) -> tf.Tensor:
        """Writes transitions (graph-safe): obs, next_obs uint8 [B, H, W, C], side fields [B]."""
        if self.recent is None:
            return self._encode(
                {
                    **transition,
                    "obs": self._stored(transition["obs"]),
                    "next_obs": self._stored(transition["next_obs"]),
                }
            )
        leaving = self.recent.evicted(tf.shape(transition["obs"], out_type=tf.int64)[0])
        with tf.control_dependencies([self._encode(leaving)]):
            return self.recent.observe(transition)

    def sample(self, n: int, game: tf.Tensor | None) -> dict[str, tf.Tensor]:
        """n decoded transitions (of `game` if given): frames float32 [n, H, W, C]."""
        if self.depth == 1:
            items = self.memory.recall_items(n, game)
            obs, next_obs = self._decoded(items["x"]), self._decoded(items["next_x"])
            return {**sampled_side(items), "obs": obs, "next_obs": next_obs}
        items = self.memory.recall_items(n, game, decode=False)
        history = frame_stacks.history_rows(
            self.memory.buffer, items["rows"], items["age"], self.depth
        )
        codes = tf.gather(
            self.memory.buffer.variables_by_field[codes_field("x")].value, tf.reshape(history, [-1])
        )
        frames_at = tf.reshape(self._decoded_codes(codes), [-1, self.depth, *self.frame_shape])
        next_frames = self._decoded_codes(items[codes_field("next_x")])
        obs, next_obs = frame_stacks.stacks(frames_at, next_frames)
        return {**sampled_side(items), "obs": obs, "next_obs": next_obs}

    def _decoded_codes(self, packed: tf.Tensor) -> tf.Tensor:
        """Packed codes uint8 [m, ceil(k/8)] -> decoded frames [m, *frame_shape]."""
        c, l = self.codec_config.num_latents, self.codec_config.num_categories
        indices = bits.unpack_codes(packed, c, l)  # in [0, l): written by pack_codes
        return self._decoded(self.memory.codec.decode_unchecked(indices))

    def learn_batch(self, size: int, own: int, game: tf.Tensor) -> dict[str, tf.Tensor]:
        """size transitions: own of the game being played (raw when kept), the rest any."""
        if self.recent is None:
            parts = [self.sample(own, game)] if own else []
            if size - own:
                parts.append(self.sample(size - own, None))
        else:
            recent = self.recent
            parts = [recent.sample(own, None)] if own else []
            if size - own:
                parts.append(
                    tf.cond(
                        self.memory.size() > 0,
                        lambda: self.sample(size - own, None),
                        lambda: recent.sample(size - own, None),
                    )
                )
        return {k: tf.concat([p[k] for p in parts], 0) for k in parts[0]}

    def stabilize(
        self, newest: tf.Tensor, batch: dict[str, tf.Tensor], own: int | tf.Tensor
    ) -> tf.Tensor:
        """One codec step (Algorithm 1) on real frames joined with recalled ones; its loss.

        The real frames are the newest ones, and with a raw ring the batch's own
        share (its first `own` rows, drawn from it); the recollections are the rest
        of the batch. In a strategy's `run`, each replica passes its share of
        these, and the memory sums every replica's gradients.
        """
        frames = self._stored(newest)
        batch_frames = frame_stacks.newest(batch["obs"], self.depth)
        recalled = batch_frames
        if self.recent is not None:
            frames = tf.concat([frames, batch_frames[:own]], 0)
            recalled = batch_frames[own:]
        if not self.codec_config.stabilize_steps:
            recalled = recalled[:0]
        return tf.reduce_mean(self.memory.stabilize(frames, [recalled]))

    def frame_error(self, frames: np.ndarray) -> float:
        """Mean over frames uint8 [n, H, W, C] of sum |decoded code - frame| (on [0, 1])."""
        x = self._stored(tf.constant(frames))
        decoded = self._decoded(self.memory.decode(self.memory.encode(x)))
        return float(tf.reduce_mean(tf.reduce_sum(tf.abs(decoded - x), axis=[1, 2, 3])))

    def footprint(self) -> dict[str, Any]:
        """Bits per frame, transitions held, bytes stored and the codec's bytes."""
        recent = self.recent.footprint() if self.recent else {}
        raw = recent.get("capacity_transitions", 0)
        return {
            "kind": self.kind,
            "bits_per_frame": self.bits_per_frame,
            "bytes_per_transition": self.bytes_per_transition,
            "capacity_transitions": self.capacity + raw,
            "encoded_transitions": self.capacity,
            "raw_recent_transitions": raw,
            "buffer_bytes": self.capacity * self.bytes_per_transition
            + recent.get("buffer_bytes", 0),
            "codec_bytes": self.memory.footprint().codec_bytes,
        }
