"""Tests for MNIST-Rotations: the angles, the samples, and the rotation itself."""

import numpy as np

from recollect.datasets import load_arrays
from recollect.datasets.protocols import mnist_rotations
from tests.datasets.fakes import MNIST_OPTIONS, mnist_unit_images
from tests.datasets.fakes import load_uncached as _load


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
    source = mnist_unit_images(root)
    grid = np.arange(28) - 13.5
    inside = (grid[:, None] ** 2 + grid[None, :] ** 2 < 11**2)[None, :, :, None]
    for t in (1, 2):  # angles in [60, 120) and [120, 180): far from the identity.
        angle = stream.metadata["angles"][t]
        arrays = stream.task_arrays(t)
        original = source["x_train"][stream.metadata["train_indices"][t]]
        back = mnist_rotations.rotate_images(arrays.x_train, -angle)
        error = np.abs(back - original)[np.broadcast_to(inside, back.shape)]
        unrotated = np.abs(arrays.x_train - original)[np.broadcast_to(inside, back.shape)]
        # Two bilinear passes and uint8 rounding: small errors, largest on steep edges.
        assert error.max() < 0.25 and error.mean() < 0.01, (error.max(), error.mean())
        assert unrotated.mean() > 10 * error.mean()
        test_rows = slice(20 * t, 20 * (t + 1))
        raw = load_arrays("mnist", data_dir=root, use_cache=False).arrays["x_test"]
        np.testing.assert_array_equal(
            stream.stored_arrays()["x_test"][test_rows], mnist_rotations.rotate_images(raw, angle)
        )


def test_rotate_images_turns_counter_clockwise():
    image = np.random.default_rng(0).integers(0, 256, (2, 28, 28, 1), dtype=np.uint8)
    np.testing.assert_array_equal(
        mnist_rotations.rotate_images(image, 90.0), np.rot90(image, k=1, axes=(1, 2))
    )
