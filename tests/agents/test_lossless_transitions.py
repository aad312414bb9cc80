"""Lossless transitions: the code's bytes, the budget, exact round trips, eviction, resume."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from agents import lifelong
from agents.experiment import RunInterrupted
from agents.lifelong import lossless_transitions, sparse_frames, stores
from agents.lifelong.dqn import DQNAgent
from tests.agents import tiny_envs

SHAPE = (4, 4, 2)  # 32 values: a position takes 5 bits
FAST_AGENT = {
    "learning_rate": 3e-3,
    "batch_size": 16,
    "learn_start_steps": 20,
    "target_update_period": 20,
    "epsilon_decay_steps": 100,
}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _store(memory_bytes=600, *, num_games=2, storage="lossless", **kwargs):
    options = {
        "obs_shape": SHAPE,
        "binary": True,
        "num_actions": 3,
        "num_games": num_games,
        "memory_bytes": memory_bytes,
        "policy": "game_rings",
        "seed": 0,
        "codec": None,
        **kwargs,
    }
    return stores.make_store(storage, **options)


def _frame(*positions):
    frame = np.zeros(np.prod(SHAPE), np.uint8)
    frame[list(positions)] = 1
    return frame.reshape(SHAPE)


def _episodes(n, *, game=0, seed=0, density=0.3):
    """n transitions in episodes of a few steps: obs is the last next_obs within one."""
    rng = np.random.default_rng(seed)
    frames = (rng.random((n + 1, *SHAPE)) < density).astype(np.uint8)
    obs, next_obs = frames[:-1].copy(), frames[1:].copy()
    starts = rng.random(n) < 0.3  # a new episode: obs is a fresh frame
    obs[starts] = (rng.random((int(starts.sum()), *SHAPE)) < density).astype(np.uint8)
    return {
        "obs": obs,
        "next_obs": next_obs,
        "action": rng.integers(0, 3, n).astype(np.int32),
        "reward": np.arange(n, dtype=np.float32) + 1000 * game,  # tells them apart
        "discount": rng.integers(0, 2, n).astype(np.float32),
        "game": np.full(n, game, np.int32),
    }


def _tensors(transitions, rows=slice(None)):
    return {k: tf.constant(v[rows]) for k, v in transitions.items()}


def _variable_bytes(store):
    return sum(v.dtype.size * int(np.prod(v.shape)) for v in store.variables)


# ------------------------------------------------------------------- the code
def test_a_known_frame_codes_to_the_bytes_computed_by_hand():
    # positions 0, 5, 31 in 5 bits each, least significant first:
    # 00000 10100 11111 + 1 pad bit -> 00000101 00111110 -> bytes 160, 124
    code, count = sparse_frames.encode(tf.constant(_frame(0, 5, 31)), 5)
    assert int(count) == 3 and code.numpy().tolist() == [160, 124]
    rng = np.random.default_rng(0)
    for density in (0.0, 0.1, 0.5, 1.0):
        frame = (rng.random(SHAPE) < density).astype(np.uint8)
        positions = np.flatnonzero(frame)
        bits = ((positions[:, None] >> np.arange(5)) & 1).reshape(-1).astype(np.uint8)
        code, count = sparse_frames.encode(tf.constant(frame), 5)
        np.testing.assert_array_equal(code.numpy(), np.packbits(bits, bitorder="little"))
        decoded = sparse_frames.decode(code, tf.reshape(count, [1]), 32, 5)
        np.testing.assert_array_equal(decoded.numpy().reshape(SHAPE), frame)


def test_a_transition_stores_the_bytes_of_its_codes_and_a_repeated_frame_once():
    store = _store()
    first = {
        "obs": _frame(0, 5, 31)[None],  # 3 positions: 2 bytes
        "next_obs": _frame(1)[None],  # 1 position: 1 byte
        "action": np.array([2], np.int32),
        "reward": np.array([0.5], np.float32),
        "discount": np.array([1.0], np.float32),
        "game": np.array([1], np.int32),
    }
    store.observe(_tensors(first))
    assert store.head.numpy().tolist() == [0, 3] and store.arena.numpy()[1, :3].tolist() == [
        160,
        124,
        1,
    ]
    second = {**first, "obs": first["next_obs"], "next_obs": _frame(2, 3)[None]}  # 10 bits
    store.observe(_tensors(second))
    assert store.head.numpy().tolist() == [0, 5]  # obs not written again: 2 bytes more
    assert store.fields["obs_shared"].numpy()[1, :2].tolist() == [0, 1]
    frames, code = store.stored_frames()
    assert (frames, code) == (3, 5)  # three distinct frames, 5 bytes of codes
    assert store.footprint()["bits_per_frame"] == round(8 * 5 / 3, 1)
    sample = store.sample(8, tf.constant(1))
    drawn = zip(sample["obs"].numpy(), sample["next_obs"].numpy(), strict=True)
    pairs = {(o.tobytes(), n.tobytes()) for o, n in drawn}
    expected = {
        (t["obs"][0].astype(np.float32).tobytes(), t["next_obs"][0].astype(np.float32).tobytes())
        for t in (first, second)
    }
    assert pairs <= expected


@pytest.mark.parametrize("memory_bytes", [252, 600, 4000, 1_000_000])
@pytest.mark.parametrize("num_games", [1, 2, 3])
def test_every_byte_of_the_store_is_counted_and_the_total_stays_within_the_budget(
    memory_bytes, num_games
):
    store = _store(memory_bytes, num_games=num_games)
    footprint = store.footprint()
    assert footprint["buffer_bytes"] == _variable_bytes(store) <= memory_bytes
    assert memory_bytes - footprint["buffer_bytes"] < num_games + 14  # only rounding left
    assert store.arena_bytes >= 2 * 20  # any transition fits: two frames, every value set


# ----------------------------------------------------------------- the rows
def _valid_oracle(store, transitions):
    """Indices of the transitions a game's rows must hold, by replaying the bytes."""
    last, own, first = None, [], []
    for o, n in zip(transitions["obs"], transitions["next_obs"], strict=True):
        obs_bytes = (int(o.sum()) * 5 + 7) // 8
        shared = last is not None and np.array_equal(o, last)
        own.append((int(n.sum()) * 5 + 7) // 8 + (0 if shared else obs_bytes))
        first.append(obs_bytes if shared else 0)
        last = n
    held = 0
    for k in range(min(len(own), store.rows)):
        i = len(own) - 1 - k
        if sum(own[i:]) + first[i] > store.arena_bytes:
            break
        held += 1
    return set(range(len(own) - held, len(own)))


@pytest.mark.parametrize("batch", [1, 7])
def test_sampled_transitions_equal_the_observed_ones_and_overwritten_rows_are_never_drawn(batch):
    store = _store(600)
    streams = [_episodes(42, game=g, seed=g) for g in (0, 1)]
    for start in range(0, 42, batch):
        for stream in streams:
            store.observe(_tensors(stream, slice(start, start + batch)))
        done = min(start + batch, 42)
        if done % 7:
            continue  # checked every 7 writes
        oracles = [_valid_oracle(store, {k: v[:done] for k, v in s.items()}) for s in streams]
        assert int(store.size()) == sum(map(len, oracles))
        for game, (stream, oracle) in enumerate(zip(streams, oracles, strict=True)):
            sample = store.sample(64, tf.constant(game))
            drawn = (sample["reward"].numpy() - 1000 * game).astype(int)
            assert set(drawn) <= oracle  # the oldest, overwritten rows never come back
            for name in ("obs", "next_obs"):
                np.testing.assert_array_equal(sample[name].numpy(), stream[name][drawn])
            for name in ("action", "discount"):
                np.testing.assert_array_equal(sample[name].numpy(), stream[name][drawn])
            assert (sample["game"].numpy() == game).all()
    everything = set(store.sample(512, tf.constant(0))["reward"].numpy())
    assert len(oracles[0]) < 42 and len(oracles[0]) == len(everything)  # it wrapped
    mixed = store.sample(256, None)["game"].numpy()
    assert set(mixed) == {0, 1}


def test_rows_run_out_before_bytes_when_frames_are_empty():
    store = _store(600, num_games=1)
    empty = {k: v * 0 if k in ("obs", "next_obs") else v for k, v in _episodes(50).items()}
    store.observe(_tensors(empty))
    assert int(store.size()) == store.rows and int(store.head[0]) == 0
    drawn = store.sample(2000, tf.constant(0))["reward"].numpy().astype(int)
    assert set(drawn) == set(range(50 - store.rows, 50))


# ------------------------------------------------------------ inside the graph
def assert_the_agent_steps_in_one_trace(store):
    """Six steps of one game, learning every second one, through the compiled step."""
    agent = DQNAgent(
        lifelong.DQNConfig(**FAST_AGENT), store=store, obs_shape=SHAPE, num_actions=3,
        num_games=1, task_aware=False, seed=0,
    )  # fmt: skip
    stream = _episodes(6)
    for i in range(6):
        step = {**_tensors(stream, slice(i, i + 1)), "age": tf.zeros([1], tf.int32)}
        out = agent.step(step, tf.constant(0.5), tf.constant(i % 2 == 1))
        assert np.isfinite(float(out["loss"]))
    assert agent.step.experimental_get_tracing_count() == 1
    assert int(store.size()) == 6 and int(agent.learn_steps) == 3


def test_the_agent_steps_with_lossless_storage_in_one_trace():
    assert_the_agent_steps_in_one_trace(_store(4000, num_games=1))


# ---------------------------------------------------------------- refusals
def test_bad_budgets_frames_and_settings_are_refused_before_any_state_changes(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"Expected --memory_bytes to hold one lossless .* >= 156\. Received: memory_bytes=1",
    ):
        _store(100)
    with pytest.raises(ValueError, match=r"Expected binary frames .* Received: frames of 8-bit"):
        _store(binary=False)
    with pytest.raises(ValueError, match=r"Expected --write_policy=game_rings.*reservoir"):
        _store(policy="reservoir")
    with pytest.raises(ValueError, match=r"Expected --stored_frames=observation.*newest"):
        _store(stored_frames="newest")
    with pytest.raises(ValueError, match=r"Expected --storage among .*Received: 'jpeg'"):
        stores.make_store("jpeg")
    with pytest.raises(ValueError, match=r"--storage among .*lossless"):
        lifelong.LifelongConfig(storage="jpeg")
    store = _store()
    store.observe(_tensors(_episodes(3)))
    before = [v.numpy().copy() for v in store.variables]
    bad = _episodes(2)
    bad["next_obs"][1, 0, 0, 0] = 2
    with pytest.raises(tf.errors.InvalidArgumentError, match="Expected binary frames"):
        store.observe(_tensors(bad))
    for old, variable in zip(before, store.variables, strict=True):
        np.testing.assert_array_equal(old, variable.numpy())
    config = _config(memory_bytes=80)  # one game: 86 bytes needed
    with pytest.raises(ValueError, match="--memory_bytes"):
        lifelong.run(config, str(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run").exists()


def test_the_runner_takes_storage_lossless_from_the_pair_flagfile(tmp_path, monkeypatch):
    from runners import lifelong as runner

    monkeypatch.chdir(tmp_path)
    path = os.path.join(REPO, "runners", "configs", "minatar_pair.flags")
    config = runner.config_from_flagfile(path, "--storage=lossless", "--seeds=0,1,2")
    assert config.storage == "lossless" and config.memory_bytes == 1_000_000
    with pytest.raises(Exception, match="storage"):
        runner.config_from_flagfile(path, "--storage=zip")


# ---------------------------------------------------------------------- runs
def _json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _config(**overrides):
    values = {
        "games": (tiny_envs.CUE,),
        "steps_per_phase": 100,
        "cycles": 1,
        "storage": "lossless",
        "memory_bytes": 4000,
        "eval_episodes": 20,
        "eval_max_steps": 5,
        "eval_epsilon": 0.0,
        "agent": FAST_AGENT,
    }
    values.update(overrides)
    return lifelong.LifelongConfig(**values)


def test_a_few_hundred_steps_learn_the_cue_game_from_lossless_frames(tmp_path):
    out = lifelong.run(_config(steps_per_phase=400), str(tmp_path), progress=False)
    assert out["seeds"][0]["return_matrix"][-1][0] >= 0.95
    footprint = _json(tmp_path / "results.json")["footprint"]
    assert footprint["kind"] == "lossless" and footprint["buffer_bytes"] <= 4000
    assert 0 < footprint["capacity_transitions"] <= footprint["row_capacity"]
    assert footprint["bits_per_frame"] == 8 * 10  # a cue frame: 16 positions of 5 bits
    assert footprint["capacity_transitions"] == out["seeds"][0]["footprint"]["capacity_transitions"]


def test_a_lossless_run_killed_mid_phase_resumes_to_identical_results(tmp_path):
    config = _config(games=(tiny_envs.CUE, tiny_envs.SWAP), steps_per_phase=60, memory_bytes=1500)
    whole = lifelong.run(config, str(tmp_path / "whole"), progress=False)
    with pytest.raises(RunInterrupted):
        lifelong.run(config, str(tmp_path / "cut"), progress=False, stop_after_steps=90)
    progress = _json(tmp_path / "cut" / "seed_0" / "progress.json")
    assert progress["phase"] == 1 and progress["env_steps"] == 60
    resumed = lifelong.run(config, str(tmp_path / "cut"), progress=False, resume=True)
    for key in ("return_matrix", "random_returns", "raw", "footprint"):
        assert resumed["seeds"][0][key] == whole["seeds"][0][key]
    whole_seed = _json(tmp_path / "whole" / "seed_0" / "result.json")
    cut_seed = _json(tmp_path / "cut" / "seed_0" / "result.json")
    assert whole_seed["episodes"] == cut_seed["episodes"]


def test_the_row_bytes_constant_matches_the_row_fields():
    fields = lossless_transitions._ROW_FIELDS
    assert sum(d.size for d in fields.values()) == lossless_transitions.ROW_BYTES
