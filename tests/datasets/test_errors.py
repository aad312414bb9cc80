"""Tests for the errors and the side-file checksums."""

import pytest

from recollect.datasets import errors
from recollect.datasets.errors import CorruptDataError, DataNotFoundError


def test_corrupt_error_is_a_data_not_found_error():
    assert issubclass(CorruptDataError, DataNotFoundError)
    assert issubclass(DataNotFoundError, FileNotFoundError)


def test_sidecar_checksum(tmp_path):
    path = tmp_path / "f.npz"
    path.write_bytes(b"abc")
    errors.verify_sidecar_sha256(path, "anything")  # no side file: nothing to check.
    digest = errors.file_sha256(path)
    (tmp_path / "f.npz.sha256").write_text(f"{digest}  f.npz\n")
    errors.verify_sidecar_sha256(path, digest)
    with pytest.raises(CorruptDataError, match="sha256"):
        errors.verify_sidecar_sha256(path, "0" * 64)
