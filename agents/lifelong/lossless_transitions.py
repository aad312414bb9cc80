"""Transitions with their binary frames kept losslessly, as many as the bytes hold.

Where this sits: `agents.lifelong.stores.make_store("lossless", ...)` makes it;
`DQNAgent` calls `observe` and `learn_batch` inside its compiled step, as for
`RealTransitions`. A frame is stored exactly by its coder (`frame_coders`: the
positions of its set values; `CorrectedTransitions` a code and its corrections),
so a transition's size varies; each game's share of the budget is a ring of
bytes (the arena) and a ring of fixed-size rows:

```
per game g of G (equal shares), made once, zero-filled, on CPU
arena        uint8   [G, A]  the game's codes back to back: byte p of its stream
                             lives at arena[g, p mod A]
rows, a ring [G, R]          row number r of the game in slot r mod R (14 bytes)
  obs_count, next_count      uint16  m of obs and next_obs (the coder's count)
  obs_shared                 uint8   1: obs is the previous row's next_obs, its code
                                     not written again (consecutive steps of an episode)
  action uint8   reward float32   discount float32
head         int64   [G]     bytes written to the game's stream
written      int64   [G]     rows written to the game
rng_seed     int64   [2]     the sampler's counter-based seed

row k back from the game's newest (k = 0: the newest)
  own bytes   frame_bytes(next_count) + (1 - obs_shared) * frame_bytes(obs_count)
  start       head - sum of the own bytes of rows 0..k              (derived)
  first byte  start - obs_shared * frame_bytes(obs_count)
  valid       k < min(written, R) and head - first byte <= A
buffer_bytes  G * (A + 14 R + 16) + 16 <= memory_bytes: every variable's bytes
```

A write goes to the game's next slot and the next bytes of its stream, so it
overwrites the oldest bytes and the oldest row: the rows whose bytes it
overwrote stop being valid and are never sampled again. Valid rows are always
the game's newest ones (a row's first byte never lies before an older row's).
R is set for frames of `expected_density` set values; the arena then holds the
rest of the share, at least two frames with every value set, so any transition
fits. Binary frames only (MinAtar); others are refused when the store is made.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf

from agents.lifelong import frame_coders
from recollect.write_policies import uniform_below

ROW_BYTES = 2 + 2 + 1 + 1 + 4 + 4  # obs_count, next_count, obs_shared, action, reward, discount
GAME_BYTES = 8 + 8  # head, written
RNG_BYTES = 16
_ROW_FIELDS = {"obs_count": tf.uint16, "next_count": tf.uint16, "obs_shared": tf.uint8}
_ROW_FIELDS |= {"action": tf.uint8, "reward": tf.float32, "discount": tf.float32}


def _expect(ok: bool, expected: str, received: str) -> None:
    if not ok:
        raise ValueError(f"Expected {expected}. Received: {received}")


class LosslessTransitions(tf.Module):
    """Binary frames stored as the bit-packed positions of their set values.

    Args:
        obs_shape: (H, W, C) of a frame.
        binary: frames hold only 0 and 1 (required).
        num_actions, num_games: ranges of the action and game fields.
        memory_bytes: the byte budget, every variable of the store counted.
        policy: "game_rings" (the only one: rows are written in order).
        seed: seeds the sampler.
        stored_frames: "observation" (the only one).
        expected_density: the share of set values a frame is expected to have,
            which sets R (MinAtar's frames: 0.6% to 5%); a wrong guess only
            leaves bytes of the arena or of the rows unused.
        **unused: other stores' arguments (codec), ignored.

    Raises:
        ValueError: non-binary frames, another policy or stored_frames, or a
            budget that cannot hold one transition per game (every value set).
    """

    kind = "lossless"

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
        expected_density: float = 1 / 32,
        codec: Any = None,
        **unused: Any,
    ) -> None:
        super().__init__(name=f"{self.kind}_transitions")
        del unused
        self.obs_shape, self.binary, self.num_games = tuple(obs_shape), bool(binary), num_games
        self.num_values = math.prod(self.obs_shape)
        self._check(binary, num_actions, policy, stored_frames, expected_density)
        self.coder = self._coder(codec, seed)
        self.rows, self.arena_bytes = self._layout(memory_bytes, expected_density)
        self.buffer_bytes = num_games * (self.arena_bytes + ROW_BYTES * self.rows + GAME_BYTES)
        self.buffer_bytes += RNG_BYTES
        with tf.device("/CPU:0"):  # every variable made here, once

            def variable(value: tf.Tensor, name: str) -> tf.Variable:
                return tf.Variable(value, trainable=False, name=name)

            self.arena = variable(tf.zeros([num_games, self.arena_bytes], tf.uint8), "arena")
            self.fields = {
                name: variable(tf.zeros([num_games, self.rows], dtype), name)
                for name, dtype in _ROW_FIELDS.items()
            }
            self.head = variable(tf.zeros([num_games], tf.int64), "head")
            self.written = variable(tf.zeros([num_games], tf.int64), "written")
            self.rng_seed = variable(tf.constant([seed, 0], tf.int64), "rng_seed")

    def _check(
        self, binary: bool, num_actions: int, policy: str, stored_frames: str, density: float
    ) -> None:
        _expect(
            binary,
            f"binary frames (values 0 and 1, as MinAtar's) for --storage={self.kind}",
            "frames of 8-bit values (use --storage=real)",
        )
        _expect(self.num_values < 2**16, "frames of < 65,536 values", f"{self.obs_shape}")
        _expect(num_actions <= 256, "<= 256 actions", f"num_actions={num_actions}")
        _expect(
            policy == "game_rings",
            f"--write_policy=game_rings with --storage={self.kind} (rows are written in order)",
            f"--write_policy={policy}",
        )
        _expect(
            stored_frames == "observation",
            f"--stored_frames=observation with --storage={self.kind} (a row's obs is already "
            "the previous row's next_obs when they are equal)",
            f"--stored_frames={stored_frames}",
        )
        _expect(0 < density <= 1, "expected_density in (0, 1]", f"{density!r}")

    def _layout(self, memory_bytes: int, density: float) -> tuple[int, int]:
        """(R, A) of each game's share.

        Raises:
            ValueError: if a share cannot hold one row and two frames of every value set.
        """
        share = (memory_bytes - RNG_BYTES) // self.num_games - GAME_BYTES
        largest = 2 * self.coder.frame_bytes(self.num_values)  # two frames, every value set
        needed = self.num_games * (ROW_BYTES + largest + GAME_BYTES) + RNG_BYTES
        _expect(
            share >= ROW_BYTES + largest,
            f"--memory_bytes to hold one {self.kind} transition per game ({self.num_games}) "
            f"at its largest ({ROW_BYTES + largest} bytes, every value set) and the "
            f"counters, i.e. >= {needed}",
            f"memory_bytes={memory_bytes}",
        )
        expected = self.coder.frame_bytes(math.ceil(density * self.num_values))
        rows = min(share // (ROW_BYTES + expected), (share - largest) // ROW_BYTES)
        return rows, share - ROW_BYTES * rows

    def _coder(self, codec: Any, seed: int) -> frame_coders.SparseCoder:
        """The frame coder: the positions of the set values (codec, seed unused)."""
        del codec, seed
        return frame_coders.SparseCoder(self.num_values)

    def observe(self, transition: dict[str, tf.Tensor]) -> tf.Tensor:
        """Writes transitions in order (graph-safe).

        Args:
            transition: obs, next_obs uint8 [B, H, W, C] (0 or 1), action int32 [B],
                reward, discount float32 [B], game int32 [B].

        Returns:
            int64 [B]: each transition's row number in its game.

        Raises:
            InvalidArgumentError: on a frame value above 1, before anything is written.
        """
        obs = tf.cast(transition["obs"], tf.uint8)
        next_obs = tf.cast(transition["next_obs"], tf.uint8)
        largest = tf.maximum(tf.reduce_max(obs), tf.reduce_max(next_obs))  # 0 when empty
        check = tf.debugging.assert_less_equal(
            largest,
            tf.constant(1, tf.uint8),
            message="Expected binary frames (0 or 1) for --storage=lossless. Received: a value",
        )
        batch = tf.shape(obs)[0]
        columns = [
            obs,
            next_obs,
            tf.cast(transition["action"], tf.uint8),
            tf.cast(transition["reward"], tf.float32),
            tf.cast(transition["discount"], tf.float32),
            tf.cast(transition["game"], tf.int64),
        ]
        with tf.control_dependencies([check]):
            numbers = tf.TensorArray(tf.int64, size=batch)

            def body(i: tf.Tensor, numbers: tf.TensorArray) -> tuple[tf.Tensor, tf.TensorArray]:
                number = self._write([c[i] for c in columns])  # after its writes
                return i + 1, numbers.write(i, number)

            _, numbers = tf.while_loop(
                lambda i, _: i < batch, body, [tf.constant(0), numbers], parallel_iterations=1
            )
        return numbers.stack()

    def _write(self, row: list[tf.Tensor]) -> tf.Tensor:
        """Writes one transition [obs, next_obs, action, reward, discount, game]."""
        obs, next_obs, action, reward, discount, game = row
        obs_code, obs_count = self.coder.encode(obs)
        next_code, next_count = self.coder.encode(next_obs)
        head, number = self.head[game], self.written[game]
        shared = self._repeats_last(game, obs_code, obs_count)
        own = tf.concat([obs_code[: (1 - shared) * tf.size(obs_code)], next_code], 0)
        size = tf.size(own, tf.int64)
        where = tf.math.floormod(head + tf.range(size, dtype=tf.int64), self.arena_bytes)
        updates = [self.arena.scatter_nd_update(self._at(game, where), own)]
        values = {
            "obs_count": tf.cast(obs_count, tf.uint16),
            "next_count": tf.cast(next_count, tf.uint16),
            "obs_shared": tf.cast(shared, tf.uint8),
            "action": action,
            "reward": reward,
            "discount": discount,
        }
        slot = self._at(game, tf.math.floormod(number, self.rows)[None])
        for name, value in values.items():
            updates.append(self.fields[name].scatter_nd_update(slot, value[None]))
        at_game = tf.reshape(game, [1, 1])
        updates.append(self.head.scatter_nd_add(at_game, size[None]))
        updates.append(self.written.scatter_nd_add(at_game, tf.ones([1], tf.int64)))
        with tf.control_dependencies(updates):
            return tf.identity(number)

    @staticmethod
    def _at(game: tf.Tensor, columns: tf.Tensor) -> tf.Tensor:
        """int64 [m, 2]: the indices (game, column) of m columns of one game's row."""
        return tf.stack([tf.fill(tf.shape(columns), game), columns], 1)

    def _repeats_last(self, game: tf.Tensor, code: tf.Tensor, count: tf.Tensor) -> tf.Tensor:
        """int32 []: 1 if the frame equals the game's newest row's next_obs, else 0."""
        number = self.written[game]
        slot = tf.math.floormod(number - 1, self.rows)
        last_count = tf.cast(tf.gather_nd(self.fields["next_count"], [game, slot]), tf.int32)
        size = tf.size(code, tf.int64)
        where = tf.math.floormod(
            self.head[game] - size + tf.range(size, dtype=tf.int64), self.arena_bytes
        )
        last_code = tf.gather_nd(self.arena, self._at(game, where))  # newest bytes: its next_obs
        same = tf.logical_and(number > 0, tf.equal(last_count, count))
        return tf.cast(tf.logical_and(same, tf.reduce_all(tf.equal(last_code, code))), tf.int32)

    # ------------------------------------------------------------------- reads
    def _ring(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Every game's rows, newest first.

        Returns:
            slots int64 [G, R] (column k: the row k back), back int64 [G, R]
            (head - start of that row), valid int64 [G] (rows 0..valid-1 are valid).
        """
        k = tf.range(self.rows, dtype=tf.int64)
        written = self.written.value()
        slots = tf.math.floormod(written[:, None] - 1 - k[None, :], self.rows)
        obs_bytes, next_bytes, shared = self._row_bytes(slots)
        back = tf.cumsum(next_bytes + (1 - shared) * obs_bytes, axis=1)
        kept = tf.logical_and(
            k[None, :] < tf.minimum(written, self.rows)[:, None],
            back + shared * obs_bytes <= self.arena_bytes,
        )
        return slots, back, tf.reduce_sum(tf.cast(kept, tf.int64), axis=1)

    def _row_bytes(self, slots: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """int64 [G, R] code bytes of obs and next_obs and obs_shared at the slots."""

        def column(name: str) -> tf.Tensor:
            return tf.cast(tf.gather(self.fields[name].value(), slots, batch_dims=1), tf.int64)

        obs = self.coder.frame_bytes(column("obs_count"))
        return obs, self.coder.frame_bytes(column("next_count")), column("obs_shared")

    def size(self) -> tf.Tensor:
        """int64 []: transitions held (valid rows)."""
        return tf.reduce_sum(self._ring()[2])

    def _random_bits(self, n: int) -> tf.Tensor:
        seed = tf.identity(self.rng_seed.value())
        self.rng_seed.assign_add(tf.constant([0, 1], tf.int64))
        return tf.random.stateless_uniform([n], seed=seed, minval=None, maxval=None, dtype=tf.int64)

    def sample(self, n: int, game: tf.Tensor | None) -> dict[str, tf.Tensor]:
        """n transitions uniform over the valid rows (of `game` if given).

        Returns:
            obs, next_obs float32 [n, H, W, C] (0 or 1), action int32 [n], reward,
            discount float32 [n], game int32 [n].
        """
        slots, back, valid = self._ring()
        draw = self._random_bits(n)
        if game is None:
            ends = tf.cumsum(valid)
            pick = uniform_below(draw, tf.maximum(ends[-1], 1))
            games = tf.searchsorted(ends, pick, side="right", out_type=tf.int64)
            games = tf.minimum(games, self.num_games - 1)
            k = pick - (tf.gather(ends, games) - tf.gather(valid, games))
        else:
            games = tf.fill([n], tf.cast(game, tf.int64))
            k = uniform_below(draw, tf.maximum(tf.gather(valid, games), 1))
        at = tf.stack([games, k], 1)
        slot = tf.stack([games, tf.gather_nd(slots, at)], 1)
        row = {name: tf.gather_nd(v, slot) for name, v in self.fields.items()}
        start = tf.gather(self.head, games) - tf.gather_nd(back, at)
        return {
            **self._frames(games, start, row),
            "action": tf.cast(row["action"], tf.int32),
            "reward": row["reward"],
            "discount": row["discount"],
            "game": tf.cast(games, tf.int32),
        }

    def _frames(self, games: tf.Tensor, start: tf.Tensor, row: dict) -> dict[str, tf.Tensor]:
        """Decodes the obs and next_obs of n rows whose own bytes begin at `start`."""
        obs_count = tf.cast(row["obs_count"], tf.int64)
        next_count = tf.cast(row["next_count"], tf.int64)
        obs_bytes = self.coder.frame_bytes(obs_count)
        shared = tf.cast(row["obs_shared"], tf.int64)
        firsts = tf.concat([start - shared * obs_bytes, start + (1 - shared) * obs_bytes], 0)
        counts = tf.concat([obs_count, next_count], 0)
        lengths = self.coder.frame_bytes(counts)
        offsets = tf.ragged.range(firsts, firsts + lengths)
        owner = tf.gather(tf.concat([games, games], 0), offsets.value_rowids())
        where = tf.math.floormod(offsets.flat_values, self.arena_bytes)
        packed = tf.gather_nd(self.arena, tf.stack([owner, where], 1))
        frames = self.coder.decode(packed, counts)
        obs, next_obs = tf.split(tf.reshape(frames, [-1, *self.obs_shape]), 2)
        return {"obs": obs, "next_obs": next_obs}

    def learn_batch(self, size: int, own: int, game: tf.Tensor) -> dict[str, tf.Tensor]:
        """size transitions: own of the game being played, the rest of any game."""
        parts = [self.sample(own, game)] if own else []
        if size - own:
            parts.append(self.sample(size - own, None))
        return {k: tf.concat([p[k] for p in parts], 0) for k in parts[0]}

    def stabilize(self, newest: tf.Tensor, batch: dict, own: int | tf.Tensor) -> tf.Tensor:
        """Nothing to train: returns 0."""
        del newest, batch, own
        return tf.constant(0.0)

    def frame_error(self, frames: np.ndarray) -> float:
        """Frames are stored exactly: 0."""
        del frames
        return 0.0

    # ---------------------------------------------------------------- accounts
    def stored_frames(self) -> tuple[int, int]:
        """(frames whose codes the valid rows keep, their code bytes), each counted once."""
        slots, _, valid = self._ring()
        obs, next_, shared = (t.numpy() for t in self._row_bytes(slots))
        frames = code = 0
        for g, count in enumerate(valid.numpy()):
            kept = slice(0, int(count))
            frames += int(count + (1 - shared[g, kept]).sum())
            code += int(next_[g, kept].sum() + (obs[g, kept] * (1 - shared[g, kept])).sum())
            if count and shared[g, count - 1]:  # the oldest row's obs: the row before's bytes
                frames, code = frames + 1, code + int(obs[g, count - 1])
        return frames, code

    def footprint(self) -> dict[str, Any]:
        """Transitions held, measured bits a frame, and every byte of the store.

        bits_per_frame is the mean code length of the stored frames (each once);
        bytes_per_transition is buffer_bytes over the transitions held (all of the
        store's bytes, rows, slack and counters included); before any write,
        row_capacity transitions are assumed.
        """
        held = int(self.size())
        frames, code = self.stored_frames()
        return {
            "kind": self.kind,
            "bits_per_frame": round(8 * code / frames, 1) if frames else 0.0,
            "bytes_per_transition": round(self.buffer_bytes / (held or self.capacity()), 1),
            "capacity_transitions": held,
            "buffer_bytes": self.buffer_bytes,
            "codec_bytes": 0,
            "row_capacity": self.capacity(),
            "arena_bytes": self.num_games * self.arena_bytes,
            "frames_stored": frames,
        }

    def capacity(self) -> int:
        """Rows the store can hold at most (R per game)."""
        return self.rows * self.num_games
