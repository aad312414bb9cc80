"""Tests for finding data: local layouts, the data root, clear errors, raw cache."""

import numpy as np
import pytest

from recollect.datasets import DataNotFoundError, catalog, idx, load_arrays, sources
from recollect.datasets.errors import CorruptDataError
from tests.datasets import fakes


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mnist", ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "(each may end in .gz)"]),
        (
            "cifar10",
            ["cifar-10-batches-py/{data_batch_1", "cifar-10-python.tar.gz", "train/<class>"],
        ),
        ("cifar100", ["cifar-100-python/{train, test}", "cifar-100-python.tar.gz", "meta"]),
        ("omniglot", ["images_background.npz", "alphabets.json", "images_evaluation.zip"]),
    ],
)
def test_missing_data_names_data_set_folders_and_files(tmp_path, name, expected):
    with pytest.raises(DataNotFoundError) as error:
        load_arrays(name, data_dir=tmp_path, use_cache=False)
    message = str(error.value)
    assert f"('{name}')" in message
    assert str(tmp_path / name) in message and "the data_dir argument" in message
    assert sources.DATA_DIR_ENV in message and "--data_dir" in message
    for words in expected:
        assert words in message


def test_partial_mnist_lists_the_missing_file(tmp_path):
    fakes.write_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match=r"lacks: t10k-labels-idx1-ubyte\[\.gz\]"):
        load_arrays("mnist", data_dir=tmp_path, use_cache=False)


def test_truncated_mnist_names_file_and_data_set(tmp_path):
    fakes.write_mnist(tmp_path / "mnist", gz=False)
    path = tmp_path / "mnist" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptDataError) as error:
        load_arrays("mnist", data_dir=tmp_path, use_cache=False)
    message = str(error.value)
    assert "MNIST" in message and str(path) in message and "truncated" in message
    assert "t10k-images-idx3-ubyte" in message  # the expected files, again.


def test_wrong_sidecar_checksum_is_detected(tmp_path):
    fakes.write_omniglot_npz(tmp_path / "omniglot", fakes.omniglot_images(), sidecars=True)
    load_arrays("omniglot", data_dir=tmp_path, use_cache=False)  # matching side files pass.
    (tmp_path / "omniglot" / "images_evaluation.npz.sha256").write_text("0" * 64)
    with pytest.raises(CorruptDataError, match=r"images_evaluation\.npz: sha256 is"):
        load_arrays("omniglot", data_dir=tmp_path, use_cache=False)


def test_data_dir_may_be_the_data_set_folder_or_come_from_the_environment(tmp_path, monkeypatch):
    fakes.write_mnist(tmp_path / "mnist", num_train=10, num_test=10)
    direct = load_arrays("mnist", data_dir=tmp_path / "mnist", use_cache=False)
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(tmp_path))
    from_env = load_arrays("mnist", use_cache=False)
    np.testing.assert_array_equal(direct.arrays["x_train"], from_env.arrays["x_train"])


@pytest.mark.parametrize(
    "layout",
    ["pickles", "pickles_archive", "png_folder", "png_archive"],
)
def test_cifar10_layouts(tmp_path, layout):
    folder = tmp_path / "cifar10"
    if layout.startswith("pickles"):
        truth = fakes.write_cifar10_pickles(folder, archive=layout == "pickles_archive")
    else:
        archive = "cifar10-png.tar.gz" if layout == "png_archive" else None
        truth = fakes.write_image_folder(folder, archive=archive)
    data = load_arrays("cifar10", data_dir=tmp_path, use_cache=False)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(data.arrays[key], truth[key])
    assert data.metadata["class_names"] == list(catalog.CIFAR10_CLASSES)
    assert "note" not in data.metadata


@pytest.mark.parametrize("layout", ["pickles", "pickles_archive", "png_folder"])
def test_cifar100_layouts_keep_coarse_labels(tmp_path, layout):
    folder = tmp_path / "cifar100"
    if layout == "png_folder":
        truth = fakes.write_image_folder(
            folder, class_names=catalog.CIFAR100_CLASSES, train_per_class=1, test_per_class=1
        )
        coarse_of = {
            f: c for c, fs in enumerate(catalog.CIFAR100_SUPERCLASSES.values()) for f in fs
        }
        table = np.array([coarse_of[f] for f in catalog.CIFAR100_CLASSES])
        truth["coarse_train"] = table[truth["y_train"]]
    else:
        truth = fakes.write_cifar100(folder, archive=layout == "pickles_archive")
    data = load_arrays("cifar100", data_dir=tmp_path, use_cache=False)
    for key in ("x_train", "y_train", "coarse_train"):
        np.testing.assert_array_equal(data.arrays[key], truth[key])
    assert len(data.metadata["class_names"]) == 100
    assert len(data.metadata["coarse_class_names"]) == 20


def test_local_source_without_root_does_not_try_tfds(no_tfds):
    with pytest.raises(DataNotFoundError, match="source='local' but no data root"):
        load_arrays("cifar10", source="local", use_cache=False)


def test_unknown_data_set_and_source():
    with pytest.raises(ValueError, match="Expected a data set among"):
        load_arrays("svhn")
    with pytest.raises(ValueError, match="Received: source='web'"):
        load_arrays("mnist", source="web")


def test_raw_cache_is_used_and_keyed_by_file_content(tmp_path, monkeypatch):
    fakes.write_mnist(tmp_path / "mnist", num_train=10, num_test=10)
    cache = tmp_path / "cache"
    first = load_arrays("mnist", data_dir=tmp_path, cache_dir=cache)
    assert len(list(cache.glob("raw-mnist-*.npz"))) == 1

    def no_read(path):
        raise AssertionError("the cache should have answered")

    with monkeypatch.context() as patch:
        patch.setattr(idx, "read_idx", no_read)
        second = load_arrays("mnist", data_dir=tmp_path, cache_dir=cache)
    np.testing.assert_array_equal(first.arrays["x_train"], second.arrays["x_train"])
    assert first.metadata == second.metadata
    fakes.write_mnist(tmp_path / "mnist", num_train=10, num_test=10, seed=1)  # new content.
    third = load_arrays("mnist", data_dir=tmp_path, cache_dir=cache)
    assert not np.array_equal(first.arrays["x_train"], third.arrays["x_train"])
    assert len(list(cache.glob("raw-mnist-*.npz"))) == 2


def test_default_cache_dir(tmp_path, monkeypatch):
    monkeypatch.delenv(sources.CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # Never inside the data root, which may be read-only or shared.
    assert sources.resolve_cache_dir(None, tmp_path) == tmp_path / "home" / ".cache" / "recollect"
    assert sources.resolve_cache_dir(tmp_path / "x", tmp_path) == tmp_path / "x"
    monkeypatch.setenv(sources.CACHE_DIR_ENV, str(tmp_path / "env"))
    assert sources.resolve_cache_dir(None, tmp_path) == tmp_path / "env"
