"""Numbers over seeds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mean_std(values: Sequence[float | None] | np.ndarray) -> dict[str, float | None]:
    """{"mean", "std"} of the values that are not None (population std, ddof=0).

    Both are None when every value is None (a metric no seed could measure, such
    as BWT of a one-task stream).
    """
    present = [v for v in values if v is not None]
    if not present:
        return {"mean": None, "std": None}
    array = np.asarray(present, float)
    return {"mean": float(array.mean()), "std": float(array.std())}
