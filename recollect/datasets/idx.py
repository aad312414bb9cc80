"""MNIST as published: four IDX files, each possibly gzipped.

Where this sits: `sources.py` asks `formats("mnist")` for the layout, finds the files
with it and reads them with `read_mnist`; `protocols/mnist_rotations.py` and
`protocols/permuted_mnist.py` build their tasks from the arrays.

```
<data root>/mnist/ (or the root itself)
    train-images-idx3-ubyte[.gz]   uint8 [60000, 28, 28]
    train-labels-idx1-ubyte[.gz]   uint8 [60000], 0..9
    t10k-images-idx3-ubyte[.gz]    uint8 [10000, 28, 28]
    t10k-labels-idx1-ubyte[.gz]    uint8 [10000]

one IDX file:
    bytes 0-3          0x00 0x00 <type> <ndim>      type 0x08 = uint8, 0x0D = float32, ...
    bytes 4-(3+4 ndim) <dim 0> ... <dim ndim-1>     big-endian uint32 each
    then               the values, row-major, big-endian
```

Arrays returned: `x_train` uint8 [N, 28, 28, 1], `y_train` int32 [N], `x_test`,
`y_test`; metadata `class_names` "0".."9".
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from recollect.datasets.errors import CorruptDataError, corrupt
from recollect.datasets.formats import Decoded, Format, find_named

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# IDX type codes (third byte of the magic number) and their big-endian dtypes.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def formats(name: str) -> list[Format]:
    """Returns the IDX layout of MNIST.

    Args:
        name: the data set, `mnist`.

    Returns:
        One `Format`.
    """
    del name
    return [
        Format(
            "IDX",
            "the IDX files " + ", ".join(MNIST_FILES) + " (each may end in .gz)",
            lambda folder: find_named(folder, MNIST_FILES, gz=True),
            read_mnist,
        )
    ]


def read_bytes(path: str | os.PathLike) -> bytes:
    """Reads a file, decompressing it when its name ends in `.gz`.

    Args:
        path: the file.

    Returns:
        The (decompressed) bytes.

    Raises:
        CorruptDataError: the gzip stream is truncated or fails its CRC.
    """
    raw = Path(path).read_bytes()
    if not os.fspath(path).endswith(".gz"):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise corrupt(path, f"cannot be decompressed ({err}); the file is truncated") from err


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one IDX file (the MNIST format), `.gz` or not.

    Args:
        path: the file.

    Returns:
        The array with the dimensions of the header, in native byte order; uint8 for
        the MNIST files.

    Raises:
        CorruptDataError: bad magic number, or a file length that disagrees with the
            header (a truncated file, or trailing bytes).
    """
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise corrupt(path, f"not an IDX file (magic number {data[:4].hex() or 'missing'})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise corrupt(path, f"truncated inside its header ({len(data)} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_DTYPES[data[2]]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise corrupt(
            path,
            f"{state}: the header gives shape {list(dims)} of {dtype.name} "
            f"({expected} bytes with the header) but the data holds {len(data)} bytes",
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_mnist(paths: list[Path]) -> Decoded:
    """Reads the four MNIST files, in the order of `MNIST_FILES`.

    Args:
        paths: the train images, train labels, test images and test labels.

    Returns:
        The arrays and metadata in the module docstring.

    Raises:
        CorruptDataError: a file is damaged, or holds the wrong kind of array, or
            the labels do not match the images.
    """
    x_train, y_train, x_test, y_test = (read_idx(p) for p in paths)
    for path, array, ndim in zip(
        paths, (x_train, y_train, x_test, y_test), (3, 1, 3, 1), strict=True
    ):
        if array.ndim != ndim or array.dtype != np.uint8:
            kind = "images (magic 0x00000803)" if ndim == 3 else "labels (magic 0x00000801)"
            raise CorruptDataError(
                f"{path}: expected uint8 {kind} with {ndim} dimensions; the header gives "
                f"{array.dtype.name} {list(array.shape)}"
            )
    for images, labels, path in ((x_train, y_train, paths[1]), (x_test, y_test, paths[3])):
        if len(images) != len(labels) or (labels.size and labels.max() > 9):
            raise CorruptDataError(
                f"{path}: expected {len(images)} labels in 0..9; it holds {len(labels)} "
                f"with maximum {labels.max() if labels.size else None}"
            )
    arrays = {
        "x_train": x_train[..., None],
        "y_train": y_train.astype(np.int32),
        "x_test": x_test[..., None],
        "y_test": y_test.astype(np.int32),
    }
    return arrays, {"class_names": [str(i) for i in range(10)]}
