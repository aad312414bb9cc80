"""Pretrains a lifelong run's frame codec on the frames of a random policy.

    python -m runners.pretrain_frames --games=breakout,space_invaders
        --frames_per_game=5000 --epochs=10 --output=codecs/minatar_pair_40x4.npz
        [--num_latents=40 --num_categories=4 --codec=mlp --codec_units=256]

Writes OUTPUT (the encoder's and decoder's weights) and OUTPUT with .json for .npz
(the code shape, architecture, frame shape, units, the games, frames, epochs and
each game's held-out frame error before and after). A lifelong run starts its codec
from it with --codec_init=OUTPUT and the same codec flags (the defaults are the
lifelong runner's); a file of another shape is refused before the run's first step.
"""

from __future__ import annotations

from typing import Any

from absl import flags

from agents.lifelong import config as lifelong_config
from agents.lifelong import pretrain_frames
from runners import config_flags, program

_FLAGS = flags.FlagValues()  # its own namespace: runners.lifelong has flags of these names
_DEFAULT = pretrain_frames.FramePretrainConfig()
# The codec settings that decide what it learns; the rest are the run's storage.
_CODEC_SETTINGS = (
    "num_latents",
    "num_categories",
    "codec",
    "codec_units",
    "codec_kernel_size",
    "codec_learning_rate",
    "codec_noise",
    "binarize_frames",
)

_OUTPUT = flags.DEFINE_string(
    "output", None, "Weights file to write, NAME.npz (settings: NAME.json).", flag_values=_FLAGS
)
_PROGRESS = flags.DEFINE_bool("progress", True, "Show a progress bar.", flag_values=_FLAGS)
_GAMES = flags.DEFINE_list(
    "games", list(_DEFAULT.games), "Games whose frames it learns.", flag_values=_FLAGS
)
_FRAMES = flags.DEFINE_integer(
    "frames_per_game",
    _DEFAULT.frames_per_game,
    "Random-policy frames per game (held-out ones included).",
    flag_values=_FLAGS,
)
_HELDOUT = flags.DEFINE_integer(
    "heldout_frames",
    _DEFAULT.heldout_frames,
    "Frames per game held out to measure the frame error.",
    flag_values=_FLAGS,
)
_EPOCHS = flags.DEFINE_integer(
    "epochs", _DEFAULT.epochs, "Passes over the training frames.", flag_values=_FLAGS
)
_BATCH = flags.DEFINE_integer(
    "batch_size", _DEFAULT.batch_size, "Frames per step.", flag_values=_FLAGS
)
_SEED = flags.DEFINE_integer(
    "seed", _DEFAULT.seed, "Seeds the episodes, policy, split and weights.", flag_values=_FLAGS
)
_CODEC_FIELDS = [
    f
    for f in config_flags.dataclass_fields(lifelong_config.CodecConfig)
    if f.name in _CODEC_SETTINGS
]
_CODEC_FLAGS = config_flags.define({"recollections": _CODEC_FIELDS}, "storage", _FLAGS)


def config_from_flags() -> pretrain_frames.FramePretrainConfig:
    """The frozen pretraining config the flags describe.

    Raises:
        ValueError: a setting out of range or an unknown game, naming the flag.
    """
    return pretrain_frames.FramePretrainConfig(
        games=tuple(_GAMES.value),
        frames_per_game=_FRAMES.value,
        heldout_frames=_HELDOUT.value,
        epochs=_EPOCHS.value,
        batch_size=_BATCH.value,
        seed=_SEED.value,
        codec=config_flags.values(_CODEC_FLAGS, _CODEC_FIELDS),
    )


def summary_line(written: Any) -> str:
    """One line: the codec, what it learned from, its held-out frame error, where it is."""
    codec, training = written.codec, written.training
    errors = ", ".join(
        f"{game} {training['frame_error_initial'][game]:.1f} -> {value:.2f}"
        for game, value in training["frame_error"].items()
    )
    return (
        f"{codec['num_latents']}x{codec['num_categories']} {codec['architecture']} codec "
        f"({codec['param_count']:,} parameters) on {training['examples']:,} frames, "
        f"{training['epochs']} epoch(s): held-out wrong pixels a frame {errors}; "
        f"weights in {written.path}"
    )


def main(argv: list[str]) -> None:
    """Pretrains the codec and prints where it is and how well it reconstructs."""
    config, output = program.start(argv, _OUTPUT.value, config_from_flags, output_flag="output")
    program.finish(
        lambda: summary_line(pretrain_frames.pretrain(config, output, progress=_PROGRESS.value))
    )


if __name__ == "__main__":
    flags.mark_flag_as_required("output", flag_values=_FLAGS)
    program.run(main, flag_values=_FLAGS)
