"""Pretrains a recollection codec on the unlabelled images of a data set.

    python -m runners.pretrain_codec --dataset=mnist --num_latents=62 --num_categories=2
        --codec=conv --codec_units=64 --epochs=5 --output=codecs/mnist_62x2.npz
        [--input_shape=28,28,1] [--examples=N] [--data_dir=DIR]
        [--exclude_stream=split_cifar10 --exclude_seeds=0,1,2 --exclude_examples_per_task=2000]

Writes OUTPUT (the encoder's and decoder's weights) and OUTPUT with .json for .npz
(the code shape, architecture, input shape, units, kernel, the data set, examples,
epochs and the held-out reconstruction L1). A continual run starts its codec from it
with --codec_init=OUTPUT and the same codec flags; a file of another shape is refused
before the run trains. --exclude_stream leaves out every training image that the
stream shows under the given seeds, so the codec never sees an image of those runs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from absl import flags

from agents import pretrain
from agents.stores import CODECS
from recollect.datasets.catalog import DATASETS
from runners import program

_FLAGS = flags.FlagValues()  # its own namespace: runners.continual has flags of these names
_DEFAULT: dict[str, Any] = {
    f.name: f.default
    for f in dataclasses.fields(pretrain.PretrainConfig)
    if f.default is not dataclasses.MISSING
}


def _define(kind: Any, name: str, text: str, *args: Any) -> flags.FlagHolder[Any]:
    return kind(name, _DEFAULT.get(name), *args, text, flag_values=_FLAGS)


_OUTPUT = _define(
    flags.DEFINE_string, "output", "Weights file to write, NAME.npz (settings: NAME.json)."
)
_PROGRESS = flags.DEFINE_bool("progress", True, "Show a progress bar.", flag_values=_FLAGS)
_CACHE_DIR = _define(flags.DEFINE_string, "cache_dir", "Where decoded data sets are cached.")
_DATASET = flags.DEFINE_enum(
    "dataset", _DEFAULT["dataset"], list(DATASETS), "Images to train on.", flag_values=_FLAGS
)
_DATA_DIR = _define(
    flags.DEFINE_string,
    "data_dir",
    "Data root with mnist/, cifar10/, cifar100/, omniglot/ "
    "(default: $RECOLLECT_DATA_DIR, else tensorflow_datasets).",
)
_INPUT_SHAPE = _define(
    flags.DEFINE_list, "input_shape", "The run's input shape, H,W,C (default: the data set's)."
)
_NUM_LATENTS = _define(flags.DEFINE_integer, "num_latents", "c, the run's --num_latents.")
_NUM_CATEGORIES = _define(flags.DEFINE_integer, "num_categories", "l, the run's --num_categories.")
_CODEC = flags.DEFINE_enum(
    "codec", _DEFAULT["codec"], list(CODECS), "The codec's architecture.", flag_values=_FLAGS
)
_UNITS = _define(
    flags.DEFINE_integer, "codec_units", "Hidden units (mlp) or filters (conv); unset: c*l(/4)."
)
_KERNEL = _define(flags.DEFINE_integer, "codec_kernel_size", "The conv layers' kernel size.")
_NOISE = _define(flags.DEFINE_float, "codec_noise", "Scale of the Gumbel noise in training.")
_LEARNING_RATE = _define(flags.DEFINE_float, "codec_learning_rate", "Adam's step size.")
_EPOCHS = _define(flags.DEFINE_integer, "epochs", "Passes over the training images.")
_BATCH = _define(flags.DEFINE_integer, "batch_size", "Images per step.")
_EXAMPLES = _define(
    flags.DEFINE_integer, "examples", "Training images (unset: all but the held-out ones)."
)
_HELDOUT = _define(
    flags.DEFINE_integer, "heldout_examples", "Images held out to measure reconstruction L1."
)
_SEED = _define(flags.DEFINE_integer, "seed", "Seeds the split, shuffling, weights and noise.")
_EXCLUDE_STREAM = flags.DEFINE_enum(
    "exclude_stream",
    None,
    list(pretrain.EXCLUDABLE),
    "Leave out the training images this stream's --exclude_seeds show (unset: none).",
    flag_values=_FLAGS,
)
_EXCLUDE_SEEDS = flags.DEFINE_list(
    "exclude_seeds",
    [str(s) for s in _DEFAULT["exclude_seeds"]],
    "The stream seeds whose images are left out.",
    flag_values=_FLAGS,
)
_EXCLUDE_LIMIT = _define(
    flags.DEFINE_integer,
    "exclude_examples_per_task",
    "The excluded stream's --examples_per_task (unset: every image of a task).",
)


def config_from_flags() -> pretrain.PretrainConfig:
    """The frozen pretraining config the flags describe.

    Raises:
        ValueError: a setting out of range, naming the flag.
    """
    for holder in (_NUM_LATENTS, _NUM_CATEGORIES):
        if holder.value is None:
            raise ValueError(f"Expected --{holder.name}. Received: none")
    shape = None if _INPUT_SHAPE.value is None else _integers(_INPUT_SHAPE, "28,28,1")
    exclude_seeds = _integers(_EXCLUDE_SEEDS, "0,1,2")
    return pretrain.PretrainConfig(
        num_latents=_NUM_LATENTS.value,
        num_categories=_NUM_CATEGORIES.value,
        dataset=_DATASET.value,
        data_dir=_DATA_DIR.value,
        input_shape=shape,
        codec=_CODEC.value,
        codec_units=_UNITS.value,
        codec_kernel_size=_KERNEL.value,
        codec_noise=_NOISE.value,
        codec_learning_rate=_LEARNING_RATE.value,
        epochs=_EPOCHS.value,
        batch_size=_BATCH.value,
        examples=_EXAMPLES.value,
        heldout_examples=_HELDOUT.value,
        seed=_SEED.value,
        exclude_stream=_EXCLUDE_STREAM.value,
        exclude_seeds=exclude_seeds,
        exclude_examples_per_task=_EXCLUDE_LIMIT.value,
    )


def _integers(holder: flags.FlagHolder[Any], example: str) -> tuple[int, ...]:
    """A list flag's values as integers; raises ValueError naming the flag."""
    try:
        return tuple(int(v) for v in holder.value)
    except ValueError as error:
        raise ValueError(
            f"Expected --{holder.name} of integers, e.g. {example}. Received: {holder.value}"
        ) from error


