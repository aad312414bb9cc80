"""Exact nearest-neighbour L1 distances, chunked, for Table 4's recollections.

Where this sits: `benchmarks.code_sampling` scores each set of 10,000 recollections
by how far each lies from its nearest training image. L1 has no matmul identity
(unlike L2), so every pair is compared: queries go through in chunks of
`query_chunk`, and one compiled call runs over the reference set in chunks of
`reference_chunk`, keeping a running minimum. Peak temporary memory is one
float32 [query_chunk, reference_chunk, D] difference, whatever N and M are.

```
queries    float32 [N, D] --pad to a multiple of q--> [N', D] --chunks--> [q, D]
reference  float32 [M, D] --pad with copies of row 0--> [M' / r, r, D]
one call:  for each [r, D] block: min(best, min_r sum_D |query - block|) -> [q]
result     float64 [N]: best / D (a copy of row 0 cannot change a minimum)
```

`recollect.metrics.nearest_neighbour_distortion` is the numpy reference of the
same number (float64, slower); this one sums in float32 and runs with XLA.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tqdm

from recollect import arguments

QUERY_CHUNK = 16
REFERENCE_CHUNK = 128


def nearest_l1(
    queries: np.ndarray,
    reference: np.ndarray,
    *,
    query_chunk: int = QUERY_CHUNK,
    reference_chunk: int = REFERENCE_CHUNK,
    jit_compile: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """Returns each query's mean absolute difference to its nearest reference item.

    Exact: every query is compared with every reference item (no index, no
    approximation); only the float32 summation order differs from numpy's.

    Args:
        queries: float [N, ...], e.g. recollections with pixels in [0, 1].
        reference: float [M, ...], e.g. the training set; the same per-item shape.
        query_chunk: int >= 1, queries per compiled call.
        reference_chunk: int >= 1, reference items compared at once in a call.
        jit_compile: compile the call with XLA (about 2x faster on a CPU).
        progress: show a tqdm bar over the queries.

    Returns:
        float64 [N]: min over reference items of mean |query - item| over the D
        values of an item.

    Raises:
        ValueError: if a chunk size is not an int >= 1, either set is empty, the
            per-item shapes differ, or a value is not finite.
    """
    arguments.check_int("query_chunk", query_chunk, minimum=1)
    arguments.check_int("reference_chunk", reference_chunk, minimum=1)
    queries, reference = np.asarray(queries), np.asarray(reference)
    flat_queries = _flat("queries", queries)
    flat_reference = _flat("reference", reference)
    if queries.shape[1:] != reference.shape[1:]:
        raise ValueError(
            "Expected `queries` and `reference` items to have the same shape. "
            f"Received: queries.shape={queries.shape}, reference.shape={reference.shape}"
        )
    num_queries, size = flat_queries.shape
    blocks = _padded_blocks(flat_reference, reference_chunk)
    search = _compiled_search(query_chunk, reference_chunk, size, jit_compile)
    padded = np.zeros((math.ceil(num_queries / query_chunk) * query_chunk, size), np.float32)
    padded[:num_queries] = flat_queries
    best = np.empty(padded.shape[0], np.float64)
    with tqdm.tqdm(
        total=num_queries, desc="nearest neighbours", unit="query", disable=not progress
    ) as bar:
        for start in range(0, num_queries, query_chunk):
            chunk = tf.constant(padded[start : start + query_chunk])
            best[start : start + query_chunk] = search(chunk, blocks).numpy()
            bar.update(min(query_chunk, num_queries - start))
    return best[:num_queries] / size


def _flat(name: str, array: np.ndarray) -> np.ndarray:
    """Returns float32 [N, D] after checking the array is non-empty and finite."""
    if array.ndim < 2 or array.shape[0] == 0 or array[0].size == 0:
        raise ValueError(
            f"Expected `{name}` to be float [N, ...] with N >= 1 items of at least one "
            f"value. Received: {name}.shape={array.shape}"
        )
    flat = array.reshape(array.shape[0], -1).astype(np.float32)
    if not np.all(np.isfinite(flat)):
        raise ValueError(f"Expected `{name}` to hold only finite values. Received: a NaN or inf")
    return flat


def _padded_blocks(reference: np.ndarray, chunk: int) -> tf.Tensor:
    """float32 [M' / chunk, chunk, D]: the reference, padded with copies of row 0."""
    num_blocks = math.ceil(reference.shape[0] / chunk)
    fill = num_blocks * chunk - reference.shape[0]
    padded = np.concatenate([reference, np.repeat(reference[:1], fill, axis=0)])
    return tf.constant(padded.reshape(num_blocks, chunk, reference.shape[1]))


@functools.lru_cache(maxsize=8)
def _compiled_search(
    query_chunk: int, reference_chunk: int, size: int, jit_compile: bool
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The compiled call: float32 [q, D], [K, r, D] -> float32 [q] nearest L1 sums."""

    @tf.function(
        jit_compile=jit_compile,
        input_signature=[
            tf.TensorSpec([query_chunk, size], tf.float32),
            tf.TensorSpec([None, reference_chunk, size], tf.float32),
        ],
    )
    def search(queries: tf.Tensor, blocks: tf.Tensor) -> tf.Tensor:
        def body(i: tf.Tensor, best: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            # [q, 1, D] - [1, r, D] -> [q, r]: the L1 sum of every pair in the chunks.
            sums = tf.reduce_sum(tf.abs(queries[:, None, :] - blocks[i][None, :, :]), axis=-1)
            return i + 1, tf.minimum(best, tf.reduce_min(sums, axis=1))

        start = (tf.constant(0), tf.fill([query_chunk], tf.constant(np.inf, tf.float32)))
        _, best = tf.while_loop(lambda i, _: i < tf.shape(blocks)[0], body, start)
        return best

    return search
