"""Which recollections a student trains on: uniform, active, active and diverse, DPP.

Where this sits: a distillation run's compiled training step (`agents.distill.student`)
hands its sampler two callables and gets back the batch to train on; everything here
is tensor ops, traced once into that step (no Python loop over candidates):

```
draw(m)        -> x float32 [m, *input_shape]   m candidates, drawn uniformly at random
                                                (decoded recollections from the buffer,
                                                or decoded random codes)
hardness(x)    -> float32 [m]                   how wrong the student is on each: the KL
                                                divergence KL(teacher(x) || student(x))
sampler.sample(draw, hardness, batch_size=B) -> x float32 [B, *input_shape]

uniform          draw(B)
active           draw(B*k)   -> [B, k]   -> per slot, the hardest of its k
active_diverse   draw(B*k*n) -> [B, k*n] -> per slot, k of them by the minimum sum of
                                            squared similarities (Algorithm 3)
                                         -> the hardest of those k
dpp              draw(B*k*n) -> [B, k*n] -> per slot, k of them by a greedy MAP of a DPP
                                         -> the hardest of those k
```

k = n = 10 by default, as in the paper ("Designing generative sampling heuristics").
The similarity of two candidates is the cosine of their flattened inputs (an all-zero
input has similarity 0 to everything, itself included). Every tie goes to the lowest
candidate index, so a selection is a pure function of its inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import tensorflow as tf

from agents.registry import Registry

Draw = Callable[[int], tf.Tensor]
Hardness = Callable[[tf.Tensor], tf.Tensor]

# Algorithm 3 starts from two landmarks chosen at random; candidates are drawn at
# random, so the first two are such a choice.
INITIAL_LANDMARKS = 2
# The DPP's kernel is the similarity plus this much identity (an L-ensemble that
# stays positive definite when candidates repeat).
DPP_JITTER = 1e-3


class Sampler:
    """Picks the batch a student trains on from candidates drawn at random.

    Args:
        k: candidates per slot (active), or the diverse subset kept per slot
            (active_diverse, dpp); an int >= 1.
        n: the diverse samplers draw k * n candidates per slot; an int >= 1.

    Raises:
        ValueError: k or n not an int >= 1.
    """

    name: ClassVar[str] = "sampler"

    def __init__(self, *, k: int = 10, n: int = 10) -> None:
        for label, value in (("k", k), ("n", n)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"Expected {label} an int >= 1 (--sampler_{label}). Received: {label}={value!r}"
                )
        self.k = k
        self.n = n

    def candidates_per_slot(self) -> int:
        """How many candidates each slot of the batch is chosen from."""
        return 1

    def sample(self, draw: Draw, hardness: Hardness, *, batch_size: int) -> tf.Tensor:
        """The batch to train on.

        Args:
            draw: m -> float32 [m, *input_shape], m candidates drawn at random.
            hardness: float32 [m, *input_shape] -> float32 [m], larger = harder.
            batch_size: B, an int >= 1.

        Returns:
            float32 [B, *input_shape].

        Raises:
            ValueError: batch_size not an int >= 1.
        """
        _check_batch_size(batch_size)
        per_slot = self.candidates_per_slot()
        x = draw(batch_size * per_slot)
        if per_slot == 1:
            return x
        slots = tf.reshape(x, [batch_size, per_slot, *x.shape[1:]])
        kept = tf.gather(slots, self.subset(slots), batch_dims=1)  # [B, k, ...]
        k = kept.shape[1]
        losses = tf.reshape(hardness(tf.reshape(kept, [batch_size * k, *x.shape[1:]])), [-1, k])
        return tf.gather(kept, first_argmax(losses), batch_dims=1)

    def subset(self, slots: tf.Tensor) -> tf.Tensor:
        """int32 [B, k]: the candidates of each slot that go on to the hardness step."""
        size = slots.shape[1]
        return tf.tile(tf.range(size, dtype=tf.int32)[None], [tf.shape(slots)[0], 1])

    def get_config(self) -> dict[str, Any]:
        """The sampler's settings (results.json)."""
        return {"name": self.name, "k": self.k, "n": self.n}


