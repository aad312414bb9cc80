"""Bad arguments to recall, recall_items, recall_rows and stabilize; an empty memory."""

import numpy as np
import pytest

from tests.bad_inputs.harness import (
    CAPACITY,
    TASKS,
    Case,
    area,
    check,
    empty_memory,
    images,
    images_with,
    params,
    partly_full,
)

RECALL = area(
    partly_full,
    [
        ("recall(0)", lambda m: m.recall(0)),
        ("recall(-1)", lambda m: m.recall(-1)),
        ("recall(2.5)", lambda m: m.recall(2.5)),
        ("recall(True) (bool as int)", lambda m: m.recall(True)),
        ("recall('3')", lambda m: m.recall("3")),
        ("recall(None)", lambda m: m.recall(None)),
        ("recall(np.float32(2))", lambda m: m.recall(np.float32(2))),
        ("recall(2, task=3) (= num_tasks)", lambda m: m.recall(2, task=TASKS)),
        ("recall(2, task=-1)", lambda m: m.recall(2, task=-1)),
        ("recall(2, task=2) (no items of task 2)", lambda m: m.recall(2, task=2)),
        ("recall(2, task=1.0)", lambda m: m.recall(2, task=1.0)),
        ("recall(2, task='0')", lambda m: m.recall(2, task="0")),
        ("recall(2, task=True) (bool as int)", lambda m: m.recall(2, task=True)),
        ("recall_items(0)", lambda m: m.recall_items(0)),
        ("recall_items(2, task=5)", lambda m: m.recall_items(2, task=5)),
        (
            "recall_items(2, decode=False, task=-3)",
            lambda m: m.recall_items(2, task=-3, decode=False),
        ),
        ("recall_rows([-1])", lambda m: m.recall_rows([-1])),
        ("recall_rows([20]) (= capacity)", lambda m: m.recall_rows([CAPACITY])),
        ("recall_rows([0, 100])", lambda m: m.recall_rows([0, 100])),
        ("recall_rows([[0, 1], [2, 30]])", lambda m: m.recall_rows([[0, 1], [2, 30]])),
        ("recall_rows([15]) (never written)", lambda m: m.recall_rows([15])),
        ("recall_rows([0.5]) (float rows)", lambda m: m.recall_rows([0.5])),
        ("recall_rows(['a'])", lambda m: m.recall_rows(["a"])),
        ("recall_rows(None)", lambda m: m.recall_rows(None)),
    ],
)

RECALL_EMPTY = area(
    empty_memory,
    [
        ("recall(1)", lambda m: m.recall(1)),
        ("recall_items(1)", lambda m: m.recall_items(1)),
        ("recall(1, task=0)", lambda m: m.recall(1, task=0)),
        ("recall_rows([0]) (never written)", lambda m: m.recall_rows([0])),
        (
            "observe an empty batch",
            lambda m: m.observe(images(0), np.zeros(0, int), np.zeros(0, int)),
            True,
        ),
    ],
)

STABILIZE = area(
    partly_full,
    [
        ("x_new with NaN", lambda m: m.stabilize(images_with(np.nan))),
        ("x_new [3, 8, 8]", lambda m: m.stabilize(images(3, (8, 8)))),
        ("x_new with a value 2.0", lambda m: m.stabilize(images_with(2.0))),
        ("x_new int32", lambda m: m.stabilize(images(3).astype(np.int32))),
        ("recollections=[]", lambda m: m.stabilize(images(3), [])),
        ("recollections=[[2, 8, 8]]", lambda m: m.stabilize(images(3), [images(2, (8, 8))])),
        (
            "recollections=[ok, NaN] (2nd bad)",
            lambda m: m.stabilize(images(3), [images(2), images_with(np.nan)]),
        ),
        (
            "recollections=[ok, 2.0] (2nd bad)",
            lambda m: m.stabilize(images(3), [images(2), images_with(2.0)]),
        ),
        ("recollections=an array, not a list", lambda m: m.stabilize(images(3), images(2))),
        ("recollections='abc'", lambda m: m.stabilize(images(3), "abc")),
        ("num_steps=0", lambda m: m.stabilize(images(3), num_steps=0)),
        ("num_steps=-1", lambda m: m.stabilize(images(3), num_steps=-1)),
        ("num_steps=1.5", lambda m: m.stabilize(images(3), num_steps=1.5)),
        ("num_steps=True (bool as int)", lambda m: m.stabilize(images(3), num_steps=True)),
        ("batch_size=-1", lambda m: m.stabilize(images(3), batch_size=-1)),
        ("batch_size=2.5", lambda m: m.stabilize(images(3), batch_size=2.5)),
        ("batch_size=0", lambda m: m.stabilize(images(3), batch_size=0)),
    ],
)


@pytest.mark.parametrize("case", params(RECALL))
def test_recall_refuses(case: Case) -> None:
    """recall / recall_items / recall_rows of a partly full memory: nothing changes."""
    check(case)


@pytest.mark.parametrize("case", params(RECALL_EMPTY))
def test_empty_memory_refuses(case: Case) -> None:
    """Recalling from an empty memory is refused; observing an empty batch does nothing."""
    check(case)


@pytest.mark.parametrize("case", params(STABILIZE))
def test_stabilize_refuses(case: Case) -> None:
    """stabilize(): the codec's weights and the optimizer's slots unchanged."""
    check(case)
