"""GEM's gradient projection (Lopez-Paz and Ranzato, 2017), solved with scipy.

Where this sits: inside the GEM learner's `train_step` (Algorithm 2 of the
paper). The learner computes one flat gradient per earlier task on its decoded
recollections (`memories`) and the gradient of the current batch (`gradient`); if
the current gradient would increase the loss of an earlier task (a negative dot
product), it is replaced by the closest gradient that does not, and the learner
applies that instead. Numpy and scipy only, no TensorFlow.

```
memories  float [K, P]   one row per earlier task: d loss_k / d theta
gradient  float [P]      d loss_current / d theta
returns   float [P]      the update direction the optimiser applies
```
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.optimize


def _check_inputs(gradient: np.ndarray, memories: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns (gradient, memories) as float64 after checking shapes and values."""
    g = np.asarray(gradient)
    m = np.asarray(memories)
    if g.ndim != 1:
        raise ValueError(
            f"Expected `gradient` to be a flat float [P] vector. Received: gradient.shape={g.shape}"
        )
    if m.ndim != 2 or m.shape[1] != g.shape[0]:
        raise ValueError(
            "Expected `memories` to be float [K, P] with P = gradient.shape[0] = "
            f"{g.shape[0]}. Received: memories.shape={m.shape}"
        )
    g = g.astype(np.float64)
    m = m.astype(np.float64)
    if not np.all(np.isfinite(g)):
        raise ValueError("Expected `gradient` to be finite. Received: gradient with NaN or inf")
    if not np.all(np.isfinite(m)):
        raise ValueError("Expected `memories` to be finite. Received: memories with NaN or inf")
    return g, m


def violates(gradient: np.ndarray, memories: np.ndarray) -> bool:
    """Returns whether the gradient conflicts with any earlier task's gradient.

    GEM's test: a step along `gradient` would, to first order, increase the loss
    of task k iff <gradient, memories[k]> < 0.

    Args:
        gradient: float [P], the current batch's gradient.
        memories: float [K, P], one gradient per earlier task. K may be 0.

    Returns:
        bool, True iff some memories[k] @ gradient < 0.

    Raises:
        ValueError: if the shapes disagree or a value is not finite.
    """
    g, m = _check_inputs(gradient, memories)
    return bool(np.any(m @ g < 0.0))


def project_gradient(
    gradient: np.ndarray,
    memories: np.ndarray,
    *,
    margin: float = 0.5,
    ridge: float = 1e-3,
) -> np.ndarray:
    """Returns GEM's projected gradient, or the gradient itself if nothing conflicts.

    This is `project2cone2` of GEM's released code. With G = memories [K, P] and
    g = gradient [P], the primal problem is

        min_x 1/2 ||x - g||^2   s.t.   G x >= 0,

    whose Lagrangian dual (x = g + G^T v) is

        min_v 1/2 v^T G G^T v + (G g)^T v   s.t.   v >= 0.

    GEM's code calls `quadprog.solve_qp(P, q, C, h)` with P = G G^T (its released
    `gem.py` adds nothing; widely used forks add eps I with eps = 1e-3, our `ridge`),
    q = -G g, C = I and h = margin * 1. quadprog minimises
    1/2 v^T P v - q^T v subject to C^T v >= h, so the problem actually solved is

        min_v 1/2 v^T (G G^T + ridge I) v + (G g)^T v   s.t.   v >= margin,

    and the update is x = v^T G + g. The margin (GEM's `memory_strength`, 0.5 in
    all of its GEM runs) is a *lower bound on every dual variable*, not a slack on the
    constraint: every earlier task's gradient is added with weight at least
    `margin`, biasing the update towards backward transfer. With u = v - margin
    this is the projection of g + margin * sum_k G[k] onto {x : G x >= 0} (exact
    when ridge = 0), so G x >= -ridge * v holds at the solution. `ridge` keeps
    G G^T positive definite when task gradients are collinear or K > P, where
    quadprog would otherwise fail. It acts as a penalty: when the cone is thin
    (nearly opposing task gradients) the dual variables grow and the answer can
    differ noticeably from the exact projection, exactly as in the GEM forks.

    Solver: with L L^T = G G^T + ridge I (Cholesky) and c = (G G^T + ridge I) margin
    + G g, the problem in u >= 0 is min 1/2 ||L^T u + L^{-1} c||^2 up to a
    constant, a K-variable non-negative least squares problem that
    `scipy.optimize.nnls` (Lawson-Hanson active set) solves exactly. Only the K x K
    Gram matrix depends on P, so this costs O(K^2 P) for any parameter count.

    Args:
        gradient: float [P], the current batch's gradient, any float dtype.
        memories: float [K, P], one gradient per earlier task. K may be 0.
        margin: float >= 0, the lower bound on the dual variables.
        ridge: float > 0, added to the diagonal of G G^T (GEM forks use 1e-3).

    Returns:
        float [P] in the dtype of `gradient` (float64 for integer input), a new
        array. If no memory conflicts (G g >= 0, GEM's `dotp < 0` test) it holds the
        same values as `gradient`, unprojected; otherwise x = g + G^T v. The
        arithmetic is done in float64, as GEM does.

    Raises:
        ValueError: if the shapes disagree, a value is not finite, `margin` < 0,
            `ridge` <= 0, or `ridge` is too small for the scale of `memories`
            (G G^T + ridge I not numerically positive definite).
    """
    if not np.isfinite(margin) or margin < 0.0:
        raise ValueError(f"Expected `margin` >= 0. Received: margin={margin}")
    if not np.isfinite(ridge) or ridge <= 0.0:
        raise ValueError(
            f"Expected `ridge` > 0 so that the dual QP is strictly convex. Received: ridge={ridge}"
        )
    g, m = _check_inputs(gradient, memories)
    dtype = np.asarray(gradient).dtype
    out_dtype = dtype if np.issubdtype(dtype, np.floating) else np.float64
    if not np.any(m @ g < 0.0):
        return np.array(gradient, dtype=out_dtype, copy=True)

    num_memories = m.shape[0]
    gram = m @ m.T
    gram = 0.5 * (gram + gram.T) + ridge * np.eye(num_memories)
    try:
        lower = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError as error:
        raise ValueError(
            "Expected `ridge` large enough to make G G^T + ridge I numerically positive "
            f"definite for these memories (largest diagonal {np.max(np.diag(gram)):.3g}). "
            f"Received: ridge={ridge}"
        ) from error
    floor = np.full(num_memories, float(margin))
    linear = gram @ floor + m @ g
    target = -scipy.linalg.solve_triangular(lower, linear, lower=True)
    # Lawson-Hanson converges in at most a few passes over K variables; the default
    # 3 * K iterations can be too few for unlucky orderings.
    excess, _ = scipy.optimize.nnls(lower.T, target, maxiter=50 * num_memories + 50)
    dual = floor + excess
    projected = m.T @ dual + g
    return projected.astype(out_dtype)
