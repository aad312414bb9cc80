"""Incremental CIFAR-100: 100 fine-label outputs, one task per group of labels.

Where this sits: registered in `protocols.STREAMS` as `incremental_cifar100`;
`stream.py` calls `build` with CIFAR-100 from `cifar_pickle.py`, `image_folder.py`
or tfds.

```
variant "coarse" (the paper)   task t = the 5 fine classes of coarse label t:
                               2,500 training / 500 test images, 20 tasks
variant "gem" (GEM, A-GEM)     task t = fine labels [k t, k (t + 1)), 100 / k tasks
```

Each task's training examples are shuffled by the seed (unless `shuffle=False`) and
optionally cut to the first `examples_per_task`; the test sets stay whole.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from recollect.datasets.catalog import CIFAR100_CLASSES
from recollect.datasets.protocols.base import (
    Built,
    StreamSpec,
    check,
    check_flag,
    check_limit,
    class_tasks,
    is_int,
)
from recollect.datasets.sources import DataArrays


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

    def __post_init__(self) -> None:
        """Checks the values.

        Raises:
            ValueError: an unknown variant, a count that is not a positive integer,
                or shuffle not a bool.
        """
        check_limit(self.examples_per_task)
        check_flag("shuffle", self.shuffle)
        check(
            self.variant in ("coarse", "gem"),
            "variant 'coarse' or 'gem'",
            f"variant={self.variant!r}",
        )
        check(
            is_int(self.classes_per_task) and self.classes_per_task > 0,
            "classes_per_task > 0",
            f"classes_per_task={self.classes_per_task!r}",
        )


def build(data: DataArrays, options: IncrementalCifar100Options, seed: int) -> Built:
    """Builds the label-group tasks.

    Args:
        data: CIFAR-100.
        options: the stream's options.
        seed: the stream's seed.

    Returns:
        The tasks, 100 outputs (the number of class names), and `variant` (and
        `coarse_labels` for `"coarse"`) for the metadata.

    Raises:
        ValueError: `"coarse"` without coarse labels in the data, or a
            `classes_per_task` that does not divide the classes.
    """
    num_classes = len(data.metadata.get("class_names") or CIFAR100_CLASSES)
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
        tasks = class_tasks("incremental_cifar100", data, groups, "coarse", options, seed)
        extra: dict[str, Any] = {"variant": "coarse", "coarse_labels": coarse.tolist()}
        return tasks, num_classes, extra
    k = options.classes_per_task
    check(num_classes % k == 0, f"classes_per_task dividing {num_classes}", f"classes_per_task={k}")
    groups = [list(range(k * t, k * (t + 1))) for t in range(num_classes // k)]
    tasks = class_tasks("incremental_cifar100", data, groups, "y", options, seed)
    return tasks, num_classes, {"variant": "gem"}


SPEC = StreamSpec(dataset="cifar100", options=IncrementalCifar100Options, build=build)
