"""The benchmark protocols, and `STREAMS`, the registry `load_stream` reads.

Where this sits: `stream.load_stream(name, ...)` looks `name` up in `STREAMS`, reads
the spec's data set through `sources.py`, validates the keyword options with the
spec's options class and calls its `build`; one module here per stream:

| name                 | tasks | per task (train / test)             | classes |
|----------------------|-------|-------------------------------------|---------|
| mnist_rotations      | 20    | 1,000 / 10,000, angle in [9t, 9t+9) | 10      |
| permuted_mnist       | 20    | 1,000 / 10,000, task 0 identity     | 10      |
| incremental_cifar100 | 20    | coarse label t: 2,500 / 500         | 100     |
| omniglot             | 50    | one alphabet, 18 / 2 per character  | 1,623   |
| split_cifar10        | 5     | classes 2t, 2t+1: 10,000 / 2,000    | 10      |

To add a stream, write one module with a frozen options dataclass, a
`build(data, options, seed) -> (tasks, num_classes, extra)` and
`SPEC = StreamSpec(dataset=..., options=..., build=build)` (see `base.py`), then
import it below and add its line to `STREAMS`.
"""

from __future__ import annotations

from recollect.datasets.protocols import (
    incremental_cifar100,
    mnist_rotations,
    omniglot,
    permuted_mnist,
    split_cifar10,
)
from recollect.datasets.protocols.base import StreamSpec

STREAMS: dict[str, StreamSpec] = {
    "mnist_rotations": mnist_rotations.SPEC,
    "permuted_mnist": permuted_mnist.SPEC,
    "incremental_cifar100": incremental_cifar100.SPEC,
    "omniglot": omniglot.SPEC,
    "split_cifar10": split_cifar10.SPEC,
}
STREAM_NAMES = tuple(STREAMS)

__all__ = ["STREAMS", "STREAM_NAMES", "StreamSpec"]
