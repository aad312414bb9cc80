"""The lifelong codec: a pretrained start (--codec_init) and a fixed decoder."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from agents import lifelong
from agents.experiment import RunInterrupted
from agents.lifelong import envs, phases, pretrain_frames
from agents.lifelong.recollection_transitions import build_frame_codec
from recollect import pretrained_codec
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


def _config(**codec):
    return lifelong.LifelongConfig(
        games=(tiny_envs.CUE, tiny_envs.SWAP),
        steps_per_phase=60,
        cycles=1,
        storage="recollections",
        memory_bytes=4000,
        eval_episodes=5,
        eval_max_steps=5,
        eval_epsilon=0.0,
        agent=FAST_AGENT,
        codec={**FAST_CODEC, **codec},
    )


def _write_codec(path, *, seed=123, **codec):
    """A codec of the tiny games' frames, its weights drawn by `seed`, saved at path."""
    config = lifelong.CodecConfig(**{**FAST_CODEC, **codec})
    built = build_frame_codec(config, tiny_envs.SHAPE, seed)
    return pretrained_codec.save(built, str(path), training={"test": "untrained"})


def _weights(codec):
    return [w.numpy() for w in codec.encoder.weights], [w.numpy() for w in codec.decoder.weights]


def _agent(config, seed=0):
    return phases.make_agent(config, envs.make_games(config.games), seed)


def _learn(agent, steps):
    rng = np.random.default_rng(0)
    for _ in range(steps):
        cue = rng.integers(2, size=1)
        frames = np.zeros((1, *tiny_envs.SHAPE), np.uint8)
        frames[0, ..., cue[0]] = 1
        transition = {
            "obs": frames,
            "next_obs": frames,
            "action": cue.astype(np.int32),
            "reward": np.ones(1, np.float32),
            "discount": np.zeros(1, np.float32),
            "game": np.zeros(1, np.int32),
            "age": np.zeros(1, np.int32),
        }
        agent.step(
            {k: tf.constant(v) for k, v in transition.items()}, tf.constant(0.5), tf.constant(True)
        )


def test_the_codec_settings_reach_the_memory(tmp_path):
    written = _write_codec(tmp_path / "codec.npz")
    config = _config(codec_decoder_steps=7, codec_init=str(tmp_path / "codec.npz"))
    assert config.codec.codec_init_sha256 == written.weights_sha256  # pinned when made
    memory = _agent(config).store.memory
    assert memory.decoder_steps == 7
    assert _agent(_config()).store.memory.decoder_steps is None  # the default: Algorithm 1
    saved = config.to_dict()["codec"]
    assert saved["codec_decoder_steps"] == 7 and saved["codec_init"] == str(tmp_path / "codec.npz")


def test_a_codec_init_is_loaded_with_the_files_weights(tmp_path):
    _write_codec(tmp_path / "codec.npz")
    loaded = _agent(_config(codec_init=str(tmp_path / "codec.npz"))).store.memory.codec
    with np.load(tmp_path / "codec.npz") as stored:
        for i, w in enumerate(loaded.encoder.weights):
            np.testing.assert_array_equal(w.numpy(), stored[f"encoder/{i:03d}"])
        for i, w in enumerate(loaded.decoder.weights):
            np.testing.assert_array_equal(w.numpy(), stored[f"decoder/{i:03d}"])
    fresh = _agent(_config()).store.memory.codec  # the seed's own weights differ from the file's
    assert any((a != b).any() for a, b in zip(_weights(fresh)[1], _weights(loaded)[1], strict=True))


def test_with_decoder_steps_0_the_decoder_stays_bit_identical_while_the_encoder_learns(tmp_path):
    _write_codec(tmp_path / "codec.npz")
    agent = _agent(_config(codec_init=str(tmp_path / "codec.npz"), codec_decoder_steps=0))
    encoder, decoder = _weights(agent.store.memory.codec)
    _learn(agent, 40)
    assert int(agent.learn_steps) == 40
    encoder_after, decoder_after = _weights(agent.store.memory.codec)
    for before, after in zip(decoder, decoder_after, strict=True):
        np.testing.assert_array_equal(before, after)
    assert any((a != b).any() for a, b in zip(encoder, encoder_after, strict=True))
    learning = _agent(_config(codec_init=str(tmp_path / "codec.npz")))
    _learn(learning, 40)  # without it the decoder learns
    assert any(
        (a != b).any()
        for a, b in zip(decoder, _weights(learning.store.memory.codec)[1], strict=True)
    )


