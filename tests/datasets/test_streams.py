"""Tests for the task streams: protocol, shapes, determinism, batching, caching."""

import numpy as np
import pytest
import tensorflow as tf

from recollect.datasets import DataNotFoundError, Task, load_stream, sources, streams
from tests.datasets import fakes

MNIST_OPTIONS = {"num_tasks": 3, "examples_per_task": 8}


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch):
    monkeypatch.delenv(sources.DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(sources.CACHE_DIR_ENV, raising=False)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A data root with tiny copies of every data set, in the layout of a real one."""
    path = tmp_path_factory.mktemp("data")
    fakes.write_mnist(path / "mnist", num_train=60, num_test=20)
    fakes.write_cifar100(path / "cifar100", train_per_class=2, test_per_class=1)
    fakes.write_image_folder(path / "cifar10", archive="cifar10.tar.gz", train_per_class=3)
    fakes.write_omniglot_npz(path / "omniglot", fakes.omniglot_images())
    return path


def _load(root, name, **kwargs):
    kwargs.setdefault("use_cache", False)
    return load_stream(name, data_dir=root, **kwargs)


def _source(root):
    data = sources.load_arrays("mnist", data_dir=root, use_cache=False).arrays
    return {key: value.astype(np.float32) / 255.0 for key, value in data.items() if "x" in key}


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


def test_rotation_angles_follow_the_protocol(root):
    stream = _load(root, "mnist_rotations", **MNIST_OPTIONS)
    angles = stream.metadata["angles"]
    assert len(angles) == 3
    for t, angle in enumerate(angles):
        assert 9 * t <= angle < 9 * (t + 1)
    indices = np.array(stream.metadata["train_indices"])
    assert indices.shape == (3, 8) and len(set(map(tuple, indices))) == 3
    assert all(len(set(row)) == 8 for row in indices.tolist())


def test_rotation_really_rotates(root):
    stream = _load(root, "mnist_rotations", degrees_per_task=60.0, **MNIST_OPTIONS)
    source = _source(root)
    grid = np.arange(28) - 13.5
    inside = (grid[:, None] ** 2 + grid[None, :] ** 2 < 11**2)[None, :, :, None]
    for t in (1, 2):  # angles in [60, 120) and [120, 180): far from the identity.
        angle = stream.metadata["angles"][t]
        arrays = stream.task_arrays(t)
        original = source["x_train"][stream.metadata["train_indices"][t]]
        back = streams.rotate_images(arrays.x_train, -angle)
        error = np.abs(back - original)[np.broadcast_to(inside, back.shape)]
        unrotated = np.abs(arrays.x_train - original)[np.broadcast_to(inside, back.shape)]
        # Two bilinear passes and uint8 rounding: small errors, largest on steep edges.
        assert error.max() < 0.25 and error.mean() < 0.01, (error.max(), error.mean())
        assert unrotated.mean() > 10 * error.mean()
        test_rows = slice(20 * t, 20 * (t + 1))
        raw = sources.load_arrays("mnist", data_dir=root, use_cache=False).arrays["x_test"]
        np.testing.assert_array_equal(
            stream.stored_arrays()["x_test"][test_rows], streams.rotate_images(raw, angle)
        )


def test_rotate_images_turns_counter_clockwise():
    image = np.random.default_rng(0).integers(0, 256, (2, 28, 28, 1), dtype=np.uint8)
    np.testing.assert_array_equal(
        streams.rotate_images(image, 90.0), np.rot90(image, k=1, axes=(1, 2))
    )


def test_permutations(root):
    stream = _load(root, "permuted_mnist", **MNIST_OPTIONS)
    source = _source(root)
    permutations = np.array(stream.metadata["permutations"])
    np.testing.assert_array_equal(permutations[0], np.arange(784))
    assert not np.array_equal(permutations[1], permutations[2])
    for t in range(3):
        np.testing.assert_array_equal(np.sort(permutations[t]), np.arange(784))
        arrays = stream.task_arrays(t)
        original = source["x_test"].reshape(20, 784)
        np.testing.assert_array_equal(arrays.x_test.reshape(20, 784), original[:, permutations[t]])


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


def test_incremental_cifar100_tasks(root):
    coarse = _load(root, "incremental_cifar100")
    names = list(sources.CIFAR100_SUPERCLASSES.values())
    for task in coarse:
        expected = sorted(sources.CIFAR100_CLASSES.index(f) for f in names[task.task_id])
        assert list(task.classes) == expected
    gem = _load(root, "incremental_cifar100", variant="gem")
    for task in gem:
        assert list(task.classes) == list(range(5 * task.task_id, 5 * task.task_id + 5))
    assert gem.metadata["variant"] == "gem"


def test_omniglot_tasks_are_alphabets_with_a_per_character_split(root):
    stream = _load(root, "omniglot")
    assert stream.metadata["alphabets"] == ["Alpha", "Beta", "Gamma"]
    assert [list(t.classes) for t in stream] == [[0, 1], [2, 3, 4], [5, 6]]
    test_drawers = np.array(stream.metadata["test_drawers"])
    assert test_drawers.shape == (7, 2)
    assert len({tuple(row) for row in test_drawers.tolist()}) > 1  # chosen per character.
    source = sources.load_arrays("omniglot", data_dir=root, use_cache=False).arrays["x"]
    arrays = stream.task_arrays(1)
    for char in (2, 3, 4):
        expected = source[char, test_drawers[char]].astype(np.float32) / 255.0
        np.testing.assert_array_equal(arrays.x_test[arrays.y_test == char], expected)
        assert (arrays.y_train == char).sum() == 18
    assert arrays.x_train.mean() < 0.5  # strokes bright on a dark background.


def test_split_cifar10_tasks_and_pretraining_arrays(root):
    stream = _load(root, "split_cifar10")
    assert [list(t.classes) for t in stream] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    everything = sources.load_arrays("cifar10", data_dir=root, use_cache=False)
    assert everything.arrays["x_train"].shape == (30, 32, 32, 3)
    assert stream.metadata["source"]["format"] == "image folder archive"


def test_split_cifar10_examples_per_task_keeps_a_prefix_of_each_task(root):
    whole = _load(root, "split_cifar10")
    cut = _load(root, "split_cifar10", examples_per_task=4)
    assert cut.metadata["train_sizes"] == [4] * 5
    assert cut.metadata["test_sizes"] == whole.metadata["test_sizes"]
    for t in range(5):
        full, part = whole.task_arrays(t), cut.task_arrays(t)
        np.testing.assert_array_equal(part.x_train, full.x_train[:4])
        np.testing.assert_array_equal(part.y_train, full.y_train[:4])
        np.testing.assert_array_equal(part.x_test, full.x_test)


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


def test_tfds_failure_is_one_clear_error(monkeypatch):
    def fail(name, data_dir):
        raise ConnectionError("no network")

    monkeypatch.setattr(sources, "_tfds_load", fail)
    with pytest.raises(DataNotFoundError, match="RECOLLECT_DATA_DIR is unset"):
        load_stream("split_cifar10", use_cache=False)


def test_tfds_stream_is_served_from_the_cache_offline(monkeypatch, tmp_path):
    monkeypatch.setattr(sources, "_tfds_load", fakes.fake_tfds_load)
    online = load_stream("split_cifar10", cache_dir=tmp_path)
    assert online.metadata["source"]["source"] == "tfds"
    assert [list(t.classes) for t in online] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]

    def fail(name, data_dir):
        raise ConnectionError("no network")

    monkeypatch.setattr(sources, "_tfds_load", fail)
    offline = load_stream("split_cifar10", cache_dir=tmp_path)
    assert offline.metadata == online.metadata


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


def test_task_indexing(root):
    stream = _load(root, "mnist_rotations", **MNIST_OPTIONS)
    assert stream[-1].task_id == 2
    assert [t.task_id for t in stream[:2]] == [0, 1]
    with pytest.raises(IndexError, match=r"Expected a task id in \[0, 3\)"):
        stream[3]
    assert "mnist_rotations" in repr(stream)
