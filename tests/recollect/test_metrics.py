"""Tests for recollect.metrics against hand-computed numbers and brute-force oracles."""

import numpy as np
import pytest

from recollect import metrics

# R[i, j]: accuracy on task j after training on tasks 0..i.
HAND_R = np.array(
    [
        [0.90, 0.10, 0.20],
        [0.70, 0.80, 0.30],
        [0.60, 0.50, 0.95],
    ]
)
HAND_B = np.array([0.10, 0.05, 0.20])
# retention = (0.60 + 0.50 + 0.95) / 3 = 2.05 / 3
HAND_RETENTION = 2.05 / 3
# BWT = ((0.60 - 0.90) + (0.50 - 0.80)) / 2 = (-0.30 - 0.30) / 2
HAND_BWT = -0.30
# FWT = ((R[0,1] - b[1]) + (R[1,2] - b[2])) / 2 = ((0.10 - 0.05) + (0.30 - 0.20)) / 2
HAND_FWT = 0.075


def test_hand_computed_matrix():
    assert metrics.retention(HAND_R) == pytest.approx(HAND_RETENTION)
    assert metrics.backward_transfer(HAND_R) == pytest.approx(HAND_BWT)
    assert metrics.forward_transfer(HAND_R, HAND_B) == pytest.approx(HAND_FWT)


def test_summarize_with_and_without_initial_accuracy():
    with_b = metrics.summarize(HAND_R, HAND_B)
    assert with_b == pytest.approx({"retention": HAND_RETENTION, "bwt": HAND_BWT, "fwt": HAND_FWT})
    without_b = metrics.summarize(HAND_R)
    assert without_b["fwt"] is None
    assert without_b["retention"] == pytest.approx(HAND_RETENTION)
    assert without_b["bwt"] == pytest.approx(HAND_BWT)


def test_returns_python_floats():
    assert type(metrics.retention(HAND_R)) is float
    assert type(metrics.backward_transfer(HAND_R)) is float
    assert type(metrics.forward_transfer(HAND_R, HAND_B)) is float


def test_differs_from_gem_code_average_by_t_minus_one_over_t():
    # GEM's metrics.py averages T entries with a zero for the last (BWT) / first
    # (FWT) task; ours averages the T - 1 defined ones.
    t = HAND_R.shape[0]
    gem_bwt = np.mean(HAND_R[-1] - np.diag(HAND_R))
    assert gem_bwt == pytest.approx(HAND_BWT * (t - 1) / t)


def test_no_forgetting_gives_zero_bwt():
    # Each task keeps the 0.8 it reached; unseen tasks sit at 0.5.
    r = np.where(np.tril(np.ones((4, 4))) > 0, 0.8, 0.5)
    assert metrics.backward_transfer(r) == pytest.approx(0.0)
    assert metrics.retention(r) == pytest.approx(0.8)


def test_single_task_retention_but_no_transfer():
    r = np.array([[0.7]])
    assert metrics.retention(r) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="at least 2 tasks"):
        metrics.backward_transfer(r)
    with pytest.raises(ValueError, match="at least 2 tasks"):
        metrics.forward_transfer(r, np.array([0.1]))
    with pytest.raises(ValueError, match="at least 2 tasks"):
        metrics.summarize(r)


@pytest.mark.parametrize(
    "matrix, match",
    [
        (np.zeros((2, 3)), "square"),
        (np.zeros(3), "square"),
        (np.zeros((2, 2, 2)), "square"),
        (np.zeros((0, 0)), "at least"),
        (np.array([[0.5, np.nan], [0.5, 0.5]]), "finite"),
        (np.array([[0.5, np.inf], [0.5, 0.5]]), "finite"),
    ],
)
def test_rejects_bad_accuracy_matrix(matrix, match):
    with pytest.raises(ValueError, match=match):
        metrics.backward_transfer(matrix)
    with pytest.raises(ValueError, match=match):
        metrics.retention(matrix)


@pytest.mark.parametrize(
    "initial, match",
    [
        (np.zeros(2), r"float \[T\]"),
        (np.zeros((3, 1)), r"float \[T\]"),
        (np.array([0.1, np.nan, 0.1]), "finite"),
    ],
)
def test_rejects_bad_initial_accuracy(initial, match):
    with pytest.raises(ValueError, match=match):
        metrics.forward_transfer(HAND_R, initial)


