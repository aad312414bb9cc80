"""Tests for the task streams: shapes, batching, determinism, caching, the registry."""

import dataclasses
import logging
import mmap

import numpy as np
import pytest
import tensorflow as tf

from recollect import datasets
from recollect.datasets import Task, catalog, load_stream, sources
from recollect.datasets import cache as cache_lib
from recollect.datasets.protocols.base import TaskData
from recollect.datasets.stream import scale_pixels
from tests.datasets.fakes import MNIST_OPTIONS
from tests.datasets.fakes import load_uncached as _load

# (stream, options, tasks, input shape, classes, train sizes, test sizes)
CASES = [
    ("mnist_rotations", MNIST_OPTIONS, 3, (28, 28, 1), 10, [8] * 3, [20] * 3),
    ("permuted_mnist", MNIST_OPTIONS, 3, (28, 28, 1), 10, [8] * 3, [20] * 3),
    ("incremental_cifar100", {}, 20, (32, 32, 3), 100, [10] * 20, [5] * 20),
    ("incremental_cifar100", {"variant": "gem"}, 20, (32, 32, 3), 100, [10] * 20, [5] * 20),
    ("omniglot", {}, 3, (28, 28, 1), 7, [36, 54, 36], [4, 6, 4]),
    ("split_cifar10", {}, 5, (32, 32, 3), 10, [6] * 5, [2] * 5),
]


@pytest.mark.parametrize(
    ("name", "options", "num_tasks", "shape", "num_classes", "train_sizes", "test_sizes"),
    CASES,
    ids=[f"{c[0]}-{c[1].get('variant', '')}" for c in CASES],
)
def test_stream_shape(root, name, options, num_tasks, shape, num_classes, train_sizes, test_sizes):
    stream = _load(root, name, **options)
    assert len(stream) == num_tasks == stream.metadata["num_tasks"]
    assert stream.input_shape == shape and stream.metadata["input_shape"] == list(shape)
    assert stream.num_classes == num_classes == stream.metadata["num_classes"]
    assert stream.metadata["train_sizes"] == train_sizes
    assert stream.metadata["test_sizes"] == test_sizes
    tasks = list(stream)
    assert [t.task_id for t in tasks] == list(range(num_tasks))
    for task in tasks:
        assert isinstance(task, Task)
        arrays = stream.task_arrays(task.task_id)
        assert task.num_train == len(arrays.y_train) == train_sizes[task.task_id]
        assert task.num_test == len(arrays.y_test) == test_sizes[task.task_id]
        assert arrays.x_train.dtype == np.float32 and arrays.x_train.shape[1:] == shape
        assert arrays.x_train.min() >= 0.0 and arrays.x_train.max() <= 1.0
        assert arrays.y_train.dtype == np.int32
        assert set(arrays.y_train) | set(arrays.y_test) == set(task.classes)
        assert min(task.classes) >= 0 and max(task.classes) < num_classes


def test_batches_follow_protocol_order_without_dropping(root):
    stream = _load(root, "mnist_rotations", batch_size=3, **MNIST_OPTIONS)
    task = stream[1]
    batches = list(task.train)
    assert [len(y) for _, y in batches] == [3, 3, 2]
    x = np.concatenate([b[0].numpy() for b in batches])
    y = np.concatenate([b[1].numpy() for b in batches])
    arrays = stream.task_arrays(1)
    np.testing.assert_array_equal(x, arrays.x_train)
    np.testing.assert_array_equal(y, arrays.y_train)
    assert task.train.element_spec[0].dtype == tf.float32
    assert task.train.element_spec[1].dtype == tf.int32
    assert sum(len(y) for _, y in task.test) == 20


def test_flatten_gives_vectors(root):
    stream = _load(root, "permuted_mnist", flatten=True, **MNIST_OPTIONS)
    assert stream.input_shape == (784,) and stream.metadata["input_shape"] == [784]
    x, _ = next(iter(stream[0].train))
    assert x.shape == (8, 784)  # examples_per_task=8 < batch_size=10.


