"""How a recollection store spends its budget: code shape, items, and the codec's share.

Where this sits: `RecollectionStore.plan` calls `plan`, once per run and before any
training, so a budget that does not fit or a pretrained codec of another shape is
refused before anything is written.

```
incremental (eq. 4)   items * code_bytes                        <= N raw examples
total       (eq. 5)   items * code_bytes + 4 bytes * |theta|    <= N raw examples

--num_latents given   items = --items, or as many as fit
--items given         the (c, l) of largest capacity that fits (recollect.budget)
--codec_init          the file's codec must be the one the plan builds
```
"""

from __future__ import annotations

import math

from agents.stores.base import StoragePlan
from agents.stores.codecs import codec_settings, latent_multiple, param_count_fn
from agents.stores.recollection_config import RecollectionStoreConfig
from recollect import bits, budget
from recollect import pretrained_codec as pretrained
from recollect.footprint import raw_example_bytes


def plan(
    config: RecollectionStoreConfig,
    *,
    incremental_storage: float,
    input_shape: tuple[int, ...],
    budget_kind: str = "incremental",
) -> StoragePlan:
    """The code shape and item count that fit the budget, or a ValueError saying why.

    Args:
        config: the store's settings.
        incremental_storage: the budget, in raw examples.
        input_shape: shape of one input.
        budget_kind: "incremental" (the codes alone) or "total" (the codes and the
            codec's float32 parameters: eq. 5).

    Returns:
        The capacity and code shape, checked against a --codec_init file.

    Raises:
        ValueError: an unknown budget_kind, a budget that does not fit, or a
            --codec_init codec of another shape.
    """
    if budget_kind not in budget.BUDGETS:
        raise ValueError(
            f"Expected --budget among {budget.BUDGETS}. Received: budget={budget_kind!r}"
        )
    total = budget_kind == "total"
    if config.num_latents is not None:
        chosen = _plan_fixed_shape(config, incremental_storage, input_shape, total)
    elif config.items is None:
        raise ValueError(
            "Expected --items (the number of codes to store) or an explicit "
            "--num_latents/--num_categories for recollections. Received: neither"
        )
    else:
        multiple = latent_multiple(config, input_shape)
        if total:
            smallest = config.num_categories or bits.MIN_CATEGORIES
            _check_codec_fits(config, incremental_storage, input_shape, multiple, smallest)
        shape = budget.best_code_shape(
            incremental_storage=incremental_storage,
            input_shape=input_shape,
            items=config.items,
            total_storage=incremental_storage if total else None,
            num_categories=config.num_categories,
            param_count_fn=param_count_fn(config, input_shape),
            latent_multiple=multiple,
        )
        chosen = StoragePlan(
            config.items, shape.bits_per_item, shape.num_latents, shape.num_categories
        )
    _check_codec_init(config, chosen, input_shape)
    return chosen


def _check_codec_fits(
    config: RecollectionStoreConfig,
    total_storage: float,
    input_shape: tuple[int, ...],
    num_latents: int,
    num_categories: int,
) -> tuple[int, int]:
    """(|theta|, codes that fit) of a c x l codec under a total budget.

    Raises:
        ValueError: unless the budget holds the codec and one code beside it.
    """
    params = param_count_fn(config, input_shape)(num_latents, num_categories)
    fit = budget.max_items_total(
        total_storage=total_storage,
        num_latents=num_latents,
        num_categories=num_categories,
        input_shape=input_shape,
        param_count=params,
    )
    if fit >= 1:
        return params, fit
    raw_bytes = raw_example_bytes(math.prod(input_shape))
    codec_bytes = budget.PARAM_BITS // 8 * params
    code_bytes = bits.code_bytes(num_latents, num_categories)
    raise ValueError(
        "Expected a total budget that holds the codec and at least one code. Received: "
        f"--incremental_storage={total_storage:g} raw examples "
        f"({total_storage * raw_bytes:,.0f} bytes) with --budget=total, but the "
        f"{num_latents}x{num_categories} {config.codec} codec's {params:,} float32 parameters "
        f"take {codec_bytes:,} bytes ({codec_bytes / raw_bytes:,.1f} raw examples) and a code "
        f"{code_bytes} more. Raise --incremental_storage above "
        f"{(codec_bytes + code_bytes) / raw_bytes:,.1f} or shrink the codec (--codec_units, "
        "--num_latents, --codec_kernel_size), or count the codes alone (--budget=incremental)."
    )


def _check_codec_init(
    config: RecollectionStoreConfig, plan: StoragePlan, input_shape: tuple[int, ...]
) -> None:
    """Raises ValueError if the --codec_init file's codec is not the one the plan builds."""
    if config.codec_init is None or plan.num_latents is None or plan.num_categories is None:
        return
    expected = codec_settings(
        config,
        num_latents=plan.num_latents,
        num_categories=plan.num_categories,
        input_shape=input_shape,
    )
    try:
        pretrained.PretrainedCodec.read(config.codec_init).check_matches(expected)
    except ValueError as error:
        raise ValueError(
            f"{error}. Pretrain one with the run's settings (python -m runners.pretrain_codec) "
            "or change --num_latents, --num_categories, --codec, --codec_units or "
            "--codec_kernel_size."
        ) from error


def _plan_fixed_shape(
    config: RecollectionStoreConfig,
    storage: float,
    input_shape: tuple[int, ...],
    total: bool,
) -> StoragePlan:
    c, l = config.num_latents, config.num_categories
    if c is None or l is None:
        raise ValueError(
            f"Expected --num_categories with --num_latents. Received: num_latents={c}, "
            f"num_categories={l}"
        )
    multiple = latent_multiple(config, input_shape)
    if c % multiple:
        raise ValueError(
            f"Expected --num_latents a multiple of {multiple} with --codec=grid on inputs of "
            f"shape {input_shape} (one set of latents per 4x4 patch). Received: "
            f"num_latents={c}; try {max(multiple, c // multiple * multiple)} or "
            f"{(c // multiple + 1) * multiple}."
        )
    params = 0
    if total:
        params, fit = _check_codec_fits(config, storage, input_shape, c, l)
    else:
        fit = budget.max_items(
            incremental_storage=storage, num_latents=c, num_categories=l, input_shape=input_shape
        )
    items = config.items or fit
    if items < 1 or items > fit:
        need = budget.describe(
            num_latents=c, num_categories=l, items=max(items, 1), input_shape=input_shape
        )
        codec = (
            f" beside the codec's {budget.PARAM_BITS // 8 * params:,} bytes (--budget=total)"
            if total
            else ""
        )
        raise ValueError(
            f"Expected a code shape that fits the budget. Received: {c}x{l} codes "
            f"({need.code_bytes} bytes each) for {max(items, 1)} items need "
            f"{need.incremental_storage:.1f} raw examples{codec}, more than "
            f"--incremental_storage={storage} allows (at most {fit} items fit). "
            "Lower --items or --num_latents, or raise --incremental_storage."
        )
    return StoragePlan(items, c * math.ceil(math.log2(l)), c, l)