def test_aggregate_seeds_population_std():
    summaries = [
        {"retention": 0.5, "bwt": -0.2, "fwt": None},
        {"retention": 0.7, "bwt": -0.1, "fwt": None},
    ]
    aggregated = metrics.aggregate_seeds(summaries)
    assert aggregated["retention"] == pytest.approx({"mean": 0.6, "std": 0.1})
    assert aggregated["bwt"] == pytest.approx({"mean": -0.15, "std": 0.05})
    assert aggregated["fwt"] is None
    assert list(aggregated) == ["retention", "bwt", "fwt"]


def test_aggregate_single_seed_has_zero_std():
    aggregated = metrics.aggregate_seeds([metrics.summarize(HAND_R, HAND_B)])
    assert aggregated["fwt"] == pytest.approx({"mean": HAND_FWT, "std": 0.0})


@pytest.mark.parametrize(
    "summaries, match",
    [
        ([], "at least one"),
        ([{"retention": 0.5}, {"bwt": 0.1}], "keys"),
        ([{"fwt": 0.1}, {"fwt": None}], "every seed or in none"),
        ([{"retention": float("nan")}], "finite"),
    ],
)
def test_aggregate_seeds_rejects(summaries, match):
    with pytest.raises(ValueError, match=match):
        metrics.aggregate_seeds(summaries)


def test_reconstruction_distortion_hand_example():
    x = np.array([[0.0, 1.0], [0.5, 0.5]])
    x_hat = np.array([[0.5, 1.0], [0.0, 0.25]])
    # |diffs| = 0.5, 0, 0.5, 0.25 -> mean 0.3125.
    assert metrics.reconstruction_distortion(x, x_hat) == pytest.approx(0.3125)
    assert metrics.reconstruction_distortion(x, x) == 0.0


@pytest.mark.parametrize(
    "x, x_hat, match",
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), "same shape"),
        (np.zeros((0, 3)), np.zeros((0, 3)), "at least one item"),
        (np.full((2, 3), 255.0), np.zeros((2, 3)), r"\[0, 1\]"),
        (np.zeros((2, 3)), np.full((2, 3), -0.1), r"\[0, 1\]"),
        (np.zeros((2, 3)), np.full((2, 3), np.nan), r"\[0, 1\]"),
    ],
)
def test_reconstruction_distortion_rejects(x, x_hat, match):
    with pytest.raises(ValueError, match=match):
        metrics.reconstruction_distortion(x, x_hat)


def _brute_force_nearest(samples, reference):
    s = samples.reshape(len(samples), -1)
    r = reference.reshape(len(reference), -1)
    return np.mean([np.min(np.mean(np.abs(row - r), axis=1)) for row in s])


@pytest.mark.parametrize("batch_size", [1, 3, 7, 1000])
def test_nearest_neighbour_matches_brute_force(batch_size):
    rng = np.random.default_rng(0)
    samples = rng.uniform(size=(11, 4, 4, 1))
    reference = rng.uniform(size=(17, 4, 4, 1))
    got = metrics.nearest_neighbour_distortion(samples, reference, batch_size=batch_size)
    assert got == pytest.approx(_brute_force_nearest(samples, reference))


def test_nearest_neighbour_hand_example():
    reference = np.array([[0.0, 0.0], [1.0, 1.0]])
    samples = np.array([[0.0, 0.0], [0.5, 1.0], [0.25, 0.0]])
    # nearest distances: 0, 0.25 (to [1, 1]), 0.125 (to [0, 0]) -> mean 0.125.
    assert metrics.nearest_neighbour_distortion(samples, reference) == pytest.approx(0.125)


def test_nearest_neighbour_of_reference_members_is_zero():
    reference = np.random.default_rng(1).uniform(size=(9, 5))
    assert metrics.nearest_neighbour_distortion(reference[::2], reference, batch_size=2) == 0.0


@pytest.mark.parametrize(
    "samples, reference, batch_size, match",
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), 4, "same shape"),
        (np.zeros((2, 3)), np.zeros((0, 3)), 4, "at least one item"),
        (np.zeros((2, 3)), np.zeros((2, 3)), 0, "batch_size"),
        (np.zeros((2, 3)), np.zeros((2, 3)), 2.5, "batch_size"),
        (np.full((2, 3), 2.0), np.zeros((2, 3)), 4, r"\[0, 1\]"),
    ],
)
def test_nearest_neighbour_rejects(samples, reference, batch_size, match):
    with pytest.raises(ValueError, match=match):
        metrics.nearest_neighbour_distortion(samples, reference, batch_size=batch_size)
