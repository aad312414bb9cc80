"""Pretrains the lifelong agent's frame codec on unlabelled frames of a random policy.

Where this sits: `runners/pretrain_frames.py` builds a `FramePretrainConfig` from
flags and calls `pretrain(config, output)`; a lifelong run then starts its codec
from the file it writes (`CodecConfig.codec_init`), as the paper's Table 3 starts a
codec from unlabelled images of related data. No reward, action or return is
kept: only the frames a uniformly random policy sees.

```
collect_frames   every game x frames_per_game random-policy steps -> uint8 [n, H, W, C]
                 (episode seeds drawn from the config's seed, not the run's)
split            per game: heldout_frames held out, the rest trained on (all games mixed)
codec            build_frame_codec(config.codec): the run's own codec for these flags
codec.fit        the codec's reconstruction loss with Adam, epochs, shuffled by the seed
frame error      mean wrong pixels of a frame (decode(encode(x)), rounded when binary)
                 on each game's held-out frames, before and after
save             output .npz (encoder and decoder weights) + .json (settings, training)
```
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from agents.experiment.settings import check
from agents.lifelong import envs
from agents.lifelong.config import CodecConfig
from agents.lifelong.recollection_transitions import build_frame_codec
from recollect import DiscreteAutoencoder
from recollect import pretrained_codec as pretrained

EVAL_BATCH_SIZE = 1000


@dataclasses.dataclass(frozen=True)
class FramePretrainConfig:
    """What a frame codec is pretrained on and how; invalid values raise ValueError here.

    Attributes:
        games: the games whose frames it learns (names `envs.make_games` accepts).
        frames_per_game: random-policy frames collected from each game (held-out
            ones included).
        heldout_frames: frames of each game held out to measure the frame error.
        epochs: passes over the training frames.
        batch_size: frames per step.
        seed: seeds the episodes, the policy, the split, the weights and the shuffling.
        codec: the codec's settings, the same flags as a lifelong run's
            (`CodecConfig`; its storage settings are not used).
    """

    games: tuple[str, ...] = ("breakout", "space_invaders")
    frames_per_game: int = 5000
    heldout_frames: int = 500
    epochs: int = 10
    batch_size: int = 32
    seed: int = 0
    codec: Any = None

    def __post_init__(self) -> None:
        """Checks every setting; turns a mapping into a `CodecConfig`."""
        object.__setattr__(self, "games", tuple(self.games))
        codec = self.codec
        if codec is None or isinstance(codec, Mapping):
            codec = CodecConfig(**(codec or {}))
        check(isinstance(codec, CodecConfig), "a CodecConfig", f"codec={codec!r}")
        object.__setattr__(self, "codec", codec)
        envs.check_names(self.games)
        check(bool(self.games), "at least one game in --games", f"{self.games!r}")
        for name in ("frames_per_game", "epochs", "batch_size", "heldout_frames"):
            value = getattr(self, name)
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            check(ok, f"--{name} >= 1", f"{name}={value!r}")
        check(
            self.heldout_frames < self.frames_per_game,
            "--heldout_frames < --frames_per_game",
            f"heldout_frames={self.heldout_frames}, frames_per_game={self.frames_per_game}",
        )
        check(isinstance(self.seed, int) and self.seed >= 0, "--seed >= 0", f"seed={self.seed!r}")


def collect_frames(
    games: Sequence[envs.Game], frames_per_game: int, seed: int
) -> dict[str, np.ndarray]:
    """The frames a uniformly random policy sees: game name -> uint8 [frames_per_game, H, W, C].

    Every episode's first frame and every frame after a step are kept; episodes
    restart until the game has given frames_per_game frames.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for game in games:
        frames = [game.reset(int(rng.integers(2**31)))]
        while len(frames) < frames_per_game:
            obs, _, terminated, truncated = game.step(int(rng.integers(game.num_actions)))
            frames.append(obs)
            if terminated or truncated:
                frames.append(game.reset(int(rng.integers(2**31))))
        out[game.name] = np.stack(frames[:frames_per_game]).astype(np.uint8)
    return out


