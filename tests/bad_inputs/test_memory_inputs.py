"""Bad arguments to the memory and codec constructors, and to encode/decode/footprint."""

import numpy as np
import pytest

from recollect import Field, TaskRingPolicy
from tests.bad_inputs.harness import (
    CATEGORIES,
    LATENTS,
    VECTOR,
    Case,
    Subject,
    area,
    cached,
    check,
    codes,
    conv_codec,
    global_rng_state,
    images,
    images_with,
    memory_with,
    no_target,
    params,
    partly_full,
    variables_state,
)


@cached
def spare_codec() -> Subject:
    """A codec handed to memory constructors that must leave it (and the RNGs) alone."""
    codec = conv_codec()
    return Subject(codec, lambda: {**variables_state(codec.variables), **global_rng_state()})


MEMORY_ARGS = area(
    spare_codec,
    [
        ("codec=None", lambda c: memory_with(None)),
        ("codec='conv' (a str)", lambda c: memory_with("conv")),
        ("capacity=0", lambda c: memory_with(c, capacity=0)),
        ("capacity=-5", lambda c: memory_with(c, capacity=-5)),
        ("capacity=2.5", lambda c: memory_with(c, capacity=2.5)),
        ("capacity=True (bool as int)", lambda c: memory_with(c, capacity=True)),
        ("capacity=None", lambda c: memory_with(c, capacity=None)),
        ("capacity='20' (a str)", lambda c: memory_with(c, capacity="20")),
        ("num_classes=0", lambda c: memory_with(c, num_classes=0)),
        ("num_classes=-1", lambda c: memory_with(c, num_classes=-1)),
        ("num_classes=None (supervised)", lambda c: memory_with(c, num_classes=None)),
        ("num_classes=2.5", lambda c: memory_with(c, num_classes=2.5)),
        ("num_classes=True (bool as int)", lambda c: memory_with(c, num_classes=True)),
        ("num_tasks=0", lambda c: memory_with(c, num_tasks=0)),
        ("num_tasks=None (supervised)", lambda c: memory_with(c, num_tasks=None)),
        ("num_tasks='3' (a str)", lambda c: memory_with(c, num_tasks="3")),
        ("policy='reservoir' (a str)", lambda c: memory_with(c, policy="reservoir")),
        (
            "policy=TaskRingPolicy(21) > capacity",
            lambda c: memory_with(c, policy=TaskRingPolicy(21)),
        ),
        (
            "policy=TaskRingPolicy(3, task_field='episode')",
            lambda c: memory_with(c, policy=TaskRingPolicy(3, task_field="episode")),
        ),
        ("side_fields named 'codes'", lambda c: memory_with(c, side_fields={"codes": Field()})),
        (
            "side_fields={'action': 'int32'}",
            lambda c: memory_with(c, side_fields={"action": "int32"}),
        ),
        (
            "encoded_inputs=('next_x',) (no 'x')",
            lambda c: memory_with(c, encoded_inputs=("next_x",)),
        ),
        ("encoded_inputs=()", lambda c: memory_with(c, encoded_inputs=())),
        ("encoded_inputs='next_x' (a str)", lambda c: memory_with(c, encoded_inputs="next_x")),
        ("learning_rate=0", lambda c: memory_with(c, learning_rate=0)),
        ("learning_rate=-1e-3", lambda c: memory_with(c, learning_rate=-1e-3)),
        ("learning_rate=nan", lambda c: memory_with(c, learning_rate=float("nan"))),
        ("learning_rate='fast'", lambda c: memory_with(c, learning_rate="fast")),
        ("seed=None", lambda c: memory_with(c, seed=None)),
        ("seed=1.5", lambda c: memory_with(c, seed=1.5)),
        ("seed='7' (a str)", lambda c: memory_with(c, seed="7")),
        ("seed=2**64 (over int64)", lambda c: memory_with(c, seed=2**64)),
    ],
)

