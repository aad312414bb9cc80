"""Trains a continual learner over a task stream and reports what it retained.

    python -m runners.continual --flagfile=runners/configs/mnist_rotations.flags
        --learner=replay --storage=recollections --incremental_storage=100
        --seeds=0,1,2 --workdir=runs/replay_rec_100 [--data_dir=DIR] [--cache_dir=DIR]

Writes WORKDIR/results.json (retention, BWT, FWT, mean +- std over seeds, storage
footprint), WORKDIR/flags.txt (the flags given), CSV accuracy matrices and
TensorBoard logs. Ctrl-C or SIGTERM checkpoint the run; --resume continues it.
--drift_probe_items=K (recollections) also measures how the codes of each task's
first K examples decode after every later task (drift_matrix in results.json).

The learner's, the store's, the stream's and the model's settings are flags made
from their config fields (`runners.config_flags`); `--helpfull` lists them with
the parts that use them. A stream or model setting that the chosen stream or model
does not have is refused; a learner or storage setting that the chosen learner or
store does not use is ignored, so flagfiles can build on each other.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from absl import app, flags

from agents import continual, models, strategies
from agents.learners import LEARNERS
from agents.stores import STORES
from recollect import budget, datasets
from runners import config_flags, program

FLAGS = flags.FLAGS

# The config's own defaults, so a flag's default is never typed twice.
_DEFAULT: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(continual.ContinualConfig)
}
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.")
_RESUME = flags.DEFINE_bool("resume", False, "Continue the run in --workdir from its checkpoint.")
_PROGRESS = flags.DEFINE_bool("progress", True, "Show a progress bar.")
_STREAM = flags.DEFINE_enum("stream", _DEFAULT["stream"], list(datasets.STREAM_NAMES), "Stream.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir",
    None,
    "Data root with mnist/, cifar10/, cifar100/, omniglot/ "
    "(default: $RECOLLECT_DATA_DIR, else tensorflow_datasets).",
)
_CACHE_DIR = flags.DEFINE_string(
    "cache_dir",
    None,
    "Where prepared streams are cached, about 230 MB for MNIST-Rotations "
    "(default: $RECOLLECT_CACHE_DIR, else ~/.cache/recollect).",
)
_DATA_SEED = flags.DEFINE_integer(
    "data_seed", _DEFAULT["data_seed"], "Seed of the stream's construction."
)
_BATCH = flags.DEFINE_integer("batch_size", _DEFAULT["batch_size"], "Incoming examples per step.")
_LEARNER = flags.DEFINE_enum("learner", _DEFAULT["learner"], list(LEARNERS), "Continual learner.")
_STORAGE = flags.DEFINE_enum(
    "storage", _DEFAULT["storage"], list(STORES), "Episodic storage (replay, gem)."
)
_INCREMENTAL = flags.DEFINE_float(
    "incremental_storage",
    _DEFAULT["incremental_storage"],
    "Storage budget in raw examples (replay, gem).",
)
_BUDGET = flags.DEFINE_enum(
    "budget",
    _DEFAULT["budget"],
    list(budget.BUDGETS),
    "What --incremental_storage pays for: incremental, the stored codes or examples "
    "(the paper's eq. 4); total, the codec's float32 parameters too (eq. 5; the same as "
    "incremental for real storage).",
)
_MODEL = flags.DEFINE_enum("model", _DEFAULT["model"], list(models.MODELS), "Predictive model.")
_MULTI_HEAD = flags.DEFINE_bool(
    "multi_head", _DEFAULT["multi_head"], "Mask outputs to each task's classes."
)
_SEEDS = flags.DEFINE_list("seeds", [str(s) for s in _DEFAULT["seeds"]], "Run seeds.")
_EVAL_BATCH = flags.DEFINE_integer(
    "eval_batch_size",
    _DEFAULT["eval_batch_size"],
    "Test rows per compiled evaluation call (no effect on results).",
)
_DRIFT_PROBE = flags.DEFINE_integer(
    "drift_probe_items",
    _DEFAULT["drift_probe_items"],
    "First training examples per task whose codes are decoded after every task to measure "
    "code drift (Figure 5); kept outside the budget, training unchanged; 0: off. "
    "--storage=recollections only.",
)

_STRATEGY = flags.DEFINE_enum(
    "strategy",
    _DEFAULT["strategy"],
    list(strategies.STRATEGIES),
    "tf.distribute strategy: default (one device), mirrored (every GPU, else every logical "
    "CPU device; see --cpu_devices) or multi_worker (the cluster in TF_CONFIG). The batch "
    "is split over the replicas.",
)
_CPU_DEVICES = flags.DEFINE_integer(
    "cpu_devices",
    0,
    strategies.CPU_DEVICES_HELP,
)

_LEARNER_FIELDS = {n: config_flags.dataclass_fields(c.config_class) for n, c in LEARNERS.items()}
_STORE_FIELDS = {n: config_flags.dataclass_fields(c.config_class) for n, c in STORES.items()}
_STREAM_FIELDS = {n: config_flags.dataclass_fields(s.options) for n, s in datasets.STREAMS.items()}
_MODEL_FIELDS = {n: config_flags.keyword_fields(b) for n, b in models.MODELS.items()}
_PART_FLAGS = {
    **config_flags.define(_LEARNER_FIELDS, "learner", FLAGS),
    **config_flags.define(_STORE_FIELDS, "storage", FLAGS),
    **config_flags.define(_STREAM_FIELDS, "stream", FLAGS),
    **config_flags.define(_MODEL_FIELDS, "model", FLAGS),
}
_RUN_FLAGS: list[flags.FlagHolder[Any]] = [
    _WORKDIR,
    _RESUME,
    _PROGRESS,
    _STREAM,
    _DATA_DIR,
    _CACHE_DIR,
    _DATA_SEED,
    _BATCH,
]
_RUN_FLAGS += [_LEARNER]
_RUN_FLAGS += [_STORAGE, _INCREMENTAL, _BUDGET, _MODEL, _MULTI_HEAD, _SEEDS, _EVAL_BATCH]
_RUN_FLAGS += [_DRIFT_PROBE, _STRATEGY, _CPU_DEVICES]


def config_from_flags() -> continual.ContinualConfig:
    """The frozen run config the flags describe.

    Raises:
        ValueError: a setting out of range, naming the flag.
    """
    try:
        seeds = tuple(int(s) for s in _SEEDS.value)
    except ValueError as error:
        raise ValueError(f"Expected integer --seeds. Received: {_SEEDS.value}") from error
    for family, parts, chosen_part in (
        ("stream", _STREAM_FIELDS, _STREAM.value),
        ("model", _MODEL_FIELDS, _MODEL.value),
    ):
        foreign = config_flags.set_elsewhere(_PART_FLAGS, parts, chosen_part)
        if foreign:
            known = sorted(field.name for field in parts[chosen_part])
            raise ValueError(
                f"Expected settings of --{family}={chosen_part} among {known}. Received: "
                + ", ".join(f"--{name}" for name in foreign)
            )
    chosen = {
        "learner_config": _LEARNER_FIELDS[_LEARNER.value],
        "store_config": _STORE_FIELDS[_STORAGE.value],
        "stream_options": _STREAM_FIELDS[_STREAM.value],
        "model_options": _MODEL_FIELDS[_MODEL.value],
    }
    return continual.ContinualConfig(
        stream=_STREAM.value,
        data_dir=_DATA_DIR.value,
        data_seed=_DATA_SEED.value,
        batch_size=_BATCH.value,
        model=_MODEL.value,
        multi_head=_MULTI_HEAD.value,
        learner=_LEARNER.value,
        storage=_STORAGE.value,
        incremental_storage=_INCREMENTAL.value,
        budget=_BUDGET.value,
        seeds=seeds,
        eval_batch_size=_EVAL_BATCH.value,
        drift_probe_items=_DRIFT_PROBE.value,
        strategy=_STRATEGY.value,
        **{key: config_flags.values(_PART_FLAGS, fields) for key, fields in chosen.items()},
    )


def config_from_flagfile(path: str, *extra: str) -> continual.ContinualConfig:
    """The config that `--flagfile=path` and `extra` flags describe (flags left unparsed).

    For scripts and tests that build a run from a flagfile without running `main`.
    """
    return config_flags.flagfile_config(FLAGS, "continual", path, extra, config_from_flags)


def given_flags() -> str:
    """The flags of this program that are set, one `--name=value` a line."""
    return config_flags.given_flags(FLAGS, [*_RUN_FLAGS, *_PART_FLAGS.values()])


def main(argv: list[str]) -> None:
    """Runs the configured continual learner and prints its retention."""
    config, workdir = program.start(argv, _WORKDIR.value, config_from_flags)
    try:
        workdir = strategies.start(config.strategy, _CPU_DEVICES.value, workdir)
    except ValueError as error:
        raise app.UsageError(str(error)) from error

    def execute() -> str:
        results = continual.run(
            config,
            workdir,
            resume=_RESUME.value,
            progress=_PROGRESS.value,
            cache_dir=_CACHE_DIR.value,
            files={"flags.txt": given_flags()},
        )
        return summary_line(results, workdir)

    program.finish(execute)


def summary_line(results: dict, workdir: str) -> str:
    """One line: learner, storage, retention over seeds, footprint, results path."""
    std = results["retention_std"] or 0.0
    footprint = results["footprint"]
    retention = (
        f"retention {100 * results['retention_mean']:.1f} +- {100 * std:.1f} over seeds "
        f"{results['seeds']}"
    )
    if results["incremental_storage"]:
        method = f"{results['learner']} / {results['storage']} @ {results['incremental_storage']:g}"
        kept = f"{footprint['capacity']} items, {footprint['bits_per_item']} bits each"
        if results.get("budget") == "total":
            method += " total"
            kept += f", codec {footprint['codec_bytes']:,} bytes"
    else:
        method = results["learner"]
        worth = footprint["incremental_storage_raw_examples"]
        kept = f"keeps {worth:,.0f} raw examples' worth" if worth else "keeps no examples"
    return f"{method}: {retention} ({kept}); results in {os.path.join(workdir, 'results.json')}"


if __name__ == "__main__":
    flags.mark_flag_as_required("workdir")
    program.run(main)
