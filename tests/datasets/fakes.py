"""Tiny data sets written in the publishers' real formats, for the dataset tests.

Each writer returns the arrays it wrote, so tests can compare what the library reads
against the truth. Nothing here reads shared data: every file is made in a tmp dir.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from recollect import datasets
from recollect.datasets import catalog

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encodes a uint8 array in the IDX format (magic 0x08, big-endian dims)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def blob_images(rng: np.random.Generator, count: int, size: int = 28) -> np.ndarray:
    """uint8 [count, size, size]: smooth asymmetric blobs inside the central disk.

    Smooth, centred content survives rotation without clipping, so a rotated-back
    image can be compared with its source.
    """
    grid = np.arange(size) - (size - 1) / 2
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    images = np.zeros((count, size, size), np.float32)
    for image in images:
        for _ in range(3):
            radius, theta = rng.uniform(0, size * 0.22), rng.uniform(0, 2 * np.pi)
            cy, cx = radius * np.sin(theta), radius * np.cos(theta)
            image += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(1.5, 2.5) ** 2))
    return np.rint(255 * images / images.max(axis=(1, 2), keepdims=True)).astype(np.uint8)


def write_mnist(
    folder: Path, *, num_train: int = 60, num_test: int = 20, gz: bool = True, seed: int = 0
) -> dict[str, np.ndarray]:
    """Writes the four MNIST IDX files; returns x_train [N, 28, 28], y_train, ..."""
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": blob_images(rng, num_train),
        "y_train": (np.arange(num_train) % 10).astype(np.uint8),
        "x_test": blob_images(rng, num_test),
        "y_test": (np.arange(num_test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, key in zip(MNIST_FILES, ("x_train", "y_train", "x_test", "y_test"), strict=True):
        data = idx_bytes(arrays[key])
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


def _cifar_rows(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 32, 32, 3] -> the pickles' uint8 [N, 3072] (R plane, G, B)."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1).copy()


def write_cifar100(
    folder: Path,
    *,
    train_per_class: int = 2,
    test_per_class: int = 1,
    protocol: int = 2,
    archive: bool = False,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Writes `cifar-100-python/{train,test,meta}` (or its .tar.gz); returns the truth."""
    rng = np.random.default_rng(seed)
    coarse_of = {
        fine: c for c, fines in enumerate(catalog.CIFAR100_SUPERCLASSES.values()) for fine in fines
    }
    table = np.array([coarse_of[f] for f in catalog.CIFAR100_CLASSES])
    truth = {}
    blobs = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        fine = np.repeat(np.arange(100), per_class)
        fine = fine[rng.permutation(len(fine))]
        images = rng.integers(0, 256, (len(fine), 32, 32, 3), dtype=np.uint8)
        truth[f"x_{split}"], truth[f"y_{split}"] = images, fine
        truth[f"coarse_{split}"] = table[fine]
        content = {
            b"filenames": [f"img_{i}.png".encode() for i in range(len(fine))],
            b"batch_label": f"{split} batch".encode(),
            b"fine_labels": fine.tolist(),
            b"coarse_labels": table[fine].tolist(),
            b"data": _cifar_rows(images),
        }
        blobs[split] = pickle.dumps(content, protocol=protocol)
    meta = {
        b"fine_label_names": [n.encode() for n in catalog.CIFAR100_CLASSES],
        b"coarse_label_names": [n.encode() for n in catalog.CIFAR100_SUPERCLASSES],
    }
    blobs["meta"] = pickle.dumps(meta, protocol=protocol)
    _write_members(folder, "cifar-100-python", blobs, archive and "cifar-100-python.tar.gz")
    return truth


def write_cifar10_pickles(
    folder: Path, *, per_class: int = 2, archive: bool = False, seed: int = 0
) -> dict[str, np.ndarray]:
    """Writes `cifar-10-batches-py/` (5 data batches + test_batch) or its .tar.gz."""
    rng = np.random.default_rng(seed)
    truth = {}
    blobs = {}
    for split in ("train", "test"):
        labels = np.tile(np.arange(10), per_class * (5 if split == "train" else 1))
        images = rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
        truth[f"x_{split}"], truth[f"y_{split}"] = images, labels
        names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        for name, rows in zip(
            names, np.array_split(np.arange(len(labels)), len(names)), strict=True
        ):
            content = {b"labels": labels[rows].tolist(), b"data": _cifar_rows(images[rows])}
            blobs[name] = pickle.dumps(content, protocol=2)
    blobs["batches.meta"] = pickle.dumps(
        {b"label_names": [n.encode() for n in catalog.CIFAR10_CLASSES]}, protocol=2
    )
    _write_members(folder, "cifar-10-batches-py", blobs, archive and "cifar-10-python.tar.gz")
    return truth


def _write_members(folder: Path, subdir: str, blobs: dict[str, bytes], archive: str | bool):
    folder.mkdir(parents=True, exist_ok=True)
    if not archive:
        (folder / subdir).mkdir(exist_ok=True)
        for name, data in blobs.items():
            (folder / subdir / name).write_bytes(data)
        return
    with tarfile.open(folder / archive, "w:gz") as tar:
        for name, data in blobs.items():
            info = tarfile.TarInfo(f"{subdir}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def encode_image(array: np.ndarray, suffix: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG" if suffix == ".jpg" else "PNG")
    return buffer.getvalue()


