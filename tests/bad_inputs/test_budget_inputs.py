"""Bad arguments to the pure functions of `recollect.bits` and `recollect.budget`."""

from typing import Any

import numpy as np
import pytest

from recollect import bits as typed_bits
from recollect import budget as typed_budget
from tests.bad_inputs.harness import (
    CATEGORIES,
    CODE_BYTES,
    LATENTS,
    Case,
    area,
    check,
    codes,
    no_target,
    params,
)

# The cases pass wrong types on purpose: the modules are called as untyped.
bits: Any = typed_bits
budget: Any = typed_budget
MNIST = (28, 28, 1)


def pack(indices: Any, num_categories: Any = CATEGORIES) -> Any:
    return bits.pack_codes(indices, num_categories)


def unpack(packed: Any, num_latents: Any = LATENTS, num_categories: Any = CATEGORIES) -> Any:
    return bits.unpack_codes(packed, num_latents, num_categories)


BITS = area(
    no_target,
    [
        ("pack_codes(float indices)", lambda _: pack(codes(0, dtype=np.float32))),
        ("pack_codes(indices [8]) (rank 1)", lambda _: pack(codes(0, (LATENTS,)))),
        ("pack_codes(indices [2, 8, 1]) (rank 3)", lambda _: pack(codes(0, (2, LATENTS, 1)))),
        ("pack_codes(indices [2, 0])", lambda _: pack(codes(0, (2, 0)))),
        ("pack_codes(index = num_categories)", lambda _: pack(codes(CATEGORIES))),
        ("pack_codes(index -1)", lambda _: pack(codes(-1))),
        ("pack_codes(bool indices)", lambda _: pack(codes(1, dtype=bool))),
        ("pack_codes(None)", lambda _: pack(None)),
        ("pack_codes(num_categories=1)", lambda _: pack(codes(0), 1)),
        ("pack_codes(num_categories=257)", lambda _: pack(codes(0), 257)),
        ("pack_codes(num_categories=4.0)", lambda _: pack(codes(0), 4.0)),
        ("pack_codes(num_categories=True)", lambda _: pack(codes(0), True)),
        ("unpack_codes(int32 bytes)", lambda _: unpack(codes(0, (2, CODE_BYTES)))),
        ("unpack_codes(3 bytes for 2)", lambda _: unpack(codes(0, (2, 3), np.uint8))),
        ("unpack_codes(rank 1 bytes)", lambda _: unpack(codes(0, (CODE_BYTES,), np.uint8))),
        ("unpack_codes(num_latents=0)", lambda _: unpack(codes(0, (2, CODE_BYTES), np.uint8), 0)),
        (
            "unpack_codes(num_latents=2.5)",
            lambda _: unpack(codes(0, (2, CODE_BYTES), np.uint8), 2.5),
        ),
        ("unpack_codes(num_latents=True)", lambda _: unpack(codes(0, (2, 1), np.uint8), True)),
        ("unpack_codes(num_categories=300)", lambda _: unpack(codes(0, (2, 8), np.uint8), 8, 300)),
        ("bits_per_latent(1)", lambda _: bits.bits_per_latent(1)),
        ("bits_per_item(0, 4)", lambda _: bits.bits_per_item(0, 4)),
        ("bits_per_item(8, 1.5)", lambda _: bits.bits_per_item(8, 1.5)),
        ("code_bytes(-1, 4)", lambda _: bits.code_bytes(-1, 4)),
        ("code_bytes(8, None)", lambda _: bits.code_bytes(8, None)),
    ],
)


def best(**overrides: Any) -> Any:
    settings = {"incremental_storage": 100, "input_shape": MNIST, "items": 3000}
    return budget.best_code_shape(**{**settings, **overrides})


def max_items(**overrides: Any) -> Any:
    settings = {"incremental_storage": 100, "num_latents": 104, "num_categories": 4}
    return budget.max_items(**{**settings, "input_shape": MNIST, **overrides})


def describe(**overrides: Any) -> Any:
    settings = {"num_latents": 104, "num_categories": 4, "items": 3000, "input_shape": MNIST}
    return budget.describe(**{**settings, **overrides})


BUDGET = area(
    no_target,
    [
        ("best_code_shape(incremental_storage=0)", lambda _: best(incremental_storage=0)),
        ("best_code_shape(incremental_storage=-1)", lambda _: best(incremental_storage=-1)),
        (
            "best_code_shape(incremental_storage=nan)",
            lambda _: best(incremental_storage=float("nan")),
        ),
        (
            "best_code_shape(incremental_storage=inf)",
            lambda _: best(incremental_storage=float("inf")),
        ),
        ("best_code_shape(incremental_storage=True)", lambda _: best(incremental_storage=True)),
        ("best_code_shape(incremental_storage='100')", lambda _: best(incremental_storage="100")),
        ("best_code_shape(items=0)", lambda _: best(items=0)),
        ("best_code_shape(items=2.5)", lambda _: best(items=2.5)),
        ("best_code_shape(items=True)", lambda _: best(items=True)),
        ("best_code_shape(input_shape=())", lambda _: best(input_shape=())),
        ("best_code_shape(input_shape=(28, 0, 1))", lambda _: best(input_shape=(28, 0, 1))),
        ("best_code_shape(input_shape=None)", lambda _: best(input_shape=None)),
        (
            "best_code_shape(budget too small for 1 latent)",
            lambda _: best(incremental_storage=0.001),
        ),
        ("best_code_shape(num_categories=1)", lambda _: best(num_categories=1)),
        ("best_code_shape(total_storage=0)", lambda _: best(total_storage=0)),
        ("best_code_shape(total_storage=1) (below the codes)", lambda _: best(total_storage=1)),
        ("best_code_shape(bits_per_value=0)", lambda _: best(bits_per_value=0)),
        ("max_items(incremental_storage=0)", lambda _: max_items(incremental_storage=0)),
        ("max_items(num_latents=0)", lambda _: max_items(num_latents=0)),
        ("max_items(num_categories=1)", lambda _: max_items(num_categories=1)),
        ("max_items(bits_per_value=-1)", lambda _: max_items(bits_per_value=-1)),
        ("describe(items=0)", lambda _: describe(items=0)),
        ("describe(num_latents=0)", lambda _: describe(num_latents=0)),
        ("describe(num_categories=1)", lambda _: describe(num_categories=1)),
        ("describe(input_shape=(0,))", lambda _: describe(input_shape=(0,))),
        ("raw_example_bits((28, -1, 1))", lambda _: budget.raw_example_bits((28, -1, 1))),
        ("raw_example_bits(())", lambda _: budget.raw_example_bits(())),
        ("raw_example_bits(None)", lambda _: budget.raw_example_bits(None)),
        (
            "raw_example_bits(bits_per_value=0)",
            lambda _: budget.raw_example_bits(MNIST, bits_per_value=0),
        ),
        (
            "raw_example_bits(bits_per_value=2.5)",
            lambda _: budget.raw_example_bits(MNIST, bits_per_value=2.5),
        ),
        (
            "raw_example_bits(bits_per_value=True)",
            lambda _: budget.raw_example_bits(MNIST, bits_per_value=True),
        ),
    ],
)


@pytest.mark.parametrize("case", params(BITS))
def test_bits_refuse(case: Case) -> None:
    """pack_codes / unpack_codes / bits_per_* / code_bytes: the global RNGs untouched."""
    check(case)


@pytest.mark.parametrize("case", params(BUDGET))
def test_budget_refuses(case: Case) -> None:
    """best_code_shape / max_items / describe / raw_example_bits: the global RNGs untouched."""
    check(case)
