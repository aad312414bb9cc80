"""benchmarks.frame_bits: raw and lossless bits per frame, and transitions held."""

import numpy as np

from agents.lifelong import envs
from benchmarks import frame_bits


def test_raw_and_lossless_bits_per_frame_on_known_frames():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 2, (50, 10, 10, 10)).astype(np.uint8)
    row = frame_bits.frame_bits(frames, binary=True)
    assert row["uint8"] == 8000 and row["packbits"] == 1000
    # Random bits do not compress: zstd adds its header to each packed frame.
    assert row["zstd_packbits_per_frame"] > 1000
    repeated = np.repeat(frames[:1], 50, axis=0)
    same = frame_bits.frame_bits(repeated, binary=True)
    assert same["zstd_packbits_whole"] < 0.1 * same["zstd_packbits_per_frame"]
    assert "packbits" not in frame_bits.frame_bits(frames, binary=False)


def test_transitions_held_counts_two_frames_and_the_side_fields():
    assert frame_bits.transitions_held(1000, 1_000_000) == 1_000_000 // (2 * 125 + 16)
    assert frame_bits.transitions_held(80, 1_000_000) == 1_000_000 // (2 * 10 + 16)


def test_collect_returns_frames_across_episodes():
    (game,) = envs.make_games(["breakout"])
    try:
        frames = frame_bits.collect(game, 300)
    finally:
        game.close()
    assert frames.shape == (300, *envs.MINATAR_SHAPE) and frames.dtype == np.uint8
