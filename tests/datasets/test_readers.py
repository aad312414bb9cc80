"""Tests for the format readers: IDX, CIFAR pickles, image folders, Omniglot, cache."""

import gzip
import logging
import os
import pickle

import numpy as np
import pytest

from recollect.datasets import cache as cache_lib
from recollect.datasets import readers
from recollect.datasets.readers import CorruptDataError, DataNotFoundError
from tests.datasets import fakes


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_idx_round_trip(tmp_path, gz):
    array = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    data = fakes.idx_bytes(array)
    path = tmp_path / ("a.gz" if gz else "a")
    path.write_bytes(gzip.compress(data) if gz else data)
    read = readers.read_idx(path)
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
        readers.read_idx(path)


def test_idx_truncated_gzip_is_detected(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(fakes.idx_bytes(np.ones((9, 28, 28), np.uint8)))[:-20])
    with pytest.raises(CorruptDataError, match="cannot be decompressed"):
        readers.read_idx(path)


def test_corrupt_error_is_a_data_not_found_error():
    assert issubclass(CorruptDataError, DataNotFoundError)
    assert issubclass(DataNotFoundError, FileNotFoundError)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_pickle_round_trip(protocol):
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    rows = images.transpose(0, 3, 1, 2).reshape(6, -1)
    data = pickle.dumps({b"data": rows, b"fine_labels": [1, 2, 3, 4, 5, 6]}, protocol=protocol)
    read = readers.read_cifar_pickle(data, path="x", label_keys=("fine_labels",))
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
        readers.read_cifar_pickle(data, path="batch", label_keys=("labels",))


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar_pickle_refuses_code():
    data = pickle.dumps({b"data": _Exploit(), b"labels": []}, protocol=2)
    with pytest.raises(CorruptDataError, match="refuses"):
        readers.read_cifar_pickle(data, path="evil", label_keys=("labels",))


def test_image_folder_and_archive_read_the_same(tmp_path):
    truth = fakes.write_image_folder(tmp_path / "folder", train_per_class=2, test_per_class=1)
    fakes.write_image_folder(tmp_path / "tar", archive="images.tar.gz")
    from_folder = readers.read_image_entries(
        readers.iter_folder_images(tmp_path / "folder"), source="folder"
    )
    from_tar = readers.read_image_entries(
        readers.iter_tar_images(tmp_path / "tar" / "images.tar.gz"), source="tar"
    )
    for split in ("train", "test"):
        np.testing.assert_array_equal(from_folder[f"x_{split}"], truth[f"x_{split}"])
        np.testing.assert_array_equal(from_folder[f"y_{split}"], truth[f"y_{split}"])
        np.testing.assert_array_equal(from_tar[f"x_{split}"], truth[f"x_{split}"])
        np.testing.assert_array_equal(from_tar[f"files_{split}"], from_folder[f"files_{split}"])


def test_truncated_archive_and_image_are_detected(tmp_path):
    fakes.write_image_folder(tmp_path, archive="images.tar.gz")
    archive = tmp_path / "images.tar.gz"
    archive.write_bytes(archive.read_bytes()[:-500])
    with pytest.raises(CorruptDataError, match="tar archive"):
        readers.read_image_entries(readers.iter_tar_images(archive), source=archive)
    png = fakes.encode_image(np.zeros((32, 32, 3), np.uint8), ".png")
    with pytest.raises(CorruptDataError, match="not a readable image"):
        readers.decode_image(png[:40], path="x.png")


@pytest.mark.parametrize("zipped", [False, True], ids=["folders", "zips"])
def test_omniglot_official_layout_matches_npz(tmp_path, zipped):
    images = fakes.omniglot_images(drawers=3)
    fakes.write_omniglot_npz(tmp_path / "npz", images)
    fakes.write_omniglot_official(tmp_path / "official", images, zipped=zipped)
    from_npz = readers.read_omniglot_npz(
        tmp_path / "npz" / "images_background.npz",
        tmp_path / "npz" / "images_evaluation.npz",
        tmp_path / "npz" / "alphabets.json",
    )
    suffix = ".zip" if zipped else ""

    def entries():
        for part in ("images_background", "images_evaluation"):
            root = tmp_path / "official" / f"{part}{suffix}"
            yield from readers.iter_omniglot_images(root, part=part)

    official = readers.read_omniglot_images(entries(), source="official")
    for key in ("x", "char_ids", "alphabet", "alphabet_names"):
        np.testing.assert_array_equal(official[key], from_npz[key])
    np.testing.assert_array_equal(from_npz["char_ids"], np.arange(1, 8))
    np.testing.assert_array_equal(from_npz["alphabet"], [0, 0, 1, 1, 1, 2, 2])
    assert from_npz["alphabet_names"].tolist() == ["Alpha", "Beta", "Gamma"]


