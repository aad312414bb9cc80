"""Continual-learning metrics: accuracy matrix summaries and recollection distortion.

Where this sits: at the very end of the data flow. A runner evaluates the learner
on every task's test set after each task and fills an accuracy matrix; these
functions turn it into the numbers the paper and GEM report. The distortion
functions score the decoder's recollections against real inputs. Numpy only.

Accuracy matrix layout (GEM's convention, T tasks):

```
                 evaluated on task j ->
                 0        1        ...  T-1
trained  0   [ R[0,0]   R[0,1]   ...  R[0,T-1]   ]   after task 0
up to    1   [ R[1,0]   R[1,1]   ...  R[1,T-1]   ]   after task 1
task i   ... [ ...                               ]
 |      T-1  [ R[T-1,0] R[T-1,1] ...  R[T-1,T-1] ]   after the whole sequence
 v
b            [ b[0]     b[1]     ...  b[T-1]     ]   random init, before training
```

- retention (the paper's ACC) = mean(R[T-1, :])
- BWT = 1/(T-1) * sum_{j < T-1} (R[T-1, j] - R[j, j])
- FWT = 1/(T-1) * sum_{j >= 1} (R[j-1, j] - b[j])

BWT and FWT follow the formulas of the GEM paper (Lopez-Paz and Ranzato, 2017),
averaging over the T - 1 tasks on which they are defined. GEM's released
`metrics.py` instead averages T entries, one of which is zero by construction, so
its printed numbers are (T - 1) / T times these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

METRIC_NAMES = ("retention", "bwt", "fwt")


def _check_accuracy_matrix(accuracy_matrix: np.ndarray, *, min_tasks: int) -> np.ndarray:
    """Returns R as float64 [T, T] after checking its shape and values."""
    r = np.asarray(accuracy_matrix, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != r.shape[1]:
        raise ValueError(
            "Expected `accuracy_matrix` to be a square float [T, T] matrix. "
            f"Received: accuracy_matrix.shape={r.shape}"
        )
    if r.shape[0] < min_tasks:
        why = " (backward and forward transfer are undefined for one task)" if min_tasks > 1 else ""
        raise ValueError(
            f"Expected `accuracy_matrix` to cover at least {min_tasks} tasks{why}. "
            f"Received: accuracy_matrix.shape={r.shape}"
        )
    if not np.all(np.isfinite(r)):
        raise ValueError(
            "Expected `accuracy_matrix` to hold only finite values (fill every "
            f"evaluation before summarising). Received: accuracy_matrix={r.tolist()}"
        )
    return r


def retention(accuracy_matrix: np.ndarray) -> float:
    """Returns the mean test accuracy over all tasks after the whole sequence.

    This is the paper's *retention* and GEM's ACC: the mean of the last row.

    Args:
        accuracy_matrix: float [T, T], R[i, j] = test accuracy on task j after
            training on tasks 0..i. T >= 1.

    Returns:
        float, mean(R[T-1, :]), in the units of `accuracy_matrix`.

    Raises:
        ValueError: if `accuracy_matrix` is not square, is empty or holds a NaN or
            infinity.
    """
    r = _check_accuracy_matrix(accuracy_matrix, min_tasks=1)
    return float(np.mean(r[-1]))


def backward_transfer(accuracy_matrix: np.ndarray) -> float:
    """Returns GEM's backward transfer (BWT); negative values mean forgetting.

    BWT = 1/(T-1) * sum_{j=0}^{T-2} (R[T-1, j] - R[j, j]).

    Args:
        accuracy_matrix: float [T, T], R[i, j] = test accuracy on task j after
            training on tasks 0..i. T >= 2.

    Returns:
        float, the mean change in accuracy on each earlier task between just after
        learning it and the end of the sequence.

    Raises:
        ValueError: if `accuracy_matrix` is not square, holds a NaN or infinity, or
            has T < 2 (no earlier task to transfer to, so BWT is undefined).
    """
    r = _check_accuracy_matrix(accuracy_matrix, min_tasks=2)
    num_tasks = r.shape[0]
    earlier = np.arange(num_tasks - 1)
    return float(np.mean(r[-1, earlier] - r[earlier, earlier]))


def forward_transfer(accuracy_matrix: np.ndarray, initial_accuracy: np.ndarray) -> float:
    """Returns GEM's forward transfer (FWT); positive values mean zero-shot gains.

    FWT = 1/(T-1) * sum_{j=1}^{T-1} (R[j-1, j] - b[j]).

    Args:
        accuracy_matrix: float [T, T], R[i, j] = test accuracy on task j after
            training on tasks 0..i. T >= 2.
        initial_accuracy: float [T], b[j] = test accuracy on task j of the randomly
            initialised model, before any training.

    Returns:
        float, the mean accuracy on each task just before training on it, relative
        to the untrained model.

    Raises:
        ValueError: if `accuracy_matrix` is not square, either input holds a NaN or
            infinity, `initial_accuracy` is not [T], or T < 2 (FWT is undefined).
    """
    r = _check_accuracy_matrix(accuracy_matrix, min_tasks=2)
    b = _check_initial_accuracy(initial_accuracy, num_tasks=r.shape[0])
    later = np.arange(1, r.shape[0])
    return float(np.mean(r[later - 1, later] - b[later]))


def _check_initial_accuracy(initial_accuracy: np.ndarray, *, num_tasks: int) -> np.ndarray:
    """Returns b as float64 [T] after checking its shape and values."""
    b = np.asarray(initial_accuracy, dtype=np.float64)
    if b.shape != (num_tasks,):
        raise ValueError(
            f"Expected `initial_accuracy` to be float [T] with T={num_tasks}, one entry "
            f"per task. Received: initial_accuracy.shape={b.shape}"
        )
    if not np.all(np.isfinite(b)):
        raise ValueError(
            "Expected `initial_accuracy` to hold only finite values. "
            f"Received: initial_accuracy={b.tolist()}"
        )
    return b


def summarize(
    accuracy_matrix: np.ndarray, initial_accuracy: np.ndarray | None = None
) -> dict[str, float | None]:
    """Returns retention, BWT and FWT of one run.

    Args:
        accuracy_matrix: float [T, T], R[i, j] = test accuracy on task j after
            training on tasks 0..i. T >= 2.
        initial_accuracy: optional float [T], accuracy of the untrained model on
            each task. Without it FWT is not computed.

    Returns:
        {"retention": float, "bwt": float, "fwt": float or None}; "fwt" is None when
        `initial_accuracy` is None.

    Raises:
        ValueError: as `backward_transfer` and `forward_transfer`; in particular for
            T = 1, where BWT and FWT are undefined. Use `retention` alone there.
    """
    r = _check_accuracy_matrix(accuracy_matrix, min_tasks=2)
    fwt = None if initial_accuracy is None else forward_transfer(r, initial_accuracy)
    return {"retention": retention(r), "bwt": backward_transfer(r), "fwt": fwt}


def aggregate_seeds(
    summaries: Sequence[Mapping[str, float | None]],
) -> dict[str, dict[str, float] | None]:
    """Returns the mean and population standard deviation of each metric over seeds.

    Args:
        summaries: one dict per seed, for example the output of `summarize`, all
            with the same keys. A metric may be None (FWT without an initial
            accuracy) only if it is None in every summary.

    Returns:
        {metric: {"mean": float, "std": float}} for every key, in the order of the
        first summary; None for a metric that is None in every summary. "std" is the
        population standard deviation (ddof=0), so a single seed gives 0.0.

    Raises:
        ValueError: if `summaries` is empty, the summaries have different keys, a
            metric is None in some seeds only, or a value is not finite.
    """
    if len(summaries) == 0:
        raise ValueError("Expected at least one per-seed summary. Received: summaries=[]")
    keys = list(summaries[0])
    for seed, summary in enumerate(summaries):
        if set(summary) != set(keys):
            raise ValueError(
                f"Expected every summary to have the keys {sorted(keys)}. "
                f"Received: summaries[{seed}] keys={sorted(summary)}"
            )
    aggregated: dict[str, dict[str, float] | None] = {}
    for key in keys:
        values = [summary[key] for summary in summaries]
        missing = [value is None for value in values]
        if all(missing):
            aggregated[key] = None
            continue
        if any(missing):
            raise ValueError(
                f"Expected metric {key!r} to be given in every seed or in none. "
                f"Received: {key}={values}"
            )
        array = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise ValueError(
                f"Expected metric {key!r} to be finite in every seed. Received: {key}={values}"
            )
        aggregated[key] = {"mean": float(np.mean(array)), "std": float(np.std(array))}
    return aggregated


def _check_pixels(name: str, pixels: np.ndarray) -> np.ndarray:
    """Returns pixels as float64 after checking they are finite and in [0, 1]."""
    array = np.asarray(pixels, dtype=np.float64)
    if array.ndim < 1 or array.shape[0] == 0:
        raise ValueError(
            f"Expected `{name}` to hold at least one item along its first axis. "
            f"Received: {name}.shape={array.shape}"
        )
    if not np.all(np.isfinite(array)) or array.min() < 0.0 or array.max() > 1.0:
        raise ValueError(
            f"Expected `{name}` to be finite pixels in [0, 1] (divide 8-bit images by "
            f"255). Received: {name} with min={array.min()}, max={array.max()}"
        )
    return array


def reconstruction_distortion(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Returns the paper's distortion: mean absolute error on [0, 1] pixels.

    The mean over each item's pixels, then over items; as every item has the same
    size this is the mean over all entries.

    Args:
        x: float [N, ...], real inputs with pixels in [0, 1].
        x_hat: float [N, ...], their reconstructions, same shape and range.

    Returns:
        float in [0, 1].

    Raises:
        ValueError: if the shapes differ, N = 0, or a value is not finite or lies
            outside [0, 1].
    """
    x_array = _check_pixels("x", x)
    x_hat_array = _check_pixels("x_hat", x_hat)
    if x_array.shape != x_hat_array.shape:
        raise ValueError(
            "Expected `x` and `x_hat` to have the same shape. "
            f"Received: x.shape={x_array.shape}, x_hat.shape={x_hat_array.shape}"
        )
    return float(np.mean(np.abs(x_array - x_hat_array)))


