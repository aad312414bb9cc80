"""Omniglot: one task per alphabet; the outputs are every character of the set.

Where this sits: registered in `protocols.STREAMS` as `omniglot`; `stream.py` calls
`build` with Omniglot from `omniglot.py` (the format module) or tfds.

```
task t   the characters of alphabet t (in the order of their first character id)
         train  each character's drawers outside its test drawers (18 of 20),
                shuffled by the seed unless shuffle=False
         test   round(drawers x test_fraction) drawers per character (2 of 20),
                chosen per character by the seed
label    the character's row in the data set (0 .. 1,622)
```
"""

from __future__ import annotations

import dataclasses

import numpy as np

from recollect.datasets.protocols.base import (
    Built,
    StreamSpec,
    TaskData,
    check,
    check_flag,
    rng,
)
from recollect.datasets.sources import DataArrays


@dataclasses.dataclass(frozen=True)
class OmniglotOptions:
    """Omniglot: one task per alphabet, outputs = every character of the set.

    Attributes:
        test_fraction: share of each character's drawers held out for testing
            (0.1: 2 of 20), chosen per character by the seed.
        shuffle: shuffle each task's training examples (seeded).
    """

    test_fraction: float = 0.1
    shuffle: bool = True

    def __post_init__(self) -> None:
        """Checks the values.

        Raises:
            ValueError: `test_fraction` outside (0, 1), or shuffle not a bool.
        """
        check_flag("shuffle", self.shuffle)
        check(
            isinstance(self.test_fraction, int | float) and 0.0 < self.test_fraction < 1.0,
            "0 < test_fraction < 1",
            f"test_fraction={self.test_fraction!r}",
        )


def build(data: DataArrays, options: OmniglotOptions, seed: int) -> Built:
    """Builds the alphabet tasks.

    Args:
        data: Omniglot.
        options: the stream's options.
        seed: the stream's seed.

    Returns:
        The tasks, one output per character, and `alphabets`, `char_ids`,
        `test_drawers` for the metadata.

    Raises:
        ValueError: a `test_fraction` that leaves no drawer for training or testing.
    """
    x, alphabet = data.arrays["x"], data.arrays["alphabet"]
    chars, drawers = x.shape[:2]
    num_test = round(drawers * options.test_fraction)
    check(
        0 < num_test < drawers,
        f"test_fraction leaving 1 to {drawers - 1} of {drawers} drawers for testing",
        f"test_fraction={options.test_fraction}",
    )
    order = rng(seed, "omniglot/split").permuted(np.tile(np.arange(drawers), (chars, 1)), axis=1)
    test_drawers, train_drawers = np.sort(order[:, :num_test], 1), np.sort(order[:, num_test:], 1)
    names = data.arrays["alphabet_names"].tolist()
    tasks = []
    for t in range(len(names)):
        members = np.flatnonzero(alphabet == t)
        split = []
        for drawer_sets in (train_drawers, test_drawers):
            per_char = drawer_sets.shape[1]
            images = x[members[:, None], drawer_sets[members]].reshape(-1, *x.shape[2:])
            split.append((images, np.repeat(members, per_char).astype(np.int32)))
        (x_train, y_train), (x_test, y_test) = split
        if options.shuffle:
            rows = rng(seed, "omniglot/order", t).permutation(len(y_train))
            x_train, y_train = x_train[rows], y_train[rows]
        tasks.append(TaskData(x_train, y_train, x_test, y_test))
    extra = {
        "alphabets": names,
        "char_ids": data.arrays["char_ids"].tolist(),
        "test_drawers": test_drawers.tolist(),
    }
    return tasks, chars, extra


SPEC = StreamSpec(dataset="omniglot", options=OmniglotOptions, build=build)
