"""The paper's storage accounting and the code-shape search."""

import math

import pytest

from recollect import DiscreteAutoencoder, RecollectionMemory, budget
from recollect.codec_layers import count_autoencoder_params

MNIST = (28, 28, 1)
CIFAR = (32, 32, 3)


def test_raw_example_bits():
    assert budget.raw_example_bits(MNIST) == 6272
    assert budget.raw_example_bits(CIFAR) == 24576
    assert budget.raw_example_bits((784,), bits_per_value=1) == 784


@pytest.mark.parametrize(
    ("incremental_storage", "input_shape", "items", "expected"),
    [
        # MNIST-Rotations, 100 raw examples for 3,000 codes: 26 bytes = 208 bits a code.
        (100, MNIST, 3000, (208, 2)),
        (200, MNIST, 3000, (416, 2)),
        # Incremental CIFAR-100, 10 raw examples for 5,000 codes: 6 bytes = 48 bits
        # (the paper's 48 2d variables).
        (10, CIFAR, 5000, (48, 2)),
        (20, CIFAR, 5000, (96, 2)),
    ],
)
def test_best_code_shape_fills_the_incremental_budget(
    incremental_storage, input_shape, items, expected
):
    shape = budget.best_code_shape(
        incremental_storage=incremental_storage, input_shape=input_shape, items=items
    )
    assert (shape.num_latents, shape.num_categories) == expected
    assert shape.incremental_storage <= incremental_storage
    # One more byte per item would not fit.
    raw = budget.raw_example_bits(input_shape)
    assert items * (shape.code_bytes + 1) * 8 > incremental_storage * raw


def test_fixing_num_categories_reproduces_the_papers_mnist_shapes():
    shape = budget.best_code_shape(
        incremental_storage=100, input_shape=MNIST, items=3000, num_categories=4
    )
    assert (shape.num_latents, shape.num_categories) == (104, 4)  # the paper's choice
    assert shape.code_bytes == 26 and shape.bits_per_item == 208
    # Counting bits as the paper's table does, 139x8 fits 200 raw examples.
    shape = budget.best_code_shape(
        incremental_storage=200,
        input_shape=MNIST,
        items=3000,
        num_categories=8,
        byte_aligned=False,
    )
    assert (shape.num_latents, shape.num_categories) == (139, 8)


def test_best_code_shape_maximises_capacity_over_every_shape():
    inc, items = 7, 500
    best = budget.best_code_shape(incremental_storage=inc, input_shape=MNIST, items=items)
    raw = budget.raw_example_bits(MNIST)
    for l in range(2, 257):
        width = math.ceil(math.log2(l))
        for c in range(1, 200):
            if items * 8 * math.ceil(c * width / 8) <= inc * raw:
                assert c * math.log2(l) <= best.capacity_bits + 1e-9


def test_total_storage_counts_the_autoencoder():
    free = budget.best_code_shape(incremental_storage=200, input_shape=CIFAR, items=1392)
    tight = budget.best_code_shape(
        incremental_storage=200, total_storage=2000, input_shape=CIFAR, items=1392
    )
    assert tight.capacity_bits < free.capacity_bits
    assert tight.total_storage <= 2000
    assert free.total_storage > 2000
    # The search's parameter count is the real model's.
    codec = DiscreteAutoencoder(
        input_shape=CIFAR, num_latents=tight.num_latents, num_categories=tight.num_categories
    )
    assert tight.param_count == sum(int(v.numpy().size) for v in codec.trainable_variables)


def test_describe_and_max_items_are_the_reverse():
    shape = budget.describe(num_latents=104, num_categories=4, items=3000, input_shape=MNIST)
    assert shape.storage_bits == 3000 * 26 * 8
    assert shape.incremental_storage == pytest.approx(3000 * 208 / 6272)
    assert (
        budget.max_items(
            incremental_storage=100, num_latents=104, num_categories=4, input_shape=MNIST
        )
        == 3015
    )
    assert (
        budget.max_items(
            incremental_storage=100, num_latents=784, num_categories=256, input_shape=MNIST
        )
        == 100
    )  # a "code" as big as the image holds exactly the real examples


def test_memory_footprint_agrees_with_budget():
    shape = budget.best_code_shape(incremental_storage=1, input_shape=(8, 8, 1), items=16)
    codec = DiscreteAutoencoder(
        input_shape=(8, 8, 1), num_latents=shape.num_latents, num_categories=shape.num_categories
    )
    memory = RecollectionMemory(codec, capacity=shape.items, num_classes=2, num_tasks=1)
    footprint = memory.footprint()
    assert footprint.input_bytes * 8 == shape.storage_bits
    assert footprint.incremental_storage_raw_examples == pytest.approx(shape.incremental_storage)
    assert footprint.incremental_storage_raw_examples <= 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"incremental_storage": 0, "input_shape": MNIST, "items": 10}, "incremental_storage"),
        ({"incremental_storage": 1, "input_shape": MNIST, "items": 0}, "items"),
        ({"incremental_storage": 1, "input_shape": MNIST, "items": 10**6}, "at least one latent"),
        (
            {"incremental_storage": 1, "total_storage": 1, "input_shape": MNIST, "items": 10},
            "at least one latent",
        ),
    ],
)
def test_budget_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        budget.best_code_shape(**kwargs)


@pytest.mark.parametrize(("c", "l"), [(104, 4), (13, 16)])
def test_mlp_param_count_on_images_is_the_flat_shapes(c, l):
    flat = budget.default_param_count((784,))(c, l)
    assert budget.default_param_count(MNIST, architecture="mlp")(c, l) == flat
    assert budget.default_param_count((784,), architecture="mlp")(c, l) == flat
    assert budget.default_param_count(MNIST)(c, l) != flat  # the conv codec by default


def test_max_items_total_pays_for_the_parameters_first():
    # 100 raw MNIST examples = 78,400 bytes; 10,000 parameters take 40,000 of them.
    fit = budget.max_items_total(
        total_storage=100, num_latents=104, num_categories=4, input_shape=MNIST, param_count=10_000
    )
    assert fit == (78_400 - 40_000) // 26 == 1_476
    assert budget.max_items_total(
        total_storage=100, num_latents=104, num_categories=4, input_shape=MNIST, param_count=0
    ) == budget.max_items(
        incremental_storage=100, num_latents=104, num_categories=4, input_shape=MNIST
    )
    full = {"num_latents": 104, "num_categories": 4, "input_shape": MNIST}
    assert budget.max_items_total(total_storage=100, param_count=19_600, **full) == 0
    assert budget.default_param_count(MNIST, filters=64, kernel_size=3)(62, 2) == (
        count_autoencoder_params(MNIST, 124, filters=64, kernel_size=3)
    )
