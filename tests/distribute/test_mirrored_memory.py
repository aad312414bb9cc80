"""The memory under MirroredStrategy: two logical CPUs against one device, in a subprocess.

Logical devices can only be set before TensorFlow starts, so each case runs
`tests/distribute/mirrored_memory.py` in its own process (bounded in time) and
checks what it wrote. The scope errors run here, on a one-device strategy.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from recollect import DiscreteAutoencoder, RecollectionMemory
from tests.distribute import run_python


def run_case(tmp_path, mode):
    output = tmp_path / f"{mode}.json"
    result = run_python("-m", "tests.distribute.mirrored_memory", str(output), mode)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(output.read_text())


@pytest.fixture(scope="module", params=["exact", "decoder_steps"])
def exact(request, tmp_path_factory):
    return run_case(tmp_path_factory.mktemp(request.param), request.param)


def test_every_replica_holds_the_same_codec_and_reads_one_buffer(exact):
    for copies in exact["replica_weights"]:
        assert len(copies) == 2
        np.testing.assert_array_equal(copies[0], copies[1])
    for copies in exact["replica_buffers"].values():
        assert len(copies) == 1  # one buffer on the host, not a copy per replica


def test_every_replicas_rows_are_stored_and_recalled_as_on_one_device(exact):
    assert exact["sizes"] == [24, 24]  # 3 global batches of 8, both replicas' halves
    for mirrored, single in zip(exact["mirrored"], exact["single"], strict=True):
        assert mirrored["rows"] == single["rows"]  # replica 0's rows, then replica 1's
        np.testing.assert_allclose(mirrored["recalled"], single["recalled"], atol=1e-5)
    for name, copies in exact["replica_buffers"].items():
        np.testing.assert_array_equal(copies[0], exact["single_buffers"][name])


def test_a_step_on_two_replicas_equals_one_on_one_device_with_the_global_batch(exact):
    for mirrored, single in zip(exact["mirrored"], exact["single"], strict=True):
        np.testing.assert_allclose(mirrored["loss"], single["loss"], rtol=1e-5)
    for copies, single in zip(exact["replica_weights"], exact["single_weights"], strict=True):
        np.testing.assert_allclose(copies[0], single, rtol=1e-4, atol=1e-6)


def test_checkpoints_restore_across_strategies(exact):
    restored = exact["checkpoints"]
    for name, stored in exact["single_buffers"].items():
        np.testing.assert_array_equal(restored["single_from_mirrored"][name], stored)
        for copy in restored["mirrored_from_single"][name]:
            np.testing.assert_array_equal(copy, stored)
    pairs = zip(exact["replica_weights"], exact["single_weights"], strict=True)
    for index, (mirrored, single) in enumerate(pairs):
        np.testing.assert_array_equal(restored["single_weights_from_mirrored"][index], mirrored[0])
        for copy in restored["mirrored_weights_from_single"][index]:
            np.testing.assert_array_equal(copy, single)


def test_with_noise_each_replica_draws_its_own_and_the_weights_stay_mirrored(tmp_path):
    noisy = run_case(tmp_path, "noise")
    for copies in noisy["replica_weights"]:
        np.testing.assert_array_equal(copies[0], copies[1])
    assert noisy["sizes"] == [24, 24]
    for mirrored, single in zip(noisy["mirrored"], noisy["single"], strict=True):
        assert mirrored["rows"] == single["rows"]


def small_memory():
    codec = DiscreteAutoencoder(
        input_shape=(4, 4, 1), num_latents=6, num_categories=4, architecture="mlp", width=8
    )
    return RecollectionMemory(codec, capacity=8, num_classes=5, num_tasks=2)


def test_a_memory_built_outside_the_scope_is_refused_inside_it_before_any_write():
    memory = small_memory()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    x = np.zeros((2, 4, 4, 1), np.float32)
    message = r"Expected a memory built under the scope of the strategy it runs under"
    with strategy.scope(), pytest.raises(ValueError, match=message):
        memory.observe(x, [0, 1], 0)

    @tf.function
    def step():
        return strategy.run(lambda: memory.observe(x, tf.constant([0, 1]), 0))

    with pytest.raises(ValueError, match=message):
        step()
    with strategy.scope(), pytest.raises(ValueError, match=message):
        memory.stabilize(x)
    assert int(memory.size()) == 0 and int(memory.buffer.num_seen) == 0
    memory.observe(x, [0, 1], 0)  # outside any strategy it works as always
    assert int(memory.size()) == 2


def test_stabilize_inside_a_replica_function_needs_the_recalled_batches():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        memory = small_memory()
    x = tf.zeros((2, 4, 4, 1))

    @tf.function
    def step():
        return strategy.run(lambda: memory.stabilize(x))

    with pytest.raises(ValueError, match=r"Expected the recalled batches passed to stabilize"):
        step()
    assert int(memory.optimizer.iterations.numpy()) == 0
