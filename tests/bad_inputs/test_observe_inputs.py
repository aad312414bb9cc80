"""Bad batches to `RecollectionMemory.observe`, supervised and of RL transitions."""

from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from recollect import RecollectionMemory
from tests.bad_inputs.harness import (
    CLASSES,
    TASKS,
    VECTOR,
    Case,
    area,
    check,
    images,
    images_with,
    labels,
    params,
    partly_full,
    transition,
    transitions,
    without,
)


def observe3(
    memory: RecollectionMemory, x: Any = None, y: Any = None, task: Any = 0, **side: Any
) -> object:
    """observe() of 3 items, with x and y valid unless given."""
    x = images(3) if x is None else x
    y = labels(3) if y is None else y
    return memory.observe(x, y, task, **side)


OBSERVE = area(
    partly_full,
    [
        ("x [3, 8, 8] (no channel axis)", lambda m: observe3(m, images(3, (8, 8)))),
        ("x [3, 8, 8, 3] (3 channels)", lambda m: observe3(m, images(3, (8, 8, 3)))),
        ("x [8, 8, 1] (no batch axis)", lambda m: observe3(m, images(1)[0])),
        ("x [3, 16] (flat)", lambda m: observe3(m, images(3, (16,)))),
        ("x int32", lambda m: observe3(m, images(3).astype(np.int32))),
        ("x bool", lambda m: observe3(m, images(3) > 0.5)),
        ("x float with a value 1.5", lambda m: observe3(m, images_with(1.5))),
        ("x float with a value -0.1", lambda m: observe3(m, images_with(-0.1))),
        ("x with NaN", lambda m: observe3(m, images_with(np.nan))),
        ("x with +inf", lambda m: observe3(m, images_with(np.inf))),
        ("x with -inf", lambda m: observe3(m, images_with(-np.inf))),
        ("x float16 with NaN", lambda m: observe3(m, images_with(np.nan).astype(np.float16))),
        ("x float64 with 255.0 (unscaled pixels)", lambda m: observe3(m, images_with(255.0) * 1.0)),
        ("x tf.Tensor with NaN", lambda m: observe3(m, tf.constant(images_with(np.nan)))),
        (
            "x uint8 [3, 8, 8] (no channel axis)",
            lambda m: observe3(m, np.zeros((3, 8, 8), np.uint8)),
        ),
        ("x None", lambda m: m.observe(None, labels(3), 0)),
        ("x 'abc' (a str)", lambda m: observe3(m, "abc")),
        ("y = num_classes", lambda m: observe3(m, y=np.full(3, CLASSES))),
        ("y = -1", lambda m: observe3(m, y=np.array([0, -1, 1]))),
        ("y = 2**40 (int64)", lambda m: observe3(m, y=np.full(3, 2**40))),
        ("y float [0., 1., 2.]", lambda m: observe3(m, y=np.array([0.0, 1.0, 2.0]))),
        ("y bool (bool as int)", lambda m: observe3(m, y=np.array([True, False, True]))),
        ("y of length 2 for 3 inputs", lambda m: observe3(m, y=labels(2))),
        ("y [3, 1]", lambda m: observe3(m, y=labels(3)[:, None])),
        ("y strings", lambda m: observe3(m, y=np.array(["0", "1", "2"]))),
        ("y None (label missing)", lambda m: m.observe(images(3), None, 0)),
        ("task = num_tasks (3)", lambda m: observe3(m, task=TASKS)),
        ("task = -1", lambda m: observe3(m, task=-1)),
        ("task 2.0 (float)", lambda m: observe3(m, task=2.0)),
        ("task True (bool as int)", lambda m: observe3(m, task=True)),
        ("task list of length 2 for 3 inputs", lambda m: observe3(m, task=[0, 1])),
        ("task None (task missing)", lambda m: m.observe(images(3), labels(3))),
        ("an unknown side field action=", lambda m: observe3(m, action=np.zeros(3, np.int32))),
        (
            "an empty batch [0, 8, 8, 1]",
            lambda m: observe3(m, images(0), np.zeros(0, int), np.zeros(0, int)),
            True,
        ),
        ("x of 0 items, y of 3", lambda m: observe3(m, images(0))),
    ],
)

OBSERVE_TRANSITIONS = area(
    transitions,
    [
        ("next_x missing", lambda m: m.observe(**without(transition(3), "next_x"))),
        ("reward missing", lambda m: m.observe(**without(transition(3), "reward"))),
        ("an unknown field label=", lambda m: m.observe(**transition(3, label=labels(3)))),
        (
            "next_x of another batch size",
            lambda m: m.observe(**transition(3, next_x=images(2, VECTOR))),
        ),
        (
            "next_x with NaN",
            lambda m: m.observe(**transition(3, next_x=images_with(np.nan, 3, VECTOR))),
        ),
        ("action = 4 (out of range)", lambda m: m.observe(**transition(3, action=np.full(3, 4)))),
        ("action float", lambda m: m.observe(**transition(3, action=np.zeros(3)))),
        ("reward with NaN", lambda m: m.observe(**transition(3, reward=np.array([0, np.nan, 1])))),
        (
            "discount with inf",
            lambda m: m.observe(**transition(3, discount=np.array([0.9, np.inf, 1]))),
        ),
        ("reward strings", lambda m: m.observe(**transition(3, reward=np.array(["a", "b", "c"])))),
        (
            "x images [3, 8, 8, 1] for a (16,) codec",
            lambda m: m.observe(**transition(3, x=images(3))),
        ),
        ("an empty batch", lambda m: m.observe(**transition(0)), True),
        ("recall() without label and task fields", lambda m: m.recall(2)),
        ("recall_items(2, task=0) without a task field", lambda m: m.recall_items(2, task=0)),
    ],
)


@pytest.mark.parametrize("case", params(OBSERVE))
def test_observe_refuses(case: Case) -> None:
    """observe() on a partly full memory: its codes, counters and RNG unchanged."""
    check(case)


@pytest.mark.parametrize("case", params(OBSERVE_TRANSITIONS))
def test_observe_transitions_refuses(case: Case) -> None:
    """A memory of RL transitions (x, next_x, action, reward, discount) left unchanged."""
    check(case)
