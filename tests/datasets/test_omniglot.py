"""Tests for the Omniglot layouts: npz copy, official folders and zips, downsampling."""

import numpy as np
import pytest

from recollect.datasets import omniglot
from recollect.datasets.errors import CorruptDataError
from tests.datasets import fakes


@pytest.mark.parametrize("zipped", [False, True], ids=["folders", "zips"])
def test_omniglot_official_layout_matches_npz(tmp_path, zipped):
    images = fakes.omniglot_images(drawers=3)
    fakes.write_omniglot_npz(tmp_path / "npz", images)
    fakes.write_omniglot_official(tmp_path / "official", images, zipped=zipped)
    from_npz = omniglot.read_omniglot_npz(
        tmp_path / "npz" / "images_background.npz",
        tmp_path / "npz" / "images_evaluation.npz",
        tmp_path / "npz" / "alphabets.json",
    )
    suffix = ".zip" if zipped else ""

    def entries():
        for part in ("images_background", "images_evaluation"):
            root = tmp_path / "official" / f"{part}{suffix}"
            yield from omniglot.iter_omniglot_images(root, part=part)

    official = omniglot.read_omniglot_images(entries(), source="official")
    for key in ("x", "char_ids", "alphabet", "alphabet_names"):
        np.testing.assert_array_equal(official[key], from_npz[key])
    np.testing.assert_array_equal(from_npz["char_ids"], np.arange(1, 8))
    np.testing.assert_array_equal(from_npz["alphabet"], [0, 0, 1, 1, 1, 2, 2])
    assert from_npz["alphabet_names"].tolist() == ["Alpha", "Beta", "Gamma"]


def test_omniglot_downsampling_inverts_and_averages():
    white = np.ones((1, 2, 105, 105), bool)
    white[0, 1] = False
    white[0, 1, :, :52] = True  # left half white, right half ink.
    out = omniglot.assemble_omniglot(white, np.array([1]), np.array([0]), ["A"])["x"]
    assert out.shape == (1, 2, 28, 28, 1) and out.dtype == np.uint8
    assert out[0, 0].max() == 0  # all background -> dark.
    assert (out[0, 1, :, :13] == 0).all() and (out[0, 1, :, 14:] == 255).all()
    assert 0 < out[0, 1, 0, 13, 0] < 255  # the column straddling the edge is averaged.


def test_omniglot_bad_alphabet_ranges(tmp_path):
    fakes.write_omniglot_npz(tmp_path, fakes.omniglot_images(drawers=2))
    (tmp_path / "alphabets.json").write_text('{"background": [["A", 1, 3]], "evaluation": []}')
    with pytest.raises(CorruptDataError, match="covers no alphabet"):
        omniglot.read_omniglot_npz(
            tmp_path / "images_background.npz",
            tmp_path / "images_evaluation.npz",
            tmp_path / "alphabets.json",
        )
