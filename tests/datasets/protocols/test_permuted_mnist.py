"""Tests for Permuted MNIST: identity first, then seeded permutations of the pixels."""

import numpy as np

from tests.datasets.fakes import MNIST_OPTIONS, mnist_unit_images
from tests.datasets.fakes import load_uncached as _load


def test_permutations(root):
    stream = _load(root, "permuted_mnist", **MNIST_OPTIONS)
    source = mnist_unit_images(root)
    permutations = np.array(stream.metadata["permutations"])
    np.testing.assert_array_equal(permutations[0], np.arange(784))
    assert not np.array_equal(permutations[1], permutations[2])
    for t in range(3):
        np.testing.assert_array_equal(np.sort(permutations[t]), np.arange(784))
        arrays = stream.task_arrays(t)
        original = source["x_test"].reshape(20, 784)
        np.testing.assert_array_equal(arrays.x_test.reshape(20, 784), original[:, permutations[t]])