def test_omniglot_downsampling_inverts_and_averages():
    white = np.ones((1, 2, 105, 105), bool)
    white[0, 1] = False
    white[0, 1, :, :52] = True  # left half white, right half ink.
    out = readers.assemble_omniglot(white, np.array([1]), np.array([0]), ["A"])["x"]
    assert out.shape == (1, 2, 28, 28, 1) and out.dtype == np.uint8
    assert out[0, 0].max() == 0  # all background -> dark.
    assert (out[0, 1, :, :13] == 0).all() and (out[0, 1, :, 14:] == 255).all()
    assert 0 < out[0, 1, 0, 13, 0] < 255  # the column straddling the edge is averaged.


def test_omniglot_bad_alphabet_ranges(tmp_path):
    fakes.write_omniglot_npz(tmp_path, fakes.omniglot_images(drawers=2))
    (tmp_path / "alphabets.json").write_text('{"background": [["A", 1, 3]], "evaluation": []}')
    with pytest.raises(CorruptDataError, match="covers no alphabet"):
        readers.read_omniglot_npz(
            tmp_path / "images_background.npz",
            tmp_path / "images_evaluation.npz",
            tmp_path / "alphabets.json",
        )


def test_sidecar_checksum(tmp_path):
    path = tmp_path / "f.npz"
    path.write_bytes(b"abc")
    readers.verify_sidecar_sha256(path, "anything")  # no side file: nothing to check.
    digest = readers.file_sha256(path)
    (tmp_path / "f.npz.sha256").write_text(f"{digest}  f.npz\n")
    readers.verify_sidecar_sha256(path, digest)
    with pytest.raises(CorruptDataError, match="sha256"):
        readers.verify_sidecar_sha256(path, "0" * 64)


class TestArrayCache:
    @pytest.fixture(autouse=True)
    def _cache(self, tmp_path):
        self.cache = cache_lib.ArrayCache(tmp_path / "cache")
        self.arrays = {"a": np.arange(10, dtype=np.int32), "b": np.ones((2, 3), np.uint8)}

    def test_miss_then_hit(self):
        assert self.cache.load("k", "1") is None
        path = self.cache.save("k", "1", self.arrays, {"x": [1, 2]})
        assert oct(path.stat().st_mode & 0o777) == "0o644"
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left.
        arrays, metadata = self.cache.load("k", "1")
        assert metadata == {"x": [1, 2]}
        assert cache_lib.arrays_sha256(arrays) == cache_lib.arrays_sha256(self.arrays)

    @pytest.mark.parametrize("damage", ["flipped_byte", "truncated"])
    def test_damaged_entry_is_dropped(self, damage):
        path = self.cache.save("k", "1", self.arrays, {})
        data = bytearray(path.read_bytes())
        if damage == "flipped_byte":
            start = data.index(np.arange(10, dtype=np.int32).tobytes())
            data[start] ^= 0xFF
        else:
            data = data[: len(data) // 2]
        path.write_bytes(bytes(data))
        assert self.cache.load("k", "1") is None
        assert not path.exists()

    def test_checksum_depends_on_names_dtypes_and_shapes(self):
        base = cache_lib.arrays_sha256({"a": np.zeros(4, np.uint8)})
        assert base != cache_lib.arrays_sha256({"b": np.zeros(4, np.uint8)})
        assert base != cache_lib.arrays_sha256({"a": np.zeros(4, np.int8)})
        assert base != cache_lib.arrays_sha256({"a": np.zeros((2, 2), np.uint8)})

    def test_reserved_names_are_refused(self):
        with pytest.raises(ValueError, match="without a '__' prefix"):
            self.cache.save("k", "1", {"__sha256__": np.zeros(1)}, {})

    def test_unwritable_cache_is_skipped(self, tmp_path, caplog):
        blocker = tmp_path / "file"
        blocker.write_text("x")
        with caplog.at_level(logging.WARNING):
            assert cache_lib.ArrayCache(blocker / "sub").save("k", "1", self.arrays, {}) is None
        assert "continuing uncached" in caplog.text
