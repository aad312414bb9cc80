"""Distils a LeNet teacher into new students through recollections, beside real-data baselines.

    python -m runners.distill --flagfile=runners/configs/distill_mnist.flags
        --workdir=runs/distill_cnn [--students=cnn,mlp] [--samplers=uniform,active_diverse]
        [--data_dir=DIR] [--cache_dir=DIR]

Writes WORKDIR/results.json (test accuracy per method at each episode count, mean
+- std over seeds; the teacher's accuracy; each memory's code shape, storage and
distortion), WORKDIR/flags.txt (the resolved flags) and per seed the teacher
(teacher.keras) and the filled memories. Ctrl-C or SIGTERM checkpoint the run;
--resume continues it. `python -m runners.plot --workdirs=WORKDIR` draws the
learning curves.

Every flag but --workdir, --resume, --progress and --cache_dir is a field of
`agents.distill.DistillConfig`, with its default and its docstring line as help;
list fields (--seeds, --students, --samplers, --compressions, --episodes,
--baselines, --subset_percents) take comma-separated values.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import types
import typing
from typing import Any

from absl import flags

from agents import distill
from runners import config_flags, program

_FLAGS = flags.FlagValues()  # its own namespace: runners.continual has flags of these names
_CONFIG = distill.DistillConfig

_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.", flag_values=_FLAGS)
_RESUME = flags.DEFINE_bool(
    "resume", False, "Continue the run in --workdir from its checkpoint.", flag_values=_FLAGS
)
_PROGRESS = flags.DEFINE_bool("progress", True, "Show a progress bar.", flag_values=_FLAGS)
_CACHE_DIR = flags.DEFINE_string(
    "cache_dir",
    None,
    "Where decoded data sets are cached (default: $RECOLLECT_CACHE_DIR, else ~/.cache/recollect).",
    flag_values=_FLAGS,
)

_DEFINE: dict[type, Any] = {
    int: flags.DEFINE_integer,
    float: flags.DEFINE_float,
    str: flags.DEFINE_string,
}


def _field_docs(config_class: type) -> dict[str, str]:
    """name -> its entry in the class docstring's Attributes section, on one line."""
    text = inspect.cleandoc(config_class.__doc__ or "").split("Attributes:", 1)[-1]
    entries = re.findall(r"^ {4}(\w+): (.*(?:\n {8}.*)*)", text, re.MULTILINE)
    return {name: " ".join(part.strip() for part in doc.splitlines()) for name, doc in entries}


def _types(hint: Any) -> tuple[type, bool]:
    """(scalar type, whether a list) of a field's hint: int, float, str, X | None, tuple[X, ...]."""
    if typing.get_origin(hint) is tuple:
        return typing.get_args(hint)[0], True
    if isinstance(hint, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None)), False
    return hint, False


def _define(field: dataclasses.Field, hint: Any, doc: str) -> flags.FlagHolder:
    """The flag of one config field, with the field's default (every field has one)."""
    scalar, listed = _types(hint)
    default: Any = field.default
    if listed:
        shown = [f"{v:g}" if scalar is float else str(v) for v in default]
        return flags.DEFINE_list(field.name, shown, doc, flag_values=_FLAGS)
    return _DEFINE[scalar](field.name, default, doc, flag_values=_FLAGS)


_HINTS = typing.get_type_hints(_CONFIG)
_DOCS = _field_docs(_CONFIG)
_CONFIG_FLAGS = {
    field.name: _define(field, _HINTS[field.name], _DOCS.get(field.name, ""))
    for field in dataclasses.fields(_CONFIG)
}
_RUN_FLAGS = [_WORKDIR, _RESUME, _PROGRESS, _CACHE_DIR]


def config_from_flags() -> distill.DistillConfig:
    """The frozen run config the flags describe.

    Raises:
        ValueError: a setting out of range or a list value of the wrong type, naming the flag.
    """
    values: dict[str, Any] = {}
    for name, holder in _CONFIG_FLAGS.items():
        scalar, listed = _types(_HINTS[name])
        if not listed:
            values[name] = holder.value
            continue
        try:
            values[name] = tuple(scalar(item) for item in holder.value)
        except ValueError as error:
            raise ValueError(
                f"Expected --{name} as comma-separated {scalar.__name__} values. "
                f"Received: {','.join(holder.value)}"
            ) from error
    return distill.DistillConfig(**values)


def config_from_flagfile(path: str, *extra: str) -> distill.DistillConfig:
    """The config that `--flagfile=path` and `extra` flags describe (flags left unparsed).

    For scripts and tests that build a run from a flagfile without running `main`.
    """
    return config_flags.flagfile_config(_FLAGS, "distill", path, extra, config_from_flags)


def given_flags() -> str:
    """The flags of this program that are set, one `--name=value` a line."""
    return config_flags.given_flags(_FLAGS, [*_RUN_FLAGS, *_CONFIG_FLAGS.values()])


def summary_line(results: dict, workdir: str) -> str:
    """One line: the teacher, each method's accuracy at the last test point."""
    last = results["episodes"][-1]
    curves = results["curves"]
    shown = ", ".join(f"{name} {100 * curves[name]['mean'][-1]:.1f}" for name in results["methods"])
    teacher = 100 * results["teacher_accuracy"]["mean"]
    return (
        f"Teacher {teacher:.1f}%; test accuracy (%) after {last:,} episodes: {shown}; results in "
        f"{os.path.join(workdir, 'results.json')}"
    )


def main(argv: list[str]) -> None:
    """Runs the configured distillation and prints each method's final accuracy."""
    config, workdir = program.start(argv, _WORKDIR.value, config_from_flags)

    def execute() -> str:
        results = distill.run(
            config,
            workdir,
            resume=_RESUME.value,
            progress=_PROGRESS.value,
            cache_dir=_CACHE_DIR.value,
            files={"flags.txt": given_flags()},
        )
        return summary_line(results, workdir)

    program.finish(execute)


if __name__ == "__main__":
    flags.mark_flag_as_required("workdir", flag_values=_FLAGS)
    program.run(main, flag_values=_FLAGS)
