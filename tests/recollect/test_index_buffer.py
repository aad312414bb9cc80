"""IndexBuffer and write policies: edges, uniformity, ring shares, bad input."""

import numpy as np
import pytest
import tensorflow as tf
from parameterized import parameterized
from scipy import stats

from recollect import IndexBuffer, ReservoirPolicy, TaskRingPolicy
from recollect.index_buffer import Field, supervised_fields, transition_fields
from recollect.write_policies import uniform_below

CODE_BYTES = 3


def make_buffer(capacity=5, policy=None, num_tasks=4, seed=0):
    return IndexBuffer(
        capacity=capacity,
        fields=supervised_fields(code_bytes=CODE_BYTES, num_classes=100, num_tasks=num_tasks),
        policy=policy,
        seed=seed,
    )


def items(ids, tasks=None):
    ids = np.asarray(ids)
    return {
        "codes": np.repeat(ids[:, None], CODE_BYTES, axis=1).astype(np.uint8),
        "label": ids % 100,
        "task": np.zeros_like(ids) if tasks is None else np.asarray(tasks),
    }


def snapshot(buffer):
    return [v.numpy().copy() for v in buffer.weights]


def test_state_is_made_once_zero_filled_non_trainable_on_cpu():
    buffer = make_buffer(capacity=7)
    assert buffer.trainable_weights == []
    codes = buffer.variables_by_field["codes"]
    assert codes.shape == (7, CODE_BYTES) and codes.dtype == "uint8"
    assert "CPU" in codes.value.device
    assert all(not np.any(v) for v in snapshot(buffer)[:-1] if v.dtype != np.int64)
    assert int(buffer.size()) == 0


@parameterized.expand(
    [
        ("empty", 0, 0),
        ("partly_full", 3, 3),
        ("exactly_full", 5, 5),
        ("wrapped", 12, 5),
    ]
)
def test_reservoir_sizes(_, num_items, expected_size):
    buffer = make_buffer(capacity=5)
    if num_items:
        buffer.write(items(np.arange(1, num_items + 1)))
    assert int(buffer.size()) == expected_size
    assert int(buffer.num_seen) == num_items
    stored = buffer.variables_by_field["label"].numpy()[:expected_size]
    assert len(set(stored.tolist())) == expected_size  # no item stored twice
    assert set(stored.tolist()) <= set(range(1, num_items + 1))
    if num_items <= 5:  # filling phase: item i goes to row i
        np.testing.assert_array_equal(stored, np.arange(1, num_items + 1))


def test_sample_from_empty_buffer_says_so():
    with pytest.raises(ValueError, match="empty"):
        make_buffer().sample(3)


def test_sample_returns_only_stored_items_with_matching_fields():
    buffer = make_buffer(capacity=6)
    buffer.write(items([11, 12, 13]))
    batch = buffer.sample(50)
    assert set(batch["rows"].numpy().tolist()) <= {0, 1, 2}
    np.testing.assert_array_equal(batch["codes"].numpy()[:, 0], batch["label"].numpy())
    assert batch["codes"].dtype == tf.uint8 and batch["codes"].shape == (50, CODE_BYTES)


def sequential_reservoir(stream, capacity, draws):
    """Vitter's algorithm R, one item at a time, from the same int64 draws."""
    store = [None] * capacity
    for position, (item, draw) in enumerate(zip(stream, draws, strict=True)):
        if position < capacity:
            store[position] = item
        else:
            j = (int(draw) & 0x7FFFFFFFFFFFFFFF) % (position + 1)
            if j < capacity:
                store[j] = item
    return store


def test_batched_reservoir_equals_the_sequential_algorithm():
    capacity, seed = 8, 3
    buffer = make_buffer(capacity=capacity, seed=seed)
    batch_sizes = [5, 1, 13, 40, 2, 60]  # batches larger than capacity collide in-batch
    draws, start = [], 0
    for counter, size in enumerate(batch_sizes):
        draws.append(
            tf.random.stateless_uniform(
                [size], seed=[seed, counter], minval=None, maxval=None, dtype=tf.int64
            ).numpy()
        )
        buffer.write(items(np.arange(start, start + size)))
        start += size
    expected = sequential_reservoir(range(start), capacity, np.concatenate(draws))
    np.testing.assert_array_equal(
        buffer.variables_by_field["label"].numpy(), np.asarray(expected) % 100
    )


