"""The agent's replay memory at a byte budget: raw frames (the baseline).

Where this sits: `agents.lifelong.dqn.DQNAgent` writes every transition with
`observe` and draws its learn batches with `learn_batch`, inside its compiled
step; `stabilize` does nothing here (`RecollectionTransitions` trains its codec).
The side-field helpers here are shared with `recollection_transitions.py`.

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
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from agents.lifelong import frame_stacks
from agents.registry import Registry
from recollect import Field, IndexBuffer, bits
from recollect.write_policies import ReservoirPolicy, TaskRingPolicy, WritePolicy

SIDE_BYTES = 4 + 4 + 4 + 4  # action, reward, discount, game


def side_fields(num_actions: int, num_games: int) -> dict[str, Field]:
    """The side fields of a stored transition (the game is kept as "task")."""
    return {
        "action": Field((), "int32", num_actions),
        "reward": Field((), "float32"),
        "discount": Field((), "float32"),
        "task": Field((), "int32", num_games),  # the game; "task" is what recall draws by
    }


def side_items(transition: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """A transition's side fields as stored: its "game" written as "task"."""
    return {
        "action": tf.cast(transition["action"], tf.int32),
        "reward": tf.cast(transition["reward"], tf.float32),
        "discount": tf.cast(transition["discount"], tf.float32),
        "task": tf.cast(transition["game"], tf.int32),
    }


