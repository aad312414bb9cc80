"""Constructor arguments: bad ones are refused in words before anything is built.

"Before anything" includes Python's global `random`: Keras layers draw their default
seeds from it when they are built, so a refusal after building would shift every
later draw of the process.
"""

import random
import re

import keras
import numpy as np
import pytest

from recollect import (
    ContinuousAutoencoder,
    DiscreteAutoencoder,
    IndexBuffer,
    RecollectionMemory,
    budget,
)
from recollect.autoencoder import count_autoencoder_params
from recollect.index_buffer import Field, supervised_fields

IMAGE = (8, 8, 1)


def codec(**overrides):
    settings = {"input_shape": IMAGE, "num_latents": 8, "num_categories": 4, "seed": 0}
    return DiscreteAutoencoder(**{**settings, **overrides})


def memory(codec_or_config, **overrides):
    settings = {"capacity": 20, "num_classes": 4, "num_tasks": 3, "seed": 0}
    return RecollectionMemory(codec_or_config, **{**settings, **overrides})


def refuses_before_any_draw(call, message):
    """Calls, expects ValueError(message), and checks Python's and numpy's RNGs."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with pytest.raises(ValueError, match=message):
        call()
    assert random.getstate() == python_state
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(numpy_state, after, strict=True))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"input_shape": (8.5, 8, 1)}, r"Expected input_shape .* Received: input_shape=\(8.5"),
        ({"input_shape": (8, 8, True)}, "Expected input_shape"),
        ({"input_shape": (8, 8, None)}, "Expected input_shape"),
        ({"input_shape": "8x8"}, "Expected input_shape"),
        ({"filters": 0}, r"Expected filters an int >= 1 or None. Received: filters=0"),
        ({"filters": -8}, "Received: filters=-8"),
        ({"filters": 2.5}, "Received: filters=2.5"),
        ({"filters": True}, "Received: filters=True"),
        ({"input_shape": (16,), "hidden_units": 0}, "Received: hidden_units=0"),
        ({"input_shape": (16,), "hidden_units": -1}, "Received: hidden_units=-1"),
        ({"seed": "abc"}, r"Expected seed an int .* or None. Received: seed='abc'"),
        ({"seed": 1.5}, "Received: seed=1.5"),
        ({"seed": True}, "Received: seed=True"),
        ({"seed": 2**64}, "Received: seed=18446744073709551616"),
    ],
)
def test_discrete_autoencoder_refuses_before_building(overrides, message):
    refuses_before_any_draw(lambda: codec(**overrides), message)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"filters": 0}, "Received: filters=0"),
        ({"input_shape": (16,), "hidden_units": 0}, "Received: hidden_units=0"),
        ({"input_shape": (16.0,)}, "Expected input_shape"),
    ],
)
def test_continuous_autoencoder_refuses_before_building(overrides, message):
    settings = {"input_shape": IMAGE, "latent_size": 8, **overrides}
    refuses_before_any_draw(lambda: ContinuousAutoencoder(**settings), message)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"filters": 0}, "filters"), ({"hidden_units": -2}, "hidden_units")],
)
def test_param_count_refuses_what_the_codec_refuses(kwargs, message):
    with pytest.raises(ValueError, match=message):
        count_autoencoder_params(IMAGE, 32, **kwargs)


def test_none_sizes_and_numpy_ints_are_still_taken():
    assert codec(filters=None, hidden_units=None).filters == 8  # c * l / 4
    sized = codec(filters=np.int64(3), seed=np.int64(5))
    assert sized.filters == 3 and sized.get_config()["filters"] == 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_classes": 2.5}, r"Expected num_classes an int >= 1 or None. Received: num_cl"),
        ({"num_classes": True}, "Received: num_classes=True"),
        ({"num_classes": 0}, "Received: num_classes=0"),
        ({"num_tasks": "3"}, "Received: num_tasks='3'"),
        ({"capacity": 2.5}, "Received: capacity=2.5"),
        ({"capacity": None}, "Received: capacity=None"),
        ({"encoded_inputs": "next_x"}, r"tuple or list .* Received: encoded_inputs='next_x'"),
        ({"encoded_inputs": ("x", 1)}, "Received: encoded_inputs=\\('x', 1\\)"),
        ({"seed": 1.5}, r"Expected seed an int in \[-2\*\*63, 2\*\*63\). Received: seed=1.5"),
        ({"seed": "7"}, "Received: seed='7'"),
        ({"seed": None}, "Received: seed=None"),
        ({"seed": 2**64}, "Received: seed=18446744073709551616"),
        ({"learning_rate": "fast"}, "Received: learning_rate='fast'"),
        ({"learning_rate": float("nan")}, "Received: learning_rate=nan"),
    ],
)
def test_memory_refuses_before_building(overrides, message):
    spare = codec()
    weights = [w.numpy().copy() for w in spare.weights]
    refuses_before_any_draw(lambda: memory(spare, **overrides), message)
    for old, new in zip(weights, spare.weights, strict=True):
        np.testing.assert_array_equal(old, new.numpy())
    # A codec config is built (its layers draw seeds) only once the other arguments pass.
    serialized = keras.saving.serialize_keras_object(spare)
    refuses_before_any_draw(lambda: memory(serialized, **overrides), message)


def test_memory_still_takes_numpy_ints_and_a_list_of_inputs():
    made = memory(codec(), num_classes=np.int64(4), seed=np.int64(3), encoded_inputs=["x"])
    assert made.encoded_inputs == ("x",) and made.seed == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (((-1,), "uint8"), r"Expected shape a tuple of ints >= 0. Received: shape=\(-1,\)"),
        (((2.5,), "uint8"), "Received: shape=\\(2.5,\\)"),
        (((True,), "uint8"), "Received: shape=\\(True,\\)"),
        (("ab", "uint8"), "Received: shape='ab'"),
        ((3, "uint8"), "Received: shape=3"),
        (((), "int32", 2.5), "Received: dtype=int32, num_values=2.5"),
        (((), "int32", True), "num_values=True"),
        (((), "int32", 0), "num_values=0"),
        (((), "float32", 4), "num_values=4"),
    ],
)
def test_field_refuses_bad_specs(args, message):
    with pytest.raises(ValueError, match=message):
        Field(*args)


def test_field_takes_lists_and_numpy_ints():
    field = Field([np.int64(2), 0], "uint8")
    assert field.shape == (2, 0) and field.to_config()["shape"] == [2, 0]
    assert Field((), "int32", np.int64(3)).num_values == 3


@pytest.mark.parametrize("seed", [1.5, "x", None, True])
def test_buffer_refuses_a_bad_seed(seed):
    fields = supervised_fields(code_bytes=2, num_classes=4, num_tasks=3)
    with pytest.raises(ValueError, match="Expected seed an int"):
        IndexBuffer(capacity=4, fields=fields, seed=seed)


@pytest.mark.parametrize("bits_per_value", [2.5, True, 0, -8, "8", None])
def test_raw_example_bits_refuses_a_bad_bit_depth(bits_per_value):
    message = f"Expected bits_per_value an int >= 1. Received: bits_per_value={bits_per_value!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        budget.raw_example_bits(IMAGE, bits_per_value=bits_per_value)
