"""The lifelong agent: its memory at a byte budget, its DQN step, its run and resume."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from agents import lifelong
from agents.experiment import RunInterrupted
from agents.lifelong import envs, replay, results, stores
from agents.lifelong.dqn import DQNAgent
from tests.agents import tiny_envs

FAST_AGENT = {
    "learning_rate": 3e-3,
    "batch_size": 16,
    "learn_start_steps": 20,
    "target_update_period": 20,
    "epsilon_decay_steps": 100,
}
FAST_CODEC = {
    "num_latents": 8,
    "num_categories": 4,
    "codec_units": 32,
    "codec_learning_rate": 3e-3,
    "recent_transitions": 0,
}


def _json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _config(**overrides):
    values = {
        "games": (tiny_envs.CUE,),
        "steps_per_phase": 100,
        "cycles": 1,
        "storage": "real",
        "memory_bytes": 4000,
        "eval_episodes": 20,
        "eval_max_steps": 5,
        "eval_epsilon": 0.0,
        "agent": FAST_AGENT,
        "codec": FAST_CODEC,
    }
    values.update(overrides)
    return lifelong.LifelongConfig(**values)


def _store(storage, *, binary=True, shape=(4, 4, 2), memory_bytes=4000, num_games=2, **codec):
    return stores.make_store(
        storage,
        obs_shape=shape,
        binary=binary,
        num_actions=3,
        num_games=num_games,
        memory_bytes=memory_bytes,
        policy="game_rings",
        seed=0,
        codec=lifelong.CodecConfig(**{**FAST_CODEC, **codec}),
    )


def _transitions(n, *, binary=True, shape=(4, 4, 2), seed=0):
    rng = np.random.default_rng(seed)
    high = 2 if binary else 256
    return {
        "obs": rng.integers(0, high, (n, *shape)).astype(np.uint8),
        "next_obs": rng.integers(0, high, (n, *shape)).astype(np.uint8),
        "action": rng.integers(0, 3, n).astype(np.int32),
        "reward": rng.normal(size=n).astype(np.float32),
        "discount": rng.integers(0, 2, n).astype(np.float32),
        "game": np.ones(n, np.int32),
        "age": np.zeros(n, np.int32),
    }


# ------------------------------------------------------------------ the memory
@pytest.mark.parametrize("binary", [True, False])
def test_raw_frames_round_trip_exactly_bit_packed_or_uint8(binary):
    store = _store("real", binary=binary)
    assert store.frame_bytes == (4 if binary else 32)  # 32 values: 4 bytes packed
    written = _transitions(5, binary=binary)
    rows = store.observe({k: tf.constant(v) for k, v in written.items()}).numpy()
    read = store.buffer.read(rows)
    scale = 1.0 if binary else 255.0
    for name in ("obs", "next_obs"):
        frames = store._unpack(read[name]).numpy() * scale
        np.testing.assert_array_equal(np.round(frames).astype(np.uint8), written[name])
    for name, got in (("action", "action"), ("reward", "reward"), ("discount", "discount")):
        np.testing.assert_array_equal(read[got].numpy(), written[name])
    np.testing.assert_array_equal(read["task"].numpy(), written["game"])


def test_recollected_transitions_keep_side_fields_and_decode_the_stored_codes():
    store = _store("recollections")
    written = _transitions(1)
    store.observe({k: tf.constant(v) for k, v in written.items()})
    sample = store.sample(4, tf.constant(1))
    for name in ("action", "reward", "discount", "game"):
        np.testing.assert_array_equal(sample[name].numpy(), np.repeat(written[name], 4))
    codec = store.memory.codec
    for name in ("obs", "next_obs"):
        expected = np.round(codec.decode(codec.encode(written[name].astype(np.float32))))
        assert sample[name].shape == (4, 4, 4, 2) and sample[name].dtype == tf.float32
        np.testing.assert_array_equal(sample[name].numpy(), np.repeat(expected, 4, axis=0))


def test_the_byte_budget_buys_the_same_bytes_in_both_storages():
    real = _store("real", memory_bytes=10_000)
    recalled = _store("recollections", memory_bytes=10_000)
    assert real.bytes_per_transition == 2 * 4 + replay.SIDE_BYTES
    assert recalled.bytes_per_transition == 2 * 2 + replay.SIDE_BYTES  # 8 latents x 2 bits
    for store in (real, recalled):
        assert store.capacity == 10_000 // store.bytes_per_transition
        assert store.footprint()["buffer_bytes"] <= 10_000
    assert recalled.capacity > real.capacity
    assert recalled.footprint()["codec_bytes"] > 0 and real.footprint()["codec_bytes"] == 0


def test_the_raw_ring_encodes_each_transition_when_it_leaves_and_feeds_the_own_share():
    store = _store("recollections", recent_transitions=3)
    raw_bytes = replay.RealTransitions.transition_bytes((4, 4, 2), True, fifo=True)
    assert store.capacity == (4000 - 3 * raw_bytes) // store.bytes_per_transition
    written = _transitions(5)
    for i in range(3):
        store.observe({k: tf.constant(v[i : i + 1]) for k, v in written.items()})
    assert int(store.memory.size()) == 0 and int(store.recent.size()) == 3
    store.observe({k: tf.constant(v[3:4]) for k, v in written.items()})
    assert int(store.memory.size()) == 1 and int(store.recent.size()) == 3
    encoded = store.memory.recall_items(1)  # the oldest, transition 0
    for name in ("action", "reward", "discount"):
        np.testing.assert_array_equal(encoded[name].numpy(), written[name][:1])
    batch = store.learn_batch(6, 4, tf.constant(1))
    raw = {f.tobytes() for f in written["obs"][1:4].astype(np.float32)}
    assert all(f.tobytes() in raw for f in batch["obs"].numpy()[:4])  # exact, from the ring
    assert int(store.size()) == 4
    loss = store.stabilize(tf.constant(written["obs"][3:4]), batch, 4)
    assert np.isfinite(float(loss))


def test_a_budget_too_small_for_one_transition_per_game_is_refused_before_any_step(tmp_path):
    with pytest.raises(ValueError, match=r"--memory_bytes to hold at least 2 transitions"):
        _store("real", memory_bytes=30)
    with pytest.raises(ValueError, match=r"--recent_transitions=100 raw transitions"):
        _store("recollections", memory_bytes=2000, recent_transitions=100)
    config = _config(memory_bytes=10)
    with pytest.raises(ValueError, match="--memory_bytes"):
        lifelong.run(config, str(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------- the games
def test_unknown_games_and_frames_no_codec_takes_are_refused():
    with pytest.raises(ValueError, match=r"Expected a game in \['asterix'.*Received: game='pong'"):
        _config(games=("pong",))
    with pytest.raises(ValueError, match="registered gymnasium id"):
        _config(games=("gym:NoSuchGame-v9",))
    with pytest.raises(ValueError, match=r"uint8 or bool box \[H, W, C\]"):
        envs.make_games([tiny_envs.FLAT])
    with pytest.raises(ValueError, match="one frame shape and action count"):
        envs.make_games([tiny_envs.CUE, tiny_envs.WIDE])


def test_minatar_games_share_one_padded_frame_shape_and_six_actions():
    games = envs.make_games(envs.known_games())
    try:
        for game in games:
            frame = game.reset(seed=0)
            assert frame.shape == envs.MINATAR_SHAPE and frame.dtype == np.uint8
            assert set(np.unique(frame)) <= {0, 1} and game.binary and game.num_actions == 6
            frame, reward, _, _ = game.step(0)
            assert frame.shape == envs.MINATAR_SHAPE and isinstance(reward, float)
    finally:
        for game in games:
            game.close()


# --------------------------------------------------------------------- the agent
def _agent(**agent):
    (game,) = envs.make_games([tiny_envs.CUE])
    store = _store("real", num_games=1)
    config = lifelong.DQNConfig(**{**FAST_AGENT, **agent})
    return DQNAgent(
        config, store=store, obs_shape=game.obs_shape, num_actions=2, num_games=1,
        task_aware=False, seed=0,
    )  # fmt: skip


def _step(agent, learn=True, seed=0):
    transition = _transitions(1, seed=seed)
    transition["action"] %= 2
    transition["game"][:] = 0
    return agent.step(
        {k: tf.constant(v) for k, v in transition.items()}, tf.constant(0.5), tf.constant(learn)
    )


def test_the_target_network_is_copied_every_target_update_period_learn_steps():
    agent = _agent(target_update_period=3, learning_rate=0.05)

    def same():
        pairs = zip(agent.target_network.weights, agent.q_network.weights, strict=True)
        return all(np.array_equal(t.numpy(), q.numpy()) for t, q in pairs)

    assert same()
    _step(agent, learn=False)
    assert same() and int(agent.learn_steps) == 0  # observing alone learns nothing
    for expected_steps in (1, 2):
        _step(agent, seed=expected_steps)
        assert not same() and int(agent.learn_steps) == expected_steps
    _step(agent, seed=3)
    assert same() and int(agent.learn_steps) == 3
    _step(agent, seed=4)
    assert not same()


def test_the_step_is_one_trace_across_steps():
    agent = _agent()
    for i in range(4):
        _step(agent, learn=i % 2 == 0, seed=i)
    assert agent.step.experimental_get_tracing_count() == 1


def _huber(error):
    error = abs(error)
    return 0.5 * error**2 if error <= 1 else error - 0.5


def test_the_loss_is_huber_on_the_double_dqn_target():
    agent = _agent(batch_size=1, current_game_fraction=0.0, discount=0.5)
    rng = np.random.default_rng(1)  # a target network unlike the online one
    agent.target_network.set_weights(
        [rng.normal(size=w.shape).astype(np.float32) for w in agent.q_network.get_weights()]
    )
    batch = _transitions(1, seed=7)
    batch["action"] %= 2
    batch["game"][:] = 0
    batch["discount"][:] = 1.0
    step = {k: tf.constant(v) for k, v in batch.items()}
    agent.step(step, tf.constant(0.5), tf.constant(False))  # store it; then learn on it
    obs, next_obs = batch["obs"].astype(np.float32), batch["next_obs"].astype(np.float32)
    online = agent.q_network(next_obs).numpy()[0]
    target = agent.target_network(next_obs).numpy()[0]
    assert np.argmax(online) != np.argmax(target)  # so Double DQN and DQN differ here
    q_sa = agent.q_network(obs).numpy()[0][batch["action"][0]]
    double = batch["reward"][0] + 0.5 * target[np.argmax(online)]
    vanilla = batch["reward"][0] + 0.5 * target.max()
    loss = float(agent.step(step, tf.constant(0.5), tf.constant(True))["loss"])
    assert loss == pytest.approx(_huber(double - q_sa), rel=1e-5)
    assert loss != pytest.approx(_huber(vanilla - q_sa), rel=1e-5)


# ----------------------------------------------------------------------- runs
@pytest.mark.parametrize("storage", ["real", "recollections"])
def test_a_few_hundred_steps_learn_the_cue_game(tmp_path, storage):
    config = _config(storage=storage, steps_per_phase=400)
    out = lifelong.run(config, str(tmp_path), progress=False)
    (seed,) = out["seeds"]
    assert seed["random_returns"][0] < 0.8  # a random policy is paid half the time
    assert seed["return_matrix"][-1][0] >= 0.95
    assert os.path.exists(tmp_path / "seed_0" / "return_matrix_seed0.csv")
    assert _json(tmp_path / "results.json")["footprint"]["kind"] == storage


def test_a_seed_gives_the_same_codec_and_agent_whatever_ran_before_it():
    from agents.lifelong import phases

    config = _config(storage="recollections")
    games = envs.make_games(config.games)

    def weights(seed):
        agent = phases.make_agent(config, games, seed)
        return [w.numpy() for w in agent.store.memory.codec.weights + agent.q_network.weights]

    alone = weights(1)
    weights(0)
    np.random.default_rng().random(5)  # a user's own draws between seeds
    tf.random.uniform([3])
    after = weights(1)
    for a, b in zip(alone, after, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any((a != b).any() for a, b in zip(alone, weights(2), strict=True))


def test_a_run_killed_mid_phase_resumes_to_identical_results(tmp_path):
    config = _config(
        games=(tiny_envs.CUE, tiny_envs.SWAP),
        storage="recollections",
        steps_per_phase=60,
        codec={**FAST_CODEC, "recent_transitions": 20},  # the raw ring is checkpointed too
    )
    whole = lifelong.run(config, str(tmp_path / "whole"), progress=False)
    with pytest.raises(RunInterrupted):
        lifelong.run(config, str(tmp_path / "cut"), progress=False, stop_after_steps=90)
    progress = _json(tmp_path / "cut" / "seed_0" / "progress.json")
    assert progress["phase"] == 1 and progress["env_steps"] == 60  # the last finished phase
    with pytest.raises(ValueError, match="--resume"):
        lifelong.run(config, str(tmp_path / "cut"), progress=False)
    resumed = lifelong.run(config, str(tmp_path / "cut"), progress=False, resume=True)
    for key in ("return_matrix", "random_returns", "raw"):
        assert resumed["seeds"][0][key] == whole["seeds"][0][key]
    whole_seed = _json(tmp_path / "whole" / "seed_0" / "result.json")
    cut_seed = _json(tmp_path / "cut" / "seed_0" / "result.json")
    assert whole_seed["episodes"] == cut_seed["episodes"]
    other = dataclasses.replace(config, steps_per_phase=61)
    with pytest.raises(ValueError, match="same settings"):
        lifelong.run(other, str(tmp_path / "cut"), progress=False, resume=True)


def test_references_normalise_returns_and_every_game_needs_one(tmp_path):
    config = _config(games=(tiny_envs.CUE, tiny_envs.SWAP), steps_per_phase=150)
    references = lifelong.run_references(config, str(tmp_path / "ref"), progress=False)
    assert set(references) == {tiny_envs.CUE, tiny_envs.SWAP}
    assert _json(tmp_path / "ref" / "references.json") == references
    with pytest.raises(ValueError, match="reference return for every game"):
        lifelong.run(config, str(tmp_path / "x"), progress=False, references={tiny_envs.CUE: 1})


# -------------------------------------------------------------------- results
def test_normalised_returns_bwt_and_in_phase_values_on_a_hand_example():
    returns = np.array([[3.0, 1.0], [1.0, 5.0], [2.0, 3.0]])  # games A, B, A
    normalised = results.normalise(returns, [1.0, 1.0], [5.0, 9.0])
    np.testing.assert_allclose(normalised, [[0.5, 0.0], [0.0, 0.5], [0.25, 0.25]])
    played = results.phase_games(("a", "b", "a"), 1)
    assert played == [0, 1, 0]
    summary = results.summary(normalised, played)
    assert summary["final_mean"] == pytest.approx(0.25)
    assert summary["bwt"] == pytest.approx((0.0 + (0.25 - 0.5)) / 2)  # A last in phase 2
    assert summary["in_phase_mean"] == pytest.approx((0.5 + 0.5 + 0.25) / 3)
    with pytest.raises(ValueError, match="above the random policy"):
        results.normalise(returns, [1.0, 1.0], [1.0, 9.0])
    # a run leaves out the game its reference does not lift above random, not crash
    seed = results.seed_result(
        seed=0,
        games=("a", "b", "a"),
        cycles=1,
        returns=returns,
        random_returns=[1.0, 1.0],
        references=[1.0, 9.0],
        extras={},
    )
    assert seed["normalised_games"] == ["b"]
    np.testing.assert_allclose(seed["normalised_matrix"], [[0.0], [0.5], [0.25]])
    assert seed["retention"] == pytest.approx(0.25)
    assert seed["normalised"]["in_phase_mean"] == pytest.approx(0.5)  # b's phase alone


def test_atari_games_give_stacked_84x84_frames_and_a_short_run_learns_from_codes(tmp_path):
    games = envs.make_games(["ale:Pong", "ale:Breakout"])
    try:
        for game in games:
            frame = game.reset(seed=0)
            assert frame.shape == envs.ATARI_SHAPE and frame.dtype == np.uint8
            assert game.num_actions == 18 and not game.binary
    finally:
        for game in games:
            game.close()
    config = _config(
        games=("ale:Pong",),
        storage="recollections",
        stored_frames="newest",  # as atari_cycle.flags: one 84x84 frame a step coded
        steps_per_phase=40,
        memory_bytes=200_000,
        eval_episodes=1,
        eval_max_steps=10,
        agent={**FAST_AGENT, "network": "nature", "hidden_units": 32},
        codec={**FAST_CODEC, "codec": "conv", "codec_units": 8, "num_latents": 32},
    )
    out = lifelong.run(config, str(tmp_path), progress=False)
    assert out["footprint"]["bits_per_frame"] == 64 and out["seeds"][0]["env_steps"] == 40
    real = lifelong.run(
        dataclasses.replace(config, storage="real"), str(tmp_path / "real"), progress=False
    )
    assert real["footprint"]["bytes_per_transition"] == 2 * 84 * 84 + 16 + 4


def test_runs_plot_as_return_curves_and_matrices(tmp_path):
    from agents import plotting

    config = _config(games=(tiny_envs.CUE, tiny_envs.SWAP), steps_per_phase=30)
    lifelong.run(config, str(tmp_path / "a"), progress=False)
    path = plotting.plot_runs([str(tmp_path / "a")], str(tmp_path / "plot.png"))
    assert os.path.getsize(path) > 10_000
    assert plotting.load_results(str(tmp_path / "a"))["seeds"][0]["phase_games"] == [0, 1]


def test_a_run_saved_before_a_setting_existed_resumes_with_its_default(tmp_path):
    from agents import experiment

    config = _config()
    saved = config.to_dict()
    del saved["stored_frames"]  # a config.json written before --stored_frames
    with open(tmp_path / "config.json", "w", encoding="utf-8") as f:
        json.dump(saved, f)
    experiment.check_workdir(config, str(tmp_path), resume=True)  # no error
    with pytest.raises(ValueError, match="same settings"):
        experiment.check_workdir(
            dataclasses.replace(config, stored_frames="newest"), str(tmp_path), resume=True
        )
