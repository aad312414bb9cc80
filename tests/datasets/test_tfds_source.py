"""Tests for the tensorflow_datasets path: conversion, failures, offline cache hits."""

import numpy as np
import pytest

from recollect.datasets import DataNotFoundError, load_arrays, load_stream, tfds_source
from tests.datasets import fakes


def test_without_data_root_tfds_is_tried_and_the_error_says_what_to_do(no_tfds):
    with pytest.raises(DataNotFoundError) as error:
        load_arrays("mnist", use_cache=False)
    message = str(error.value)
    assert "RECOLLECT_DATA_DIR is unset" in message and "cannot download mnist" in message
    assert "train-images-idx3-ubyte" in message and "--data_dir" in message


def test_tfds_source(monkeypatch, tmp_path):
    monkeypatch.setattr(tfds_source, "load_splits", fakes.fake_tfds_load)
    data = load_arrays("cifar100", source="tfds", cache_dir=tmp_path)
    assert data.metadata["source"] == "tfds" and data.metadata["location"] == "tfds:cifar100"
    assert data.metadata["tfds_version"] == "3.0.2"
    assert data.arrays["x_train"].shape == (40, 32, 32, 3)
    np.testing.assert_array_equal(data.arrays["coarse_test"], np.arange(20) % 20)
    omniglot = load_arrays("omniglot", cache_dir=tmp_path)  # auto, no root: tfds.
    assert omniglot.arrays["x"].shape == (3, 4, 28, 28, 1)
    np.testing.assert_array_equal(omniglot.arrays["char_ids"], [1, 2, 3])
    assert omniglot.arrays["alphabet_names"].tolist() == ["Alpha", "Zeta"]  # by first id.
    np.testing.assert_array_equal(omniglot.arrays["alphabet"], [0, 0, 1])


def test_tfds_failure_is_one_clear_error(monkeypatch):
    def fail(name, data_dir):
        raise ConnectionError("no network")

    monkeypatch.setattr(tfds_source, "load_splits", fail)
    with pytest.raises(DataNotFoundError, match="RECOLLECT_DATA_DIR is unset"):
        load_stream("split_cifar10", use_cache=False)


def test_tfds_stream_is_served_from_the_cache_offline(monkeypatch, tmp_path):
    monkeypatch.setattr(tfds_source, "load_splits", fakes.fake_tfds_load)
    online = load_stream("split_cifar10", cache_dir=tmp_path)
    assert online.metadata["source"]["source"] == "tfds"
    assert [list(t.classes) for t in online] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]

    def fail(name, data_dir):
        raise ConnectionError("no network")

    monkeypatch.setattr(tfds_source, "load_splits", fail)
    offline = load_stream("split_cifar10", cache_dir=tmp_path)
    assert offline.metadata == online.metadata


def test_offline_the_network_probe_fails_before_any_download(monkeypatch):
    """tfds is asked to download only when a connection opens (offline: an error at once)."""
    import tensorflow_datasets as tfds

    def unreachable(address, timeout):
        raise OSError(f"cannot reach {address[0]}")

    def no_download(self, *args, **kwargs):
        raise AssertionError("download_and_prepare ran without the network")

    monkeypatch.setattr(tfds_source.socket, "create_connection", unreachable)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: False)
    with pytest.raises(DataNotFoundError) as error:
        load_arrays("mnist", source="tfds", data_dir=None, use_cache=False)
    message = str(error.value)
    assert "the network could not be reached (storage.googleapis.com:443" in message
    assert "put the files below in a local data root" in message and "mnist" in message
