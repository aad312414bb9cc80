"""Tests for the Omniglot stream: one task per alphabet, a per-character test split."""

import numpy as np

from recollect.datasets import load_arrays
from tests.datasets.fakes import load_uncached as _load


def test_omniglot_tasks_are_alphabets_with_a_per_character_split(root):
    stream = _load(root, "omniglot")
    assert stream.metadata["alphabets"] == ["Alpha", "Beta", "Gamma"]
    assert [list(t.classes) for t in stream] == [[0, 1], [2, 3, 4], [5, 6]]
    test_drawers = np.array(stream.metadata["test_drawers"])
    assert test_drawers.shape == (7, 2)
    assert len({tuple(row) for row in test_drawers.tolist()}) > 1  # chosen per character.
    source = load_arrays("omniglot", data_dir=root, use_cache=False).arrays["x"]
    arrays = stream.task_arrays(1)
    for char in (2, 3, 4):
        expected = source[char, test_drawers[char]].astype(np.float32) / 255.0
        np.testing.assert_array_equal(arrays.x_test[arrays.y_test == char], expected)
        assert (arrays.y_train == char).sum() == 18
    assert arrays.x_train.mean() < 0.5  # strokes bright on a dark background.
