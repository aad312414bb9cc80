"""Continual-learning task streams: the paper's benchmarks as ordered tasks of tf.data.

Where this sits: a runner calls `load_stream(name, ...)`; this module gets the data
set's arrays from `sources.py`, applies the protocol (rotations, permutations, splits)
with a seeded generator, caches the result with `cache.py`, and hands the learner one
`Task` at a time:

```python
stream = load_stream("mnist_rotations", data_dir="/data", seed=0, batch_size=10)
for task in stream:                       # task order, one pass
    for x, y in task.train:               # float32 [<=10, 28, 28, 1] in [0, 1], int32 [<=10]
        learner.train_step(x, y, task.task_id)
    for past in stream[: task.task_id + 1]:
        evaluate(past.test)
```

A built stream is stored as six arrays, the tasks laid end to end:

```
x_train       uint8 [sum(train_sizes), H, W, C]     y_train      int32 [sum(train_sizes)]
train_offsets int64 [num_tasks + 1]                 task t = rows offsets[t]:offsets[t+1]
x_test, y_test, test_offsets                        the same for the test sets
```

Pixels are kept as uint8 (MNIST rotations are rounded to uint8 after bilinear
interpolation, as the GEM script's PIL rotation does) and scaled to float32 [0, 1]
in the datasets. `metadata["sha256"]` is the checksum of these six arrays.

Streams (all seeded; the seed also orders the examples inside a task):

| name                 | tasks | per task (train / test)             | classes |
|----------------------|-------|-------------------------------------|---------|
| mnist_rotations      | 20    | 1,000 / 10,000, angle in [9t, 9t+9) | 10      |
| permuted_mnist       | 20    | 1,000 / 10,000, task 0 identity     | 10      |
| incremental_cifar100 | 20    | coarse label t: 2,500 / 500         | 100     |
| omniglot             | 50    | one alphabet, 18 / 2 per character  | 1,623   |
| split_cifar10        | 5     | classes 2t, 2t+1: 10,000 / 2,000    | 10      |
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf
from scipy import ndimage

from recollect.datasets import cache as cache_lib
from recollect.datasets import sources

# Bump when a builder's output changes, so old cache entries are not used.
STREAM_FORMAT_VERSION = 1
# Options that change how the stored arrays are presented, not what they hold.
_VIEW_OPTIONS = ("flatten",)


def _check(condition: bool, expected: str, received: str) -> None:
    if not condition:
        raise ValueError(f"Expected {expected}. Received: {received}")


def _check_limit(examples_per_task: Any) -> None:
    _check(
        examples_per_task is None or (_is_int(examples_per_task) and examples_per_task > 0),
        "examples_per_task None or > 0",
        f"examples_per_task={examples_per_task!r}",
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class MnistRotationsOptions:
    """MNIST-Rotations (GEM protocol): task t rotates by one angle in [w t, w (t + 1)).

    Attributes:
        num_tasks: number of tasks.
        examples_per_task: training examples per task: the first ones of a seeded
            shuffle of the training set, drawn afresh for each task.
        test_examples_per_task: None for the whole test set (rotated per task), else
            its first this many images.
        degrees_per_task: w, the width of each task's angle interval.
        flatten: give inputs as float32 [H * W] (for the paper's MLP) instead of
            [H, W, 1]; it changes only the view, not the cache.
    """

    num_tasks: int = 20
    examples_per_task: int = 1000
    test_examples_per_task: int | None = None
    degrees_per_task: float = 9.0
    flatten: bool = False

    def __post_init__(self):
        _check(
            _is_int(self.num_tasks) and self.num_tasks > 0,
            "num_tasks > 0",
            f"num_tasks={self.num_tasks!r}",
        )
        _check(
            _is_int(self.examples_per_task) and self.examples_per_task > 0,
            "examples_per_task > 0",
            f"examples_per_task={self.examples_per_task!r}",
        )
        _check(
            self.test_examples_per_task is None
            or (_is_int(self.test_examples_per_task) and self.test_examples_per_task > 0),
            "test_examples_per_task None or > 0",
            f"test_examples_per_task={self.test_examples_per_task!r}",
        )
        _check(
            isinstance(self.degrees_per_task, int | float) and self.degrees_per_task > 0,
            "degrees_per_task > 0",
            f"degrees_per_task={self.degrees_per_task!r}",
        )


@dataclasses.dataclass(frozen=True)
class PermutedMnistOptions:
    """Permuted MNIST: task t permutes the pixels by a seeded permutation (task 0: none).

    Attributes:
        num_tasks: number of tasks.
        examples_per_task: training examples per task, drawn as for the rotations.
        test_examples_per_task: None for the whole test set, else its first this many.
        flatten: give inputs as float32 [H * W] instead of [H, W, 1].
    """

    num_tasks: int = 20
    examples_per_task: int = 1000
    test_examples_per_task: int | None = None
    flatten: bool = False

    def __post_init__(self):
        MnistRotationsOptions(
            num_tasks=self.num_tasks,
            examples_per_task=self.examples_per_task,
            test_examples_per_task=self.test_examples_per_task,
        )


@dataclasses.dataclass(frozen=True)
class IncrementalCifar100Options:
    """Incremental CIFAR-100: 100 fine-label outputs, tasks by label groups.

    Attributes:
        variant: `"coarse"` (the paper: task t holds the 5 fine classes of coarse
            label t, 2,500 training images) or `"gem"` (GEM and A-GEM: task t holds
            fine labels [k t, k (t + 1))).
        classes_per_task: k for `"gem"`.
        shuffle: shuffle each task's training examples (seeded); False keeps the
            order of the source files.
        examples_per_task: None keeps every training example of a task, else the
            first this many (after the shuffle). The test sets stay whole.
    """

    variant: str = "coarse"
    classes_per_task: int = 5
    shuffle: bool = True
    examples_per_task: int | None = None

    def __post_init__(self):
        _check_limit(self.examples_per_task)
        _check(
            self.variant in ("coarse", "gem"),
            "variant 'coarse' or 'gem'",
            f"variant={self.variant!r}",
        )
        _check(
            _is_int(self.classes_per_task) and self.classes_per_task > 0,
            "classes_per_task > 0",
            f"classes_per_task={self.classes_per_task!r}",
        )


@dataclasses.dataclass(frozen=True)
class OmniglotOptions:
    """Omniglot: one task per alphabet, outputs = every character of the set.

    Attributes:
        test_fraction: share of each character's drawers held out for testing
            (0.1: 2 of 20), chosen per character by the seed.
        shuffle: shuffle each task's training examples (seeded).
    """

    test_fraction: float = 0.1
    shuffle: bool = True

    def __post_init__(self):
        _check(
            isinstance(self.test_fraction, int | float) and 0.0 < self.test_fraction < 1.0,
            "0 < test_fraction < 1",
            f"test_fraction={self.test_fraction!r}",
        )


@dataclasses.dataclass(frozen=True)
class SplitCifar10Options:
    """Split CIFAR-10: task t holds classes [k t, k (t + 1)); 10 outputs.

    Attributes:
        classes_per_task: k; must divide 10.
        shuffle: shuffle each task's training examples (seeded).
        examples_per_task: None keeps every training example of a task (10,000
            with k = 2), else the first this many (after the shuffle). The test
            sets stay whole.
    """

    classes_per_task: int = 2
    shuffle: bool = True
    examples_per_task: int | None = None

    def __post_init__(self):
        _check_limit(self.examples_per_task)
        _check(
            _is_int(self.classes_per_task) and self.classes_per_task > 0,
            "classes_per_task > 0",
            f"classes_per_task={self.classes_per_task!r}",
        )


class TaskArrays(NamedTuple):
    """One task as numpy: x float32 [N, *input_shape] in [0, 1], y int32 [N]."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclasses.dataclass(frozen=True)
class Task:
    """One task of a stream.

    Attributes:
        task_id: position in the stream, from 0.
        train: batches (x float32 [<=batch_size, *input_shape] in [0, 1], y int32
            [<=batch_size]) in protocol order; the last batch may be smaller.
        test: the test set, batched the same way.
        num_train: training examples.
        num_test: test examples.
        classes: the labels present in the task (training or test set), sorted.
        input_shape: shape of one x.
        num_classes: outputs of the whole stream.
    """

    task_id: int
    train: tf.data.Dataset
    test: tf.data.Dataset
    num_train: int
    num_test: int
    classes: tuple[int, ...]
    input_shape: tuple[int, ...]
    num_classes: int


class TaskStream:
    """An ordered, re-iterable sequence of tasks, built by `load_stream`.

    `len(stream)` is the number of tasks; `stream[t]` and iteration give `Task`s in
    protocol order (slices give lists); `stream.metadata` says exactly which data
    the tasks hold (see `load_stream`).
    """

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        metadata: dict[str, Any],
        *,
        batch_size: int,
        flatten: bool = False,
    ) -> None:
        """Wraps stored stream arrays (the layout in the module docstring).

        Args:
            arrays: `x_train`, `y_train`, `train_offsets`, `x_test`, `y_test`,
                `test_offsets`.
            metadata: from the builder (JSON-serialisable).
            batch_size: examples per batch.
            flatten: present each x as a vector.
        """
        self._arrays = arrays
        self._batch_size = batch_size
        self._flatten = flatten
        image_shape = tuple(int(d) for d in arrays["x_train"].shape[1:])
        self.input_shape = (math.prod(image_shape),) if flatten else image_shape
        self.metadata = {
            **metadata,
            "input_shape": list(self.input_shape),
            "batch_size": batch_size,
            "flatten": flatten,
        }
        self.name: str = metadata["name"]
        self.num_classes: int = metadata["num_classes"]

    def __len__(self) -> int:
        return len(self._arrays["train_offsets"]) - 1

    def __iter__(self) -> Iterator[Task]:
        for task_id in range(len(self)):
            yield self[task_id]

    def __getitem__(self, index: int | slice) -> Task | list[Task]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not _is_int(index) or not -len(self) <= index < len(self):
            raise IndexError(f"Expected a task id in [0, {len(self)}). Received: index={index!r}")
        task_id = int(index) % len(self)
        train, test = self._slice("train", task_id), self._slice("test", task_id)
        return Task(
            task_id=task_id,
            train=self._dataset(*train),
            test=self._dataset(*test),
            num_train=len(train[1]),
            num_test=len(test[1]),
            classes=tuple(self.metadata["task_classes"][task_id]),
            input_shape=self.input_shape,
            num_classes=self.num_classes,
        )

    def __repr__(self) -> str:
        return (
            f"TaskStream(name={self.name!r}, num_tasks={len(self)}, "
            f"input_shape={self.input_shape}, num_classes={self.num_classes}, "
            f"sha256={self.metadata['sha256'][:12]}...)"
        )

    def task_arrays(self, task_id: int) -> TaskArrays:
        """Returns one task as float32 / int32 numpy arrays (x in [0, 1]).

        Raises:
            IndexError: `task_id` out of range.
        """
        task = self[task_id]
        (x_train, y_train), (x_test, y_test) = (
            self._slice(split, task.task_id) for split in ("train", "test")
        )
        return TaskArrays(_to_unit(x_train), y_train, _to_unit(x_test), y_test)

    def stored_arrays(self) -> dict[str, np.ndarray]:
        """Returns the stored arrays (uint8 pixels) that `metadata["sha256"]` covers."""
        return dict(self._arrays)

    def _slice(self, split: str, task_id: int) -> tuple[np.ndarray, np.ndarray]:
        offsets = self._arrays[f"{split}_offsets"]
        rows = slice(int(offsets[task_id]), int(offsets[task_id + 1]))
        x = self._arrays[f"x_{split}"][rows]
        if self._flatten:
            x = x.reshape(len(x), -1)
        return x, self._arrays[f"y_{split}"][rows]

    def _dataset(self, x: np.ndarray, y: np.ndarray) -> tf.data.Dataset:
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(self._batch_size)
        return dataset.map(_scale_batch).prefetch(tf.data.AUTOTUNE)


