"""Continual-learning task streams read from real data (MNIST, CIFAR, Omniglot).

```python
from recollect import datasets

stream = datasets.load_stream("mnist_rotations", data_dir="/data", seed=0, batch_size=10)
for task in stream:
    for x, y in task.train:  # float32 [<=10, 28, 28, 1] in [0, 1], int32 [<=10]
        ...
```

Modules, from the files up:

```
errors, catalog, formats    the errors and checksums; data set and class names; the
                            Format / Located contract of a format module
idx, cifar_pickle,          one module per publisher format: where its files lie
image_folder, omniglot      and how to parse them
tfds_source                 the tensorflow_datasets path
sources                     resolves the data root and dispatches to the above;
                            `load_arrays`
cache                       verified on-disk cache of prepared arrays
protocols/                  one module per benchmark protocol (options + build) and
                            the `STREAMS` registry
stream                      `TaskStream`, `Task`, `load_stream`
```
"""

from recollect.datasets.errors import CorruptDataError, DataNotFoundError
from recollect.datasets.protocols import STREAM_NAMES, STREAMS, StreamSpec
from recollect.datasets.protocols.incremental_cifar100 import IncrementalCifar100Options
from recollect.datasets.protocols.mnist_rotations import MnistRotationsOptions
from recollect.datasets.protocols.omniglot import OmniglotOptions
from recollect.datasets.protocols.permuted_mnist import PermutedMnistOptions
from recollect.datasets.protocols.split_cifar10 import SplitCifar10Options
from recollect.datasets.sources import DataArrays, load_arrays
from recollect.datasets.stream import Task, TaskArrays, TaskStream, load_stream

__all__ = [
    "STREAMS",
    "STREAM_NAMES",
    "CorruptDataError",
    "DataArrays",
    "DataNotFoundError",
    "IncrementalCifar100Options",
    "MnistRotationsOptions",
    "OmniglotOptions",
    "PermutedMnistOptions",
    "SplitCifar10Options",
    "StreamSpec",
    "Task",
    "TaskArrays",
    "TaskStream",
    "load_arrays",
    "load_stream",
]