def test_reservoir_is_uniform_over_the_stream():
    capacity, stream, trials = 10, 60, 600
    buffer = make_buffer(capacity=capacity, seed=7)
    write = tf.function(buffer.write_unchecked, reduce_retracing=True)
    counts = np.zeros(stream)
    batch = {
        k: tf.constant(v, dtype=buffer.fields[k].dtype) for k, v in items(np.arange(20)).items()
    }
    for _ in range(trials):
        buffer.clear()
        for offset in range(0, stream, 20):
            write({**batch, "label": batch["label"] + offset})
        counts[buffer.variables_by_field["label"].numpy()] += 1
    assert counts.sum() == capacity * trials
    # Every item is kept with probability capacity / stream.
    _, p_value = stats.chisquare(counts)
    assert p_value > 1e-3, counts


def test_uniform_below_is_uniform_far_past_float32_precision():
    upper = tf.constant(3 * 2**40 + 7, tf.int64)
    raw = tf.random.stateless_uniform(
        [20000], seed=[1, 2], minval=None, maxval=None, dtype=tf.int64
    )
    draws = uniform_below(raw, upper).numpy()
    assert draws.min() >= 0 and draws.max() < int(upper)
    histogram, _ = np.histogram(draws / float(upper), bins=10, range=(0, 1))
    _, p_value = stats.chisquare(histogram)
    assert p_value > 1e-3
    # float32 would collapse these onto multiples of 2**18; int64 keeps low bits.
    assert len(np.unique(draws % 1024)) > 1000


def test_reservoir_keeps_capacity_over_n_items_past_2_pow_24():
    capacity, seen, batch = 2**16, 2**26, 2**16
    buffer = make_buffer(capacity=capacity)
    buffer.num_seen.assign(seen)
    rows = buffer.write(items(np.arange(batch))).numpy()
    kept = rows[rows >= 0]
    # Each item is kept with probability ~ capacity / seen = 2**-10: about 64 of them.
    assert 30 < len(kept) < 110
    assert kept.max() < capacity
    assert int(buffer.num_seen) == seen + batch


def test_task_ring_gives_each_task_an_equal_share_of_newest_items():
    buffer = make_buffer(capacity=9, policy=TaskRingPolicy(num_tasks=3), num_tasks=3)
    buffer.write(items(np.arange(10), tasks=[0] * 10))  # task 0 wraps: keeps 7, 8, 9
    buffer.write(items([50, 51], tasks=[2, 2]))
    labels = buffer.variables_by_field["label"].numpy()
    assert sorted(labels[0:3].tolist()) == [7, 8, 9]
    assert labels[6:8].tolist() == [50, 51]
    assert int(buffer.task_size(0)) == 3
    assert int(buffer.task_size(1)) == 0
    assert int(buffer.task_size(2)) == 2
    assert int(buffer.size()) == 5
    assert set(buffer.sample(40, task=2)["label"].numpy().tolist()) == {50, 51}
    assert set(buffer.sample(200)["label"].numpy().tolist()) == {7, 8, 9, 50, 51}
    with pytest.raises(ValueError, match="task 1"):
        buffer.sample(2, task=1)


def test_task_ring_samples_uniformly_over_items_not_tasks():
    buffer = make_buffer(capacity=8, policy=TaskRingPolicy(num_tasks=2), num_tasks=2)
    buffer.write(items([1, 2, 3, 4, 5], tasks=[0, 0, 0, 0, 1]))
    tasks = buffer.sample(4000)["task"].numpy()
    assert abs((tasks == 1).mean() - 0.2) < 0.03


def test_reservoir_sample_by_task():
    buffer = make_buffer(capacity=10)
    buffer.write(items([1, 2, 3, 4], tasks=[0, 1, 1, 3]))
    assert set(buffer.sample(30, task=1)["label"].numpy().tolist()) == {2, 3}
    assert int(buffer.task_size(3)) == 1


