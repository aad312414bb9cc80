"""benchmarks.animal_mnist: the wheel's pickles become MNIST's IDX files, read as MNIST."""

import gzip
import io
import pickle
import zipfile

import numpy as np
import pytest

from benchmarks import animal_mnist
from recollect.datasets import sources


def _gz_pickle(value):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb") as f:
        f.write(pickle.dumps(value))
    return out.getvalue()


def _wheel(path, images, labels):
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(animal_mnist.IMAGES, _gz_pickle(images))
        wheel.writestr(animal_mnist.LABELS, _gz_pickle(labels))
    return str(path)


def _data(per_class=5):
    labels = np.repeat(np.arange(10), per_class)
    images = (np.arange(len(labels))[:, None, None] + np.zeros((1, 28, 28))).astype(np.uint8)
    return images, labels


def test_each_class_is_split_and_the_streams_read_the_files_as_mnist(tmp_path, monkeypatch):
    monkeypatch.setattr(animal_mnist, "TEST_PER_CLASS", 2)
    images, labels = _data()
    sizes = animal_mnist.convert(_wheel(tmp_path / "a.whl", images, labels), str(tmp_path / "out"))
    assert sizes == {"train": 30, "test": 20}
    data = sources.load_arrays("mnist", data_dir=tmp_path / "out", use_cache=False)
    a = data.arrays
    assert a["x_train"].shape == (30, 28, 28, 1) and a["x_test"].shape == (20, 28, 28, 1)
    assert np.bincount(a["y_test"]).tolist() == [2] * 10
    assert np.bincount(a["y_train"]).tolist() == [3] * 10
    # every image (its pixel value is its row) lands once, under its own label
    rows = np.concatenate([a["x_train"][:, 0, 0, 0], a["x_test"][:, 0, 0, 0]])
    assert sorted(rows.tolist()) == list(range(50))
    for x, y in ((a["x_train"], a["y_train"]), (a["x_test"], a["y_test"])):
        np.testing.assert_array_equal(labels[x[:, 0, 0, 0]], y)
    assert "sha256" in (tmp_path / "out" / "README.txt").read_text()


def test_the_same_wheel_gives_the_same_bytes(tmp_path):
    wheel = _wheel(tmp_path / "a.whl", *_data(per_class=250))
    for name in ("one", "two"):
        animal_mnist.convert(wheel, str(tmp_path / name))
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        one = (tmp_path / "one" / "mnist" / name).read_bytes()
        assert one == (tmp_path / "two" / "mnist" / name).read_bytes()


class _Payload:
    def __reduce__(self):
        return (print, ("ran",))


def test_a_pickle_of_anything_but_arrays_or_a_wrong_file_is_refused(tmp_path):
    images, labels = _data()
    with pytest.raises(pickle.UnpicklingError, match="only numpy arrays"):
        animal_mnist.read_wheel(_wheel(tmp_path / "bad.whl", _Payload(), labels))
    with pytest.raises(ValueError, match="not a file"):
        animal_mnist.read_wheel(str(tmp_path / "missing.whl"))
    with pytest.raises(ValueError, match=r"28, 28"):
        animal_mnist.read_wheel(_wheel(tmp_path / "shape.whl", images[:, :27], labels))
    with zipfile.ZipFile(tmp_path / "other.whl", "w") as wheel:
        wheel.writestr("other/file.txt", "x")
    with pytest.raises(ValueError, match="in the wheel"):
        animal_mnist.read_wheel(str(tmp_path / "other.whl"))
