"""Animal-MNIST written as MNIST's four IDX files: a second 28x28 grayscale set.

The Table 1 row flagfiles were chosen on MNIST. To check that they transfer, run
them unchanged on another 28x28 grayscale, 10-class image set through the same
rotations protocol. Animal-MNIST (Mohammadi, the PyPI package `animal-mnist`
0.4, MIT licence) is 10,000 silhouettes of 10 animals, 1,000 a class. Its wheel
carries the images as two gzipped pickles. This script reads them straight from
the wheel, without installing the package or its dependencies. It splits each
class 800 / 200 with a fixed seed and writes

```
<output>/mnist/train-images-idx3-ubyte.gz   uint8 [8000, 28, 28]
<output>/mnist/train-labels-idx1-ubyte.gz   uint8 [8000]
<output>/mnist/t10k-images-idx3-ubyte.gz    uint8 [2000, 28, 28]
<output>/mnist/t10k-labels-idx1-ubyte.gz    uint8 [2000]
<output>/README.txt                         where the files came from
```

The MNIST streams then read `--data_dir=<output>` as they read MNIST:

```bash
pip download animal-mnist==0.4 --no-deps -d /tmp/wheels
python -m benchmarks.animal_mnist --wheel=/tmp/wheels/animal_mnist-0.4-py3-none-any.whl \
    --output=/tmp/animal_mnist
python -m runners.continual --flagfile=runners/configs/table1/replay_recollections_100.flags \
    --data_dir=/tmp/animal_mnist --workdir=runs/animal_rr100
```

Labels: 0 bear, 1 bird, 2 cat, 3 cow, 4 dog, 5 elephant, 6 giraffe, 7 horse,
8 sheep, 9 zebra.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import zipfile
from collections.abc import Sequence

import numpy as np
from absl import app, flags

IMAGES = "animal_mnist/data/Animal_MNIST/animal_data_version_3.gz"
LABELS = "animal_mnist/data/Animal_MNIST/animal_label_version_3.gz"
CLASSES = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")
TEST_PER_CLASS = 200
SPLIT_SEED = 0


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else (no code runs from the file)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"Expected only numpy arrays in the pickle. Received: {module}.{name}"
            )
        return super().find_class(module, name)


def _array(wheel: zipfile.ZipFile, member: str) -> np.ndarray:
    with wheel.open(member) as raw, gzip.open(raw) as f:
        value = _ArraysOnly(io.BytesIO(f.read())).load()
    if not isinstance(value, np.ndarray):
        raise ValueError(f"Expected a numpy array in {member}. Received: {type(value).__name__}")
    return value


def read_wheel(path: str) -> tuple[np.ndarray, np.ndarray]:
    """The images uint8 [N, 28, 28] and labels int64 [N] inside the wheel at path.

    Raises:
        ValueError: the file is not the animal-mnist wheel, or its arrays are not
            10 classes of 28x28 uint8 images.
    """
    if not os.path.isfile(path):
        raise ValueError(
            "Expected the animal-mnist wheel (`pip download animal-mnist==0.4 --no-deps "
            f"-d DIR`). Received: --wheel={path!r}, which is not a file"
        )
    with zipfile.ZipFile(path) as wheel:
        names = set(wheel.namelist())
        missing = [m for m in (IMAGES, LABELS) if m not in names]
        if missing:
            raise ValueError(f"Expected {missing} in the wheel. Received: {path}")
        images, labels = _array(wheel, IMAGES), _array(wheel, LABELS)
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise ValueError(
            f"Expected uint8 [N, 28, 28] images and N labels. Received: {images.dtype} "
            f"{images.shape} and {labels.shape}"
        )
    if set(np.unique(labels).tolist()) != set(range(len(CLASSES))):
        raise ValueError(f"Expected labels 0..9. Received: {np.unique(labels).tolist()}")
    return images, labels


def split(labels: np.ndarray, test_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test): test_per_class rows of every class go to test."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(len(CLASSES)):
        rows = rng.permutation(np.flatnonzero(labels == c))
        test.append(rows[:test_per_class])
        train.append(rows[test_per_class:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of a uint8 array: magic 0x0000 08 <ndim>, big-endian dims, values."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def write_idx(path: str, array: np.ndarray) -> None:
    """Writes a gzipped IDX file (gzip's mtime 0, so the bytes depend only on array)."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(idx_bytes(array))


def convert(wheel: str, output: str) -> dict[str, int]:
    """Writes output/mnist/*.gz and output/README.txt; returns the split's sizes."""
    images, labels = read_wheel(wheel)
    train, test = split(labels, TEST_PER_CLASS, SPLIT_SEED)
    directory = os.path.join(output, "mnist")
    os.makedirs(directory, exist_ok=True)
    parts = {
        "train-images-idx3-ubyte.gz": images[train],
        "train-labels-idx1-ubyte.gz": labels[train].astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": images[test],
        "t10k-labels-idx1-ubyte.gz": labels[test].astype(np.uint8),
    }
    for name, array in parts.items():
        write_idx(os.path.join(directory, name), array)
    with open(wheel, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(output, "README.txt"), "w", encoding="utf-8") as f:
        f.write(
            "Animal-MNIST (PyPI animal-mnist 0.4, MIT licence), written in MNIST's IDX\n"
            f"layout by benchmarks.animal_mnist from {os.path.basename(wheel)}\n"
            f"(sha256 {digest}).\n"
            f"Split: {TEST_PER_CLASS} test images a class, seed {SPLIT_SEED}; "
            f"{len(train)} train, {len(test)} test.\n"
            f"Labels: {', '.join(f'{i} {c}' for i, c in enumerate(CLASSES))}.\n"
        )
    return {"train": len(train), "test": len(test)}


_WHEEL = flags.DEFINE_string("wheel", None, "Path of animal_mnist-0.4-py3-none-any.whl.")
_OUTPUT = flags.DEFINE_string("output", None, "Data root to write (mnist/ is made in it).")


def main(argv: Sequence[str]) -> None:
    del argv
    if not _WHEEL.value or not _OUTPUT.value:
        raise app.UsageError("Expected --wheel and --output.")
    sizes = convert(_WHEEL.value, _OUTPUT.value)
    print(
        f"Animal-MNIST: {sizes['train']} train and {sizes['test']} test images in "
        f"{os.path.join(_OUTPUT.value, 'mnist')}; pass --data_dir={_OUTPUT.value}"
    )


if __name__ == "__main__":
    app.run(main)
