"""RecollectionMemory guards: a host's fit, codes out of range, unwritten rows, empty batches."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from recollect import DiscreteAutoencoder, RecollectionMemory, TaskRingPolicy
from recollect.export import export_saved_model
from tests.recollect.test_memory import SHAPE, batch, make_memory


def codec_state(memory):
    return [v.numpy().copy() for v in memory.codec.weights]


def host_of(memory):
    """A functional model that reconstructs through the memory, then classifies."""
    inputs = keras.Input(SHAPE)
    recollection = memory(inputs)
    logits = keras.layers.Dense(3)(keras.layers.Flatten()(recollection))
    host = keras.Model(inputs, logits)
    host.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return host


def fit_host(memory):
    host = host_of(memory)
    x, _, t = batch(16, seed=4)
    host.fit(x, t, epochs=3, batch_size=8, verbose=0)
    return host


def test_a_host_fit_leaves_the_codec_alone_by_default():
    memory = make_memory()
    before = codec_state(memory)
    assert memory.trainable_weights == [] and memory.trainable_variables == []
    host = fit_host(memory)
    assert len(host.trainable_weights) == 2  # the host's own Dense kernel and bias
    for a, b in zip(before, codec_state(memory), strict=True):
        np.testing.assert_array_equal(a, b)
    # A host that unfreezes itself does not unfreeze the memory.
    host.trainable = True
    assert len(host.trainable_weights) == 2


def test_host_trainable_opts_in_to_training_by_the_host():
    memory = make_memory(host_trainable=True)
    assert len(memory.trainable_weights) == len(memory.codec.trainable_weights) > 0
    before = codec_state(memory)
    fit_host(memory)
    changed = [not np.array_equal(a, b) for a, b in zip(before, codec_state(memory), strict=True)]
    assert any(changed)
    clone = RecollectionMemory.from_config(memory.get_config())
    assert clone.host_trainable and clone.get_config() == memory.get_config()
    frozen = make_memory()
    assert frozen.get_config()["host_trainable"] is False
    assert RecollectionMemory.from_config(frozen.get_config()).trainable_weights == []


def run_stabilize(**kwargs):
    keras.utils.set_random_seed(0)
    memory = make_memory(**kwargs)
    initial = codec_state(memory)
    losses = []
    for step in range(3):
        x, y, t = batch(4, seed=step)
        if int(memory.size()) > 0:
            losses.append(memory.stabilize(x, num_steps=2, batch_size=3))
        memory.observe(x, y, t)
    return losses, initial, codec_state(memory), [v.numpy() for v in memory.variables]


def test_stabilize_trains_a_frozen_codec_exactly_as_an_unfrozen_one():
    frozen_losses, initial, frozen_codec, frozen_state = run_stabilize()
    open_losses, _, _, open_state = run_stabilize(host_trainable=True)
    assert len(frozen_losses) == 2
    for a, b in zip(frozen_losses + frozen_state, open_losses + open_state, strict=True):
        np.testing.assert_array_equal(a, b)
    moved = [not np.array_equal(a, b) for a, b in zip(initial, frozen_codec, strict=True)]
    assert sum(moved) > len(moved) // 2, moved  # the frozen codec did learn


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_stabilize_refuses_a_bad_batch_size_before_any_step(batch_size):
    memory = make_memory()
    memory.observe(*batch(4))
    before = [v.numpy().tobytes() for v in [*memory.variables, *memory.optimizer.variables]]
    with pytest.raises(ValueError, match="batch_size an int >= 1"):
        memory.stabilize(batch(3)[0], num_steps=2, batch_size=batch_size)
    after = [v.numpy().tobytes() for v in [*memory.variables, *memory.optimizer.variables]]
    assert after == before


# ------------------------------------------------------------------ bad codes
@pytest.mark.parametrize(
    ("indices", "message"),
    [
        ([[0, 1, 2, 3, 4, 0]], "indices in \\[0, 4\\)"),
        ([[0, -1, 2, 3, 0, 0]], "indices in \\[0, 4\\)"),
        ([[0, 1, 2]], "indices of shape \\[batch, 6\\]"),
        (np.zeros((1, 6), np.float32), "integer"),
    ],
)
def test_decode_of_bad_codes_raises(indices, message):
    memory = make_memory()
    with pytest.raises(ValueError, match=message):
        memory.decode(indices)
    with pytest.raises(ValueError, match=message):
        memory.codec.decode(indices)


def test_decode_of_bad_codes_in_a_graph_asserts():
    memory = make_memory()
    decode = tf.function(memory.decode, input_signature=[tf.TensorSpec([None, 6], tf.int32)])
    assert decode(tf.zeros([2, 6], tf.int32)).shape == (2, *SHAPE)
    with pytest.raises(tf.errors.InvalidArgumentError, match="indices in \\[0, 4\\)"):
        decode(tf.constant([[0, 1, 2, 3, 4, 0]], tf.int32))


# -------------------------------------------------------------- unwritten rows
def test_recall_rows_refuses_rows_never_written_by_the_reservoir():
    memory = make_memory(capacity=20)
    memory.observe(*batch(4))
    assert memory.recall_rows([0, 3])["x"].shape == (2, *SHAPE)
    with pytest.raises(ValueError, match=r"never written.*\[4, 19\]"):
        memory.recall_rows([1, 4, 19])


def test_recall_rows_refuses_rows_beyond_what_a_task_ring_holds():
    memory = make_memory(capacity=20, policy=TaskRingPolicy(num_tasks=3))  # share 6
    x, y, _ = batch(2)
    memory.observe(x, y, 0)  # rows 0, 1
    memory.observe(x, y, 2)  # rows 12, 13
    assert memory.recall_rows([0, 1, 12, 13])["x"].shape == (4, *SHAPE)
    for rows, named in [([0, 2], "[2]"), ([6], "[6]"), ([13, 14], "[14]"), ([18, 19], "[18, 19]")]:
        with pytest.raises(ValueError, match="never written.*" + named.replace("[", "\\[")):
            memory.recall_rows(rows)


@pytest.mark.parametrize("rows", [[0.5], ["a"], None, [[0, 1.5]]])
def test_recall_rows_refuses_rows_that_are_not_integers(rows):
    memory = make_memory()
    memory.observe(*batch(4))
    with pytest.raises(ValueError, match="integer rows"):
        memory.recall_rows(rows)
    assert memory.recall_rows(np.array([], np.int64))["x"].shape == (0, *SHAPE)


def test_recall_refuses_a_bool_task():
    memory = make_memory()
    memory.observe(*batch(4))
    before = [v.numpy().tobytes() for v in memory.variables]
    with pytest.raises(ValueError, match="task in"):
        memory.recall(2, task=True)
    assert [v.numpy().tobytes() for v in memory.variables] == before


def test_recall_rows_of_an_empty_memory_says_so():
    with pytest.raises(ValueError, match="never written"):
        make_memory().recall_rows([0])


# -------------------------------------------------------------- exported guards
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    memory = make_memory()
    x, y, _ = batch(4)
    memory.observe(x, y, np.array([0, 2, 0, 2]))
    path = export_saved_model(memory, str(tmp_path_factory.mktemp("export") / "memory"))
    loaded = tf.saved_model.load(path)
    return loaded


def bad_image(value):
    x = np.full((2, *SHAPE), 0.5, np.float32)
    x[1, 3, 3, 0] = value
    return tf.constant(x)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.encode(bad_image(np.nan)), "encode: x must be finite"),
        (lambda m: m.encode_packed(bad_image(np.inf)), "encode_packed: x must be finite"),
        (lambda m: m.encode(bad_image(1.5)), "encode: x must be in \\[0, 1\\]"),
        (lambda m: m.encode(bad_image(-0.5)), "encode: x must be in \\[0, 1\\]"),
        (lambda m: m.recall(tf.constant(2), tf.constant(-2)), "recall: task must be -1"),
        (lambda m: m.recall(tf.constant(2), tf.constant(3)), "recall: task must be -1"),
        (lambda m: m.recall(tf.constant(0), tf.constant(-1)), "recall: n must be >= 1"),
        (lambda m: m.recall(tf.constant(-5), tf.constant(-1)), "recall: n must be >= 1"),
        (lambda m: m.decode(tf.constant([[0, 0, 0, 0, 0, 9]])), "indices in \\[0, 4\\)"),
    ],
)
def test_exported_signatures_refuse_bad_input_in_words(exported, call, message):
    before = [v.numpy().tobytes() for v in exported.variables]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call(exported)
    assert [v.numpy().tobytes() for v in exported.variables] == before  # no draw made


def test_exported_recall_of_an_absent_task_leaves_the_random_state(exported):
    before = [v.numpy().tobytes() for v in exported.variables]
    with pytest.raises(tf.errors.InvalidArgumentError, match="no item"):
        exported.recall(tf.constant(2), tf.constant(1))  # the fixture stores tasks 0 and 2
    assert [v.numpy().tobytes() for v in exported.variables] == before


def test_exported_signatures_still_take_good_input(exported):
    x = bad_image(1.0)
    assert exported.encode(x).shape == (2, 6)
    assert exported.recall(tf.constant(3), tf.constant(-1))["x"].shape == (3, *SHAPE)
    assert exported.recall(tf.constant(3), tf.constant(2))["task"].shape == (3,)


# ------------------------------------------------------------------ empty batch
@pytest.mark.parametrize("architecture", ["conv", "mlp"])
def test_an_empty_observe_changes_nothing_and_the_stream_goes_on_as_without_it(architecture):
    memories = []
    for _ in range(2):
        keras.utils.set_random_seed(0)  # the same codec weights in both
        codec = DiscreteAutoencoder(
            input_shape=SHAPE, num_latents=6, num_categories=4, seed=0, architecture=architecture
        )
        memories.append(RecollectionMemory(codec, capacity=3, num_classes=10, num_tasks=3))
    with_empty, without = memories
    for memory in (with_empty, without):
        memory.observe(*batch(5, seed=1))
    before = [v.numpy().tobytes() for v in with_empty.variables]
    x, y, t = batch(0)
    rows = with_empty.observe(x, y, t)
    assert rows.dtype == tf.int64 and rows.shape == (0,)
    assert with_empty.observe(x, y, 2).shape == (0,)
    assert [v.numpy().tobytes() for v in with_empty.variables] == before
    for seed in (2, 3):
        np.testing.assert_array_equal(
            with_empty.observe(*batch(6, seed=seed)).numpy(),
            without.observe(*batch(6, seed=seed)).numpy(),
        )
    for a, b in zip(with_empty.variables, without.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_an_empty_observe_is_still_checked():
    memory = make_memory()
    with pytest.raises(ValueError, match="x of shape"):
        memory.observe(np.zeros((0, 4, 4, 1), np.float32), np.zeros(0, int), 0)
