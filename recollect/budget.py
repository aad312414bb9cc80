"""Storage accounting in the paper's units, and the code shape that fits a budget.

Where this sits: runners turn `--incremental_storage=N` (raw-example units) into a
buffer capacity and a code shape (c, l) here, then build the memory; with
`--budget=total` the same N also pays for the codec's parameters (eq. 5).

The paper's appendix ("Optimizing Latent Code Size for a Resource Constraint"):

    maximize   C_ve = log2(l ** c) = c * log2(l)
    subject to items * S_sbe <= incremental budget                     (eq. 4)
               items * S_sbe + |theta|(c, l) <= total budget           (eq. 5)

with S_sbe the stored size of one code. This module counts what the buffer really
stores: ceil(k / 8) bytes per item, k = c * ceil(log2 l) (set byte_aligned=False
to count bits, as the paper's tables do). One raw example is prod(input_shape)
values at `bits_per_value` bits (8 for MNIST, Omniglot and CIFAR). Labels and task
ids are stored by real-storage and recollection buffers alike, so, as in the
paper, they are not counted.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

from recollect import bits
from recollect.codec_layers import KERNEL_SIZE, count_autoencoder_params

PARAM_BITS = 32
# How a budget counts the codec: incremental (the codes alone, eq. 4) or total (the
# codes and the codec's 32-bit parameters, eq. 5).
BUDGETS = ("incremental", "total")


@dataclasses.dataclass(frozen=True)
class CodeShape:
    """A chosen code shape and what it costs.

    Attributes:
        num_latents: c.
        num_categories: l.
        items: buffer capacity (codes stored).
        bits_per_item: k = c * ceil(log2 l).
        code_bytes: ceil(k / 8), bytes per stored item.
        capacity_bits: C_ve = c * log2(l), the objective.
        storage_bits: bits the codes of a full buffer take (byte-aligned unless
            chosen with byte_aligned=False).
        param_count: autoencoder parameters (encoder + decoder).
        incremental_storage: storage_bits in raw-example units.
        total_storage: (storage_bits + 32 * param_count) in raw-example units.
    """

    num_latents: int
    num_categories: int
    items: int
    bits_per_item: int
    code_bytes: int
    capacity_bits: float
    storage_bits: int
    param_count: int
    incremental_storage: float
    total_storage: float


def raw_example_bits(input_shape: Sequence[int], *, bits_per_value: int = 8) -> int:
    """Bits of one raw example: 28 * 28 * 8 = 6,272 for MNIST, 24,576 for CIFAR.

    Args:
        input_shape: shape of one raw input, e.g. (28, 28, 1).
        bits_per_value: bits of one raw input value (8).

    Returns:
        prod(input_shape) * bits_per_value.

    Raises:
        ValueError: on an empty or non-positive input_shape, or bits_per_value not
            an int >= 1.
    """
    _check_positive_int("bits_per_value", bits_per_value)
    shape = tuple(int(d) for d in input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(
            f"Expected a non-empty positive input_shape. Received: input_shape={input_shape!r}"
        )
    return math.prod(shape) * bits_per_value


def _item_bits(num_latents: int, num_categories: int, byte_aligned: bool) -> int:
    if byte_aligned:
        return 8 * bits.code_bytes(num_latents, num_categories)
    return bits.bits_per_item(num_latents, num_categories)


def default_param_count(
    input_shape: Sequence[int],
    *,
    architecture: str | None = None,
    filters: int | None = None,
    hidden_units: int | None = None,
    kernel_size: int = KERNEL_SIZE,
    width: int | None = None,
) -> Callable[[int, int], int]:
    """|theta|(c, l) of this library's `DiscreteAutoencoder` for `input_shape`.

    Args:
        input_shape: shape of one raw input, e.g. (28, 28, 1).
        architecture: the codec's architecture, "conv", "mlp" or None (the
            codec's default for the shape). An "mlp" on an image shape counts as
            an "mlp" on that shape flattened.
        filters: conv filters per layer; None: c * l / 4 for each (c, l).
        hidden_units: mlp units per layer; None: c * l for each (c, l).
        kernel_size: the conv layers' kernel size.
        width: filters (conv) or hidden units (mlp), whatever the architecture.

    Returns:
        (c, l) -> encoder + decoder parameters.
    """
    return lambda c, l: count_autoencoder_params(
        input_shape,
        c * l,
        architecture=architecture,
        filters=filters,
        hidden_units=hidden_units,
        kernel_size=kernel_size,
        width=width,
    )


def describe(
    *,
    num_latents: int,
    num_categories: int,
    items: int,
    input_shape: Sequence[int],
    bits_per_value: int = 8,
    byte_aligned: bool = True,
    param_count_fn: Callable[[int, int], int] | None = None,
) -> CodeShape:
    """What a given code shape and buffer size cost (the reverse direction).

    Args:
        num_latents: c.
        num_categories: l in [2, 256].
        items: buffer capacity, >= 1.
        input_shape: shape of one raw input, e.g. (28, 28, 1).
        bits_per_value: bits of one raw input value (8).
        byte_aligned: count ceil(k/8) bytes per item (True) or k bits.
        param_count_fn: (c, l) -> autoencoder parameters; default this library's.

    Returns:
        `CodeShape`.
    """
    _check_positive_int("items", items)
    raw = raw_example_bits(input_shape, bits_per_value=bits_per_value)
    param_count_fn = param_count_fn or default_param_count(input_shape)
    storage = items * _item_bits(num_latents, num_categories, byte_aligned)
    params = int(param_count_fn(num_latents, num_categories))
    return CodeShape(
        num_latents=num_latents,
        num_categories=num_categories,
        items=items,
        bits_per_item=bits.bits_per_item(num_latents, num_categories),
        code_bytes=bits.code_bytes(num_latents, num_categories),
        capacity_bits=num_latents * math.log2(num_categories),
        storage_bits=storage,
        param_count=params,
        incremental_storage=storage / raw,
        total_storage=(storage + PARAM_BITS * params) / raw,
    )


def max_items(
    *,
    incremental_storage: float,
    num_latents: int,
    num_categories: int,
    input_shape: Sequence[int],
    bits_per_value: int = 8,
    byte_aligned: bool = True,
) -> int:
    """How many codes of shape (c, l) fit an incremental budget.

    Args:
        incremental_storage: the budget, in raw examples.
        num_latents: c.
        num_categories: l.
        input_shape: shape of one raw input.
        bits_per_value: bits of one raw input value.
        byte_aligned: count whole bytes per item.

    Returns:
        int >= 0.
    """
    budget = _budget_bits(incremental_storage, input_shape, bits_per_value, "incremental_storage")
    return int(budget // _item_bits(num_latents, num_categories, byte_aligned))


def max_items_total(
    *,
    total_storage: float,
    num_latents: int,
    num_categories: int,
    input_shape: Sequence[int],
    param_count: int,
    bits_per_value: int = 8,
    byte_aligned: bool = True,
) -> int:
    """How many codes of shape (c, l) fit a total budget beside the codec (eq. 5).

    The codec's parameters take PARAM_BITS (32) bits each out of the budget first;
    the codes get what is left.

    Args:
        total_storage: the budget for codes and codec, in raw examples.
        num_latents: c.
        num_categories: l.
        input_shape: shape of one raw input.
        param_count: the codec's parameters, |theta|(c, l).
        bits_per_value: bits of one raw input value.
        byte_aligned: count whole bytes per item.

    Returns:
        int >= 0: 0 when the codec alone takes the budget, or leaves less than one code.
    """
    budget = _budget_bits(total_storage, input_shape, bits_per_value, "total_storage")
    left = budget - PARAM_BITS * int(param_count)
    return max(0, int(left // _item_bits(num_latents, num_categories, byte_aligned)))


def best_code_shape(
    *,
    incremental_storage: float,
    input_shape: Sequence[int],
    items: int,
    total_storage: float | None = None,
    num_categories: int | None = None,
    max_num_categories: int = bits.MAX_CATEGORIES,
    bits_per_value: int = 8,
    byte_aligned: bool = True,
    param_count_fn: Callable[[int, int], int] | None = None,
    latent_multiple: int = 1,
) -> CodeShape:
    """The (c, l) that maximises C_ve = c * log2(l) for `items` codes in a budget.

    Ties (e.g. 208x2 and 104x4 both give 208 bits) go to the smaller
    autoencoder (smaller c * l), then to the smaller l.

    Args:
        incremental_storage: budget for the codes, in raw examples (eq. 4).
        input_shape: shape of one raw input, e.g. (28, 28, 1).
        items: buffer capacity to fit, >= 1.
        total_storage: optional budget for codes plus 32-bit autoencoder
            parameters, in raw examples (eq. 5).
        num_categories: fix l instead of searching 2..max_num_categories.
        max_num_categories: largest l searched.
        bits_per_value: bits of one raw input value.
        byte_aligned: items cost whole bytes (what the buffer stores).
        param_count_fn: (c, l) -> autoencoder parameters; default this library's
            `DiscreteAutoencoder` for `input_shape`.
        latent_multiple: c must be a multiple of this (a grid codec's cells,
            `codec_layers.grid_cells`); 1: any c.

    Returns:
        `CodeShape`.

    Raises:
        ValueError: if not even one latent of the smallest l fits.
    """
    _check_positive_int("items", items)
    _check_positive_int("latent_multiple", latent_multiple)
    budget = _budget_bits(incremental_storage, input_shape, bits_per_value, "incremental_storage")
    raw = raw_example_bits(input_shape, bits_per_value=bits_per_value)
    total = None
    if total_storage is not None:
        total = _budget_bits(total_storage, input_shape, bits_per_value, "total_storage")
    param_count_fn = param_count_fn or default_param_count(input_shape)
    per_item = budget // items
    if byte_aligned:
        per_item = per_item // 8 * 8
    candidates = (
        [num_categories]
        if num_categories is not None
        else range(bits.MIN_CATEGORIES, max_num_categories + 1)
    )
    best = _most_bits(
        candidates, per_item, items, total, param_count_fn, byte_aligned, latent_multiple
    )
    if best is None:
        latents = "one latent" if latent_multiple == 1 else f"{latent_multiple} latents"
        raise ValueError(
            f"Expected a budget that holds at least {latents} per item. Received: "
            f"incremental_storage={incremental_storage} raw examples ({budget:.0f} bits) for "
            f"items={items} ({per_item:.0f} bits an item), total_storage={total_storage}. "
            f"Store fewer items or raise the budget (one raw example is {raw} bits)."
        )
    return describe(
        num_latents=best[0],
        num_categories=best[1],
        items=items,
        input_shape=input_shape,
        bits_per_value=bits_per_value,
        byte_aligned=byte_aligned,
        param_count_fn=param_count_fn,
    )


def _most_bits(
    candidates: Sequence[int],
    per_item: float,
    items: int,
    total: float | None,
    param_count_fn: Callable[[int, int], int],
    byte_aligned: bool,
    multiple: int = 1,
) -> tuple[int, int] | None:
    """The (c, l) of most bits among l in candidates (ties: smaller c * l, then l).

    c is a multiple of `multiple` (parameters grow with c, so rounding the largest
    fitting c down keeps it fitting).
    """
    best, best_key = None, None
    for l in candidates:
        c = int(per_item // bits.bits_per_latent(l))
        if total is not None:
            c = _largest_fitting(c, l, items, total, param_count_fn, byte_aligned)
        c = c // multiple * multiple
        if c < 1:
            continue
        key = (c * math.log2(l), -c * l, -l)
        if best_key is None or key > best_key:
            best, best_key = (c, l), key
    return best


def _largest_fitting(
    c_max: int,
    l: int,
    items: int,
    total_bits: float,
    param_count_fn: Callable[[int, int], int],
    byte_aligned: bool,
) -> int:
    """Largest c <= c_max with codes + parameters within total_bits (binary search)."""

    def fits(c: int) -> bool:
        return (
            items * _item_bits(c, l, byte_aligned) + PARAM_BITS * param_count_fn(c, l) <= total_bits
        )

    if c_max < 1 or not fits(1):
        return 0
    low, high = 1, c_max
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


def _budget_bits(
    storage: float, input_shape: Sequence[int], bits_per_value: int, name: str
) -> float:
    if isinstance(storage, bool) or not isinstance(storage, int | float) or not storage > 0:
        raise ValueError(f"Expected {name} > 0 raw examples. Received: {name}={storage!r}")
    return storage * raw_example_bits(input_shape, bits_per_value=bits_per_value)


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Expected {name} an int >= 1. Received: {name}={value!r}")