@pytest.mark.parametrize(
    ("name", "options", "keys"),
    [
        ("mnist_rotations", MNIST_OPTIONS, ["angles", "train_indices"]),
        ("permuted_mnist", MNIST_OPTIONS, ["permutations", "train_indices"]),
        ("omniglot", {}, ["test_drawers"]),
        ("split_cifar10", {}, []),
        ("incremental_cifar100", {}, []),
    ],
)
def test_seed_fixes_the_data_and_changes_it(root, name, options, keys):
    first = _load(root, name, seed=3, **options)
    again = _load(root, name, seed=3, **options)
    other = _load(root, name, seed=4, **options)
    assert first.metadata["sha256"] == again.metadata["sha256"]
    assert first.metadata["sha256"] != other.metadata["sha256"]
    for key in keys:
        assert first.metadata[key] == again.metadata[key]
        assert first.metadata[key] != other.metadata[key]
    for mine, theirs in zip(
        first.stored_arrays().values(), again.stored_arrays().values(), strict=True
    ):
        np.testing.assert_array_equal(mine, theirs)


def test_stream_cache_hit_and_rebuild(root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = load_stream("mnist_rotations", data_dir=root, cache_dir=cache, **MNIST_OPTIONS)
    entries = list(cache.glob("stream-mnist_rotations-*.npz"))
    assert len(entries) == 1

    def no_build(*args):
        raise AssertionError("the cache should have answered")

    with monkeypatch.context() as patch:
        patch.setattr(sources, "read_located", no_build)
        hit = load_stream("mnist_rotations", data_dir=root, cache_dir=cache, **MNIST_OPTIONS)
        flat = load_stream(
            "mnist_rotations", data_dir=root, cache_dir=cache, flatten=True, **MNIST_OPTIONS
        )
    assert hit.metadata == first.metadata
    assert flat.input_shape == (784,)
    np.testing.assert_array_equal(hit.task_arrays(2).x_test, first.task_arrays(2).x_test)
    entries[0].write_bytes(entries[0].read_bytes()[:-1000])  # a damaged entry is rebuilt.
    rebuilt = load_stream("mnist_rotations", data_dir=root, cache_dir=cache, **MNIST_OPTIONS)
    assert rebuilt.metadata["sha256"] == first.metadata["sha256"]


def _owner(array):
    """The object whose memory a numpy array (or view) uses."""
    while isinstance(array, np.ndarray):
        array = array.base
    return array.obj if isinstance(array, memoryview) else array


def test_a_cached_stream_is_read_through_the_page_cache(root, tmp_path):
    cache = tmp_path / "cache"
    built = load_stream("mnist_rotations", data_dir=root, cache_dir=cache, **MNIST_OPTIONS)
    hit = load_stream("mnist_rotations", data_dir=root, cache_dir=cache, **MNIST_OPTIONS)
    stored = hit.stored_arrays()
    assert isinstance(hit._arrays, cache_lib.MappedArrays)
    assert sorted(stored) == sorted(built.stored_arrays())
    for name, array in stored.items():
        np.testing.assert_array_equal(array, built.stored_arrays()[name])
        assert isinstance(_owner(array), mmap.mmap) and not array.flags.writeable
    # Each lookup maps afresh: a caller's rows hold their pages, nothing else does.
    assert _owner(stored["x_test"]) is not _owner(hit.stored_arrays()["x_test"])
    for entry in cache.glob("stream-*.npz"):
        entry.unlink()  # the descriptor is held: deleting the cache is safe mid-run
    np.testing.assert_array_equal(hit.task_arrays(2).x_test, built.task_arrays(2).x_test)


@pytest.mark.parametrize("damage", ["flipped_pixel", "compressed"])
def test_a_mapped_entry_that_fails_is_dropped_and_rebuilt(root, tmp_path, caplog, damage):
    cache = tmp_path / "cache"
    built = load_stream("mnist_rotations", data_dir=root, cache_dir=cache, **MNIST_OPTIONS)
    (entry,) = cache.glob("stream-*.npz")
    if damage == "flipped_pixel":
        data = bytearray(entry.read_bytes())
        data[data.index(built.stored_arrays()["x_test"].tobytes())] ^= 0xFF
        entry.write_bytes(bytes(data))
        expected = "fails its checksum"
    else:
        with np.load(entry) as content:
            np.savez_compressed(entry, **{name: content[name] for name in content.files})
        expected = "is unreadable"
    with caplog.at_level(logging.WARNING):
        assert cache_lib.ArrayCache(cache).load_mapped(*entry.stem.rsplit("-", 1)) is None
    assert expected in caplog.text and not entry.exists()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"name": "mnist"}, "Expected a stream name among"),
        ({"batch_size": 0}, "Received: batch_size=0"),
        ({"seed": -1}, "Received: seed=-1"),
        ({"angle": 3}, r"Received: unknown \['angle'\]"),
        ({"num_tasks": 0}, "Received: num_tasks=0"),
        ({"examples_per_task": 61}, "Received: examples_per_task=61"),
        (
            {"examples_per_task": 8, "test_examples_per_task": 21},
            "Received: test_examples_per_task=21",
        ),
    ],
)
def test_invalid_arguments(root, kwargs, words):
    kwargs = {"name": "mnist_rotations", "data_dir": root, "use_cache": False, **kwargs}
    with pytest.raises(ValueError, match=words):
        load_stream(**kwargs)


