"""--stored_frames=newest: one frame a step stored, the stacks rebuilt when sampled."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf
from gymnasium.wrappers import FrameStackObservation

from agents import lifelong
from agents.lifelong import replay, stores

DEPTH = 4
FRAME = (3, 3)


class _Counter(gym.Env):
    """Frames that count the steps of the whole life; episodes of 1 to 6 steps."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0, 255, shape=FRAME, dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(2)
        self.count, self.left = 0, 0

    def _frame(self) -> np.ndarray:
        self.count += 1
        return np.full(FRAME, self.count, np.uint8)

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.left = int(self.np_random.integers(1, 7))
        return self._frame(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.left -= 1
        return self._frame(), 0.0, self.left == 0, False, {}


def _life(steps, seed=0):
    """Transitions as the loop makes them, through gymnasium's own frame stacking."""
    env = FrameStackObservation(_Counter(), DEPTH)
    out = []
    obs, _ = env.reset(seed=seed)
    age = 0
    for i in range(steps):
        next_obs, _, terminated, truncated, _ = env.step(0)
        out.append(
            {
                "obs": np.moveaxis(obs, 0, -1),
                "next_obs": np.moveaxis(next_obs, 0, -1),
                "age": age,
                "index": i,
                "discount": 0.0 if terminated else 1.0,
            }
        )
        age += 1
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
            age = 0
    return out


def _store(storage, transitions, stored_frames="newest"):
    return stores.make_store(
        storage,
        obs_shape=(*FRAME, DEPTH),
        binary=False,
        num_actions=2,
        num_games=1,
        memory_bytes=transitions
        * replay.RealTransitions.transition_bytes((*FRAME, 1), False, depth=DEPTH),
        policy="game_rings",
        seed=0,
        codec=lifelong.CodecConfig(
            num_latents=8, num_categories=4, codec_units=16, recent_transitions=0
        ),
        stored_frames=stored_frames,
    )


def _write(store, life):
    for t in life:
        store.observe(
            {
                "obs": tf.constant(t["obs"][None]),
                "next_obs": tf.constant(t["next_obs"][None]),
                "action": tf.zeros([1], tf.int32),
                "reward": tf.constant([float(t["index"])]),  # names the row when sampled
                "discount": tf.constant([t["discount"]]),
                "game": tf.zeros([1], tf.int32),
                "age": tf.constant([t["age"]], tf.int32),
            }
        )


def _sampled(store, n=600):
    batch = {k: v.numpy() for k, v in store.sample(n, None).items()}
    return {int(r): (batch["obs"][i], batch["next_obs"][i]) for i, r in enumerate(batch["reward"])}


def test_raw_stacks_are_the_observations_the_agent_saw_and_cost_a_quarter():
    life = _life(40)
    store = _store("real", 25)
    assert store.capacity == 25 and store.frame_shape == (*FRAME, 1)
    whole = replay.RealTransitions.transition_bytes((*FRAME, DEPTH), False)
    assert store.bytes_per_transition == 2 * 9 + 16 + 4 < whole == 2 * 36 + 16
    _write(store, life)
    rows = _sampled(store)
    assert sorted(rows) == list(range(15, 40))  # the ring keeps the newest 25
    oldest = 15
    for i, (obs, next_obs) in rows.items():
        t = life[i]
        if i - t["age"] >= oldest or i - DEPTH + 1 >= oldest:  # its history is kept
            np.testing.assert_array_equal(obs * 255.0, t["obs"])
            np.testing.assert_array_equal(next_obs * 255.0, t["next_obs"])
        else:  # predecessors overwritten: the oldest kept frame stands in for them
            for j in range(DEPTH):
                source = life[i - min(j, t["age"], i - oldest)]["obs"][..., -1]
                np.testing.assert_array_equal(obs[..., DEPTH - 1 - j] * 255.0, source)
    assert any(life[i]["age"] == 0 for i in rows) and any(life[i]["age"] >= 3 for i in rows)


def test_recollected_stacks_decode_the_codes_of_the_rows_before():
    life = _life(30)
    store = _store("recollections", 40)
    assert store.frame_shape == (*FRAME, 1) and store.capacity >= 30
    _write(store, life)
    rows = _sampled(store)
    assert sorted(rows) == list(range(30))
    for i, (obs, next_obs) in rows.items():
        age = life[i]["age"]
        for j in range(DEPTH):
            # channel DEPTH-1-j is the decoded newest frame of the row j back (clamped)
            back = rows[i - min(j, age)][0]
            np.testing.assert_array_equal(obs[..., DEPTH - 1 - j], back[..., -1])
        np.testing.assert_array_equal(next_obs[..., :-1], obs[..., 1:])
        if life[i]["discount"] and i + 1 in rows:
            np.testing.assert_array_equal(next_obs[..., -1], rows[i + 1][0][..., -1])


def test_stacks_need_rings_and_a_known_setting():
    with pytest.raises(ValueError, match="game_rings"):
        lifelong.LifelongConfig(stored_frames="newest", write_policy="reservoir")
    with pytest.raises(ValueError, match="stored_frames"):
        lifelong.LifelongConfig(stored_frames="last")
    with pytest.raises(ValueError, match="game_rings"):
        stores.make_store(
            "real",
            obs_shape=(*FRAME, DEPTH),
            binary=False,
            num_actions=2,
            num_games=1,
            memory_bytes=10_000,
            policy="reservoir",
            seed=0,
            stored_frames="newest",
        )
