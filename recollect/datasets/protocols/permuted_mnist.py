"""Permuted MNIST: task t shuffles the pixels of MNIST by a seeded permutation.

Where this sits: registered in `protocols.STREAMS` as `permuted_mnist`; `stream.py`
calls `build` with MNIST from `idx.py` (or tfds). The training samples are drawn as
for `mnist_rotations.py`.

```
task t   train  the first examples_per_task of a seeded shuffle of the training
                images (drawn afresh per task), pixels permuted by permutations[t]
         test   the test images (all, or the first test_examples_per_task),
                permuted by permutations[t]
permutations[0] is the identity; permutations[t > 0] are drawn from the seed
```
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from recollect.datasets.protocols.base import Built, StreamSpec, TaskData, rng
from recollect.datasets.protocols.mnist_rotations import MnistRotationsOptions, mnist_samples
from recollect.datasets.sources import DataArrays


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

    def __post_init__(self) -> None:
        """Checks the values as `MnistRotationsOptions` does.

        Raises:
            ValueError: a count is not a positive integer, or flatten is not a bool.
        """
        MnistRotationsOptions(
            num_tasks=self.num_tasks,
            examples_per_task=self.examples_per_task,
            test_examples_per_task=self.test_examples_per_task,
            flatten=self.flatten,
        )


def build(data: DataArrays, options: PermutedMnistOptions, seed: int) -> Built:
    """Builds the permuted tasks.

    Args:
        data: MNIST.
        options: the stream's options.
        seed: the stream's seed.

    Returns:
        The tasks, 10 outputs, and `permutations`, `train_indices`, `test_indices`
        for the metadata.

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
    a = data.arrays
    shape = a["x_train"].shape[1:]
    pixels = math.prod(shape)
    permutations = np.stack(
        [np.arange(pixels)]
        + [
            rng(seed, "permuted_mnist/permutation", t).permutation(pixels)
            for t in range(1, options.num_tasks)
        ]
    )

    def permute(x: np.ndarray, permutation: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), pixels)[:, permutation].reshape(len(x), *shape)

    x_test, y_test = a["x_test"][test_indices], a["y_test"][test_indices]
    tasks = [
        TaskData(permute(a["x_train"][rows], p), a["y_train"][rows], permute(x_test, p), y_test)
        for rows, p in zip(train_indices, permutations, strict=True)
    ]
    extra = {
        "permutations": permutations.tolist(),
        "train_indices": train_indices.tolist(),
        "test_indices": "all" if options.test_examples_per_task is None else test_indices.tolist(),
    }
    return tasks, 10, extra


SPEC = StreamSpec(dataset="mnist", options=PermutedMnistOptions, build=build)