def nearest_neighbour_distortion(
    samples: np.ndarray, reference: np.ndarray, *, batch_size: int = 64
) -> float:
    """Returns the mean L1 distance from each sample to its nearest reference item.

    Table 4 of the paper: for every recollection, the mean absolute pixel
    difference to the closest training example, averaged over recollections.
    Items are compared `batch_size` samples against `batch_size` reference items at
    a time, so the peak temporary memory is about 8 * batch_size**2 * D bytes for
    D values per item, whatever N and M are.

    Args:
        samples: float [N, ...], recollections with pixels in [0, 1].
        reference: float [M, ...], the reference set (for example the training
            set), with the same per-item shape and range.
        batch_size: int > 0, items per chunk on each side.

    Returns:
        float in [0, 1], mean over samples of min over reference items of the mean
        absolute difference.

    Raises:
        ValueError: if `batch_size` < 1, either set is empty, the per-item shapes
            differ, or a value is not finite or lies outside [0, 1].
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise ValueError(f"Expected `batch_size` to be an int. Received: batch_size={batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"Expected `batch_size` >= 1. Received: batch_size={batch_size}")
    sample_array = _check_pixels("samples", samples)
    reference_array = _check_pixels("reference", reference)
    if sample_array.shape[1:] != reference_array.shape[1:]:
        raise ValueError(
            "Expected `samples` and `reference` items to have the same shape. "
            f"Received: samples.shape={sample_array.shape}, "
            f"reference.shape={reference_array.shape}"
        )
    flat_samples = sample_array.reshape(sample_array.shape[0], -1)
    flat_reference = reference_array.reshape(reference_array.shape[0], -1)
    nearest = np.empty(flat_samples.shape[0], dtype=np.float64)
    for start in range(0, flat_samples.shape[0], batch_size):
        chunk = flat_samples[start : start + batch_size]
        best = np.full(chunk.shape[0], np.inf)
        for ref_start in range(0, flat_reference.shape[0], batch_size):
            ref_chunk = flat_reference[ref_start : ref_start + batch_size]
            # [n, m, D] -> [n, m]: mean L1 distance of every pair in the two chunks.
            distances = np.mean(np.abs(chunk[:, None, :] - ref_chunk[None, :, :]), axis=-1)
            best = np.minimum(best, distances.min(axis=1))
        nearest[start : start + batch_size] = best
    return float(np.mean(nearest))
