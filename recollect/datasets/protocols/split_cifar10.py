"""Split CIFAR-10: task t holds classes [k t, k (t + 1)); 10 outputs.

Where this sits: registered in `protocols.STREAMS` as `split_cifar10`; `stream.py`
calls `build` with CIFAR-10 from `cifar_pickle.py`, `image_folder.py` (e.g. the
JPEG copy) or tfds.

```
k = 2   task 0: airplane, automobile   task 1: bird, cat   ...   task 4: ship, truck
        10,000 training / 2,000 test images per task
```

Each task's training examples are shuffled by the seed (unless `shuffle=False`) and
optionally cut to the first `examples_per_task`; the test sets stay whole.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from recollect.datasets.catalog import CIFAR10_CLASSES
from recollect.datasets.protocols.base import (
    Built,
    StreamSpec,
    check,
    check_flag,
    check_limit,
    class_task_rows,
    class_tasks,
    is_int,
)
from recollect.datasets.sources import DataArrays


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

    def __post_init__(self) -> None:
        """Checks the values.

        Raises:
            ValueError: a count that is not a positive integer, or shuffle not a bool.
        """
        check_limit(self.examples_per_task)
        check_flag("shuffle", self.shuffle)
        check(
            is_int(self.classes_per_task) and self.classes_per_task > 0,
            "classes_per_task > 0",
            f"classes_per_task={self.classes_per_task!r}",
        )


def build(data: DataArrays, options: SplitCifar10Options, seed: int) -> Built:
    """Builds the class-pair tasks.

    Args:
        data: CIFAR-10.
        options: the stream's options.
        seed: the stream's seed.

    Returns:
        The tasks, 10 outputs (the number of class names), and no extra metadata.

    Raises:
        ValueError: a `classes_per_task` that does not divide the classes.
    """
    num_classes, groups = _groups(data, options)
    tasks = class_tasks("split_cifar10", data, groups, "y", options, seed)
    return tasks, num_classes, {}


def train_rows(data: DataArrays, options: SplitCifar10Options, seed: int) -> list[np.ndarray]:
    """Per task, the rows of CIFAR-10's `x_train` that `build` gives it (for the seed).

    What a codec pretrained on CIFAR-10 leaves out so that it never sees an image
    of the stream it will be used on (`agents.pretrain`, `--exclude_stream`).

    Raises:
        ValueError: a `classes_per_task` that does not divide the classes.
    """
    _, groups = _groups(data, options)
    return class_task_rows("split_cifar10", data, groups, "y", options, seed)


def _groups(data: DataArrays, options: SplitCifar10Options) -> tuple[int, list[list[int]]]:
    num_classes = len(data.metadata.get("class_names") or CIFAR10_CLASSES)
    k = options.classes_per_task
    check(num_classes % k == 0, f"classes_per_task dividing {num_classes}", f"classes_per_task={k}")
    return num_classes, [list(range(k * t, k * (t + 1))) for t in range(num_classes // k)]


SPEC = StreamSpec(dataset="cifar10", options=SplitCifar10Options, build=build)
