"""Distillation samplers: the diverse steps on hand-checkable sets, active, no retrace."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
from parameterized import parameterized

from agents.distill import samplers
from agents.distill.samplers import SAMPLERS

# Six points of R^3: 0, 1, 3 and 5 all point (almost) along e1; 2 is e2; 4 is e3.
CLUSTERED = np.array(
    [
        [1.0, 0.0, 0.0],
        [1.0, 0.01, 0.0],
        [0.0, 1.0, 0.0],
        [0.99, 0.1, 0.0],
        [0.0, 0.0, 1.0],
        [1.0, 0.05, 0.0],
    ],
    np.float32,
)


def similarity_of(points):
    return samplers.cosine_similarity(tf.constant(points[None]))


def msss_oracle(points, k):
    """Algorithm 3 one pick at a time in numpy (candidates 0 and 1 start)."""
    unit = points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
    squared = (unit @ unit.T) ** 2
    picks = list(range(min(2, k)))
    while len(picks) < k:
        score = squared[:, picks].sum(axis=1)
        score[picks] = np.inf
        picks.append(int(np.flatnonzero(score == score.min())[0]))
    return picks


def brute_force_dpp_map(points, k):
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    kernel = unit @ unit.T + samplers.DPP_JITTER * np.eye(len(points))
    return max(
        itertools.combinations(range(len(points)), k),
        key=lambda s: np.linalg.det(kernel[np.ix_(s, s)]),
    )


def test_msss_prefers_spread_out_points():
    picks = samplers.msss_select(similarity_of(CLUSTERED), 4).numpy()[0]
    # 0 and 1 start; e3 (4) is orthogonal to both; then e2 (2), nearly so.
    assert picks.tolist() == [0, 1, 4, 2]


def test_msss_matches_a_one_pick_at_a_time_oracle_on_random_sets():
    rng = np.random.default_rng(0)
    for _ in range(5):
        points = rng.normal(size=(12, 5)).astype(np.float32)
        picks = samplers.msss_select(similarity_of(points), 6).numpy()[0]
        assert picks.tolist() == msss_oracle(points, 6)


@parameterized.expand([("msss", samplers.msss_select), ("dpp", samplers.dpp_select)])
def test_the_diverse_steps_never_pick_one_twice(_, select):
    same = np.ones((7, 4), np.float32)  # every candidate the same: only the index differs
    picks = select(similarity_of(same), 7).numpy()[0]
    assert sorted(picks.tolist()) == list(range(7))
    zeros = np.zeros((5, 3), np.float32)  # all-zero inputs: similarity 0 everywhere
    assert sorted(select(similarity_of(zeros), 5).numpy()[0].tolist()) == list(range(5))


def test_dpp_starts_at_candidate_0_then_takes_the_orthogonal_points():
    picks = samplers.dpp_select(similarity_of(CLUSTERED), 3).numpy()[0]
    assert picks[0] == 0 and set(picks[1:]) == {2, 4}


def test_dpp_greedy_map_finds_the_exact_map_on_a_set_with_one_clear_answer():
    points = np.concatenate([np.eye(3), np.eye(3) + 0.05], axis=0).astype(np.float32)
    picks = samplers.dpp_select(similarity_of(points), 3).numpy()[0]
    assert sorted(picks.tolist()) == sorted(brute_force_dpp_map(points, 3)) == [0, 1, 2]


def test_rows_of_a_batch_are_chosen_independently():
    batch = np.stack([CLUSTERED, CLUSTERED[::-1].copy()])
    similarity = samplers.cosine_similarity(tf.constant(batch))
    picks = samplers.msss_select(similarity, 4).numpy()
    assert picks[0].tolist() == [0, 1, 4, 2]
    assert picks[1].tolist() == msss_oracle(CLUSTERED[::-1], 4)


def _fixed_draw(candidates):
    """A draw that returns the given candidates (their count must be the one asked for)."""
    values = tf.constant(candidates)

    def draw(m):
        assert m == len(candidates)
        return values

    return draw


def _hardness_by_first_feature(x):
    return tf.reshape(x, [tf.shape(x)[0], -1])[:, 0]


def test_active_picks_the_hardest_candidate_of_each_slot():
    candidates = np.array([[0.1], [0.7], [0.3], [0.9], [0.2], [0.5]], np.float32)
    sampler = samplers.build_sampler("active", k=3)
    chosen = sampler.sample(_fixed_draw(candidates), _hardness_by_first_feature, batch_size=2)
    assert chosen.numpy().ravel().tolist() == pytest.approx([0.7, 0.9])


def test_active_breaks_ties_towards_the_first_candidate():
    candidates = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]], np.float32)
    sampler = samplers.build_sampler("active", k=3)
    chosen = sampler.sample(_fixed_draw(candidates), _hardness_by_first_feature, batch_size=1)
    assert chosen.numpy().tolist() == [[1.0, 0.0]]


def test_active_diverse_takes_the_hardest_of_the_diverse_subset():
    # k=2, n=3: 6 candidates; the landmarks are 0 and 1 (both kept at k=2), so the
    # hardest of those two, not the hardest overall (5), is chosen.
    points = CLUSTERED * np.array([[1.0], [3.0], [1.0], [1.0], [1.0], [9.0]], np.float32)
    sampler = samplers.build_sampler("active_diverse", k=2, n=3)
    chosen = sampler.sample(_fixed_draw(points), _hardness_by_first_feature, batch_size=1)
    np.testing.assert_allclose(chosen.numpy()[0], points[1])


@parameterized.expand([("active_diverse", 1), ("dpp", 2)])
def test_the_diverse_samplers_pass_on_only_their_subset(name, expected):
    # k=3, n=2: the hardness is the second feature, largest for e2 (2). MSSS keeps
    # {0, 1, 4} (0 and 1 start), of which 1 is hardest; the DPP keeps {0, 2, 4}.
    sampler = samplers.build_sampler(name, k=3, n=2)
    chosen = sampler.sample(
        _fixed_draw(CLUSTERED), lambda x: tf.reshape(x, [-1, 3])[:, 1], batch_size=1
    )
    np.testing.assert_allclose(chosen.numpy()[0], CLUSTERED[expected])


@parameterized.expand([(name,) for name in SAMPLERS])
def test_a_compiled_sample_is_traced_once_across_calls(name):
    generator = tf.random.Generator.from_seed(0)
    sampler = samplers.build_sampler(name, k=3, n=2)

    def draw(m):
        return generator.uniform([m, 4, 4, 1])

    def hardness(x):
        return tf.reduce_sum(x, axis=[1, 2, 3])

    step = tf.function(lambda: sampler.sample(draw, hardness, batch_size=2))
    first = step().numpy()
    second = step().numpy()
    step()
    assert step.experimental_get_tracing_count() == 1
    assert first.shape == (2, 4, 4, 1) and not np.array_equal(first, second)


@parameterized.expand(
    [
        ("k zero", {"k": 0}, r"Expected k an int >= 1 \(--sampler_k\). Received: k=0"),
        ("n negative", {"n": -1}, r"Expected n an int >= 1 \(--sampler_n\). Received: n=-1"),
        ("k float", {"k": 2.5}, r"Received: k=2.5"),
        ("n bool", {"n": True}, r"Received: n=True"),
    ]
)
def test_bad_k_or_n_is_refused(_, settings, message):
    for name in SAMPLERS:
        with pytest.raises(ValueError, match=message):
            samplers.build_sampler(name, **settings)


def test_a_bad_batch_size_or_name_is_refused():
    with pytest.raises(
        ValueError, match=r"Expected batch_size an int >= 1\. Received: batch_size=0"
    ):
        samplers.build_sampler("uniform").sample(_fixed_draw([[0.0]]), tf.identity, batch_size=0)
    with pytest.raises(ValueError, match=r"Expected --samplers among \[.*\]. Received: 'greedy'"):
        samplers.get("greedy")
    assert samplers.get({"name": "dpp"}) is samplers.DppSampler