class UniformSampler(Sampler):
    """B candidates drawn uniformly at random: the paper's buffer sampling."""

    name: ClassVar[str] = "uniform"


class ActiveSampler(Sampler):
    """Per slot, the hardest of k random candidates (the paper's active sampling)."""

    name: ClassVar[str] = "active"

    def candidates_per_slot(self) -> int:
        """k."""
        return self.k


class ActiveDiverseSampler(Sampler):
    """Per slot, k of k * n candidates by minimum sum of squared similarities, then the hardest.

    The diverse step is Algorithm 3 (Bouneffouf and Birol, 2015) with its subsample
    T the whole remainder (the candidates are already a random draw): the first two
    candidates are the initial landmarks, then, greedily, the candidate whose summed
    squared cosine similarity to the landmarks so far is smallest joins them.
    """

    name: ClassVar[str] = "active_diverse"

    def candidates_per_slot(self) -> int:
        """k * n."""
        return self.k * self.n

    def subset(self, slots: tf.Tensor) -> tf.Tensor:
        """int32 [B, k]: Algorithm 3's landmarks among each slot's k * n candidates."""
        return msss_select(cosine_similarity(slots), self.k)


class DppSampler(ActiveDiverseSampler):
    """Per slot, k of k * n candidates by a greedy DPP MAP, then the hardest.

    The DPP is an L-ensemble with kernel L = S + DPP_JITTER * I, S the cosine
    similarity of the candidates; the k are the greedy MAP (Chen, Zhang and Zhou,
    2018): each step adds the candidate that most increases log det(L_Y), an
    approximation of the exact MAP, which is NP-hard.
    """

    name: ClassVar[str] = "dpp"

    def subset(self, slots: tf.Tensor) -> tf.Tensor:
        """int32 [B, k]: the greedy MAP among each slot's k * n candidates."""
        return dpp_select(cosine_similarity(slots), self.k)


SAMPLERS: Registry[type[Sampler]] = Registry(
    "sampler",
    "--samplers",
    {
        "uniform": UniformSampler,
        "active": ActiveSampler,
        "active_diverse": ActiveDiverseSampler,
        "dpp": DppSampler,
    },
)


def get(identifier: Any) -> type[Sampler]:
    """The sampler class a name, a {"name": ...} dict or the class identifies.

    Raises:
        ValueError: an unknown name or object (`agents.registry.Registry.resolve`).
    """
    return SAMPLERS.resolve(identifier)


def build_sampler(identifier: Any, *, k: int = 10, n: int = 10) -> Sampler:
    """The sampler `identifier` names, with k and n.

    Raises:
        ValueError: an unknown sampler, or k or n not an int >= 1.
    """
    return get(identifier)(k=k, n=n)


def cosine_similarity(slots: tf.Tensor) -> tf.Tensor:
    """float32 [B, M, M]: cosine of the flattened inputs of each slot's candidates.

    The diagonal is exactly 1 (0 for an all-zero input) and the matrix exactly
    symmetric.

    Args:
        slots: float [B, M, *input_shape].
    """
    flat = tf.reshape(tf.cast(slots, tf.float32), [tf.shape(slots)[0], slots.shape[1], -1])
    unit = tf.math.l2_normalize(flat, axis=-1)  # an all-zero row stays zero
    product = tf.linalg.matmul(unit, unit, transpose_b=True)
    # Exactly symmetric, with an exact diagonal, so rounding never breaks a tie.
    symmetric = 0.5 * (product + tf.linalg.matrix_transpose(product))
    nonzero = tf.cast(tf.reduce_any(flat != 0, axis=-1), tf.float32)
    return tf.linalg.set_diag(symmetric, nonzero)


def first_argmax(values: tf.Tensor) -> tf.Tensor:
    """int32 [B]: per row of float [B, M], the lowest index holding the row's maximum."""
    return first_argmin(-values)


def first_argmin(values: tf.Tensor) -> tf.Tensor:
    """int32 [B]: per row of float [B, M], the lowest index holding the row's minimum."""
    size = tf.shape(values)[1]
    lowest = tf.reduce_min(values, axis=1, keepdims=True)
    index = tf.range(size, dtype=tf.int32)[None]
    return tf.reduce_min(tf.where(values == lowest, index, size), axis=1)


