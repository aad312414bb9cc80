"""MNIST-Rotations (the GEM protocol): task t rotates MNIST by one angle in [w t, w (t + 1)).

Where this sits: registered in `protocols.STREAMS` as `mnist_rotations`; `stream.py`
calls `build` with MNIST from `idx.py` (or tfds). `permuted_mnist.py` draws its
training samples with `mnist_samples` too.

```
task t   train  the first examples_per_task of a seeded shuffle of the 60,000
                training images (drawn afresh per task), rotated by angles[t]
         test   the test images (all, or the first test_examples_per_task),
                rotated by angles[t]
angles[t] = w (t + u_t), u_t uniform in [0, 1) from the seed
```

Rotations are bilinear about the image centre, zero-filled, and rounded back to
uint8, as the GEM script's PIL rotation does.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from recollect.datasets.protocols.base import (
    Built,
    StreamSpec,
    TaskData,
    check,
    check_flag,
    is_int,
    rng,
)
from recollect.datasets.sources import DataArrays


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

    def __post_init__(self) -> None:
        """Checks the values.

        Raises:
            ValueError: a count is not a positive integer, the width is not > 0,
                or flatten is not a bool.
        """
        check(
            is_int(self.num_tasks) and self.num_tasks > 0,
            "num_tasks > 0",
            f"num_tasks={self.num_tasks!r}",
        )
        check(
            is_int(self.examples_per_task) and self.examples_per_task > 0,
            "examples_per_task > 0",
            f"examples_per_task={self.examples_per_task!r}",
        )
        check(
            self.test_examples_per_task is None
            or (is_int(self.test_examples_per_task) and self.test_examples_per_task > 0),
            "test_examples_per_task None or > 0",
            f"test_examples_per_task={self.test_examples_per_task!r}",
        )
        check(
            isinstance(self.degrees_per_task, int | float) and self.degrees_per_task > 0,
            "degrees_per_task > 0",
            f"degrees_per_task={self.degrees_per_task!r}",
        )
        check_flag("flatten", self.flatten)


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


def mnist_samples(
    data: DataArrays,
    *,
    num_tasks: int,
    examples_per_task: int,
    test_examples_per_task: int | None,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Draws each task's training rows and the shared test rows of MNIST.

    Args:
        data: MNIST.
        num_tasks: number of tasks.
        examples_per_task: training rows per task.
        test_examples_per_task: None for every test row, else the first this many.
        seed: the stream's seed.

    Returns:
        (int [num_tasks, examples_per_task] training rows, int [M] test rows).

    Raises:
        ValueError: more examples asked for than the data set holds.
    """
    num_train, num_test = len(data.arrays["y_train"]), len(data.arrays["y_test"])
    check(
        examples_per_task <= num_train,
        f"examples_per_task <= {num_train} (the training set)",
        f"examples_per_task={examples_per_task}",
    )
    test_count = test_examples_per_task or num_test
    check(
        test_count <= num_test,
        f"test_examples_per_task <= {num_test} (the test set)",
        f"test_examples_per_task={test_examples_per_task}",
    )
    train = np.stack(
        [
            rng(seed, "mnist/samples", t).permutation(num_train)[:examples_per_task]
            for t in range(num_tasks)
        ]
    )
    return train, np.arange(test_count)


def build(data: DataArrays, options: MnistRotationsOptions, seed: int) -> Built:
    """Builds the rotated tasks.

    Args:
        data: MNIST.
        options: the stream's options.
        seed: the stream's seed.

    Returns:
        The tasks, 10 outputs, and `angles`, `angle_ranges`, `train_indices`,
        `test_indices` for the metadata.

    Raises:
        ValueError: more examples asked for than MNIST holds.
    """
    train_indices, test_indices = mnist_samples(
        data,
        num_tasks=options.num_tasks,
        examples_per_task=options.examples_per_task,
        test_examples_per_task=options.test_examples_per_task,
        seed=seed,
    )
    width = options.degrees_per_task
    offsets = rng(seed, "mnist_rotations/angles").random(options.num_tasks)
    angles = width * (np.arange(options.num_tasks) + offsets)
    a = data.arrays
    x_test, y_test = a["x_test"][test_indices], a["y_test"][test_indices]
    tasks = [
        TaskData(
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


SPEC = StreamSpec(dataset="mnist", options=MnistRotationsOptions, build=build)