@pytest.mark.parametrize(
    ("name", "options", "words"),
    [
        ("incremental_cifar100", {"variant": "paper"}, "Received: variant='paper'"),
        ("incremental_cifar100", {"variant": "gem", "classes_per_task": 3}, "dividing 100"),
        ("split_cifar10", {"classes_per_task": 3}, "dividing 10"),
        ("split_cifar10", {"examples_per_task": 0}, "Received: examples_per_task=0"),
        ("incremental_cifar100", {"examples_per_task": 2.5}, "Received: examples_per_task=2.5"),
        ("omniglot", {"test_fraction": 0.01}, "Received: test_fraction=0.01"),
    ],
)
def test_invalid_options(root, name, options, words):
    with pytest.raises(ValueError, match=words):
        _load(root, name, **options)


@pytest.mark.parametrize(
    ("name", "options", "words"),
    [
        (
            "mnist_rotations",
            {"flatten": "no"},
            r"Expected flatten True or False. Received: flatten='no'",
        ),
        ("mnist_rotations", {"flatten": 1}, "Received: flatten=1"),
        ("permuted_mnist", {"flatten": "yes"}, "Received: flatten='yes'"),
        ("split_cifar10", {"shuffle": "no"}, "Received: shuffle='no'"),
        ("incremental_cifar100", {"shuffle": 0}, "Received: shuffle=0"),
        ("omniglot", {"shuffle": None}, "Received: shuffle=None"),
    ],
)
def test_yes_no_options_must_be_bools_and_nothing_is_cached(root, tmp_path, name, options, words):
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=words):
        load_stream(name, data_dir=root, cache_dir=cache, **options)
    assert not cache.exists()


def test_options_that_do_not_fit_the_data_write_no_cache(root, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="Received: examples_per_task=61"):
        load_stream("mnist_rotations", data_dir=root, cache_dir=cache, examples_per_task=61)
    assert not cache.exists()  # not even the decoded MNIST
    load_stream("mnist_rotations", data_dir=root, cache_dir=cache, **MNIST_OPTIONS)
    written = {path.name: path.read_bytes() for path in cache.iterdir()}
    assert sorted(name.split("-")[0] for name in written) == ["raw", "stream"]
    with pytest.raises(ValueError, match="Received: examples_per_task=61"):
        load_stream("mnist_rotations", data_dir=root, cache_dir=cache, examples_per_task=61)
    assert {path.name: path.read_bytes() for path in cache.iterdir()} == written


def test_a_stream_caches_the_raw_data_under_the_key_load_arrays_uses(root, tmp_path):
    load_stream("mnist_rotations", data_dir=root, cache_dir=tmp_path / "a", **MNIST_OPTIONS)
    datasets.load_arrays("mnist", data_dir=root, cache_dir=tmp_path / "b")
    (by_stream,) = (tmp_path / "a").glob("raw-mnist-*.npz")
    (by_arrays,) = (tmp_path / "b").glob("raw-mnist-*.npz")
    assert by_stream.name == by_arrays.name
    stored = [datasets.load_arrays("mnist", data_dir=root, cache_dir=tmp_path / d) for d in "ab"]
    assert stored[0].metadata == stored[1].metadata
    for key, value in stored[0].arrays.items():
        np.testing.assert_array_equal(value, stored[1].arrays[key])