def _scale_batch(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return tf.cast(x, tf.float32) / 255.0, y


def _to_unit(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / np.float32(255.0)


def rotate_images(images: np.ndarray, angle: float) -> np.ndarray:
    """Rotates images counter-clockwise about their centre (bilinear, zero fill).

    Args:
        images: uint8 [N, H, W, 1] or float [N, H, W, 1].
        angle: degrees, counter-clockwise as displayed (row 0 at the top).

    Returns:
        uint8 [N, H, W, 1] (rounded) for uint8 input, else float32 [N, H, W, 1].
    """
    rotated = ndimage.rotate(
        images.astype(np.float32), angle, axes=(2, 1), reshape=False, order=1, mode="constant"
    )
    if images.dtype != np.uint8:
        return rotated
    return np.clip(np.rint(rotated), 0, 255).astype(np.uint8)


def _rng(seed: int, *purpose: str | int) -> np.random.Generator:
    """A generator for one purpose, independent of every other draw of the stream."""
    words = [zlib.crc32(p.encode()) if isinstance(p, str) else int(p) for p in purpose]
    return np.random.default_rng([seed, *words])


@dataclasses.dataclass(frozen=True)
class _TaskData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


_Built = tuple[list[_TaskData], int, dict[str, Any]]


def _mnist_samples(
    data: sources.DataArrays, options: MnistRotationsOptions | PermutedMnistOptions, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    num_train, num_test = len(data.arrays["y_train"]), len(data.arrays["y_test"])
    _check(
        options.examples_per_task <= num_train,
        f"examples_per_task <= {num_train} (the training set)",
        f"examples_per_task={options.examples_per_task}",
    )
    test_count = options.test_examples_per_task or num_test
    _check(
        test_count <= num_test,
        f"test_examples_per_task <= {num_test} (the test set)",
        f"test_examples_per_task={options.test_examples_per_task}",
    )
    train = np.stack(
        [
            _rng(seed, "mnist/samples", t).permutation(num_train)[: options.examples_per_task]
            for t in range(options.num_tasks)
        ]
    )
    return train, np.arange(test_count)


def _build_mnist_rotations(
    data: sources.DataArrays, options: MnistRotationsOptions, seed: int
) -> _Built:
    train_indices, test_indices = _mnist_samples(data, options, seed)
    width = options.degrees_per_task
    offsets = _rng(seed, "mnist_rotations/angles").random(options.num_tasks)
    angles = width * (np.arange(options.num_tasks) + offsets)
    a = data.arrays
    x_test, y_test = a["x_test"][test_indices], a["y_test"][test_indices]
    tasks = [
        _TaskData(
            rotate_images(a["x_train"][rows], angle),
            a["y_train"][rows],
            rotate_images(x_test, angle),
            y_test,
        )
        for rows, angle in zip(train_indices, angles, strict=True)
    ]
    extra = {
        "angles": angles.tolist(),
        "angle_ranges": [[width * t, width * (t + 1)] for t in range(options.num_tasks)],
        "train_indices": train_indices.tolist(),
        "test_indices": "all" if options.test_examples_per_task is None else test_indices.tolist(),
    }
    return tasks, 10, extra


def _build_permuted_mnist(
    data: sources.DataArrays, options: PermutedMnistOptions, seed: int
) -> _Built:
    train_indices, test_indices = _mnist_samples(data, options, seed)
    a = data.arrays
    shape = a["x_train"].shape[1:]
    pixels = math.prod(shape)
    permutations = np.stack(
        [np.arange(pixels)]
        + [
            _rng(seed, "permuted_mnist/permutation", t).permutation(pixels)
            for t in range(1, options.num_tasks)
        ]
    )

    def permute(x: np.ndarray, permutation: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), pixels)[:, permutation].reshape(len(x), *shape)

    x_test, y_test = a["x_test"][test_indices], a["y_test"][test_indices]
    tasks = [
        _TaskData(permute(a["x_train"][rows], p), a["y_train"][rows], permute(x_test, p), y_test)
        for rows, p in zip(train_indices, permutations, strict=True)
    ]
    extra = {
        "permutations": permutations.tolist(),
        "train_indices": train_indices.tolist(),
        "test_indices": "all" if options.test_examples_per_task is None else test_indices.tolist(),
    }
    return tasks, 10, extra


def _class_tasks(
    name: str,
    data: sources.DataArrays,
    groups: Sequence[Sequence[int]],
    label_key: str,
    options: IncrementalCifar100Options | SplitCifar10Options,
    seed: int,
) -> list[_TaskData]:
    """Tasks holding the examples whose `<label_key>_<split>` is in each group.

    Uses the options' `shuffle` and `examples_per_task` (the first that many
    training examples of each task, after the shuffle).
    """
    a = data.arrays
    tasks = []
    for t, group in enumerate(groups):
        train = np.flatnonzero(np.isin(a[f"{label_key}_train"], group))
        test = np.flatnonzero(np.isin(a[f"{label_key}_test"], group))
        if train.size == 0:
            raise ValueError(
                f"Expected training examples of classes {list(group)} for task {t} of {name}. "
                f"Received: none in the {data.name} data at {data.metadata.get('location')}"
            )
        if options.shuffle:
            train = train[_rng(seed, f"{name}/order", t).permutation(len(train))]
        train = train[: options.examples_per_task]
        tasks.append(
            _TaskData(
                a["x_train"][train], a["y_train"][train], a["x_test"][test], a["y_test"][test]
            )
        )
    return tasks


def _build_incremental_cifar100(
    data: sources.DataArrays, options: IncrementalCifar100Options, seed: int
) -> _Built:
    num_classes = len(data.metadata.get("class_names") or sources.CIFAR100_CLASSES)
    if options.variant == "coarse":
        if "coarse_train" not in data.arrays:
            raise ValueError(
                "Expected CIFAR-100 coarse labels for variant='coarse'. Received: data without "
                f"them ({data.metadata.get('format')} at {data.metadata.get('location')}, whose "
                "class folders are not the CIFAR-100 fine names); use the cifar-100-python "
                "pickles or variant='gem'."
            )
        coarse = np.unique(data.arrays["coarse_train"])
        groups = [[c] for c in coarse.tolist()]
        tasks = _class_tasks("incremental_cifar100", data, groups, "coarse", options, seed)
        extra: dict[str, Any] = {"variant": "coarse", "coarse_labels": coarse.tolist()}
        return tasks, num_classes, extra
    k = options.classes_per_task
    _check(
        num_classes % k == 0, f"classes_per_task dividing {num_classes}", f"classes_per_task={k}"
    )
    groups = [list(range(k * t, k * (t + 1))) for t in range(num_classes // k)]
    tasks = _class_tasks("incremental_cifar100", data, groups, "y", options, seed)
    return tasks, num_classes, {"variant": "gem"}


def _build_split_cifar10(
    data: sources.DataArrays, options: SplitCifar10Options, seed: int
) -> _Built:
    num_classes = len(data.metadata.get("class_names") or sources.CIFAR10_CLASSES)
    k = options.classes_per_task
    _check(
        num_classes % k == 0, f"classes_per_task dividing {num_classes}", f"classes_per_task={k}"
    )
    groups = [list(range(k * t, k * (t + 1))) for t in range(num_classes // k)]
    tasks = _class_tasks("split_cifar10", data, groups, "y", options, seed)
    return tasks, num_classes, {}


def _build_omniglot(data: sources.DataArrays, options: OmniglotOptions, seed: int) -> _Built:
    x, alphabet = data.arrays["x"], data.arrays["alphabet"]
    chars, drawers = x.shape[:2]
    num_test = round(drawers * options.test_fraction)
    _check(
        0 < num_test < drawers,
        f"test_fraction leaving 1 to {drawers - 1} of {drawers} drawers for testing",
        f"test_fraction={options.test_fraction}",
    )
    order = _rng(seed, "omniglot/split").permuted(np.tile(np.arange(drawers), (chars, 1)), axis=1)
    test_drawers, train_drawers = np.sort(order[:, :num_test], 1), np.sort(order[:, num_test:], 1)
    names = data.arrays["alphabet_names"].tolist()
    tasks = []
    for t in range(len(names)):
        members = np.flatnonzero(alphabet == t)
        split = []
        for drawer_sets in (train_drawers, test_drawers):
            per_char = drawer_sets.shape[1]
            images = x[members[:, None], drawer_sets[members]].reshape(-1, *x.shape[2:])
            split.append((images, np.repeat(members, per_char).astype(np.int32)))
        (x_train, y_train), (x_test, y_test) = split
        if options.shuffle:
            rows = _rng(seed, "omniglot/order", t).permutation(len(y_train))
            x_train, y_train = x_train[rows], y_train[rows]
        tasks.append(_TaskData(x_train, y_train, x_test, y_test))
    extra = {
        "alphabets": names,
        "char_ids": data.arrays["char_ids"].tolist(),
        "test_drawers": test_drawers.tolist(),
    }
    return tasks, chars, extra


@dataclasses.dataclass(frozen=True)
class _StreamSpec:
    dataset: str
    options: type
    build: Callable[[sources.DataArrays, Any, int], _Built]


_STREAMS = {
    "mnist_rotations": _StreamSpec("mnist", MnistRotationsOptions, _build_mnist_rotations),
    "permuted_mnist": _StreamSpec("mnist", PermutedMnistOptions, _build_permuted_mnist),
    "incremental_cifar100": _StreamSpec(
        "cifar100", IncrementalCifar100Options, _build_incremental_cifar100
    ),
    "omniglot": _StreamSpec("omniglot", OmniglotOptions, _build_omniglot),
    "split_cifar10": _StreamSpec("cifar10", SplitCifar10Options, _build_split_cifar10),
}
STREAM_NAMES = tuple(_STREAMS)


def load_stream(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    batch_size: int = 10,
    source: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    **options: Any,
) -> TaskStream:
    """Builds (or reads from the cache) one continual-learning task stream.

    Usage:

    ```python
    stream = load_stream("mnist_rotations", data_dir="/data", flatten=True)
    stream.metadata["angles"]     # the 20 angles, degrees
    for task in stream:
        task.task_id, task.train, task.test, task.num_train, task.classes
    ```

    Args:
        name: one of `STREAM_NAMES`: `mnist_rotations`, `permuted_mnist`,
            `incremental_cifar100`, `omniglot`, `split_cifar10`.
        data_dir: the data root (one folder per data set: `mnist/`, `cifar10/`,
            `cifar100/`, `omniglot/`). None: `$RECOLLECT_DATA_DIR`, else
            tensorflow_datasets (see `sources.locate`).
        seed: non-negative; fixes every random choice (angles, permutations,
            samples, splits, order inside a task). Same seed, same data bit for bit.
        batch_size: examples per batch (the last batch of a task may be smaller).
        source: `"auto"`, `"local"` or `"tfds"`.
        cache_dir: where built streams are cached: this, else
            `$RECOLLECT_CACHE_DIR`, else
            `~/.cache/recollect`.
        use_cache: False builds from the source every time and writes nothing.
        **options: the fields of the stream's options class
            (`MnistRotationsOptions`, `PermutedMnistOptions`,
            `IncrementalCifar100Options`, `OmniglotOptions`, `SplitCifar10Options`),
            e.g. `examples_per_task=1000`, `flatten=True`, `variant="gem"`.

    Returns:
        The stream. `stream.metadata` holds `name`, `seed`, `options`,
        `num_tasks`, `num_classes`, `input_shape`, `train_sizes`, `test_sizes`,
        `task_classes`, `source` (data set, format, location, file sha256s, and a
        `note` for lossy copies), `sha256` (of the stored arrays), and per stream:
        `angles` and `train_indices` (rotations), `permutations` and
        `train_indices` (permuted), `alphabets` and `test_drawers` (Omniglot),
        `variant` (CIFAR-100).

    Raises:
        ValueError: unknown name, source or option, or an invalid value.
        DataNotFoundError: the data set is missing; `CorruptDataError`, a subclass,
            when a file is truncated, malformed or fails its checksum.
    """
    if name not in _STREAMS:
        raise ValueError(f"Expected a stream name among {STREAM_NAMES}. Received: name={name!r}")
    _check(_is_int(seed) and seed >= 0, "an integer seed >= 0", f"seed={seed!r}")
    _check(
        _is_int(batch_size) and batch_size > 0,
        "an integer batch_size > 0",
        f"batch_size={batch_size!r}",
    )
    spec = _STREAMS[name]
    fields = [f.name for f in dataclasses.fields(spec.options)]
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ValueError(
            f"Expected options of stream {name!r} among {fields}. Received: unknown {unknown}"
        )
    config = spec.options(**options)
    stored_options = {k: v for k, v in dataclasses.asdict(config).items() if k not in _VIEW_OPTIONS}

    located = sources.locate(spec.dataset, data_dir=data_dir, source=source)
    root = sources.resolve_data_dir(data_dir)[0] if located.source == "local" else None
    store = cache_lib.ArrayCache(sources.resolve_cache_dir(cache_dir, root)) if use_cache else None
    key = cache_lib.cache_key(
        {
            "stream": name,
            "format": STREAM_FORMAT_VERSION,
            "raw_format": sources.RAW_FORMAT_VERSION,
            "seed": int(seed),
            "options": stored_options,
            "source": located.fingerprint,
        }
    )
    hit = store.load(f"stream-{name}", key) if store is not None else None
    if hit is None:
        data = sources.read_located(located, store=store)
        tasks, num_classes, extra = spec.build(data, config, int(seed))
        arrays = _assemble(tasks)
        metadata = _metadata(name, int(seed), stored_options, data, tasks, num_classes, extra)
        metadata["sha256"] = cache_lib.arrays_sha256(arrays)
        if store is not None:
            store.save(f"stream-{name}", key, arrays, metadata)
    else:
        arrays, metadata = hit
    return TaskStream(
        arrays,
        metadata,
        batch_size=int(batch_size),
        flatten=bool(getattr(config, "flatten", False)),
    )


def _assemble(tasks: list[_TaskData]) -> dict[str, np.ndarray]:
    arrays = {}
    for split in ("train", "test"):
        xs = [getattr(t, f"x_{split}") for t in tasks]
        ys = [getattr(t, f"y_{split}") for t in tasks]
        arrays[f"x_{split}"] = np.ascontiguousarray(np.concatenate(xs), dtype=np.uint8)
        arrays[f"y_{split}"] = np.concatenate(ys).astype(np.int32)
        arrays[f"{split}_offsets"] = np.cumsum([0] + [len(y) for y in ys]).astype(np.int64)
    return arrays


def _metadata(
    name: str,
    seed: int,
    options: dict[str, Any],
    data: sources.DataArrays,
    tasks: list[_TaskData],
    num_classes: int,
    extra: dict[str, Any],
) -> dict[str, Any]:
    metadata = {
        "name": name,
        "seed": seed,
        "options": options,
        "format_version": STREAM_FORMAT_VERSION,
        "num_tasks": len(tasks),
        "num_classes": int(num_classes),
        "image_shape": list(tasks[0].x_train.shape[1:]),
        "train_sizes": [len(t.y_train) for t in tasks],
        "test_sizes": [len(t.y_test) for t in tasks],
        "task_classes": [np.union1d(t.y_train, t.y_test).tolist() for t in tasks],
        "source": dict(data.metadata),
        **extra,
    }
    return json.loads(json.dumps(metadata))
