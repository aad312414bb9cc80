"""The JPEG store: byte accounting, the quality ladder, decoding, bad settings."""

import math

import numpy as np
import pytest
import tensorflow as tf

from agents.stores import JpegStore, JpegStoreConfig
from agents.stores.jpeg import EOI, ITEM_SIDE_BYTES, headers_for, scan_bytes, split_jpeg
from recollect import ReservoirPolicy

GREY = (16, 16, 1)
COLOUR = (16, 16, 3)


def images(n, shape, *, smooth=True, seed=0):
    """uint8 [n, *shape]: smooth gradients with a random offset, or noise."""
    rng = np.random.default_rng(seed)
    if not smooth:
        return rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    ramp = np.add.outer(np.arange(shape[0]), np.arange(shape[1]))[..., None] * 4
    offsets = rng.integers(0, 128, (n, 1, 1, shape[2]))
    return np.clip(ramp[None] + offsets, 0, 255).astype(np.uint8)


def make_store(shape, *, capacity=8, slot_bytes=400, quality=50):
    return JpegStore(
        capacity=capacity,
        slot_bytes=slot_bytes,
        qualities=JpegStoreConfig(jpeg_quality=quality).qualities(),
        input_shape=shape,
        num_classes=4,
        num_tasks=3,
        policy=ReservoirPolicy(),
        seed=0,
    )


def tf_jpeg(image, quality):
    return tf.io.encode_jpeg(image, quality=quality).numpy()


@pytest.mark.parametrize("shape", [GREY, COLOUR])
def test_headers_are_shared_by_every_image_of_one_shape_and_quality(shape):
    batch = np.concatenate([images(3, shape), images(3, shape, smooth=False)])
    for quality in (1, 50, 95):
        (expected,) = headers_for(shape, (quality,))
        for image in batch:
            header, scan = split_jpeg(tf_jpeg(image, quality))
            assert header == expected and header + scan + EOI == tf_jpeg(image, quality)


@pytest.mark.parametrize("shape", [GREY, COLOUR])
def test_stored_bytes_are_the_scans_of_the_jpegs_tf_writes(shape):
    store = make_store(shape)
    batch = images(4, shape)
    rows = store.observe(batch / 255.0, np.arange(4), 1).numpy()
    stored = store.buffer.read(rows)
    columns = (stored[name].numpy() for name in ("length", "level", "jpeg"))
    for image, length, level, row in zip(batch, *columns, strict=True):
        _, scan = split_jpeg(tf_jpeg(image, store.qualities[level]))
        assert level == 0 and int(length) == len(scan)  # smooth images fit at the top
        assert row[: len(scan)].tobytes() == scan and not row[len(scan) :].any()


def test_footprint_counts_slots_side_bytes_and_each_header_once():
    store = make_store(COLOUR, capacity=5, slot_bytes=300)
    store.observe(images(2, COLOUR) / 255.0, np.array([0, 1]), 0)
    footprint = store.footprint()
    headers = sum(len(h) for h in headers_for(COLOUR, store.qualities))
    assert footprint.kind == "jpeg" and footprint.items_stored == 2 and footprint.capacity == 5
    assert footprint.bits_per_item == 8 * (300 + ITEM_SIDE_BYTES)
    assert footprint.input_bytes == 5 * (300 + ITEM_SIDE_BYTES) + headers
    assert footprint.buffer_bytes == footprint.input_bytes + 5 * 8
    assert footprint.raw_example_bytes == math.prod(COLOUR)


@pytest.mark.parametrize("items", [None, 7])
def test_plan_fits_the_budget_exactly(items):
    config = JpegStoreConfig(jpeg_quality=75, jpeg_items=items)
    examples = images(32, COLOUR, smooth=False)
    plan = JpegStore.plan(config, incremental_storage=40, input_shape=COLOUR, examples=examples)
    store = JpegStore.from_plan(
        plan,
        config=config,
        input_shape=COLOUR,
        num_classes=4,
        num_tasks=3,
        policy=ReservoirPolicy(),
    )
    budget_bytes = 40 * math.prod(COLOUR)
    used = store.footprint().input_bytes
    assert used <= budget_bytes
    if items is None:  # the slot holds 90% of the examples at the quality asked for
        fits = scan_bytes(examples, 75) <= store.slot_bytes
        assert 0.9 <= fits.mean() < 1.0
        assert budget_bytes - used < store.slot_bytes + ITEM_SIDE_BYTES  # no room for one more
    else:
        assert store.capacity == 7


