"""Episodic stores: round trips, planning against the budget, footprints."""

import keras
import numpy as np
import pytest

from agents.stores import (
    STORES,
    RealStore,
    RealStoreConfig,
    RecollectionStore,
    RecollectionStoreConfig,
)
from recollect import ReservoirPolicy, TaskRingPolicy

SHAPE = (8, 8, 1)


def pixels(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, *SHAPE)) / 255.0).astype(np.float32)


def make_real(capacity=6, policy=None):
    return RealStore(
        capacity=capacity,
        input_shape=SHAPE,
        num_classes=4,
        num_tasks=3,
        policy=policy or ReservoirPolicy(),
        seed=0,
    )


def test_real_store_round_trips_8_bit_inputs_exactly():
    store = make_real()
    x = pixels(4)
    y = np.array([0, 1, 2, 3])
    store.observe(x, y, 2)
    got_x, got_y, got_t = store.read_rows(np.arange(4))
    np.testing.assert_array_equal(got_x.numpy(), x)
    np.testing.assert_array_equal(got_y.numpy(), y)
    np.testing.assert_array_equal(got_t.numpy(), [2, 2, 2, 2])
    recalled_x, recalled_y, _ = store.recall(10)
    rows = {r.tobytes(): label for r, label in zip(x, y, strict=True)}
    for xi, yi in zip(recalled_x.numpy(), recalled_y.numpy(), strict=True):
        assert rows[xi.tobytes()] == yi
    assert store.size() == 4 and store.task_size(2) == 4 and store.task_size(0) == 0


def test_real_store_footprint_and_plan():
    store = make_real(capacity=6)
    store.observe(pixels(2), np.array([0, 1]), 0)
    footprint = store.footprint()
    assert footprint.kind == "real" and footprint.bits_per_item == 64 * 8
    assert footprint.capacity == 6 and footprint.items_stored == 2
    assert footprint.input_bytes == 6 * 64 and footprint.buffer_bytes == 6 * (64 + 8)
    assert footprint.incremental_storage_raw_examples == 6
    plan = RealStore.plan(RealStoreConfig(), incremental_storage=6.7, input_shape=SHAPE)
    assert plan.capacity == 6
    with pytest.raises(ValueError, match="one real example"):
        RealStore.plan(RealStoreConfig(), incremental_storage=0.5, input_shape=SHAPE)


def make_recollections(codec="mlp", policy=None, **config):
    config = RecollectionStoreConfig(
        **{"items": 20, "num_categories": 4, "codec": codec, "codec_units": 8}
        | {"stabilize_steps": 2, **config}
    )
    plan = RecollectionStore.plan(config, incremental_storage=2, input_shape=SHAPE)
    store = RecollectionStore.from_plan(
        plan,
        config=config,
        input_shape=SHAPE,
        num_classes=4,
        num_tasks=3,
        policy=policy or ReservoirPolicy(),
        seed=0,
    )
    return store, plan


@pytest.mark.parametrize("codec", ["mlp", "conv"])
def test_recollection_store_keeps_images_in_their_shape(codec):
    store, plan = make_recollections(codec)
    assert plan.capacity == 20 and plan.bits_per_item * 20 <= 2 * 64 * 8
    assert store.stabilize_batches == 2
    store.stabilize(pixels(3), None)  # N steps on the new batch alone
    store.observe(pixels(3), np.array([0, 1, 2]), 1)
    x, y, t = store.recall(5)
    assert x.shape == (5, *SHAPE) and set(t.numpy()) == {1} and set(y.numpy()) <= {0, 1, 2}
    assert store.read_rows(np.arange(3))[0].shape == (3, *SHAPE)
    store.stabilize(pixels(3, seed=1), [x, x])
    footprint = store.footprint()
    assert footprint.kind == "recollections" and footprint.items_stored == 3
    assert footprint.incremental_storage_raw_examples <= 2
    assert footprint.codec_bytes > 0


def test_recollection_plans_refuse_what_does_not_fit():
    with pytest.raises(ValueError, match="--items"):
        RecollectionStore.plan(RecollectionStoreConfig(), incremental_storage=2, input_shape=SHAPE)
    too_big = RecollectionStoreConfig(items=40, num_latents=500, num_categories=4)
    with pytest.raises(ValueError, match="fits the budget"):
        RecollectionStore.plan(too_big, incremental_storage=2, input_shape=SHAPE)
    with pytest.raises(ValueError, match="--codec"):
        RecollectionStoreConfig(codec="rnn")
    with pytest.raises(ValueError, match="--stabilize_steps"):
        RecollectionStoreConfig(stabilize_steps=-1)
    with pytest.raises(ValueError, match="--codec_kernel_size"):
        RecollectionStoreConfig(codec_kernel_size=0)
    with pytest.raises(ValueError, match="--codec_decoder_steps"):
        RecollectionStoreConfig(codec_decoder_steps=-1)