def test_transition_shaped_items_store_and_sample():
    buffer = IndexBuffer(
        capacity=4, fields=transition_fields(code_bytes=2, num_actions=3), policy=ReservoirPolicy()
    )
    transition = {
        "codes": np.array([[1, 2], [3, 4]], np.uint8),
        "action": np.array([0, 2]),
        "reward": np.array([0.5, -1.0], np.float32),
        "discount": np.array([0.99, 0.0], np.float32),
        "next_codes": np.array([[3, 4], [5, 6]], np.uint8),
    }
    buffer.write(transition)
    sample = buffer.sample(20)
    for row, action, reward in zip(
        sample["rows"].numpy(), sample["action"].numpy(), sample["reward"].numpy(), strict=True
    ):
        assert action == transition["action"][row] and reward == transition["reward"][row]
    np.testing.assert_array_equal(
        buffer.read([1])["next_codes"].numpy(), transition["next_codes"][1:]
    )
    assert buffer.bytes_per_item() == 2 + 4 + 4 + 4 + 2


BAD_ITEMS = [
    ("missing_field", lambda b: {k: v for k, v in b.items() if k != "task"}, "exactly the fields"),
    ("wrong_code_width", lambda b: {**b, "codes": np.zeros((2, 4), np.uint8)}, "codes of shape"),
    ("codes_not_uint8", lambda b: {**b, "codes": b["codes"].astype(np.int32)}, "uint8"),
    ("float_label", lambda b: {**b, "label": np.array([1.5, 2.0])}, "integer dtype"),
    ("label_out_of_range", lambda b: {**b, "label": np.array([1, 100])}, "label in \\[0, 100\\)"),
    ("negative_task", lambda b: {**b, "task": np.array([0, -1])}, "task in \\[0, 4\\)"),
    ("batch_mismatch", lambda b: {**b, "label": np.array([1, 2, 3])}, "same batch size"),
    ("label_rank", lambda b: {**b, "label": np.array([[1], [2]])}, "label of shape"),
]


@parameterized.expand(BAD_ITEMS)
def test_bad_items_raise_before_any_state_changes(_, corrupt, message):
    buffer = make_buffer(capacity=4)
    buffer.write(items([1, 2, 3]))
    before = snapshot(buffer)
    with pytest.raises(ValueError, match=message):
        buffer.write(corrupt(items([7, 8])))
    for old, new in zip(before, snapshot(buffer), strict=True):
        assert old.tobytes() == new.tobytes()


def test_nan_reward_rejected():
    buffer = IndexBuffer(capacity=2, fields={"reward": Field((), "float32")})
    with pytest.raises(ValueError, match="finite"):
        buffer.write({"reward": np.array([np.nan], np.float32)})
    assert int(buffer.num_seen) == 0


@pytest.mark.parametrize("capacity", [0, -3, 2.5, True])
def test_bad_capacity(capacity):
    with pytest.raises(ValueError, match="capacity"):
        make_buffer(capacity=capacity)


def test_ring_needs_a_row_per_task():
    with pytest.raises(ValueError, match="capacity >= num_tasks"):
        make_buffer(capacity=2, policy=TaskRingPolicy(num_tasks=3), num_tasks=3)


@pytest.mark.parametrize("n", [0, -1, 1.5])
def test_bad_sample_size(n):
    buffer = make_buffer()
    buffer.write(items([1]))
    with pytest.raises(ValueError, match="n an int"):
        buffer.sample(n)


def test_config_round_trip_keeps_policy_and_fields():
    buffer = make_buffer(capacity=6, policy=TaskRingPolicy(num_tasks=3), num_tasks=3, seed=5)
    clone = IndexBuffer.from_config(buffer.get_config())
    assert isinstance(clone.policy, TaskRingPolicy) and clone.policy.num_tasks == 3
    assert clone.fields == buffer.fields and clone.capacity == 6 and clone.seed == 5


def test_clear_empties_the_buffer():
    buffer = make_buffer(capacity=3, policy=TaskRingPolicy(num_tasks=2), num_tasks=2)
    buffer.write(items([1, 2], tasks=[0, 1]))
    buffer.clear()
    assert int(buffer.size()) == 0 and int(buffer.num_seen) == 0
    assert not buffer.variables_by_field["codes"].numpy().any()
