"""Tests for Split CIFAR-10: class-pair tasks, and a prefix of each with examples_per_task."""

import numpy as np

from recollect.datasets import load_arrays
from tests.datasets.fakes import load_uncached as _load


def test_split_cifar10_tasks_and_pretraining_arrays(root):
    stream = _load(root, "split_cifar10")
    assert [list(t.classes) for t in stream] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    everything = load_arrays("cifar10", data_dir=root, use_cache=False)
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