def test_codec_decoder_steps_reach_the_memory_and_fix_its_decoder():
    store, _ = make_recollections("conv", codec_decoder_steps=2, codec_learning_rate=1e-2)
    assert store.memory.decoder_steps == 2
    store.stabilize(pixels(3), None)  # N = 2 steps: the decoder's last
    fixed = [v.numpy().copy() for v in store.memory.codec.decoder.weights]
    store.stabilize(pixels(3, seed=1), None)
    for before, after in zip(fixed, store.memory.codec.decoder.weights, strict=True):
        np.testing.assert_array_equal(before, after.numpy())


def test_without_self_replay_the_codec_takes_one_step_on_the_new_batch_alone():
    keras.utils.set_random_seed(0)
    store, _ = make_recollections("conv", stabilize_steps=0, codec_kernel_size=3)
    keras.utils.set_random_seed(0)
    twin, _ = make_recollections("conv", stabilize_steps=0, codec_kernel_size=3)
    assert store.memory.codec.kernel_size == 3
    store.observe(pixels(4), np.array([0, 1, 2, 3]), 0)
    recalled = store.recall(5)[0]
    store.stabilize(pixels(3, seed=1), [recalled, recalled])
    twin.memory._stabilize_step(pixels(3, seed=1))
    assert int(store.memory.optimizer.iterations) == 1
    for a, b in zip(store.memory.codec.weights, twin.memory.codec.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_stores_take_the_policy_they_are_given():
    store, _ = make_recollections(policy=TaskRingPolicy(num_tasks=3))
    assert isinstance(store.policy, TaskRingPolicy)
    assert set(STORES) == {"real", "recollections", "jpeg"}


# An 8x4 mlp codec of 16 units on 8x8 inputs (64 bytes raw), counted by hand:
# encoder 64*16+16 + 16*16+16 + 16*32+32 = 1,856; decoder 32*16+16 + 16*16+16 + 16*64+64
# = 1,888; 3,744 float32 parameters = 14,976 bytes = 234 raw examples exactly.
SMALL_CODEC = {"num_categories": 4, "codec": "mlp", "codec_units": 16}


def test_a_total_budget_holds_the_codec_then_as_many_codes_as_fit():
    config = RecollectionStoreConfig(num_latents=8, **SMALL_CODEC)
    incremental = RecollectionStore.plan(config, incremental_storage=240, input_shape=SHAPE)
    total = RecollectionStore.plan(
        config, incremental_storage=240, input_shape=SHAPE, budget_kind="total"
    )
    assert incremental.capacity == 240 * 64 // 2 == 7_680
    assert total.capacity == (240 * 64 - 14_976) // 2 == 192  # 384 bytes left, 2 a code
    store = RecollectionStore.from_plan(
        total,
        config=config,
        input_shape=SHAPE,
        num_classes=4,
        num_tasks=3,
        policy=ReservoirPolicy(),
        seed=0,
    )
    footprint = store.footprint()
    assert footprint.codec_bytes == 14_976 and footprint.input_bytes == 384
    assert footprint.total_storage_raw_examples == 240
    with pytest.raises(ValueError, match=r"holds the codec and at least one code.*above 234\.0"):
        RecollectionStore.plan(
            config, incremental_storage=234, input_shape=SHAPE, budget_kind="total"
        )
    fixed = RecollectionStoreConfig(num_latents=8, items=193, **SMALL_CODEC)
    with pytest.raises(ValueError, match=r"beside the codec's 14,976 bytes.*at most 192"):
        RecollectionStore.plan(
            fixed, incremental_storage=240, input_shape=SHAPE, budget_kind="total"
        )


def test_a_total_budget_search_shrinks_the_code_to_leave_room_for_the_codec():
    # With l = 4 and 16 units, the codec holds 2,688 + 132 c parameters (10,752 + 528 c
    # bytes); 20 codes of ceil(c / 4) bytes beside it fit 15,360 bytes up to c = 8.
    config = RecollectionStoreConfig(items=20, **SMALL_CODEC)
    total = RecollectionStore.plan(
        config, incremental_storage=240, input_shape=SHAPE, budget_kind="total"
    )
    assert (total.num_latents, total.num_categories, total.capacity) == (8, 4, 20)
    incremental = RecollectionStore.plan(config, incremental_storage=240, input_shape=SHAPE)
    assert incremental.num_latents == 240 * 64 // 20 * 8 // 2  # 3,072: the codes alone
    with pytest.raises(ValueError, match="holds the codec and at least one code"):
        RecollectionStore.plan(
            config, incremental_storage=150, input_shape=SHAPE, budget_kind="total"
        )


def test_real_storage_has_no_codec_so_its_total_budget_is_the_incremental_one():
    kinds = [
        RealStore.plan(RealStoreConfig(), incremental_storage=7, input_shape=SHAPE, budget_kind=k)
        for k in ("incremental", "total")
    ]
    assert kinds[0] == kinds[1] and kinds[0].capacity == 7
    with pytest.raises(ValueError, match="--budget"):
        RealStore.plan(RealStoreConfig(), incremental_storage=7, input_shape=SHAPE, budget_kind="x")
