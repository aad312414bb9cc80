"""Continual-learning task streams: the paper's benchmarks as ordered tasks of tf.data.

Where this sits: a runner calls `load_stream(name, ...)`; this module looks the
stream up in `protocols.STREAMS`, gets the data set's arrays from `sources.py`,
applies the protocol's `build` (rotations, permutations, splits; seeded), caches the
result with `cache.py`, and hands the learner one `Task` at a time:

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
in the datasets and `task_arrays` (whose `dtype=np.uint8` gives the stored rows as
they are). `metadata["sha256"]` is the checksum of these six arrays. The
streams, and how to add one, are listed in `protocols/__init__.py`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, overload

import numpy as np
import tensorflow as tf

from recollect.datasets import cache as cache_lib
from recollect.datasets import protocols, sources
from recollect.datasets.formats import Located
from recollect.datasets.protocols.base import StreamSpec, TaskData, check, is_int

# Bump when a builder's output changes, so old cache entries are not used.
STREAM_FORMAT_VERSION = 1
# Options that change how the stored arrays are presented, not what they hold.
_VIEW_OPTIONS = ("flatten",)


class TaskArrays(NamedTuple):
    """One task as numpy: x float32 [N, *input_shape] in [0, 1] (or uint8), y int32 [N]."""

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
        arrays: Mapping[str, np.ndarray],
        metadata: dict[str, Any],
        *,
        batch_size: int,
        flatten: bool = False,
    ) -> None:
        """Wraps stored stream arrays (the layout in the module docstring).

        Args:
            arrays: `x_train`, `y_train`, `train_offsets`, `x_test`, `y_test`,
                `test_offsets`: in memory, or a cache entry's `MappedArrays`.
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

    @overload
    def __getitem__(self, index: int) -> Task: ...

    @overload
    def __getitem__(self, index: slice) -> list[Task]: ...

    def __getitem__(self, index: int | slice) -> Task | list[Task]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        task_id = self._task_id(index)
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

    def task_arrays(self, task_id: int, *, dtype: Any = np.float32) -> TaskArrays:
        """Returns one task as numpy arrays: x [N, *input_shape], y int32 [N].

        Args:
            task_id: the task, from 0 (negative counts from the end).
            dtype: of x: float32 (scaled to [0, 1], as the datasets), or uint8 (the
                stored pixels as read-only views, no copy: a quarter of the memory;
                `scale_pixels` turns them into the float32 x).

        Returns:
            Its training and test arrays.

        Raises:
            IndexError: `task_id` out of range.
            ValueError: another dtype.
        """
        check(np.dtype(dtype) in (np.float32, np.uint8), "dtype float32 or uint8", f"{dtype=}")
        task_id = self._task_id(task_id)
        (x_train, y_train), (x_test, y_test) = (
            self._slice(split, task_id) for split in ("train", "test")
        )
        if np.dtype(dtype) == np.float32:
            return TaskArrays(scale_pixels(x_train), y_train, scale_pixels(x_test), y_test)
        return TaskArrays(*(_read_only(a) for a in (x_train, y_train, x_test, y_test)))

    def stored_arrays(self) -> dict[str, np.ndarray]:
        """Returns the stored arrays (uint8 pixels) that `metadata["sha256"]` covers."""
        return dict(self._arrays)

    def _task_id(self, index: Any) -> int:
        if not is_int(index) or not -len(self) <= index < len(self):
            raise IndexError(f"Expected a task id in [0, {len(self)}). Received: index={index!r}")
        return int(index) % len(self)

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


def scale_pixels(x: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1] (x / 255), as every stream presents them."""
    return x.astype(np.float32) / np.float32(255.0)


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


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
        name: one of `STREAM_NAMES` (the keys of `protocols.STREAMS`):
            `mnist_rotations`, `permuted_mnist`, `incremental_cifar100`,
            `omniglot`, `split_cifar10`.
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
    spec, config, stored_options = _configure(name, seed, batch_size, options)
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
    # Mapped: the test images stay in the page cache, not in the run's memory.
    hit = store.load_mapped(f"stream-{name}", key) if store is not None else None
    arrays: Mapping[str, np.ndarray]
    if hit is None:
        arrays, metadata = _build(name, spec, config, int(seed), stored_options, located, store)
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


def _configure(
    name: str, seed: Any, batch_size: Any, options: Mapping[str, Any]
) -> tuple[StreamSpec, Any, dict[str, Any]]:
    """Checks the arguments; returns the spec, its options, and those that are cached."""
    if name not in protocols.STREAMS:
        raise ValueError(
            f"Expected a stream name among {tuple(protocols.STREAMS)}. Received: name={name!r}"
        )
    check(is_int(seed) and seed >= 0, "an integer seed >= 0", f"seed={seed!r}")
    check(
        is_int(batch_size) and batch_size > 0,
        "an integer batch_size > 0",
        f"batch_size={batch_size!r}",
    )
    spec = protocols.STREAMS[name]
    fields = [f.name for f in dataclasses.fields(spec.options)]
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ValueError(
            f"Expected options of stream {name!r} among {fields}. Received: unknown {unknown}"
        )
    config = spec.options(**options)
    stored_options = {k: v for k, v in dataclasses.asdict(config).items() if k not in _VIEW_OPTIONS}
    return spec, config, stored_options


def _build(
    name: str,
    spec: StreamSpec,
    config: Any,
    seed: int,
    stored_options: dict[str, Any],
    located: Located,
    store: cache_lib.ArrayCache | None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Reads the data set (through the raw cache) and builds the stream's arrays.

    The decoded data set is cached only once the stream is built: options that
    do not fit the data (more examples than it holds) leave the cache untouched.
    """
    data = sources.read_located(located, store=store, write_cache=False)
    tasks, num_classes, extra = spec.build(data, config, seed)
    if store is not None:
        sources.cache_raw(located, data, store)
    arrays = _assemble(tasks)
    metadata = _metadata(name, seed, stored_options, data, tasks, num_classes, extra)
    metadata["sha256"] = cache_lib.arrays_sha256(arrays)
    return arrays, metadata


def _assemble(tasks: list[TaskData]) -> dict[str, np.ndarray]:
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
    tasks: list[TaskData],
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
