"""Tests for MNIST's IDX files: parsing, damage, and the arrays load_arrays returns."""

import gzip

import numpy as np
import pytest

from recollect.datasets import idx, load_arrays
from recollect.datasets.errors import CorruptDataError
from tests.datasets import fakes


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_idx_round_trip(tmp_path, gz):
    array = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    data = fakes.idx_bytes(array)
    path = tmp_path / ("a.gz" if gz else "a")
    path.write_bytes(gzip.compress(data) if gz else data)
    read = idx.read_idx(path)
    np.testing.assert_array_equal(read, array)
    assert read.dtype == np.uint8


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda d: d[:-7], "truncated: the header gives shape"),
        (lambda d: d[:9], "truncated inside its header"),
        (lambda d: d + b"\0", "longer than its header"),
        (lambda d: b"\x01" + d[1:], "not an IDX file"),
        (lambda d: b"", "not an IDX file"),
    ],
    ids=["truncated_data", "truncated_header", "trailing_bytes", "bad_magic", "empty"],
)
def test_idx_corruption_is_detected(tmp_path, damage, words):
    path = tmp_path / "bad"
    path.write_bytes(damage(fakes.idx_bytes(np.zeros((4, 28, 28), np.uint8))))
    with pytest.raises(CorruptDataError, match=words):
        idx.read_idx(path)


def test_idx_truncated_gzip_is_detected(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(fakes.idx_bytes(np.ones((9, 28, 28), np.uint8)))[:-20])
    with pytest.raises(CorruptDataError, match="cannot be decompressed"):
        idx.read_idx(path)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_mnist_arrays(tmp_path, gz):
    truth = fakes.write_mnist(tmp_path / "mnist", num_train=30, num_test=10, gz=gz)
    data = load_arrays("mnist", data_dir=tmp_path, use_cache=False)
    np.testing.assert_array_equal(data.arrays["x_train"][..., 0], truth["x_train"])
    np.testing.assert_array_equal(data.arrays["y_test"], truth["y_test"])
    assert data.arrays["x_test"].shape == (10, 28, 28, 1)
    assert data.arrays["y_train"].dtype == np.int32
    assert data.metadata["format"] == "IDX"
    assert sorted(data.metadata["files"]) == sorted(
        f + (".gz" if gz else "") for f in fakes.MNIST_FILES
    )
