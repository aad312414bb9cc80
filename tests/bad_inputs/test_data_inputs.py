"""Bad options and damaged files to `datasets.load_stream`: no data or cache file written."""

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recollect import datasets
from tests.bad_inputs.harness import (
    TINY_STREAM,
    Case,
    Subject,
    area,
    cached,
    check,
    delete,
    files_state,
    flip_byte,
    params,
    scratch,
    truncate,
    unset_env,
)
from tests.datasets import fakes

MNIST_IMAGES = "train-images-idx3-ubyte"
MNIST_LABELS = "train-labels-idx1-ubyte"

# The cases pass wrong types on purpose: the loader is called as untyped.
load_stream: Any = datasets.load_stream


def bad_magic(path: Path) -> None:
    path.write_bytes(b"\0\0\x0d\x03" + path.read_bytes()[4:])


def short_labels(path: Path) -> None:
    path.write_bytes(fakes.idx_bytes(np.zeros(29)))


@cached
def data_root() -> Subject:
    """Folders of tiny MNIST files, good and damaged, and an empty cache folder."""
    root = scratch("data")
    fakes.write_mnist(root / "good" / "mnist", num_train=30, num_test=10, gz=False)
    damages = {
        "truncated": (MNIST_IMAGES, truncate),
        "no_labels": (MNIST_LABELS, delete),
        "bad_magic": (MNIST_IMAGES, bad_magic),
        "short_labels": (MNIST_LABELS, short_labels),
    }
    for name, (file, damage) in damages.items():
        shutil.copytree(root / "good", root / name)
        damage(root / name / "mnist" / file)
    fakes.write_mnist(root / "bad_gzip" / "mnist", num_train=30, num_test=10, gz=True)
    flip_byte(root / "bad_gzip" / "mnist" / f"{MNIST_IMAGES}.gz")
    (root / "empty" / "mnist").mkdir(parents=True, exist_ok=True)
    (root / "a_file").write_bytes(b"not a folder")
    (root / "cache").mkdir(exist_ok=True)
    return Subject(root, lambda: files_state(root))


def load(root: Path, name: Any = "mnist_rotations", data: str = "good", **overrides: Any) -> Any:
    """load_stream of tiny MNIST from root/data, cached in root/cache."""
    settings = {"data_dir": root / data, "cache_dir": root / "cache", **TINY_STREAM}
    return load_stream(name, **{**settings, **overrides})


def load_local_without_data_dir(root: Path) -> Any:
    with unset_env("RECOLLECT_DATA_DIR"):
        return load_stream(
            "mnist_rotations", source="local", cache_dir=root / "cache", **TINY_STREAM
        )


def load_unprepared(name: str, **options: Any) -> Any:
    """load_stream(name) from the folder of MNIST files only."""
    return lambda r: load_stream(name, data_dir=r / "good", cache_dir=r / "cache", **options)


DATASETS = area(
    data_root,
    [
        ("name='mnist_rotation' (typo)", lambda r: load(r, "mnist_rotation")),
        ("name=None", lambda r: load(r, None)),
        ("name=''", lambda r: load(r, "")),
        ("seed=-1", lambda r: load(r, seed=-1)),
        ("seed=1.5", lambda r: load(r, seed=1.5)),
        ("seed=True (bool as int)", lambda r: load(r, seed=True)),
        ("seed='0'", lambda r: load(r, seed="0")),
        ("seed=None", lambda r: load(r, seed=None)),
        ("batch_size=0", lambda r: load(r, batch_size=0)),
        ("batch_size=-4", lambda r: load(r, batch_size=-4)),
        ("batch_size=2.5", lambda r: load(r, batch_size=2.5)),
        ("batch_size=True (bool as int)", lambda r: load(r, batch_size=True)),
        ("source='ftp'", lambda r: load(r, source="ftp")),
        ("source='local' and no data_dir", load_local_without_data_dir),
        ("an unknown option examples=8", lambda r: load(r, examples=8)),
        ("num_tasks=0", lambda r: load(r, num_tasks=0)),
        ("num_tasks=-2", lambda r: load(r, num_tasks=-2)),
        ("num_tasks=2.0", lambda r: load(r, num_tasks=2.0)),
        ("num_tasks=True (bool as int)", lambda r: load(r, num_tasks=True)),
        ("examples_per_task=0", lambda r: load(r, examples_per_task=0)),
        ("examples_per_task=1000 (data has 30)", lambda r: load(r, examples_per_task=1000)),
        ("test_examples_per_task=0", lambda r: load(r, test_examples_per_task=0)),
        ("test_examples_per_task=100 (data has 10)", lambda r: load(r, test_examples_per_task=100)),
        ("degrees_per_task=0", lambda r: load(r, degrees_per_task=0)),
        ("degrees_per_task=nan", lambda r: load(r, degrees_per_task=float("nan"))),
        ("degrees_per_task='9'", lambda r: load(r, degrees_per_task="9")),
        ("flatten='no' (a str)", lambda r: load(r, flatten="no")),
        ("permuted_mnist num_tasks=0", lambda r: load(r, "permuted_mnist", num_tasks=0)),
        (
            "incremental_cifar100 variant='bogus'",
            load_unprepared("incremental_cifar100", variant="bogus"),
        ),
        ("split_cifar10 without cifar10 files", load_unprepared("split_cifar10")),
        ("data_dir missing", lambda r: load(r, data="missing")),
        ("data_dir a regular file", lambda r: load(r, data="a_file")),
        ("data_dir with an empty mnist/", lambda r: load(r, data="empty")),
        ("train images truncated", lambda r: load(r, data="truncated")),
        ("train labels missing", lambda r: load(r, data="no_labels")),
        ("train images with a wrong IDX magic", lambda r: load(r, data="bad_magic")),
        ("29 labels for 30 images", lambda r: load(r, data="short_labels")),
        ("a corrupt .gz", lambda r: load(r, data="bad_gzip")),
    ],
)


@pytest.mark.parametrize("case", params(DATASETS))
def test_load_stream_refuses(case: Case) -> None:
    """load_stream: the data folders and the cache folder unchanged, byte for byte."""
    check(case)
