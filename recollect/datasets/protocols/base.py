"""What every protocol module shares: the spec it registers, its tasks, seeded draws.

Where this sits: each module of `protocols/` holds one stream's frozen options class
and its `build(data, options, seed)`, which turns a data set's arrays (from
`sources.py`) into a list of `TaskData`; `stream.py` lays the tasks end to end,
checksums and caches them:

```
sources.DataArrays --build(data, options, seed)--> [TaskData, ...], num_classes, extra
    TaskData    x_train uint8 [N, H, W, C], y_train int32 [N], x_test, y_test
    extra       stream-specific metadata (angles, permutations, alphabets, ...)
```

Every random choice draws from `rng(seed, purpose, ...)`, a generator of its own,
so one protocol's draws never shift another's.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from recollect.datasets.sources import DataArrays


@dataclasses.dataclass(frozen=True)
class TaskData:
    """One task's stored arrays: uint8 pixels and int32 labels, in protocol order."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


# What a builder returns: (tasks, number of outputs, extra metadata).
Built = tuple[list[TaskData], int, dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class StreamSpec:
    """One entry of `protocols.STREAMS`: how `load_stream` builds a stream.

    Attributes:
        dataset: the data set it reads (`mnist`, `cifar10`, `cifar100`, `omniglot`).
        options: its frozen options dataclass; `load_stream`'s keyword arguments
            are its fields, and its `__post_init__` validates them.
        build: (data, options, seed) -> (tasks, number of outputs, extra metadata).
    """

    dataset: str
    options: type
    build: Callable[[DataArrays, Any, int], Built]


class ClassSplitOptions(Protocol):
    """The options `class_tasks` reads (fields of a frozen options dataclass)."""

    @property
    def shuffle(self) -> bool:
        """Whether each task's training examples are shuffled."""
        ...

    @property
    def examples_per_task(self) -> int | None:
        """The first this many training examples of each task; None for all."""
        ...


def check(condition: bool, expected: str, received: str) -> None:
    """Raises `ValueError("Expected <expected>. Received: <received>")` unless `condition`.

    Args:
        condition: what must hold.
        expected: what was expected, in words.
        received: what was received, e.g. `"num_tasks=0"`.

    Raises:
        ValueError: `condition` is false.
    """
    if not condition:
        raise ValueError(f"Expected {expected}. Received: {received}")


def is_int(value: Any) -> bool:
    """Returns whether `value` is an int or numpy integer (not a bool)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_flag(name: str, value: Any) -> None:
    """Checks a yes/no option: a bool, not a value that merely reads as one (`"no"`).

    Args:
        name: the option's name.
        value: the option's value.

    Raises:
        ValueError: anything but True or False.
    """
    check(isinstance(value, bool), f"{name} True or False", f"{name}={value!r}")


def check_limit(examples_per_task: Any) -> None:
    """Checks an optional per-task example limit: None or a positive integer.

    Args:
        examples_per_task: the option's value.

    Raises:
        ValueError: anything else.
    """
    check(
        examples_per_task is None or (is_int(examples_per_task) and examples_per_task > 0),
        "examples_per_task None or > 0",
        f"examples_per_task={examples_per_task!r}",
    )


def rng(seed: int, *purpose: str | int) -> np.random.Generator:
    """Returns a generator for one purpose, independent of every other draw of the stream.

    Args:
        seed: the stream's seed.
        *purpose: names (hashed with crc32) and numbers, e.g. `"mnist/samples", t`.

    Returns:
        The generator.
    """
    words = [zlib.crc32(p.encode()) if isinstance(p, str) else int(p) for p in purpose]
    return np.random.default_rng([seed, *words])


def class_task_rows(
    name: str,
    data: DataArrays,
    groups: Sequence[Sequence[int]],
    label_key: str,
    options: ClassSplitOptions,
    seed: int,
) -> list[np.ndarray]:
    """Per task, the rows of `x_train` it holds, in the order the task shows them.

    Uses the options' `shuffle` and `examples_per_task` (the first that many
    training examples of each task, after the shuffle).

    Args:
        name: the stream, for messages and the shuffle's seed.
        data: the data set's arrays.
        groups: per task, the labels it holds.
        label_key: `y` (the class) or `coarse` (the CIFAR-100 superclass).
        options: the stream's options.
        seed: the stream's seed.

    Returns:
        One int64 array of training rows per group.

    Raises:
        ValueError: a group has no training examples.
    """
    labels = data.arrays[f"{label_key}_train"]
    rows = []
    for t, group in enumerate(groups):
        train = np.flatnonzero(np.isin(labels, group))
        if train.size == 0:
            raise ValueError(
                f"Expected training examples of classes {list(group)} for task {t} of {name}. "
                f"Received: none in the {data.name} data at {data.metadata.get('location')}"
            )
        if options.shuffle:
            train = train[rng(seed, f"{name}/order", t).permutation(len(train))]
        rows.append(train[: options.examples_per_task])
    return rows


def class_tasks(
    name: str,
    data: DataArrays,
    groups: Sequence[Sequence[int]],
    label_key: str,
    options: ClassSplitOptions,
    seed: int,
) -> list[TaskData]:
    """Tasks holding the examples whose `<label_key>_<split>` is in each group.

    The training rows are `class_task_rows`'s; the test sets stay whole.

    Args:
        name: the stream, for messages and the shuffle's seed.
        data: the data set's arrays.
        groups: per task, the labels it holds.
        label_key: `y` (the class) or `coarse` (the CIFAR-100 superclass).
        options: the stream's options.
        seed: the stream's seed.

    Returns:
        One task per group.

    Raises:
        ValueError: a group has no training examples.
    """
    a = data.arrays
    tasks = []
    for group, train in zip(
        groups, class_task_rows(name, data, groups, label_key, options, seed), strict=True
    ):
        test = np.flatnonzero(np.isin(a[f"{label_key}_test"], group))
        tasks.append(
            TaskData(a["x_train"][train], a["y_train"][train], a["x_test"][test], a["y_test"][test])
        )
    return tasks