def msss_select(similarity: tf.Tensor, k: int) -> tf.Tensor:
    """Algorithm 3: k landmarks by the minimum sum of squared similarities.

    Candidates 0 and 1 start (the initial random landmarks); each later step adds
    the candidate not yet chosen whose sum of squared similarities to the chosen
    ones is smallest (ties: the lowest index). A candidate is never chosen twice.

    Args:
        similarity: float32 [B, M, M], symmetric.
        k: landmarks per row, 1 <= k <= M.

    Returns:
        int32 [B, k], in the order chosen.
    """
    squared = tf.square(similarity)
    initial = min(INITIAL_LANDMARKS, k)
    size = squared.shape[1]
    picks = tf.tile(tf.range(initial, dtype=tf.int32)[None], [tf.shape(squared)[0], 1])
    picks = tf.pad(picks, [[0, 0], [0, k - initial]])
    chosen = tf.reduce_sum(tf.one_hot(picks[:, :initial], size), axis=1) > 0  # [B, M]
    score = tf.reduce_sum(squared[:, :, :initial], axis=2)  # [B, M]

    def step(t: tf.Tensor, picks: tf.Tensor, chosen: tf.Tensor, score: tf.Tensor) -> tuple:
        index = first_argmin(tf.where(chosen, tf.constant(float("inf")), score))
        picks += index[:, None] * tf.one_hot(t, k, dtype=tf.int32)[None]
        chosen = tf.logical_or(chosen, tf.one_hot(index, size) > 0)
        score += tf.gather(squared, index, axis=2, batch_dims=1)
        return t + 1, picks, chosen, score

    start = tf.constant(initial)
    return tf.while_loop(lambda t, *_: t < k, step, (start, picks, chosen, score))[1]


def dpp_select(similarity: tf.Tensor, k: int) -> tf.Tensor:
    """The greedy MAP of a DPP with kernel L = similarity + DPP_JITTER * I.

    Each step adds the candidate with the largest conditional variance d_i^2 (the
    gain in log det L_Y), updated by the incremental Cholesky factor of Chen,
    Zhang and Zhou (2018); ties go to the lowest index, so with a unit diagonal
    the first pick is candidate 0. A candidate is never chosen twice.

    Args:
        similarity: float32 [B, M, M], symmetric positive semi-definite.
        k: picks per row, 1 <= k <= M.

    Returns:
        int32 [B, k], in the order chosen.
    """
    size = similarity.shape[1]
    kernel = similarity + DPP_JITTER * tf.eye(size)[None]
    rows = tf.shape(kernel)[0]
    factors = tf.zeros([rows, size, k])
    variance = tf.linalg.diag_part(kernel)
    picks = tf.zeros([rows, k], tf.int32)
    chosen = tf.zeros([rows, size], tf.bool)

    def step(
        t: tf.Tensor, picks: tf.Tensor, chosen: tf.Tensor, factors: tf.Tensor, variance: tf.Tensor
    ) -> tuple:
        index = first_argmax(tf.where(chosen, tf.constant(-float("inf")), variance))
        picks += index[:, None] * tf.one_hot(t, k, dtype=tf.int32)[None]
        chosen = tf.logical_or(chosen, tf.one_hot(index, size) > 0)
        column = tf.gather(kernel, index, axis=2, batch_dims=1)  # [B, M]
        own = tf.gather(factors, index, axis=1, batch_dims=1)  # [B, k]
        pivot = tf.gather(variance, index, axis=1, batch_dims=1)  # [B]
        projected = tf.einsum("bmk,bk->bm", factors, own)
        update = (column - projected) / tf.sqrt(tf.maximum(pivot, DPP_JITTER))[:, None]
        factors += update[:, :, None] * tf.one_hot(t, k)[None, None]
        variance -= tf.square(update)
        return t + 1, picks, chosen, factors, variance

    state = (tf.constant(0), picks, chosen, factors, variance)
    return tf.while_loop(lambda t, *_: t < k, step, state)[1]


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"Expected batch_size an int >= 1. Received: batch_size={batch_size!r}")
