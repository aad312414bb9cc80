"""RecollectionMemory inside a user's tf.function: same state as eager, no retracing, checks."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from parameterized import parameterized

from recollect import DiscreteAutoencoder, Field, RecollectionMemory, TaskRingPolicy

SHAPE = (8, 8, 1)


def make_memory(policy=None, seed=0, noise_scale=1.0):
    keras.utils.set_random_seed(seed)  # the same initial weights for every memory
    codec = DiscreteAutoencoder(
        input_shape=SHAPE, num_latents=6, num_categories=4, seed=seed, noise_scale=noise_scale
    )
    return RecollectionMemory(
        codec, capacity=12, num_classes=10, num_tasks=3, policy=policy, seed=seed
    )


def batches(count, n=5):
    rng = np.random.default_rng(1)
    return [
        (
            rng.random((n, *SHAPE), dtype=np.float32),
            rng.integers(0, 10, n).astype(np.int32),
            np.int32(i % 3),
        )
        for i in range(count)
    ]


def state(memory):
    return [v.numpy() for v in [*memory.buffer.weights, *memory.codec.weights]]


def eager_step(memory, x, y, task):
    if int(memory.size()) > 0:
        recalled = [memory.recall(4)[0] for _ in range(2)]
        memory.stabilize(x, recalled)
    else:
        memory.stabilize(x, num_steps=2)
    memory.observe(x, y, task)


def compiled_step(memory):
    @tf.function(
        input_signature=[
            tf.TensorSpec([None, *SHAPE], tf.float32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([], tf.int32),
        ]
    )
    def step(x, y, task):
        def replay():
            recalled = [memory.recall(tf.constant(4))[0] for _ in range(2)]
            return memory.stabilize(x, recalled)

        losses = tf.cond(memory.size() > 0, replay, lambda: memory.stabilize(x, num_steps=2))
        with tf.control_dependencies([losses]):
            return memory.observe(x, y, task)

    return step


@parameterized.expand([("reservoir", None), ("rings", TaskRingPolicy(num_tasks=3))])
def test_a_compiled_step_leaves_the_state_eager_calls_leave(name, policy):
    eager, graph = make_memory(policy=policy), make_memory(policy=policy)
    step = compiled_step(graph)
    for x, y, task in batches(8):  # past capacity: overwrites (reservoir) and wraps (rings)
        eager_step(eager, x, y, task)
        step(x, y, task)
    for a, b in zip(state(eager), state(graph), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(
        eager.buffer.variables_by_field["codes"].numpy(),
        graph.buffer.variables_by_field["codes"].numpy(),
    )
    assert step.experimental_get_tracing_count() == 1  # one trace for every step


def test_recall_with_tensor_arguments_eagerly_and_in_a_graph():
    memory = make_memory(policy=TaskRingPolicy(num_tasks=3))
    x, y, _ = batches(1)[0]
    memory.observe(x, y, 1)
    eager = memory.recall(tf.constant(3), task=tf.constant(1))
    assert eager[0].shape == (3, *SHAPE) and set(eager[2].numpy().tolist()) == {1}

    @tf.function
    def recall(n, task):
        return memory.recall_items(n, task)

    items = recall(tf.constant(5), tf.constant(1))
    assert items["x"].shape[1:] == SHAPE and items["rows"].shape == (5,)
    assert set(items["task"].numpy().tolist()) == {1}
    recall(tf.constant(2), tf.constant(1))
    assert recall.experimental_get_tracing_count() == 1


def test_encode_and_decode_in_a_graph_match_eager():
    memory = make_memory()
    x = batches(1)[0][0]
    codes = tf.function(memory.encode)(x)
    np.testing.assert_array_equal(codes.numpy(), memory.encode(x).numpy())
    np.testing.assert_allclose(
        tf.function(memory.decode)(codes).numpy(), memory.decode(codes).numpy(), atol=1e-6
    )


def _observe(memory):
    return tf.function(lambda x, y, t: memory.observe(x, y, t))


@parameterized.expand(
    [
        ("above_one", lambda x, y: (x + 1.0, y, 0), "x in \\[0, 1\\]"),
        ("nan", lambda x, y: (x * np.nan, y, 0), "finite values in x"),
        ("label", lambda x, y: (x, y + 10, 0), "label in \\[0, 10\\)"),
        ("task", lambda x, y: (x, y, 3), "task in \\[0, 3\\)"),
    ]
)
def test_bad_values_in_a_graph_are_refused_before_anything_is_written(name, corrupt, message):
    memory = make_memory()
    x, y, _ = batches(1)[0]
    before = state(memory)
    bad_x, bad_y, bad_task = corrupt(x, y)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        _observe(memory)(bad_x, bad_y, tf.constant(bad_task))
    for a, b in zip(before, state(memory), strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_shapes_in_a_graph_are_refused_when_traced():
    memory = make_memory()
    x, y, _ = batches(1)[0]
    with pytest.raises(ValueError, match="Expected x of shape"):
        _observe(memory)(x[:, :4], y, tf.constant(0))
    with pytest.raises(ValueError, match="Expected an integer dtype for label"):
        _observe(memory)(x, y.astype(np.float32), tf.constant(0))


def test_recall_in_a_graph_asserts_a_stored_item_and_a_positive_count():
    memory = make_memory(policy=TaskRingPolicy(num_tasks=3))
    recall = tf.function(lambda n, t: memory.recall_items(n, t))
    with pytest.raises(tf.errors.InvalidArgumentError, match="holds no item"):
        recall(tf.constant(2), tf.constant(0))
    x, y, _ = batches(1)[0]
    memory.observe(x, y, 0)
    seed = memory.buffer.rng_seed.numpy()
    with pytest.raises(tf.errors.InvalidArgumentError, match="n >= 1"):
        recall(tf.constant(0), tf.constant(0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="task in \\[0, 3\\)"):
        recall(tf.constant(2), tf.constant(5))
    np.testing.assert_array_equal(seed, memory.buffer.rng_seed.numpy())  # no draw was made


def test_an_empty_batch_in_a_graph_changes_nothing():
    memory = make_memory()
    before = state(memory)
    rows = _observe(memory)(np.zeros((0, *SHAPE), np.float32), np.zeros(0, np.int32), 0)
    assert rows.shape == (0,)
    for a, b in zip(before, state(memory), strict=True):
        np.testing.assert_array_equal(a, b)


def test_transitions_observe_and_recall_in_a_graph():
    codec = DiscreteAutoencoder(input_shape=(4,), num_latents=4, num_categories=4, seed=0)
    memory = RecollectionMemory(
        codec,
        capacity=8,
        side_fields={"action": Field((), "int32", 3), "reward": Field((), "float32")},
        encoded_inputs=("x", "next_x"),
    )

    @tf.function
    def step(x, next_x, action, reward):
        memory.observe(x, next_x=next_x, action=action, reward=reward)
        return memory.recall_items(tf.constant(3))

    rng = np.random.default_rng(0)
    x, next_x = rng.random((5, 4), dtype=np.float32), rng.random((5, 4), dtype=np.float32)
    items = step(x, next_x, np.arange(5, dtype=np.int32) % 3, np.ones(5, np.float32))
    assert items["next_x"].shape == (3, 4) and int(memory.size()) == 5
    with pytest.raises(tf.errors.InvalidArgumentError, match="finite reward"):
        step(x, next_x, np.zeros(5, np.int32), np.full(5, np.inf, np.float32))
