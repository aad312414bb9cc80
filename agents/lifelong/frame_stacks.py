"""Frame stacks rebuilt at sample time from one stored frame a step (Dopamine's way).

Where this sits: with `--stored_frames=newest`, `RealTransitions` and
`RecollectionTransitions` keep only the newest frame of each observation's stack
of K frames (an Atari observation is the last 4 preprocessed frames) and rebuild
the stacks of a sampled row from the rows written before it, so a stored step
costs 2 frames instead of 2 K.

```
row r, written at step t of an episode:
  obs      f_t       the newest frame of obs_t        (coded, or raw)
  next_obs f_t+1     the newest frame of next_obs_t
  age      min(t, K - 1)   how many earlier rows of the episode a stack reaches
stack of obs_t      channel K-1-j = obs of the row j writes back, for j = 0..K-1,
                    clamped to the episode's first row (gymnasium's FrameStack pads
                    an episode's start with its first frame) and to the oldest row
                    the ring still holds
stack of next_obs_t channel K-1 = next_obs of r; channel K-1-j = obs of the row
                    j - 1 writes back, clamped the same way
```

Rows are written in time order within each ring of a `TaskRingPolicy` (one ring
per game, or one "fifo" ring), so "j writes back" is j ring positions back. The
reservoir policy keeps no such order and is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from recollect import Field, IndexBuffer
from recollect.write_policies import TaskRingPolicy

STORED_FRAMES = ("observation", "newest")
AGE_BYTES = 4  # the int32 "age" field of a stacked row


def check_stored_frames(stored_frames: str, policy: str) -> None:
    """Raises ValueError for an unknown setting, or "newest" with the reservoir policy."""
    if stored_frames not in STORED_FRAMES:
        raise ValueError(
            f"Expected --stored_frames among {list(STORED_FRAMES)}. Received: {stored_frames!r}"
        )
    if stored_frames == "newest" and policy == "reservoir":
        raise ValueError(
            "Expected --write_policy=game_rings with --stored_frames=newest: stacks are "
            "rebuilt from the rows written before, which only rings keep in order. "
            "Received: --write_policy=reservoir"
        )


def frame_layout(
    stored_frames: str, obs_shape: Sequence[int], policy: str
) -> tuple[int, tuple[int, ...]]:
    """(K, the shape of a stored frame): K frames a stack is rebuilt from.

    "observation" stores observations whole (K = 1); "newest" takes the
    observation's channels as its stack of K frames (an Atari observation: 4
    grayscale frames) and stores one, [H, W, C / K].

    Raises:
        ValueError: as `check_stored_frames`.
    """
    check_stored_frames(stored_frames, policy)
    depth = 1 if stored_frames == "observation" else int(obs_shape[-1])
    return depth, (*obs_shape[:-1], obs_shape[-1] // depth)


def age_bytes(depth: int) -> int:
    """Bytes a row spends on its "age" (0 when observations are stored whole)."""
    return AGE_BYTES if depth > 1 else 0


def age_field(depth: int) -> dict[str, Field]:
    """The "age" field a stacked row stores (none when depth is 1)."""
    return {"age": Field((), "int32", depth)} if depth > 1 else {}


def age_of(transition: dict[str, tf.Tensor], depth: int) -> tf.Tensor:
    """int32 [B]: min(step in the episode, depth - 1) of each transition's obs."""
    return tf.minimum(tf.cast(transition["age"], tf.int32), depth - 1)


def newest(frames: tf.Tensor, depth: int) -> tf.Tensor:
    """[B, H, W, C] -> what a row stores: the newest frame [B, H, W, C / depth]."""
    return frames[..., -1:] if depth > 1 else frames


def history_rows(buffer: IndexBuffer, rows: tf.Tensor, ages: tf.Tensor, depth: int) -> tf.Tensor:
    """int64 [n, depth]: column j is the row j writes back from each row, clamped.

    Clamped to min(j, age, writes back the ring still holds): the episode's first
    row pads its start, and a row whose predecessors were overwritten repeats the
    oldest one kept.
    """
    policy = buffer.policy
    if not isinstance(policy, TaskRingPolicy):
        raise ValueError(
            "Expected ring storage (--write_policy=game_rings) to rebuild frame stacks. "
            f"Received: {type(policy).__name__}"
        )
    share = tf.constant(policy.share(buffer.capacity), tf.int64)
    rows = tf.cast(rows, tf.int64)
    ring = rows // share
    local = rows - ring * share
    count = tf.gather(buffer.policy_state["task_counts"].value, ring)
    written = count - 1 - tf.math.floormod(count - 1 - local, share)  # write index of the row
    kept = written - tf.maximum(count - share, 0)  # earlier writes still in the ring
    limit = tf.minimum(tf.cast(ages, tf.int64), kept)
    back = tf.minimum(tf.range(depth, dtype=tf.int64)[None, :], limit[:, None])
    return ring[:, None] * share + tf.math.floormod(local[:, None] - back, share)


def stacks(frames_at: tf.Tensor, next_frames: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The obs and next_obs stacks [n, H, W, depth] of n rows.

    Args:
        frames_at: [n, depth, H, W, 1]: the obs frame of the row j writes back
            (`history_rows`), j = 0 (the row itself) .. depth - 1.
        next_frames: [n, H, W, 1]: each row's next_obs frame.
    """
    oldest_first = tf.reverse(frames_at[..., 0], axis=[1])  # [n, depth, H, W]
    obs = tf.transpose(oldest_first, [0, 2, 3, 1])
    next_obs = tf.concat([obs[..., 1:], next_frames], axis=-1)
    return obs, next_obs
