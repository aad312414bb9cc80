"""The agent's replay memory at a byte budget: raw frames or recollections.

Where this sits: `agents.lifelong.dqn.DQNAgent` writes every transition with
`observe` and draws its learn batches with `sample`, inside its compiled step;
`stabilize` trains the codec (recollections) or does nothing (real frames).

```
RealTransitions          obs uint8 [capacity, F]    next_obs uint8 [capacity, F]
  F = ceil(H*W*C / 8) bit-packed for binary frames (MinAtar), else H*W*C bytes
RecollectionTransitions  x_codes uint8 [capacity, ceil(k/8)]   next_x_codes (same)
  + DiscreteAutoencoder over frames, trained online (`RecollectionMemory`)
both                     action int32 [capacity]   reward float32   discount float32
                         task int32 [capacity] (the game id)
                         write policy: per-game rings or reservoir
```

The byte budget buys `capacity = memory_bytes // bytes_per_transition` rows, where a
row counts both frames and the side fields (13 bytes). The codec's weights are
counted apart (`footprint`), as the paper counts incremental storage.
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

from agents.lifelong.config import CodecConfig
from recollect import DiscreteAutoencoder, Field, IndexBuffer, RecollectionMemory, bits
from recollect.write_policies import ReservoirPolicy, TaskRingPolicy, WritePolicy

SIDE_BYTES = 4 + 4 + 4 + 4  # action, reward, discount, game


def _side_fields(num_actions: int, num_games: int) -> dict[str, Field]:
    return {
        "action": Field((), "int32", num_actions),
        "reward": Field((), "float32"),
        "discount": Field((), "float32"),
        "task": Field((), "int32", num_games),  # the game; "task" is what recall draws by
    }


def _side(transition: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    return {
        "action": tf.cast(transition["action"], tf.int32),
        "reward": tf.cast(transition["reward"], tf.float32),
        "discount": tf.cast(transition["discount"], tf.float32),
        "task": tf.cast(transition["game"], tf.int32),
    }


def _sampled_side(items: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    return {
        "action": items["action"],
        "reward": items["reward"],
        "discount": items["discount"],
        "game": items["task"],
    }


def make_policy(name: str, num_games: int) -> WritePolicy:
    """The write policy: "game_rings" (a FIFO share per game) or "reservoir"."""
    if name == "game_rings":
        return TaskRingPolicy(num_games)
    return ReservoirPolicy()


def checked_capacity(memory_bytes: int, bytes_per_transition: int, num_games: int) -> int:
    """Rows the budget buys.

    Raises:
        ValueError: if the budget holds no transition (one per game for rings).
    """
    capacity = memory_bytes // bytes_per_transition
    if capacity < max(num_games, 1):
        raise ValueError(
            f"Expected --memory_bytes to hold at least {num_games} transitions of "
            f"{bytes_per_transition} bytes (one per game), i.e. >= "
            f"{bytes_per_transition * num_games}. Received: memory_bytes={memory_bytes}"
        )
    return capacity


class RealTransitions(tf.Module):
    """Raw frames: bit-packed (1 bit a value) when binary, else uint8.

    Args:
        obs_shape: (H, W, C) of a frame.
        binary: frames hold only 0 and 1.
        num_actions, num_games: ranges of the action and game fields.
        memory_bytes: the byte budget.
        policy: "game_rings" or "reservoir".
        seed: seeds the buffer's draws.
    """

    kind = "real"

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
    ) -> None:
        super().__init__(name="real_transitions")
        self.obs_shape, self.binary, self.num_games = tuple(obs_shape), bool(binary), num_games
        values = math.prod(obs_shape)
        self.frame_bytes = bits.code_bytes(values, 2) if binary else values
        self.bits_per_frame = values if binary else 8 * values
        self.bytes_per_transition = 2 * self.frame_bytes + SIDE_BYTES
        self.capacity = checked_capacity(memory_bytes, self.bytes_per_transition, num_games)
        frame = Field((self.frame_bytes,), "uint8")
        self.buffer = IndexBuffer(
            capacity=self.capacity,
            fields={"obs": frame, "next_obs": frame, **_side_fields(num_actions, num_games)},
            policy=make_policy(policy, num_games),
            seed=seed,
        )

    def _pack(self, frames: tf.Tensor) -> tf.Tensor:
        flat = tf.reshape(frames, [-1, math.prod(self.obs_shape)])
        return bits.pack_codes(tf.cast(flat, tf.int32), 2) if self.binary else flat

    def _unpack(self, rows: tf.Tensor) -> tf.Tensor:
        if self.binary:
            rows = bits.unpack_codes(rows, math.prod(self.obs_shape), 2)
            values = tf.cast(rows, tf.float32)
        else:
            values = tf.cast(rows, tf.float32) / 255.0
        return tf.reshape(values, [-1, *self.obs_shape])

    def size(self) -> tf.Tensor:
        """int64 []: transitions stored."""
        return self.buffer.size()

    def observe(self, transition: dict[str, tf.Tensor]) -> tf.Tensor:
        """Writes transitions (graph-safe): obs, next_obs uint8 [B, H, W, C], side fields [B]."""
        items = {
            "obs": self._pack(transition["obs"]),
            "next_obs": self._pack(transition["next_obs"]),
            **_side(transition),
        }
        return self.buffer.write_unchecked(items)

    def sample(self, n: int, game: tf.Tensor | None) -> dict[str, tf.Tensor]:
        """n transitions (of `game` if given): frames float32 [n, H, W, C] in [0, 1]."""
        items = self.buffer.sample_unchecked(n, game)
        return {
            **_sampled_side(items),
            "obs": self._unpack(items["obs"]),
            "next_obs": self._unpack(items["next_obs"]),
        }

    def game_size(self, game: tf.Tensor) -> tf.Tensor:
        """int64 []: transitions of one game stored."""
        return self.buffer.task_size(game)

    def stabilize(self, new_frames: tf.Tensor, recalled: tf.Tensor) -> tf.Tensor:
        """Raw frames need no codec: returns 0."""
        del new_frames, recalled
        return tf.constant(0.0)

    def footprint(self) -> dict[str, Any]:
        """Bits per frame, bytes per transition, capacity and stored bytes."""
        return {
            "kind": self.kind,
            "bits_per_frame": self.bits_per_frame,
            "bytes_per_transition": self.bytes_per_transition,
            "capacity_transitions": self.capacity,
            "buffer_bytes": self.capacity * self.bytes_per_transition,
            "codec_bytes": 0,
        }


class RecollectionTransitions(tf.Module):
    """Frames stored as k-bit codes of a codec trained online on the agent's frames.

    Args: as `RealTransitions`, plus codec: a `CodecConfig`.
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
    ) -> None:
        super().__init__(name="recollection_transitions")
        self.obs_shape, self.binary, self.num_games = tuple(obs_shape), bool(binary), num_games
        self.codec_config = codec
        self.scale = 1.0 if binary else 1.0 / 255.0
        self.bits_per_frame = bits.bits_per_item(codec.num_latents, codec.num_categories)
        code_bytes = bits.code_bytes(codec.num_latents, codec.num_categories)
        self.bytes_per_transition = 2 * code_bytes + SIDE_BYTES
        self.capacity = checked_capacity(memory_bytes, self.bytes_per_transition, num_games)
        units = {"hidden_units" if codec.codec == "mlp" else "filters": codec.codec_units}
        autoencoder = DiscreteAutoencoder(
            input_shape=obs_shape,
            num_latents=codec.num_latents,
            num_categories=codec.num_categories,
            architecture=codec.codec,
            noise_scale=codec.codec_noise,
            seed=seed,
            **units,
        )
        self.memory = RecollectionMemory(
            autoencoder,
            capacity=self.capacity,
            side_fields=_side_fields(num_actions, num_games),
            encoded_inputs=("x", "next_x"),
            policy=make_policy(policy, num_games),
            learning_rate=codec.codec_learning_rate,
            seed=seed,
        )

    def _frames(self, frames: tf.Tensor) -> tf.Tensor:
        return tf.cast(frames, tf.float32) * self.scale

    def _decoded(self, frames: tf.Tensor) -> tf.Tensor:
        return tf.round(frames) if self.binary and self.codec_config.binarize_frames else frames

    def size(self) -> tf.Tensor:
        """int64 []: transitions stored."""
        return self.memory.size()

    def game_size(self, game: tf.Tensor) -> tf.Tensor:
        """int64 []: transitions of one game stored."""
        return self.memory.buffer.task_size(game)

    def observe(self, transition: dict[str, tf.Tensor]) -> tf.Tensor:
        """Encodes both frames and writes the codes and side fields (graph-safe)."""
        return self.memory.observe_items(
            {
                "x": self._frames(transition["obs"]),
                "next_x": self._frames(transition["next_obs"]),
                **_side(transition),
            }
        )

    def sample(self, n: int, game: tf.Tensor | None) -> dict[str, tf.Tensor]:
        """n decoded transitions (of `game` if given): frames float32 [n, H, W, C]."""
        items = self.memory.recall_items(n, game)
        return {
            **_sampled_side(items),
            "obs": self._decoded(items["x"]),
            "next_obs": self._decoded(items["next_x"]),
        }

    def stabilize(self, new_frames: tf.Tensor, recalled: tf.Tensor) -> tf.Tensor:
        """One codec step on the newest frames joined with recalled ones; its loss."""
        frames = self._frames(new_frames)
        batch = recalled if self.codec_config.stabilize_steps else recalled[:0]
        losses = self.memory.stabilize(frames, [batch])
        return tf.reduce_mean(losses)

    def footprint(self) -> dict[str, Any]:
        """Bits per frame, bytes per transition, capacity, stored and codec bytes."""
        return {
            "kind": self.kind,
            "bits_per_frame": self.bits_per_frame,
            "bytes_per_transition": self.bytes_per_transition,
            "capacity_transitions": self.capacity,
            "buffer_bytes": self.capacity * self.bytes_per_transition,
            "codec_bytes": self.memory.footprint().codec_bytes,
        }


def make_store(storage: str, **kwargs: Any) -> RealTransitions | RecollectionTransitions:
    """The store for --storage ("real" or "recollections"); see the classes' Args."""
    if storage == "real":
        kwargs.pop("codec", None)
        return RealTransitions(**kwargs)
    return RecollectionTransitions(**kwargs)
