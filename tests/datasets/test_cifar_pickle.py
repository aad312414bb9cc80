"""Tests for the CIFAR python pickles: parsing, damage, and refusing code."""

import os
import pickle

import numpy as np
import pytest

from recollect.datasets import cifar_pickle
from recollect.datasets.errors import CorruptDataError


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_pickle_round_trip(protocol):
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    rows = images.transpose(0, 3, 1, 2).reshape(6, -1)
    data = pickle.dumps({b"data": rows, b"fine_labels": [1, 2, 3, 4, 5, 6]}, protocol=protocol)
    read = cifar_pickle.read_cifar_pickle(data, path="x", label_keys=("fine_labels",))
    np.testing.assert_array_equal(read["images"], images)
    np.testing.assert_array_equal(read["fine_labels"], [1, 2, 3, 4, 5, 6])
    assert read["fine_labels"].dtype == np.int32


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (lambda d: d[: len(d) // 2], "not a readable CIFAR pickle"),
        (None, "lacks the keys"),
        ([1, 2], "not a dict"),
        ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, r"uint8 \[N, 3072\]"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "must hold 2"),
    ],
    ids=["truncated", "missing_key", "not_a_dict", "wrong_width", "wrong_count"],
)
def test_cifar_pickle_errors(content, words):
    good = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, protocol=2)
    if callable(content):
        data = content(good)
    elif content is None:
        data = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2)
    else:
        data = pickle.dumps(content, protocol=2)
    with pytest.raises(CorruptDataError, match=words):
        cifar_pickle.read_cifar_pickle(data, path="batch", label_keys=("labels",))


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar_pickle_refuses_code():
    data = pickle.dumps({b"data": _Exploit(), b"labels": []}, protocol=2)
    with pytest.raises(CorruptDataError, match="refuses"):
        cifar_pickle.read_cifar_pickle(data, path="evil", label_keys=("labels",))