@pytest.mark.parametrize(
    ("codec", "named"),
    [({"num_latents": 6}, "num_latents=8"), ({"codec_units": 16}, "hidden_units=32")],
)
def test_a_codec_init_of_another_shape_is_refused_before_anything_is_written(
    tmp_path, codec, named
):
    _write_codec(tmp_path / "codec.npz", **codec)
    config = _config(codec_init=str(tmp_path / "codec.npz"))
    with pytest.raises(ValueError, match=f"Expected a pretrained codec with the run's .*{named}"):
        lifelong.run(config, str(tmp_path / "run"), progress=False)
    assert not os.path.exists(tmp_path / "run")


def test_a_missing_or_changed_codec_init_is_refused_when_the_config_is_made(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        _config(codec_init=str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match="--codec_init with --codec_init_sha256"):
        _config(codec_init_sha256="0" * 64)
    _write_codec(tmp_path / "codec.npz")
    with pytest.raises(ValueError, match="the one recorded for this run"):
        _config(codec_init=str(tmp_path / "codec.npz"), codec_init_sha256="0" * 64)
    with pytest.raises(ValueError, match="--codec_decoder_steps >= 0"):
        _config(codec_decoder_steps=-1)


def test_a_resumed_run_with_a_pretrained_fixed_decoder_equals_an_uninterrupted_one(tmp_path):
    _write_codec(tmp_path / "codec.npz")
    config = _config(
        codec_init=str(tmp_path / "codec.npz"), codec_decoder_steps=0, recent_transitions=20
    )
    whole = lifelong.run(config, str(tmp_path / "whole"), progress=False)
    with pytest.raises(RunInterrupted):
        lifelong.run(config, str(tmp_path / "cut"), progress=False, stop_after_steps=90)
    resumed = lifelong.run(config, str(tmp_path / "cut"), progress=False, resume=True)
    for key in ("return_matrix", "random_returns", "raw", "frame_error_matrix"):
        assert resumed["seeds"][0][key] == whole["seeds"][0][key]
    for setting in ({"codec_decoder_steps": 5}, {"codec_init": None, "codec_init_sha256": None}):
        other = dataclasses.replace(config, codec=dataclasses.replace(config.codec, **setting))
        with pytest.raises(ValueError, match="same settings"):
            lifelong.run(other, str(tmp_path / "cut"), progress=False, resume=True)
    os.remove(tmp_path / "codec.npz")  # another file at the same path: refused on resume
    _write_codec(tmp_path / "codec.npz", seed=7)
    changed = _config(
        codec_init=str(tmp_path / "codec.npz"), codec_decoder_steps=0, recent_transitions=20
    )
    with pytest.raises(ValueError, match="same settings"):
        lifelong.run(changed, str(tmp_path / "cut"), progress=False, resume=True)


def test_pretraining_on_random_policy_frames_writes_a_codec_a_run_starts_from(tmp_path):
    config = pretrain_frames.FramePretrainConfig(
        games=(tiny_envs.CUE, tiny_envs.SWAP),
        frames_per_game=120,
        heldout_frames=20,
        epochs=5,
        codec=FAST_CODEC,
    )
    written = pretrain_frames.pretrain(config, str(tmp_path / "c.npz"), progress=False)
    with open(tmp_path / "c.json", encoding="utf-8") as f:
        training = json.load(f)["training"]
    assert training["examples"] == 200 and training["heldout_examples"] == 40
    assert set(training["frame_error"]) == {tiny_envs.CUE, tiny_envs.SWAP}
    assert all(training["frame_error"][g] <= training["frame_error_initial"][g] for g in (
        tiny_envs.CUE, tiny_envs.SWAP))  # fmt: skip
    encoder, decoder = _weights(_agent(_config(codec_init=written.path)).store.memory.codec)
    assert sum(w.size for w in encoder + decoder) == written.codec["param_count"]
    with pytest.raises(ValueError, match="a new --output"):
        pretrain_frames.pretrain(config, str(tmp_path / "c.npz"), progress=False)
    with pytest.raises(ValueError, match="--heldout_frames < --frames_per_game"):
        pretrain_frames.FramePretrainConfig(frames_per_game=10, heldout_frames=10)