def test_task_indexing(root):
    stream = _load(root, "mnist_rotations", **MNIST_OPTIONS)
    assert stream[-1].task_id == 2
    assert [t.task_id for t in stream[:2]] == [0, 1]
    with pytest.raises(IndexError, match=r"Expected a task id in \[0, 3\)"):
        stream[3]
    assert "mnist_rotations" in repr(stream)


@pytest.mark.parametrize("flatten", [False, True])
def test_uint8_task_arrays_are_read_only_views_of_the_stored_rows(root, flatten):
    stream = _load(root, "permuted_mnist", flatten=flatten, **MNIST_OPTIONS)
    stored = stream.stored_arrays()
    raw, unit = stream.task_arrays(1, dtype=np.uint8), stream.task_arrays(1)
    assert raw.x_train.dtype == raw.x_test.dtype == np.uint8
    assert raw.x_test.shape == unit.x_test.shape == (20, *stream.input_shape)
    np.testing.assert_array_equal(
        raw.x_test.reshape(20, -1), stored["x_test"][20:40].reshape(20, -1)
    )
    np.testing.assert_array_equal(raw.y_train, unit.y_train)
    for name, array in zip(("x_train", "y_train", "x_test", "y_test"), raw, strict=True):
        assert np.shares_memory(array, stored[name]) and not array.flags.writeable
    np.testing.assert_array_equal(scale_pixels(raw.x_test), unit.x_test)  # bit for bit
    with pytest.raises(ValueError, match="dtype float32 or uint8"):
        stream.task_arrays(0, dtype=np.float64)
    with pytest.raises(IndexError, match="Expected a task id"):
        stream.task_arrays(3, dtype=np.uint8)


# A new stream is one module holding these two (its options and its build), plus one
# line in `protocols.STREAMS`; the test registers it by patching the registry instead.
@dataclasses.dataclass(frozen=True)
class ParityOptions:
    """MNIST split by label parity: task 0 the even digits, task 1 the odd ones."""

    examples_per_task: int = 5


def build_parity(data, options, seed):
    a = data.arrays
    tasks = []
    for parity in (0, 1):
        train = np.flatnonzero(a["y_train"] % 2 == parity)[: options.examples_per_task]
        test = np.flatnonzero(a["y_test"] % 2 == parity)
        tasks.append(
            TaskData(a["x_train"][train], a["y_train"][train], a["x_test"][test], a["y_test"][test])
        )
    return tasks, 10, {"parities": ["even", "odd"]}


def test_load_stream_reads_the_registry(root, monkeypatch):
    spec = datasets.StreamSpec(dataset="mnist", options=ParityOptions, build=build_parity)
    with pytest.raises(ValueError, match="Expected a stream name among"):
        _load(root, "mnist_parity")
    monkeypatch.setitem(datasets.STREAMS, "mnist_parity", spec)
    stream = _load(root, "mnist_parity", examples_per_task=4)
    assert len(stream) == 2 and stream.num_classes == 10
    assert stream.metadata["parities"] == ["even", "odd"]
    assert stream.metadata["options"] == {"examples_per_task": 4}
    assert stream.metadata["source"]["format"] == "IDX"
    assert [t.num_train for t in stream] == [4, 4]
    assert set(stream[0].classes) == {0, 2, 4, 6, 8} and set(stream[1].classes) <= {1, 3, 5, 7, 9}
    with pytest.raises(ValueError, match=r"Received: unknown \['num_tasks'\]"):
        _load(root, "mnist_parity", num_tasks=3)


def test_stream_names_and_options_follow_the_registry():
    assert tuple(datasets.STREAMS) == datasets.STREAM_NAMES
    assert datasets.STREAM_NAMES == (
        "mnist_rotations",
        "permuted_mnist",
        "incremental_cifar100",
        "omniglot",
        "split_cifar10",
    )
    options = {name: spec.options for name, spec in datasets.STREAMS.items()}
    assert options == {
        "mnist_rotations": datasets.MnistRotationsOptions,
        "permuted_mnist": datasets.PermutedMnistOptions,
        "incremental_cifar100": datasets.IncrementalCifar100Options,
        "omniglot": datasets.OmniglotOptions,
        "split_cifar10": datasets.SplitCifar10Options,
    }
    for spec in datasets.STREAMS.values():
        assert spec.dataset in catalog.DATASETS
        assert dataclasses.is_dataclass(spec.options) and spec.options.__dataclass_params__.frozen