CODEC_ARGS = area(
    no_target,
    [
        ("input_shape=()", lambda _: conv_codec(input_shape=())),
        (
            "input_shape=(8, 8) (2-D, default architecture)",
            lambda _: conv_codec(input_shape=(8, 8)),
        ),
        ("input_shape=(0, 8, 1)", lambda _: conv_codec(input_shape=(0, 8, 1))),
        ("input_shape=(8, -8, 1)", lambda _: conv_codec(input_shape=(8, -8, 1))),
        ("input_shape=None", lambda _: conv_codec(input_shape=None)),
        ("input_shape='8x8'", lambda _: conv_codec(input_shape="8x8")),
        ("input_shape=(8.5, 8, 1)", lambda _: conv_codec(input_shape=(8.5, 8, 1))),
        ("architecture='transformer'", lambda _: conv_codec(architecture="transformer")),
        ("architecture='CONV' (case)", lambda _: conv_codec(architecture="CONV")),
        (
            "architecture='conv' on (16,)",
            lambda _: conv_codec(input_shape=VECTOR, architecture="conv"),
        ),
        ("num_latents=0", lambda _: conv_codec(num_latents=0)),
        ("num_latents=-4", lambda _: conv_codec(num_latents=-4)),
        ("num_latents=2.5", lambda _: conv_codec(num_latents=2.5)),
        ("num_latents=True (bool as int)", lambda _: conv_codec(num_latents=True)),
        ("num_latents=None", lambda _: conv_codec(num_latents=None)),
        ("num_categories=1", lambda _: conv_codec(num_categories=1)),
        ("num_categories=257", lambda _: conv_codec(num_categories=257)),
        ("num_categories=4.0", lambda _: conv_codec(num_categories=4.0)),
        ("num_categories=True (bool as int)", lambda _: conv_codec(num_categories=True)),
        ("filters=0", lambda _: conv_codec(filters=0)),
        ("filters=-8", lambda _: conv_codec(filters=-8)),
        ("hidden_units=0 (mlp)", lambda _: conv_codec(input_shape=VECTOR, hidden_units=0)),
        ("hidden_units=-1 (mlp)", lambda _: conv_codec(input_shape=VECTOR, hidden_units=-1)),
        ("temperature=0", lambda _: conv_codec(temperature=0)),
        ("temperature=nan", lambda _: conv_codec(temperature=float("nan"))),
        ("noise_scale=-0.5", lambda _: conv_codec(noise_scale=-0.5)),
        ("noise_scale=nan", lambda _: conv_codec(noise_scale=float("nan"))),
        ("noise_scale=None", lambda _: conv_codec(noise_scale=None)),
        ("seed='abc'", lambda _: conv_codec(seed="abc")),
    ],
)

CODEC_CALLS = area(
    partly_full,
    [
        ("encode(x with NaN)", lambda m: m.encode(images_with(np.nan))),
        ("encode(x [3, 8, 8])", lambda m: m.encode(images(3, (8, 8)))),
        ("encode(x int32)", lambda m: m.encode(images(3).astype(np.int32))),
        ("encode(x with a value 1.5)", lambda m: m.encode(images_with(1.5))),
        ("encode(None)", lambda m: m.encode(None)),
        ("decode(codes = num_categories)", lambda m: m.decode(codes(CATEGORIES))),
        ("decode(codes = -1)", lambda m: m.decode(codes(-1))),
        ("decode(codes = 1000)", lambda m: m.decode(codes(1000))),
        ("decode(uint8 codes = 255)", lambda m: m.decode(codes(255, dtype=np.uint8))),
        ("decode(codes [2, 9])", lambda m: m.decode(codes(0, (2, LATENTS + 1)))),
        (
            "decode(codes [2, 4]) (half the latents)",
            lambda m: m.decode(codes(0, (2, LATENTS // 2))),
        ),
        ("decode(codes [8]) (no batch axis)", lambda m: m.decode(codes(0, (LATENTS,)))),
        ("decode(float codes)", lambda m: m.decode(codes(0, dtype=np.float32))),
        ("decode(None)", lambda m: m.decode(None)),
        ("footprint(bits_per_value=0)", lambda m: m.footprint(bits_per_value=0)),
        ("footprint(bits_per_value=-8)", lambda m: m.footprint(bits_per_value=-8)),
        ("footprint(bits_per_value=2.5)", lambda m: m.footprint(bits_per_value=2.5)),
        ("footprint(bits_per_value=True)", lambda m: m.footprint(bits_per_value=True)),
        ("footprint(bits_per_value='8')", lambda m: m.footprint(bits_per_value="8")),
        ("footprint(bits_per_value=None)", lambda m: m.footprint(bits_per_value=None)),
    ],
)


@pytest.mark.parametrize("case", params(MEMORY_ARGS))
def test_memory_constructor_refuses(case: Case) -> None:
    """RecollectionMemory(...): the codec handed in and the global RNGs stay as they were."""
    check(case)


@pytest.mark.parametrize("case", params(CODEC_ARGS))
def test_codec_constructor_refuses(case: Case) -> None:
    """DiscreteAutoencoder(...): the global RNGs stay as they were."""
    check(case)


@pytest.mark.parametrize("case", params(CODEC_CALLS))
def test_encode_decode_footprint_refuse(case: Case) -> None:
    """encode / decode / footprint of a partly full memory: its variables unchanged."""
    check(case)