def write_image_folder(
    folder: Path,
    *,
    class_names=catalog.CIFAR10_CLASSES,
    train_per_class: int = 2,
    test_per_class: int = 1,
    suffix: str = ".png",
    archive: str | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Writes `train/<class>/NNNN<suffix>` and `test/...` (or a .tar.gz with a top folder).

    Returns x/y per split in the order the library sorts them (class, file name).
    """
    rng = np.random.default_rng(seed)
    truth = {}
    files = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels = np.repeat(np.arange(len(class_names)), per_class)
        images = rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
        truth[f"x_{split}"], truth[f"y_{split}"] = images, labels
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            name = f"{split}/{class_names[label]}/{i % per_class:04d}{suffix}"
            files[name] = encode_image(image, suffix)
    folder.mkdir(parents=True, exist_ok=True)
    if archive is None:
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
    else:
        with tarfile.open(folder / archive, "w:gz") as tar:
            for name, data in sorted(files.items(), reverse=True):  # any member order
                info = tarfile.TarInfo(f"images/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return truth


OMNIGLOT_ALPHABETS = {
    "background": [["Alpha", 1, 2], ["Beta", 3, 5]],
    "evaluation": [["Gamma", 6, 7]],
}


def omniglot_images(seed: int = 0, drawers: int = 20) -> np.ndarray:
    """bool [7, drawers, 105, 105], True = white, with one dark rectangle per image."""
    rng = np.random.default_rng(seed)
    images = np.ones((7, drawers, 105, 105), bool)
    for char in range(7):
        for drawer in range(drawers):
            top, left = rng.integers(10, 60, 2)
            height, width = rng.integers(6, 40, 2)
            images[char, drawer, top : top + height, left : left + width] = False
    return images


def write_omniglot_npz(folder: Path, images: np.ndarray, *, sidecars: bool = False) -> None:
    """Writes images_background.npz (5 chars), images_evaluation.npz (2), alphabets.json."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in (("images_background", images[:5]), ("images_evaluation", images[5:])):
        labels = np.repeat(np.arange(len(part))[:, None], part.shape[1], axis=1).astype(np.int64)
        path = folder / f"{name}.npz"
        np.savez_compressed(path, images=part, labels=labels)
        if sidecars:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            Path(f"{path}.sha256").write_text(f"{digest}  {path.name}\n")
    (folder / "alphabets.json").write_text(json.dumps(OMNIGLOT_ALPHABETS))


def write_omniglot_official(folder: Path, images: np.ndarray, *, zipped: bool) -> None:
    """Writes the official layout `<part>/<alphabet>/characterNN/<id>_<drawer>.png`."""
    files = {}
    for part in ("background", "evaluation"):
        for alphabet, first, last in OMNIGLOT_ALPHABETS[part]:
            for n, char_id in enumerate(range(first, last + 1), start=1):
                for drawer in range(images.shape[1]):
                    image = Image.fromarray(images[char_id - 1, drawer]).convert("1")
                    buffer = io.BytesIO()
                    image.save(buffer, format="PNG")
                    folder_name = f"images_{part}/{alphabet}/character{n:02d}"
                    files[f"{folder_name}/{char_id:04d}_{drawer + 1:02d}.png"] = buffer.getvalue()
    folder.mkdir(parents=True, exist_ok=True)
    if zipped:
        for part in ("background", "evaluation"):
            with zipfile.ZipFile(folder / f"images_{part}.zip", "w") as archive:
                for name, data in files.items():
                    if name.startswith(f"images_{part}/"):
                        archive.writestr(name, data)
        return
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def fake_tfds_load(name, data_dir):
    """Stands in for `tfds_source.load_splits`: tiny splits shaped as tfds gives them."""
    rng = np.random.default_rng(0)
    if name == "omniglot":
        labels = np.repeat([0, 1, 2], 4)  # 3 characters x 4 drawers; tfds order is shuffled.
        order = rng.permutation(len(labels))
        split = {
            "image": np.full((12, 105, 105, 3), 255, np.uint8)[order],
            "label": labels[order],
            "alphabet": np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0])[order],
        }
        return (
            "3.0.0",
            {"train": split, "test": {k: v[:0] for k, v in split.items()}},
            {
                "alphabet": ["Zeta", "Alpha"],
                "label": ["a", "b", "c"],
            },
        )
    splits = {}
    for split, count in (("train", 40), ("test", 20)):
        splits[split] = {
            "image": rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8),
            "label": np.arange(count) % 10,
            "coarse_label": np.arange(count) % 20,
        }
    return "3.0.2", splits, {"label": [str(i) for i in range(10)]}


# Options that make the MNIST streams tiny enough for the fake data root.
MNIST_OPTIONS = {"num_tasks": 3, "examples_per_task": 8}


def load_uncached(root: Path, name: str, **kwargs):
    """`load_stream` from the fake data root, without the cache unless asked."""
    kwargs.setdefault("use_cache", False)
    return datasets.load_stream(name, data_dir=root, **kwargs)


def mnist_unit_images(root: Path) -> dict[str, np.ndarray]:
    """The fake MNIST images as float32 in [0, 1], as the streams scale them."""
    data = datasets.load_arrays("mnist", data_dir=root, use_cache=False).arrays
    return {key: value.astype(np.float32) / 255.0 for key, value in data.items() if "x" in key}