def frame_error(codec: DiscreteAutoencoder, frames: np.ndarray, *, binary: bool) -> float:
    """Mean over frames uint8 [n, H, W, C] of the summed |decode(encode(x)) - x| on [0, 1].

    Decoded frames are rounded to {0, 1} when binary, as a lifelong run's store
    rounds them (`CodecConfig.binarize_frames`), so the value counts wrong pixels.
    """
    scale = 1.0 if binary else 1.0 / 255.0
    total = 0.0
    for start in range(0, len(frames), EVAL_BATCH_SIZE):
        x = tf.cast(frames[start : start + EVAL_BATCH_SIZE], tf.float32) * scale
        decoded = codec.decode(codec.encode(x))
        if binary:
            decoded = tf.round(decoded)
        total += float(tf.reduce_sum(tf.abs(decoded - x)))
    return total / len(frames)


def _split(
    frames: Mapping[str, np.ndarray], config: FramePretrainConfig
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(held-out frames per game, every game's training frames shuffled together)."""
    rng = np.random.default_rng(config.seed)
    heldout, train = {}, []
    for name, game_frames in frames.items():
        rows = rng.permutation(len(game_frames))
        heldout[name] = game_frames[np.sort(rows[: config.heldout_frames])]
        train.append(game_frames[rows[config.heldout_frames :]])
    joined = np.concatenate(train)
    return heldout, joined[rng.permutation(len(joined))]


def pretrain(
    config: FramePretrainConfig, output: str, *, progress: bool = True
) -> pretrained.PretrainedCodec:
    """Trains the frame codec on random-policy frames and writes it to output.

    Args:
        config: the `FramePretrainConfig`.
        output: the weights file, `<name>.npz`; `<name>.json` gets the settings.
            Neither may exist yet.
        progress: show Keras' progress bar.

    Returns:
        The written file, as `PretrainedCodec.read` returns it.

    Raises:
        ValueError: an output that is not a new .npz path, or games whose frames
            no codec takes or whose shapes differ; all before any training.
    """
    _check_output(output)
    games = envs.make_games(config.games)
    try:
        frames = collect_frames(games, config.frames_per_game, config.seed)
        binary = all(g.binary for g in games)
        frame_shape = games[0].obs_shape
    finally:
        for game in games:
            game.close()
    heldout, train = _split(frames, config)
    keras.utils.set_random_seed(config.seed)
    codec = build_frame_codec(config.codec, frame_shape, config.seed)
    before = {name: frame_error(codec, x, binary=binary) for name, x in heldout.items()}
    codec.compile(
        optimizer=keras.optimizers.Adam(config.codec.codec_learning_rate), jit_compile=False
    )
    scale = 1.0 if binary else 1.0 / 255.0
    batches = (
        tf.data.Dataset.from_tensor_slices(train)
        .shuffle(len(train), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
        .map(lambda x: tf.cast(x, tf.float32) * scale)
    )
    started = time.perf_counter()
    history = codec.fit(batches, epochs=config.epochs, verbose=1 if progress else 0)
    training = {
        "dataset": "random-policy frames of " + ",".join(config.games),
        "games": list(config.games),
        "examples": len(train),
        "heldout_examples": sum(len(x) for x in heldout.values()),
        "epochs": config.epochs,
        "steps": int(codec.optimizer.iterations),
        "seconds": time.perf_counter() - started,
        "final_loss": float(history.history["loss"][-1]),
        "frame_error_initial": before,
        "frame_error": {name: frame_error(codec, x, binary=binary) for name, x in heldout.items()},
        "config": dataclasses.asdict(config),
    }
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    return pretrained.save(codec, output, training=training)


def _check_output(output: str) -> None:
    check(
        output.endswith(pretrained.WEIGHTS_SUFFIX),
        f"--output ending in {pretrained.WEIGHTS_SUFFIX} (the settings go beside it in .json)",
        f"output={output!r}",
    )
    for path in (output, pretrained.settings_path(output)):
        check(
            not os.path.exists(path),
            "a new --output",
            f"{path} exists; delete it or choose another --output",
        )
