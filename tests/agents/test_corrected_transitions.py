"""Corrected transitions: a fixed codec's code plus the values it gets wrong, exactly."""

import json

import numpy as np
import pytest
import tensorflow as tf

from agents import lifelong
from agents.experiment import RunInterrupted
from agents.lifelong import sparse_frames
from agents.lifelong.recollection_transitions import build_frame_codec
from recollect import bits, pretrained_codec
from tests.agents import test_lossless_transitions as lossless
from tests.agents import tiny_envs
from tests.agents.test_lossless_transitions import FAST_AGENT, SHAPE, _episodes, _tensors

FAST_CODEC = {"num_latents": 8, "num_categories": 4, "codec_units": 32, "recent_transitions": 0}


def _codec_file(tmp_path, seed=123):
    config = lifelong.CodecConfig(**FAST_CODEC)
    built = build_frame_codec(config, SHAPE, seed)
    pretrained_codec.save(built, str(tmp_path / "codec.npz"), training={"test": "untrained"})
    return lifelong.CodecConfig(**FAST_CODEC, codec_init=str(tmp_path / "codec.npz"))


def _store(tmp_path, memory_bytes=900, **kwargs):
    kwargs = {"codec": _codec_file(tmp_path), **kwargs}
    return lossless._store(memory_bytes, storage="corrected", **kwargs)


def _wrong_values(codec, frames):
    """Per frame, the flat positions where the codec's rounded decoding differs (numpy)."""
    x = tf.constant(frames, tf.float32)
    guess = np.round(codec.decode(codec.encode(x)).numpy()).reshape(len(frames), -1)
    flat = frames.reshape(len(frames), -1)
    return [np.flatnonzero(g != f) for g, f in zip(guess, flat, strict=True)]


def test_a_frame_codes_to_its_packed_code_then_the_positions_its_decoding_gets_wrong(tmp_path):
    store = _store(tmp_path)
    coder, codec = store.coder, store.coder.codec
    frames = (np.random.default_rng(0).random((12, *SHAPE)) < 0.3).astype(np.uint8)
    for frame, wrong in zip(frames, _wrong_values(codec, frames), strict=True):
        code, count = coder.encode(tf.constant(frame))
        packed = bits.pack_codes(codec.encode(tf.constant(frame[None], tf.float32)), 4)[0]
        positions, _ = sparse_frames.encode(tf.constant(np.isin(np.arange(32), wrong), tf.uint8), 5)
        assert int(count) == len(wrong)
        assert code.numpy().tolist() == packed.numpy().tolist() + positions.numpy().tolist()
        assert len(code.numpy()) == coder.frame_bytes(len(wrong)) == 2 + (5 * len(wrong) + 7) // 8
    assert sum(map(len, _wrong_values(codec, frames))) > 0  # an untrained codec errs: corrected
    codes = [coder.encode(tf.constant(f)) for f in frames]
    decoded = coder.decode(tf.concat([c for c, _ in codes], 0), tf.stack([m for _, m in codes]))
    np.testing.assert_array_equal(decoded.numpy().reshape(frames.shape), frames)
    assert store.frame_error(frames) == 0.0


@pytest.mark.parametrize("batch", [1, 5])
def test_sampled_transitions_equal_the_observed_ones_and_every_byte_is_counted(tmp_path, batch):
    store = _store(tmp_path, 1500, expected_density=0.5)  # an untrained codec: many wrong
    streams = [_episodes(30, game=g, seed=g) for g in (0, 1)]
    for start in range(0, 30, batch):
        for stream in streams:
            store.observe(_tensors(stream, slice(start, start + batch)))
    for game, stream in enumerate(streams):
        sample = store.sample(64, tf.constant(game))
        drawn = (sample["reward"].numpy() - 1000 * game).astype(int)
        assert drawn.min() > 0 and len(set(drawn)) > 5  # it wrapped: the oldest rows are gone
        for name in ("obs", "next_obs", "action", "discount"):
            np.testing.assert_array_equal(sample[name].numpy(), stream[name][drawn])
    footprint = store.footprint()
    variable_bytes = sum(v.dtype.size * int(np.prod(v.shape)) for v in store.variables)
    assert footprint["buffer_bytes"] == variable_bytes <= 1500  # the codec is not in the budget
    codec = store.coder.codec
    codec_params = codec.encoder.count_params() + codec.decoder.count_params()
    assert footprint["codec_bytes"] == 4 * codec_params and footprint["kind"] == "corrected"
    assert footprint["bits_per_frame"] - footprint["correction_bits_per_frame"] == 16


def test_the_agent_steps_with_corrected_storage_in_one_trace(tmp_path):
    store = _store(tmp_path, 4000, num_games=1)
    lossless.assert_the_agent_steps_in_one_trace(store)
    assert not store.coder.codec.trainable_weights  # never trained: a stored correction stays right


def test_a_store_without_a_pretrained_codec_or_with_a_bad_budget_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"Expected --codec_init .*--storage=corrected.*pretrain"):
        _store(tmp_path, codec=lifelong.CodecConfig(**FAST_CODEC))
    with pytest.raises(ValueError, match=r"one corrected transition per game .* >= 164\."):
        _store(tmp_path, 100)  # two frames of 2 + 20 bytes, a 14-byte row, 16 of counters
    with pytest.raises(ValueError, match=r"binary frames .*--storage=corrected"):
        _store(tmp_path, binary=False)
    config = _config(tmp_path, codec={**FAST_CODEC, "codec_init": None})
    with pytest.raises(ValueError, match="--codec_init"):
        lifelong.run(config, str(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------- runs
def _config(tmp_path, **overrides):
    values = {
        "games": (tiny_envs.CUE, tiny_envs.SWAP),
        "steps_per_phase": 60,
        "cycles": 1,
        "storage": "corrected",
        "memory_bytes": 1500,
        "eval_episodes": 5,
        "eval_max_steps": 5,
        "eval_epsilon": 0.0,
        "agent": FAST_AGENT,
        "codec": {"codec_init": _codec_file(tmp_path).codec_init, **FAST_CODEC},
    }
    values.update(overrides)
    return lifelong.LifelongConfig(**values)


def test_a_corrected_run_killed_mid_phase_resumes_to_identical_results(tmp_path):
    config = _config(tmp_path)
    whole = lifelong.run(config, str(tmp_path / "whole"), progress=False)
    with pytest.raises(RunInterrupted):
        lifelong.run(config, str(tmp_path / "cut"), progress=False, stop_after_steps=90)
    resumed = lifelong.run(config, str(tmp_path / "cut"), progress=False, resume=True)
    for key in ("return_matrix", "random_returns", "raw", "footprint", "frame_error_matrix"):
        assert resumed["seeds"][0][key] == whole["seeds"][0][key]
    assert all(e == 0.0 for row in whole["seeds"][0]["frame_error_matrix"] for e in row)
    with open(tmp_path / "whole" / "results.json", encoding="utf-8") as f:
        footprint = json.load(f)["footprint"]
    assert footprint["kind"] == "corrected" and footprint["buffer_bytes"] <= 1500
