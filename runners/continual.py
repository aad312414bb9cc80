"""Trains a continual learner over a task stream and reports what it retained.

    python -m runners.continual --flagfile=runners/configs/mnist_rotations.flags \
        --learner=replay --storage=recollections --incremental_storage=100 \
        --seeds=0,1,2 --workdir=runs/replay_rec_100 [--data_dir=DIR]

Writes WORKDIR/results.json (retention, BWT, FWT, mean +- std over seeds, storage
accounting), WORKDIR/flags.txt (the resolved flags), CSV accuracy matrices and
TensorBoard logs. Ctrl-C or SIGTERM checkpoint the run; --resume continues it.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags, logging

from agents import continual
from agents.learners import LearnerConfig

FLAGS = flags.FLAGS

_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.")
_RESUME = flags.DEFINE_bool("resume", False, "Continue the run in --workdir from its checkpoint.")
_PROGRESS = flags.DEFINE_bool("progress", True, "Show a progress bar.")

_STREAM = flags.DEFINE_enum(
    "stream",
    "mnist_rotations",
    ["mnist_rotations", "permuted_mnist", "incremental_cifar100", "omniglot", "split_cifar10"],
    "Task stream.",
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir",
    None,
    "Data root with mnist/, cifar10/, cifar100/, omniglot/ "
    "(default: $RECOLLECT_DATA_DIR, else tensorflow_datasets).",
)
_DATA_SEED = flags.DEFINE_integer("data_seed", 0, "Seed of the stream's construction.")
_NUM_TASKS = flags.DEFINE_integer("num_tasks", None, "Tasks in the stream (stream default).")
_EXAMPLES = flags.DEFINE_integer("examples_per_task", None, "Training examples per task.")
_TEST_EXAMPLES = flags.DEFINE_integer(
    "test_examples_per_task", None, "Test examples per task (default: all)."
)
_VARIANT = flags.DEFINE_string("variant", None, "CIFAR-100 task split: 'coarse' or 'gem'.")
_BATCH = flags.DEFINE_integer("batch_size", 10, "Incoming examples per step.")

_LEARNER = flags.DEFINE_string("learner", "replay", "online, replay, gem, ewc or lwf.")
_STORAGE = flags.DEFINE_string("storage", "recollections", "real or recollections.")
_INCREMENTAL = flags.DEFINE_float(
    "incremental_storage", 100, "Storage budget in raw examples (replay, gem)."
)
_ITEMS = flags.DEFINE_integer("items", None, "Codes the recollection buffer holds.")
_LATENTS = flags.DEFINE_integer("num_latents", None, "c (default: chosen by the budget).")
_CATEGORIES = flags.DEFINE_integer("num_categories", None, "l (default: chosen by the budget).")
_CODEC = flags.DEFINE_string("codec", "mlp", "Autoencoder: mlp or conv.")
_CODEC_UNITS = flags.DEFINE_integer("codec_units", None, "Autoencoder hidden units / filters.")
_CODEC_LR = flags.DEFINE_float("codec_learning_rate", 1e-3, "Autoencoder Adam step size.")
_CODEC_NOISE = flags.DEFINE_float(
    "codec_noise", 1.0, "Gumbel noise scale in autoencoder training (0: straight-through)."
)
_MODEL = flags.DEFINE_string("model", "mlp", "Predictive model: mlp or reduced_resnet18.")
_HIDDEN = flags.DEFINE_integer("hidden_units", None, "MLP hidden units (default 200).")
_MULTI_HEAD = flags.DEFINE_bool("multi_head", False, "Mask outputs to each task's classes.")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Run seeds.")
_EVAL_BATCH = flags.DEFINE_integer("eval_batch_size", 1000, "Evaluation batch size.")

_LR = flags.DEFINE_float("learning_rate", 0.01, "Step size of the predictive model.")
_OPTIMIZER = flags.DEFINE_enum(
    "optimizer", "sgd", ["sgd", "adam"], "Optimizer of the predictive model."
)
_REPLAY_BATCH = flags.DEFINE_integer("replay_batch_size", 10, "Recalled items per step.")
_STABILIZE = flags.DEFINE_integer("stabilize_steps", 1, "N: autoencoder steps per batch.")
_STRENGTH = flags.DEFINE_float("memory_strength", 0.5, "GEM margin.")
_GEM_MEMORIES = flags.DEFINE_integer(
    "gem_memories_per_task", None, "GEM: memories per earlier task per step (default: all)."
)
_EWC_LAMBDA = flags.DEFINE_float("ewc_lambda", 10.0, "EWC penalty weight.")
_EWC_SAMPLES = flags.DEFINE_integer("ewc_samples", 256, "EWC Fisher examples per task.")
_LWF_ALPHA = flags.DEFINE_float("lwf_alpha", 1.0, "LwF distillation weight.")
_LWF_T = flags.DEFINE_float("lwf_temperature", 2.0, "LwF temperature.")


def config_from_flags() -> continual.ContinualConfig:
    """The frozen run config the flags describe."""
    options = {
        "num_tasks": _NUM_TASKS.value,
        "examples_per_task": _EXAMPLES.value,
        "test_examples_per_task": _TEST_EXAMPLES.value,
        "variant": _VARIANT.value,
    }
    model_options = {} if _HIDDEN.value is None else {"hidden_units": _HIDDEN.value}
    try:
        seeds = tuple(int(s) for s in _SEEDS.value)
    except ValueError as error:
        raise app.UsageError(f"--seeds must be integers: {_SEEDS.value}") from error
    return continual.ContinualConfig(
        stream=_STREAM.value,
        data_dir=_DATA_DIR.value,
        data_seed=_DATA_SEED.value,
        stream_options={k: v for k, v in options.items() if v is not None},
        batch_size=_BATCH.value,
        learner=_LEARNER.value,
        storage=_STORAGE.value,
        incremental_storage=_INCREMENTAL.value,
        items=_ITEMS.value,
        num_latents=_LATENTS.value,
        num_categories=_CATEGORIES.value,
        codec=_CODEC.value,
        codec_units=_CODEC_UNITS.value,
        codec_learning_rate=_CODEC_LR.value,
        codec_noise=_CODEC_NOISE.value,
        model=_MODEL.value,
        model_options=model_options,
        multi_head=_MULTI_HEAD.value,
        learner_config=LearnerConfig(
            learning_rate=_LR.value,
            optimizer=_OPTIMIZER.value,
            replay_batch_size=_REPLAY_BATCH.value,
            stabilize_steps=_STABILIZE.value,
            memory_strength=_STRENGTH.value,
            gem_memories_per_task=_GEM_MEMORIES.value,
            ewc_lambda=_EWC_LAMBDA.value,
            ewc_samples=_EWC_SAMPLES.value,
            lwf_alpha=_LWF_ALPHA.value,
            lwf_temperature=_LWF_T.value,
        ),
        seeds=seeds,
        eval_batch_size=_EVAL_BATCH.value,
    )


def config_from_flagfile(path: str, *extra: str) -> continual.ContinualConfig:
    """The config that `--flagfile=path` and `extra` flags describe (FLAGS left unparsed).

    For scripts and tests that build a run from a flagfile without running `main`;
    nested `--flagfile` paths are relative to the working directory.
    """
    FLAGS.unparse_flags()
    try:
        FLAGS(["continual", f"--flagfile={path}", "--workdir=unused", *extra])
        return config_from_flags()
    finally:
        FLAGS.unparse_flags()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    try:
        config = config_from_flags()
        config.check()
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    os.makedirs(_WORKDIR.value, exist_ok=True)
    with open(os.path.join(_WORKDIR.value, "flags.txt"), "w", encoding="utf-8") as f:
        f.write(FLAGS.flags_into_string())
    try:
        results = continual.run(
            config, _WORKDIR.value, resume=_RESUME.value, progress=_PROGRESS.value
        )
    except continual.RunInterrupted as stop:
        print(f"\n{stop}", file=sys.stderr)
        sys.exit(130)
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    std = results["retention_std"] or 0.0
    print(
        f"{results['learner']} / {results['storage']} @ {results['incremental_storage']:g}: "
        f"retention {100 * results['retention_mean']:.1f} +- {100 * std:.1f} over seeds "
        f"{results['seeds']} ({results['items']} items, {results['bits_per_item']} bits each); "
        f"results in {os.path.join(_WORKDIR.value, 'results.json')}"
    )


if __name__ == "__main__":
    flags.mark_flag_as_required("workdir")
    app.run(main)
