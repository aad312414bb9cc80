"""Continual-learning task streams read from real data (MNIST, CIFAR, Omniglot).

```python
from recollect import datasets

stream = datasets.load_stream("mnist_rotations", data_dir="/data", seed=0, batch_size=10)
for task in stream:
    for x, y in task.train:  # float32 [<=10, 28, 28, 1] in [0, 1], int32 [<=10]
        ...
```

Modules: `streams` (the protocols and `load_stream`), `sources` (where the data comes
from: a local data root or tfds, and `load_arrays`), `readers` (the publishers' file
formats), `cache` (verified on-disk cache of prepared arrays).
"""

from recollect.datasets.readers import CorruptDataError, DataNotFoundError
from recollect.datasets.sources import DataArrays, load_arrays
from recollect.datasets.streams import STREAM_NAMES, Task, TaskArrays, TaskStream, load_stream

__all__ = [
    "STREAM_NAMES",
    "CorruptDataError",
    "DataArrays",
    "DataNotFoundError",
    "Task",
    "TaskArrays",
    "TaskStream",
    "load_arrays",
    "load_stream",
]