def summary_line(written: Any) -> str:
    """One line: the codec, what it learned from, its held-out L1, where it is."""
    codec, training = written.codec, written.training
    excluded = (training.get("data") or {}).get("excluded")
    left_out = (
        f" (left out: the {excluded['images']:,} images of {excluded['stream']} "
        f"seeds {','.join(map(str, excluded['seeds']))})"
        if excluded
        else ""
    )
    return (
        f"{codec['num_latents']}x{codec['num_categories']} {codec['architecture']} codec "
        f"({codec['param_count']:,} parameters) on {training['examples']:,} "
        f"{training['dataset']} images{left_out}, {training['epochs']} epoch(s): held-out L1 "
        f"{training['heldout_l1']:.4f} (untrained {training['heldout_l1_initial']:.4f}); "
        f"weights in {written.path}"
    )


def main(argv: list[str]) -> None:
    """Pretrains the codec and prints where it is and how well it reconstructs."""
    config, output = program.start(argv, _OUTPUT.value, config_from_flags, output_flag="output")

    def execute() -> str:
        written = pretrain.pretrain(
            config, output, progress=_PROGRESS.value, cache_dir=_CACHE_DIR.value
        )
        return summary_line(written)

    program.finish(execute)


if __name__ == "__main__":
    for name in ("output", "num_latents", "num_categories"):
        flags.mark_flag_as_required(name, flag_values=_FLAGS)
    program.run(main, flag_values=_FLAGS)