@pytest.mark.parametrize("slot_bytes", [160, 15])
def test_a_small_slot_writes_lower_qualities_and_drops_what_never_fits(slot_bytes):
    store = make_store(COLOUR, slot_bytes=slot_bytes, quality=95)
    noise = images(6, COLOUR, smooth=False, seed=3)
    sizes = np.stack([scan_bytes(noise, q) for q in store.qualities], axis=1)  # [6, levels]
    rows = store.observe(noise / 255.0, np.arange(6) % 4, 0).numpy()
    levels = store.buffer.read(np.maximum(rows, 0))["level"].numpy()
    fits = sizes <= slot_bytes
    assert fits.any() and not fits[:, 0].any()  # every image is written below the top quality
    for i, row in enumerate(rows):
        if not fits[i].any():
            assert row == -1
        else:
            assert row >= 0 and levels[i] == np.argmax(fits[i])  # the highest quality that fits
    assert int(store.size()) == int((rows >= 0).sum()) == int(fits.any(axis=1).sum())
    tiny = make_store(COLOUR, slot_bytes=3)
    assert tiny.observe(noise / 255.0, np.zeros(6), 0).numpy().tolist() == [-1] * 6
    assert int(tiny.size()) == 0  # nothing was written


@pytest.mark.parametrize("shape", [GREY, COLOUR])
def test_recollections_are_the_jpeg_decodes_within_their_distortion(shape):
    store = make_store(shape, quality=50)
    batch = images(4, shape, seed=1)
    rows = store.observe(batch / 255.0, np.arange(4), 2)
    x, y, task = store.read_rows(rows)
    expected = np.stack([tf.io.decode_jpeg(tf_jpeg(image, 50)).numpy() for image in batch])
    np.testing.assert_allclose(x.numpy(), expected / 255.0, atol=1e-7)
    distortion = np.abs(x.numpy() - batch / 255.0).mean()
    assert 0 < distortion < 0.05  # lossy, and near the image at quality 50
    assert y.numpy().tolist() == [0, 1, 2, 3] and task.numpy().tolist() == [2] * 4


def test_observe_and_recall_inside_a_compiled_step():
    store = make_store(GREY)
    batch = tf.constant(images(3, GREY) / 255.0, tf.float32)

    @tf.function
    def step(x):
        rows = store.observe(x, tf.constant([0, 1, 2]), tf.constant(1))
        recalled, labels, _ = store.recall(tf.constant(5))
        return rows, recalled, labels

    rows, recalled, labels = step(batch)
    assert rows.numpy().tolist() == [0, 1, 2]
    assert recalled.shape == (5, *GREY) and set(labels.numpy()) <= {0, 1, 2}
    step(batch)
    assert step.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("quality", [0, 101, 2.5, True])
def test_a_quality_out_of_range_is_refused(quality):
    with pytest.raises(ValueError, match="--jpeg_quality an int in"):
        JpegStoreConfig(jpeg_quality=quality)


@pytest.mark.parametrize("items", [0, -3, 1.5])
def test_a_bad_item_count_is_refused(items):
    with pytest.raises(ValueError, match="--jpeg_items"):
        JpegStoreConfig(jpeg_items=items)


@pytest.mark.parametrize(
    ("storage", "items", "message"),
    [
        (1, None, "hold one JPEG"),  # the headers alone are larger than one raw image
        (40, 10**4, "hold one JPEG"),  # slots smaller than the largest scan at quality 1
    ],
)
def test_a_budget_too_small_for_one_jpeg_is_refused(storage, items, message):
    config = JpegStoreConfig(jpeg_items=items)
    with pytest.raises(ValueError, match=message):
        JpegStore.plan(
            config, incremental_storage=storage, input_shape=COLOUR, examples=images(8, COLOUR)
        )


@pytest.mark.parametrize("shape", [(256,), (16, 16, 2)])
def test_inputs_that_are_not_images_are_refused(shape):
    with pytest.raises(ValueError, match=r"images \[H, W, C\]"):
        JpegStore.plan(JpegStoreConfig(jpeg_items=2), incremental_storage=50, input_shape=shape)


def test_sizing_the_slot_needs_examples_or_an_item_count():
    with pytest.raises(ValueError, match="--jpeg_items, or examples"):
        JpegStore.plan(JpegStoreConfig(), incremental_storage=50, input_shape=COLOUR)
