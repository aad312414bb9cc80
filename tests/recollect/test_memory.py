"""RecollectionMemory: observe/recall, stabilize, footprint, bad input, persistence."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from parameterized import parameterized

from recollect import DiscreteAutoencoder, RecollectionMemory, TaskRingPolicy
from recollect.export import export_saved_model
from recollect.index_buffer import Field

SHAPE = (8, 8, 1)


def make_memory(capacity=20, num_latents=6, num_categories=4, policy=None, seed=0, **kwargs):
    codec = DiscreteAutoencoder(
        input_shape=SHAPE, num_latents=num_latents, num_categories=num_categories, seed=seed
    )
    return RecollectionMemory(
        codec, capacity=capacity, num_classes=10, num_tasks=3, policy=policy, seed=seed, **kwargs
    )


def batch(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.random((n, *SHAPE), dtype=np.float32),
        rng.integers(0, 10, n),
        rng.integers(0, 3, n),
    )


def snapshot(memory):
    return [v.numpy().tobytes() for v in memory.buffer.weights]


def test_observe_then_recall_shapes_and_dtypes():
    memory = make_memory()
    x, y, t = batch(5)
    rows = memory.observe(x, y, t)
    assert rows.numpy().tolist() == [0, 1, 2, 3, 4]
    assert int(memory.size()) == 5
    x_hat, labels, tasks = memory.recall(7)
    assert x_hat.dtype == tf.float32 and x_hat.shape == (7, *SHAPE)
    assert labels.dtype == tf.int32 and labels.shape == (7,)
    assert tasks.dtype == tf.int32 and tasks.shape == (7,)
    assert set(labels.numpy().tolist()) <= set(y.tolist())


def test_stored_bytes_are_the_packed_encoding():
    memory = make_memory(num_latents=6, num_categories=4)  # 12 bits -> 2 bytes
    x, y, t = batch(3)
    memory.observe(x, y, t)
    codes = memory.buffer.variables_by_field["codes"]
    assert codes.dtype == "uint8" and codes.shape == (20, 2)
    from recollect import bits

    expected = bits.pack_codes_numpy(memory.codec.encode(x).numpy(), 4)
    np.testing.assert_array_equal(codes.numpy()[:3], expected)
    recalled = memory.recall_items(30, decode=False)
    np.testing.assert_array_equal(
        recalled["codes"].numpy(), codes.numpy()[recalled["rows"].numpy()]
    )


def test_recall_decodes_exactly_what_decode_gives_for_the_stored_code():
    memory = make_memory()
    x, y, t = batch(4)
    memory.observe(x, y, t)
    items = memory.recall_items(10)
    direct = memory.decode(memory.encode(x)).numpy()[items["rows"].numpy()]
    np.testing.assert_allclose(items["x"].numpy(), direct, atol=1e-6)


def test_one_task_id_for_the_whole_batch_and_recall_by_task():
    memory = make_memory(policy=TaskRingPolicy(num_tasks=3))
    x, y, _ = batch(4)
    memory.observe(x, y, 2)
    memory.observe(*batch(2, seed=1)[:2], 0)
    assert set(memory.recall(20, task=2)[2].numpy().tolist()) == {2}
    with pytest.raises(ValueError, match="no item of task 1"):
        memory.recall(3, task=1)


def test_compiled_steps_do_not_retrace_across_batch_sizes():
    memory = make_memory()
    for n in (1, 4, 9, 2):
        x, y, t = batch(n, seed=n)
        memory.observe(x, y, t)
        memory.recall(n)
        memory.stabilize(x, num_steps=2)
    assert memory._encode_packed.experimental_get_tracing_count() == 1
    assert memory._recall_items.experimental_get_tracing_count() == 1
    assert memory._stabilize_step.experimental_get_tracing_count() == 1
    assert memory._write.experimental_get_tracing_count() == 1


def prototypes(num=12):
    """Bars at 12 positions: structured enough for a 24-bit code to learn."""
    x = np.zeros((num, *SHAPE), np.float32)
    for i in range(num):
        row, col = divmod(i, 4)
        x[i, row * 2 : row * 2 + 4, col * 2 : col * 2 + 2, 0] = 1.0
    return x


def test_stabilize_lowers_reconstruction_error_on_a_tiny_stream():
    keras.utils.set_random_seed(0)
    memory = make_memory(capacity=40, num_latents=12, num_categories=4, learning_rate=3e-3)
    data = prototypes()
    before = float(memory.codec.distortion(data))
    for step in range(40):
        new = data[(step * 3) % 12 : (step * 3) % 12 + 3]
        memory.stabilize(new, num_steps=2, batch_size=6)
        memory.observe(new, np.zeros(3, int), 0)
    after = float(memory.codec.distortion(data))
    assert after < 0.6 * before, (before, after)


def test_stabilize_uses_given_recollections_and_reports_each_step():
    memory = make_memory()
    x, _, _ = batch(3)
    losses = memory.stabilize(x, [batch(2, seed=s)[0] for s in range(4)])
    assert losses.shape == (4,) and np.all(np.isfinite(losses))
    assert memory.optimizer.iterations.numpy() == 4
    # Empty memory and no recollections: N steps on the new examples alone.
    assert memory.stabilize(x, num_steps=3).shape == (3,)


def decoder_weights(memory):
    return [v.numpy().copy() for v in memory.codec.decoder.weights]


def encoder_weights(memory):
    return [v.numpy().copy() for v in memory.codec.encoder.weights]


def test_decoder_steps_fix_the_decoder_and_stored_codes_decode_as_written():
    memory = make_memory(capacity=40, learning_rate=1e-2, decoder_steps=3)
    x, y, t = batch(6)
    memory.stabilize(x, num_steps=3)  # steps 1 to 3 train the whole codec
    fixed = decoder_weights(memory)
    memory.observe(x, y, t)
    written = memory.recall_rows(np.arange(6))["x"].numpy()
    encoder = encoder_weights(memory)
    for seed in range(3):
        memory.stabilize(batch(6, seed=seed + 1)[0], num_steps=2)
    assert int(memory.optimizer.iterations) == 9
    for before, after in zip(fixed, decoder_weights(memory), strict=True):
        np.testing.assert_array_equal(before, after)
    assert any(
        not np.array_equal(a, b) for a, b in zip(encoder, encoder_weights(memory), strict=True)
    )
    np.testing.assert_array_equal(memory.recall_rows(np.arange(6))["x"].numpy(), written)


def test_without_decoder_steps_every_step_trains_the_decoder():
    memory = make_memory(learning_rate=1e-2)
    x = batch(6)[0]
    memory.stabilize(x, num_steps=3)
    fixed = decoder_weights(memory)
    memory.stabilize(x, num_steps=1)
    assert any(
        not np.array_equal(a, b) for a, b in zip(fixed, decoder_weights(memory), strict=True)
    )


def test_decoder_steps_zero_never_trains_the_decoder_inside_a_tf_function():
    memory = make_memory(learning_rate=1e-2, decoder_steps=0)
    fixed = decoder_weights(memory)
    x = tf.constant(batch(6)[0])

    @tf.function
    def step():
        return memory.stabilize(x, num_steps=2)

    step()
    assert int(memory.optimizer.iterations) == 2
    for before, after in zip(fixed, decoder_weights(memory), strict=True):
        np.testing.assert_array_equal(before, after)


@parameterized.expand([("negative", -1), ("float", 2.0), ("bool", True)])
def test_bad_decoder_steps_are_refused(_, value):
    with pytest.raises(ValueError, match="decoder_steps"):
        make_memory(decoder_steps=value)


def test_footprint_counts_packed_bytes():
    memory = make_memory(capacity=20, num_latents=6, num_categories=4)
    memory.observe(*batch(3))
    footprint = memory.footprint()
    assert footprint.bits_per_item == 12
    assert footprint.input_bytes == 40  # 2 bytes a code, 20 rows
    assert footprint.buffer_bytes == 40 + 20 * 8  # + int32 label and task
    assert footprint.items_stored == 3 and footprint.capacity == 20
    assert footprint.codec_bytes == 4 * (
        memory.codec.decoder.count_params() + memory.codec.encoder.count_params()
    )
    assert footprint.raw_example_bytes == 64
    assert footprint.incremental_storage_raw_examples == pytest.approx(40 / 64)
    assert memory.footprint(bits_per_value=1).incremental_storage_raw_examples == pytest.approx(5.0)
    with pytest.raises(ValueError, match="bits_per_value"):
        memory.footprint(bits_per_value=0)


BAD_OBSERVE = [
    ("x_rank", lambda x, y, t: (x[0], y, t), "x of shape"),
    ("x_shape", lambda x, y, t: (np.zeros((5, 8, 8, 3), np.float32), y, t), "x of shape"),
    ("x_dtype", lambda x, y, t: (x.astype(np.int64), y, t), "dtype"),
    ("x_range", lambda x, y, t: (x + 1.0, y, t), "\\[0, 1\\]"),
    ("x_nan", lambda x, y, t: (np.where(x > 0.5, np.nan, x), y, t), "finite"),
    ("x_inf", lambda x, y, t: (np.where(x > 0.5, np.inf, x), y, t), "finite"),
    ("label_range", lambda x, y, t: (x, np.full(5, 10), t), "label in \\[0, 10\\)"),
    ("label_dtype", lambda x, y, t: (x, y.astype(np.float32), t), "integer"),
    ("task_range", lambda x, y, t: (x, y, np.full(5, 3)), "task in \\[0, 3\\)"),
    ("task_negative", lambda x, y, t: (x, y, -1), "task in \\[0, 3\\)"),
    ("label_batch", lambda x, y, t: (x, y[:3], t), "batch size"),
]


@parameterized.expand(BAD_OBSERVE)
def test_bad_observe_raises_and_leaves_the_buffer_byte_for_byte(_, corrupt, message):
    memory = make_memory()
    memory.observe(*batch(4, seed=9))
    before = snapshot(memory)
    with pytest.raises(ValueError, match=message):
        memory.observe(*corrupt(*batch(5)))
    assert snapshot(memory) == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n": 0}, "n an int >= 1"), ({"n": -2}, "n an int >= 1"), ({"n": 2, "task": 5}, "task in")],
)
def test_bad_recall_arguments(kwargs, message):
    memory = make_memory()
    memory.observe(*batch(2))
    before = snapshot(memory)
    with pytest.raises(ValueError, match=message):
        memory.recall(**kwargs)
    assert snapshot(memory) == before


def test_recall_from_empty_memory_says_so():
    with pytest.raises(ValueError, match="memory is empty"):
        make_memory().recall(4)


def test_transition_items_round_trip_through_the_memory():
    codec = DiscreteAutoencoder(input_shape=(6,), num_latents=5, num_categories=2)
    memory = RecollectionMemory(
        codec,
        capacity=8,
        side_fields={
            "action": Field((), "int32", 4),
            "reward": Field((), "float32"),
            "discount": Field((), "float32"),
        },
        encoded_inputs=("x", "next_x"),
    )
    rng = np.random.default_rng(0)
    obs = rng.random((3, 6), dtype=np.float32)
    next_obs = rng.random((3, 6), dtype=np.float32)
    memory.observe(
        obs, next_x=next_obs, action=np.array([0, 3, 1]), reward=np.ones(3), discount=np.zeros(3)
    )
    items = memory.recall_items(6)
    assert set(items) == {"x", "next_x", "action", "reward", "discount", "rows"}
    rows = items["rows"].numpy()
    np.testing.assert_allclose(
        items["next_x"].numpy(), memory.decode(memory.encode(next_obs)).numpy()[rows], atol=1e-6
    )
    assert memory.footprint().input_bytes == 2 * memory.footprint().capacity
    with pytest.raises(ValueError, match="supervised"):
        memory.recall(2)


def test_config_round_trip():
    memory = make_memory(
        policy=TaskRingPolicy(num_tasks=3), learning_rate=5e-4, seed=4, decoder_steps=7
    )
    clone = RecollectionMemory.from_config(memory.get_config())
    assert clone.get_config() == memory.get_config()
    assert isinstance(clone.buffer.policy, TaskRingPolicy)


def test_keras_file_round_trip_keeps_codec_and_buffer(tmp_path):
    memory = make_memory()
    memory.observe(*batch(6))
    path = str(tmp_path / "memory.keras")
    memory.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, RecollectionMemory)
    for mine, theirs in zip(memory.buffer.weights, loaded.buffer.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    x = batch(3, seed=5)[0]
    np.testing.assert_array_equal(loaded.encode(x).numpy(), memory.encode(x).numpy())


def test_checkpoint_round_trip_includes_optimizer_state(tmp_path):
    memory = make_memory()
    memory.observe(*batch(6))
    memory.stabilize(batch(3)[0], num_steps=2)
    prefix = memory.save_checkpoint(str(tmp_path / "ckpt" / "memory"))
    restored = make_memory(seed=1)
    restored.restore_checkpoint(prefix)
    for mine, theirs in zip(memory.variables, restored.variables, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert int(restored.optimizer.iterations) == 2
    for mine, theirs in zip(memory.optimizer.variables, restored.optimizer.variables, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    # Same state -> same next draws.
    np.testing.assert_array_equal(
        memory.recall_items(5)["rows"].numpy(), restored.recall_items(5)["rows"].numpy()
    )


@pytest.mark.parametrize(
    "other",
    [
        {"num_latents": 8},  # another code shape
        {"capacity": 30},  # another capacity
        {"decoder_steps": 5},  # a decoder that stops learning
    ],
)
def test_checkpoint_of_another_shape_is_refused_before_any_change(tmp_path, other):
    source = make_memory(**other)
    source.observe(*batch(3))
    prefix = source.save_checkpoint(str(tmp_path / "other"))
    memory = make_memory()
    memory.observe(*batch(4, seed=2))
    before = [v.numpy().tobytes() for v in memory.variables]
    with pytest.raises(ValueError, match="memory with the same config"):
        memory.restore_checkpoint(prefix)
    assert [v.numpy().tobytes() for v in memory.variables] == before


def test_missing_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="Expected a checkpoint"):
        make_memory().restore_checkpoint(str(tmp_path / "nothing"))


LOADER = """
import json, sys
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
x = np.asarray(json.loads(sys.argv[2]), np.float32)
indices = loaded.encode(tf.constant(x))
recalled = loaded.recall(tf.constant(4), tf.constant(-1))
print(json.dumps({
    "indices": indices.numpy().tolist(),
    "packed": loaded.encode_packed(tf.constant(x)).numpy().tolist(),
    "decoded": loaded.decode(indices).numpy().tolist(),
    "recall_shape": list(recalled["x"].shape),
    "labels": recalled["label"].numpy().tolist(),
    "recollect_imported": any(m.split(".")[0] == "recollect" for m in sys.modules),
}))
"""


def test_saved_model_loads_in_a_fresh_process_without_recollect(tmp_path):
    memory = make_memory()
    x, y, t = batch(4)
    memory.observe(x, y, t)
    path = export_saved_model(memory, str(tmp_path / "export"))
    result = subprocess.run(
        [sys.executable, "-c", LOADER, path, json.dumps(x[:2].tolist())],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        env={"PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["recollect_imported"] is False
    np.testing.assert_array_equal(out["indices"], memory.encode(x[:2]).numpy())
    from recollect import bits

    np.testing.assert_array_equal(out["packed"], bits.pack_codes_numpy(out["indices"], 4))
    np.testing.assert_allclose(
        out["decoded"], memory.decode(memory.encode(x[:2])).numpy(), atol=1e-5
    )
    assert out["recall_shape"] == [4, *SHAPE]
    assert set(out["labels"]) <= set(y.tolist())


def test_mlp_codec_on_images_takes_and_returns_the_image_shape():
    codec = DiscreteAutoencoder(
        input_shape=SHAPE, num_latents=6, num_categories=4, seed=0, architecture="mlp"
    )
    memory = RecollectionMemory(codec, capacity=10, num_classes=10, num_tasks=3)
    x, y, t = batch(4)
    memory.observe(x, y, t)
    rows = memory.recall_rows([0, 3])
    assert rows["x"].shape == (2, *SHAPE)
    np.testing.assert_allclose(
        rows["x"].numpy(), memory.decode(memory.encode(x)).numpy()[[0, 3]], atol=1e-6
    )
    assert memory.stabilize(x, num_steps=2).shape == (2,)
    x_hat, _, _ = memory.recall(5)
    assert x_hat.shape == (5, *SHAPE)
    assert memory.footprint().raw_example_bytes == 64
    before = snapshot(memory)
    with pytest.raises(ValueError, match="x of shape \\[batch, 8, 8, 1\\]"):
        memory.observe(x.reshape(4, -1), y, t)
    with pytest.raises(ValueError, match="x_new of shape"):
        memory.stabilize(x.reshape(4, -1))
    assert snapshot(memory) == before
    clone = RecollectionMemory.from_config(memory.get_config())
    assert clone.codec.architecture == "mlp" and clone.codec.input_spec_shape == SHAPE


def test_mlp_codec_on_images_matches_a_flat_codec_fed_flattened_inputs():
    def run(input_shape, architecture):
        keras.utils.set_random_seed(11)
        codec = DiscreteAutoencoder(
            input_shape=input_shape,
            num_latents=6,
            num_categories=4,
            seed=1,
            architecture=architecture,
        )
        memory = RecollectionMemory(codec, capacity=6, num_classes=10, num_tasks=3, seed=2)
        out = []
        for step in range(3):
            x, y, t = batch(4, seed=step)
            x = x.reshape(4, *input_shape)
            if int(memory.size()) > 0:
                out.append(memory.stabilize(x, num_steps=2, batch_size=3))
                out.append(memory.recall(3)[0].numpy().reshape(3, -1))
            memory.observe(x, y, t)
        return out, memory.get_weights()

    image_out, image_weights = run(SHAPE, "mlp")
    flat_out, flat_weights = run((64,), None)
    for a, b in zip(image_out + image_weights, flat_out + flat_weights, strict=True):
        np.testing.assert_array_equal(a, b)