def sampled_side(items: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Stored side fields as a transition's: "task" read back as "game"."""
    return {
        "action": items["action"],
        "reward": items["reward"],
        "discount": items["discount"],
        "game": items["task"],
    }


WRITE_POLICIES: Registry[Callable[[int], WritePolicy]] = Registry(
    "write policy",
    "--write_policy",
    {
        "game_rings": TaskRingPolicy,  # a FIFO share per game
        "reservoir": lambda num_games: ReservoirPolicy(),
        # One ring over every game, the newest transitions (the recent ring of
        # RecollectionTransitions; not a --write_policy choice).
        "fifo": lambda num_games: TaskRingPolicy(1, task_field="ring"),
    },
)


def make_policy(name: Any, num_games: int) -> WritePolicy:
    """The write policy "game_rings", "reservoir" or "fifo" names (`WRITE_POLICIES`).

    Raises:
        ValueError: an unknown name (`agents.registry.Registry.resolve`).
    """
    return WRITE_POLICIES.resolve(name)(num_games)


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
        policy: "game_rings", "reservoir" or "fifo" (one ring, the newest
            transitions of any game; a "ring" field of 4 bytes a row says so).
        seed: seeds the buffer's draws.
        stored_frames: "observation" (each observation whole) or "newest" (the
            newest frame of each stack of K = C frames, the stacks rebuilt when
            sampled; an "age" field of 4 bytes a row; see `frame_stacks`).
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
        stored_frames: str = "observation",
    ) -> None:
        super().__init__(name="real_transitions")
        self.obs_shape, self.binary, self.num_games = tuple(obs_shape), bool(binary), num_games
        self.depth, self.frame_shape = frame_stacks.frame_layout(stored_frames, obs_shape, policy)
        self.frame_bytes = self.frame_bytes_of(self.frame_shape, binary)
        self.bits_per_frame = math.prod(self.frame_shape) * (1 if binary else 8)
        self.fifo = policy == "fifo"
        ring = {"ring": Field((), "int32", 1)} if self.fifo else {}
        ring.update(frame_stacks.age_field(self.depth))
        self.bytes_per_transition = self.transition_bytes(
            self.frame_shape, binary, fifo=self.fifo, depth=self.depth
        )
        self.capacity = checked_capacity(
            memory_bytes, self.bytes_per_transition, 1 if self.fifo else num_games
        )
        frame = Field((self.frame_bytes,), "uint8")
        self.buffer = IndexBuffer(
            capacity=self.capacity,
            fields={
                "obs": frame,
                "next_obs": frame,
                **side_fields(num_actions, num_games),
                **ring,
            },
            policy=make_policy(policy, num_games),
            seed=seed,
        )

    @staticmethod
    def frame_bytes_of(obs_shape: tuple[int, ...], binary: bool) -> int:
        """Bytes of one stored frame: 1 bit a value when binary, else 1 byte."""
        values = math.prod(obs_shape)
        return bits.code_bytes(values, 2) if binary else values

    @classmethod
    def transition_bytes(
        cls,
        frame_shape: tuple[int, ...],
        binary: bool,
        *,
        fifo: bool = False,
        depth: int = 1,
    ) -> int:
        """Bytes of one stored transition: two frames, the side fields (and ring, age)."""
        extra = (4 if fifo else 0) + frame_stacks.age_bytes(depth)
        return 2 * cls.frame_bytes_of(frame_shape, binary) + SIDE_BYTES + extra

    def _pack(self, frames: tf.Tensor) -> tf.Tensor:
        frames = frame_stacks.newest(frames, self.depth)
        flat = tf.reshape(frames, [-1, math.prod(self.frame_shape)])
        return bits.pack_codes(tf.cast(flat, tf.int32), 2) if self.binary else flat

    def _unpack(self, rows: tf.Tensor) -> tf.Tensor:
        if self.binary:
            rows = bits.unpack_codes(rows, math.prod(self.frame_shape), 2)
            values = tf.cast(rows, tf.float32)
        else:
            values = tf.cast(rows, tf.float32) / 255.0
        return tf.reshape(values, [-1, *self.frame_shape])

    def _frames(self, items: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The sampled rows' obs and next_obs, their stacks rebuilt when stacked."""
        if self.depth == 1:
            return {"obs": self._unpack(items["obs"]), "next_obs": self._unpack(items["next_obs"])}
        history = frame_stacks.history_rows(self.buffer, items["rows"], items["age"], self.depth)
        stored = tf.gather(self.buffer.variables_by_field["obs"].value, tf.reshape(history, [-1]))
        frames_at = tf.reshape(self._unpack(stored), [-1, self.depth, *self.frame_shape])
        obs, next_obs = frame_stacks.stacks(frames_at, self._unpack(items["next_obs"]))
        return {"obs": obs, "next_obs": next_obs}

    def size(self) -> tf.Tensor:
        """int64 []: transitions stored."""
        return self.buffer.size()

    def observe(self, transition: dict[str, tf.Tensor]) -> tf.Tensor:
        """Writes transitions (graph-safe): obs, next_obs uint8 [B, H, W, C], side fields [B]."""
        items = {
            "obs": self._pack(transition["obs"]),
            "next_obs": self._pack(transition["next_obs"]),
            **side_items(transition),
        }
        if self.depth > 1:
            items["age"] = frame_stacks.age_of(transition, self.depth)
        if self.fifo:
            items["ring"] = tf.zeros_like(items["task"])
        return self.buffer.write_unchecked(items)

    def evicted(self, batch_size: tf.Tensor) -> dict[str, tf.Tensor]:
        """The transitions the next write of batch_size items overwrites ("fifo" only).

        Returns:
            dict: obs, next_obs float32 [m, H, W, C] in [0, 1] and side fields [m],
            m = how many of the next writes land on a filled row (0 while filling);
            when stacked, the stored newest frames [m, H, W, C / K] and "age".
        """
        count = self.buffer.policy_state["task_counts"][0]
        positions = count + tf.range(tf.cast(batch_size, tf.int64), dtype=tf.int64)
        rows = tf.math.floormod(positions[positions >= self.capacity], self.capacity)
        items = self.buffer.read(rows)
        age = {"age": items["age"]} if self.depth > 1 else {}
        return {
            **sampled_side(items),
            **age,
            "obs": self._unpack(items["obs"]),
            "next_obs": self._unpack(items["next_obs"]),
        }

    def learn_batch(self, size: int, own: int, game: tf.Tensor) -> dict[str, tf.Tensor]:
        """size transitions: own of the game being played, the rest of any game."""
        parts = [self.sample(own, game)] if own else []
        if size - own:
            parts.append(self.sample(size - own, None))
        return {k: tf.concat([p[k] for p in parts], 0) for k in parts[0]}

    def sample(self, n: int, game: tf.Tensor | None) -> dict[str, tf.Tensor]:
        """n transitions (of `game` if given): frames float32 [n, H, W, C] in [0, 1]."""
        items = self.buffer.sample_unchecked(n, game)
        return {**sampled_side(items), **self._frames(items)}

    def stabilize(
        self, newest: tf.Tensor, batch: dict[str, tf.Tensor], own: int | tf.Tensor
    ) -> tf.Tensor:
        """Raw frames need no codec: returns 0."""
        del newest, batch, own
        return tf.constant(0.0)

    def frame_error(self, frames: np.ndarray) -> float:
        """Raw frames are stored exactly: 0."""
        del frames
        return 0.0

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
