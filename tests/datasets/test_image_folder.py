"""Tests for CIFAR image folders and their archives (the JPEG copy among them)."""

import numpy as np
import pytest

from recollect.datasets import catalog, image_folder, load_arrays
from recollect.datasets.errors import CorruptDataError
from recollect.datasets.formats import decode_image
from tests.datasets import fakes


def test_image_folder_and_archive_read_the_same(tmp_path):
    truth = fakes.write_image_folder(tmp_path / "folder", train_per_class=2, test_per_class=1)
    fakes.write_image_folder(tmp_path / "tar", archive="images.tar.gz")
    from_folder = image_folder.read_image_entries(
        image_folder.iter_folder_images(tmp_path / "folder"), source="folder"
    )
    from_tar = image_folder.read_image_entries(
        image_folder.iter_tar_images(tmp_path / "tar" / "images.tar.gz"), source="tar"
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
        image_folder.read_image_entries(image_folder.iter_tar_images(archive), source=archive)
    png = fakes.encode_image(np.zeros((32, 32, 3), np.uint8), ".png")
    with pytest.raises(CorruptDataError, match="not a readable image"):
        decode_image(png[:40], path="x.png")


def test_jpeg_copy_is_flagged_in_metadata(tmp_path):
    fakes.write_image_folder(tmp_path / "cifar10", suffix=".jpg", archive="cifar10-jpeg.tar.gz")
    data = load_arrays("cifar10", data_dir=tmp_path, use_cache=False)
    assert data.arrays["x_train"].shape == (20, 32, 32, 3)
    assert data.metadata["image_suffixes"] == [".jpg"]
    assert "CIFAR-10 (JPEG copy)" in data.metadata["note"]


def test_cifar100_superclass_table_is_a_partition():
    fines = [f for group in catalog.CIFAR100_SUPERCLASSES.values() for f in group]
    assert len(catalog.CIFAR100_SUPERCLASSES) == 20 and len(set(fines)) == 100
    assert all(len(group) == 5 for group in catalog.CIFAR100_SUPERCLASSES.values())


def test_cifar_image_folder_with_wrong_class_count(tmp_path):
    fakes.write_image_folder(tmp_path / "cifar10", class_names=("a", "b", "c"))
    with pytest.raises(CorruptDataError, match="expected 10 class folders"):
        load_arrays("cifar10", data_dir=tmp_path, use_cache=False)
