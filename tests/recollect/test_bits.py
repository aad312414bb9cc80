"""Bit packing against a numpy oracle (np.packbits) and property tests."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from recollect import bits


@pytest.mark.parametrize(
    ("num_latents", "num_categories", "expected_bits", "expected_bytes"),
    [
        (38, 2, 38, 5),
        (104, 4, 208, 26),
        (139, 8, 417, 53),
        (168, 2, 168, 21),
        (620, 3, 1240, 155),
        (1, 256, 8, 1),
        (2048, 256, 16384, 2048),
        (3, 5, 9, 2),
    ],
)
def test_sizes_match_the_paper_formula(num_latents, num_categories, expected_bits, expected_bytes):
    assert bits.bits_per_item(num_latents, num_categories) == expected_bits
    assert bits.code_bytes(num_latents, num_categories) == expected_bytes
    # The table itself, checked without the formula: the bit width of the largest
    # index (l - 1), and the bytes np.packbits needs for that many bits.
    assert expected_bits == num_latents * (num_categories - 1).bit_length()
    assert np.packbits(np.zeros(expected_bits, np.uint8)).size == expected_bytes


@settings(max_examples=60, deadline=None)
@given(
    num_categories=st.integers(2, 256),
    num_latents=st.integers(1, 300),
    batch=st.integers(0, 5),
    seed=st.integers(0, 2**31 - 1),
)
def test_pack_matches_packbits_and_round_trips(num_categories, num_latents, batch, seed):
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, num_categories, size=(batch, num_latents))
    packed = bits.pack_codes(indices, num_categories)
    assert packed.dtype == tf.uint8
    assert packed.shape == (batch, bits.code_bytes(num_latents, num_categories))
    np.testing.assert_array_equal(packed.numpy(), bits.pack_codes_numpy(indices, num_categories))
    unpacked = bits.unpack_codes(packed, num_latents, num_categories)
    assert unpacked.dtype == tf.int32
    np.testing.assert_array_equal(unpacked.numpy(), indices)


@pytest.mark.parametrize("num_categories", [2, 3, 4, 7, 8, 100, 255, 256])
def test_extreme_values_round_trip_at_2048_latents(num_categories):
    indices = np.stack(
        [np.zeros(2048, int), np.full(2048, num_categories - 1), np.arange(2048) % num_categories]
    )
    packed = bits.pack_codes(indices, num_categories)
    np.testing.assert_array_equal(bits.unpack_codes(packed, 2048, num_categories).numpy(), indices)


def test_known_layout_is_msb_first():
    # l = 4 -> 2 bits each: 3, 0, 2, 1, 3 -> 11 00 10 01 | 11 000000
    packed = bits.pack_codes([[3, 0, 2, 1, 3]], 4).numpy()
    np.testing.assert_array_equal(packed, [[0b11001001, 0b11000000]])


def test_works_inside_tf_function_without_retracing():
    @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.int32)])
    def round_trip(indices):
        return bits.unpack_codes(bits.pack_codes(indices, 5), 6, 5)

    for batch in (1, 3, 9):
        indices = np.random.default_rng(batch).integers(0, 5, size=(batch, 6)).astype(np.int32)
        np.testing.assert_array_equal(round_trip(indices).numpy(), indices)
    assert round_trip.experimental_get_tracing_count() == 1


@pytest.mark.parametrize(
    ("indices", "num_categories", "message"),
    [
        ([[0, 4]], 4, "in \\[0, 4\\)"),
        ([[-1, 0]], 4, "in \\[0, 4\\)"),
        ([0, 1], 4, "rank 2"),
        ([[0.5, 1.0]], 4, "integer"),
        ([[0, 1]], 1, "num_categories"),
        ([[0, 1]], 257, "num_categories"),
    ],
)
def test_pack_rejects_bad_input(indices, num_categories, message):
    with pytest.raises(ValueError, match=message):
        bits.pack_codes(indices, num_categories)


def test_out_of_range_inside_a_graph_is_a_tf_error():
    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.int32)])
    def pack(indices):
        return bits.pack_codes(indices, 4)

    with pytest.raises(tf.errors.InvalidArgumentError):
        pack(tf.constant([[0, 9]]))


def test_unpack_rejects_wrong_width_and_dtype():
    with pytest.raises(ValueError, match="shape \\[batch, 2\\]"):
        bits.unpack_codes(np.zeros((1, 3), np.uint8), 5, 8)
    with pytest.raises(ValueError, match="uint8"):
        bits.unpack_codes(np.zeros((1, 2), np.int32), 5, 8)


def test_unpack_clips_bytes_not_written_by_pack():
    # l = 3 uses 2 bits; the pattern 11 (= 3) is not a valid category.
    unpacked = bits.unpack_codes(np.array([[0xFF]], np.uint8), 4, 3).numpy()
    np.testing.assert_array_equal(unpacked, [[2, 2, 2, 2]])
