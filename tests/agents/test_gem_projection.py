"""Tests for agents.gem_projection: hand cases, an SLSQP primal oracle, an exact
active-set enumeration oracle (numpy) and hypothesis properties."""

import itertools

import numpy as np
import pytest
import scipy.optimize
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from agents import gem_projection


def _primal_oracle(gradient, memories, margin):
    """min 1/2 ||x - g'||^2 s.t. G x >= 0, with g' = g + margin * sum_k G[k].

    The dual with v >= margin is the dual of this primal (substitute v = margin + u),
    so for ridge -> 0 both give the same x.
    """
    g = np.asarray(gradient, np.float64)
    m = np.asarray(memories, np.float64)
    shifted = g + margin * m.sum(axis=0)
    result = scipy.optimize.minimize(
        lambda x: 0.5 * np.sum((x - shifted) ** 2),
        x0=np.zeros_like(shifted),
        jac=lambda x: x - shifted,
        constraints=[{"type": "ineq", "fun": lambda x: m @ x, "jac": lambda x: m}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    assert result.success, result.message
    return result.x, shifted


@pytest.mark.parametrize(
    "gradient, memories",
    [
        (np.array([1.0, 2.0]), np.array([[1.0, 0.0], [0.0, 1.0]])),
        (np.array([1.0, -1.0]), np.array([[1.0, 1.0]])),  # orthogonal: dot = 0
        (np.array([0.3, -0.2, 0.1]), np.zeros((2, 3))),
        (np.array([0.3, -0.2, 0.1]), np.zeros((0, 3))),  # no earlier task
    ],
)
def test_unchanged_without_violation(gradient, memories):
    assert not gem_projection.violates(gradient, memories)
    projected = gem_projection.project_gradient(gradient, memories)
    np.testing.assert_array_equal(projected, gradient)
    assert projected is not gradient


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("violated", [False, True])
def test_keeps_float_dtype(dtype, violated):
    gradient = np.array([-1.0 if violated else 1.0, 2.0], dtype)
    memories = np.array([[1.0, 0.0]], dtype)
    assert gem_projection.project_gradient(gradient, memories).dtype == dtype


def test_integer_input_gives_float64():
    projected = gem_projection.project_gradient(np.array([-1, 2]), np.array([[1, 0]]))
    assert projected.dtype == np.float64


@pytest.mark.parametrize(
    "margin, expected",
    [
        # Only task 0 conflicts; margin 0 projects its component away.
        (0.0, [0.0, 2.0]),
        # v >= 0.5 adds half of *every* memory, then projects: g' = [-0.5, 2.5].
        (0.5, [0.0, 2.5]),
        (1.0, [0.0, 3.0]),
    ],
)
def test_hand_example_margin_is_a_floor_on_dual_variables(margin, expected):
    gradient = np.array([-1.0, 2.0])
    memories = np.eye(2)
    assert gem_projection.violates(gradient, memories)
    projected = gem_projection.project_gradient(gradient, memories, margin=margin, ridge=1e-12)
    np.testing.assert_allclose(projected, expected, atol=1e-9)


def test_default_ridge_keeps_constraints_nearly_satisfied():
    rng = np.random.default_rng(0)
    memories = rng.normal(size=(5, 40))
    gradient = -memories.sum(axis=0)
    projected = gem_projection.project_gradient(gradient, memories)
    # KKT of the ridged dual: G x + ridge * v >= 0 with v of order one here.
    assert np.min(memories @ projected) > -1e-2


@pytest.mark.parametrize("margin", [0.0, 0.5])
@pytest.mark.parametrize(
    "num_memories, num_params", [(1, 3), (3, 10), (6, 4)]
)  # (6, 4): more constraints than parameters
def test_agrees_with_primal_oracle(margin, num_memories, num_params):
    rng = np.random.default_rng(num_memories * 100 + num_params)
    memories = rng.normal(size=(num_memories, num_params))
    gradient = -memories.mean(axis=0) + 0.1 * rng.normal(size=num_params)
    assert gem_projection.violates(gradient, memories)
    projected = gem_projection.project_gradient(gradient, memories, margin=margin, ridge=1e-10)
    expected, _ = _primal_oracle(gradient, memories, margin)
    np.testing.assert_allclose(projected, expected, atol=1e-5)
    assert np.min(memories @ projected) >= -1e-6


def test_parallel_memories_do_not_break_the_solver():
    # Collinear task gradients make G G^T singular; the ridge keeps it solvable.
    memories = np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    gradient = np.array([-1.0, 1.0, 0.5])
    projected = gem_projection.project_gradient(gradient, memories, margin=0.0)
    np.testing.assert_allclose(projected, [0.0, 1.0, 0.5], atol=1e-3)


def _enumeration_oracle(gradient, memories, margin):
    """Exact projection of g' = g + margin * sum_k G[k] onto {x : G x >= 0}.

    The projection x* onto a polyhedral cone is the projection onto the subspace
    {x : G_A x = 0} of its active set A, so trying every subset of the K <= 5
    constraints and keeping the closest feasible candidate finds it. Pseudo-inverses
    make this exact for collinear, opposing or zero rows, where SLSQP gives up.
    """
    shifted = gradient + margin * memories.sum(axis=0)
    best, best_distance = None, np.inf
    num_memories = memories.shape[0]
    for size in range(num_memories + 1):
        for active in itertools.combinations(range(num_memories), size):
            rows = memories[list(active)]
            candidate = shifted - np.linalg.pinv(rows) @ (rows @ shifted) if active else shifted
            distance = np.linalg.norm(candidate - shifted)
            if np.min(memories @ candidate) >= -1e-9 and distance < best_distance:
                best, best_distance = candidate, distance
    return best, shifted


# Multiples of 1/8: exact ties, zero rows, parallel and opposing task gradients come
# up often, while the cones stay far from the near-degenerate cases where any
# ridged dual (GEM's included) drifts from the exact projection.
_ENTRIES = st.integers(-8, 8).map(lambda i: i / 8)


@st.composite
def _problems(draw):
    num_memories = draw(st.integers(1, 5))
    num_params = draw(st.integers(1, 8))
    memories = draw(hnp.arrays(np.float64, (num_memories, num_params), elements=_ENTRIES))
    gradient = draw(hnp.arrays(np.float64, (num_params,), elements=_ENTRIES))
    return gradient, memories


@settings(max_examples=100, deadline=None)
@given(problem=_problems(), margin=st.sampled_from([0.0, 0.5]))
def test_property_feasible_and_optimal(problem, margin):
    gradient, memories = problem
    projected = gem_projection.project_gradient(gradient, memories, margin=margin, ridge=1e-12)
    if not gem_projection.violates(gradient, memories):
        np.testing.assert_array_equal(projected, gradient)
        return
    # No constraint violated (up to the ridge and round-off).
    assert np.min(memories @ projected) >= -1e-7
    expected, shifted = _enumeration_oracle(gradient, memories, margin)
    # No farther from the shifted gradient than the exact projection, and the same point.
    assert np.linalg.norm(projected - shifted) <= np.linalg.norm(expected - shifted) + 1e-9
    np.testing.assert_allclose(projected, expected, atol=1e-5)


@settings(max_examples=50, deadline=None)
@given(problem=_problems())
def test_property_projection_is_idempotent_with_zero_margin(problem):
    gradient, memories = problem
    projected = gem_projection.project_gradient(gradient, memories, margin=0.0, ridge=1e-12)
    again = gem_projection.project_gradient(projected, memories, margin=0.0, ridge=1e-12)
    np.testing.assert_allclose(again, projected, atol=1e-6)


def test_too_small_ridge_is_reported():
    memories = np.array([[1e3, 0.0], [1e3, 0.0]])
    with pytest.raises(ValueError, match="ridge"):
        gem_projection.project_gradient(np.array([-1.0, 0.0]), memories, ridge=1e-30)


@pytest.mark.parametrize(
    "gradient, memories, kwargs, match",
    [
        (np.zeros((2, 2)), np.zeros((1, 2)), {}, r"flat float \[P\]"),
        (np.zeros(3), np.zeros((1, 2)), {}, r"\[K, P\]"),
        (np.zeros(3), np.zeros(3), {}, r"\[K, P\]"),
        (np.array([np.nan, 0.0]), np.zeros((1, 2)), {}, "finite"),
        (np.zeros(2), np.array([[np.inf, 0.0]]), {}, "finite"),
        (np.zeros(2), np.zeros((1, 2)), {"margin": -0.1}, "margin"),
        (np.zeros(2), np.zeros((1, 2)), {"ridge": 0.0}, "ridge"),
        (np.zeros(2), np.zeros((1, 2)), {"ridge": float("nan")}, "ridge"),
    ],
)
def test_rejects_bad_input(gradient, memories, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gem_projection.project_gradient(gradient, memories, **kwargs)


@pytest.mark.parametrize(
    "gradient, memories, expected",
    [
        (np.array([1.0, 0.0]), np.array([[1.0, 0.0]]), False),
        (np.array([-1.0, 0.0]), np.array([[1.0, 0.0]]), True),
        (np.array([1.0, 0.0]), np.array([[1.0, 0.0], [-0.1, 5.0]]), True),
        (np.array([0.0, 1.0]), np.array([[1.0, 0.0]]), False),  # dot = 0 is allowed
        (np.array([1.0, 0.0]), np.zeros((0, 2)), False),
    ],
)
def test_violates(gradient, memories, expected):
    assert gem_projection.violates(gradient, memories) is expected


def test_violates_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\[K, P\]"):
        gem_projection.violates(np.zeros(3), np.zeros((2, 4)))
