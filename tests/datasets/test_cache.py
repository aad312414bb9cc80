"""Tests for the verified on-disk cache of prepared arrays."""

import logging

import numpy as np
import pytest

from recollect.datasets import cache as cache_lib


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
