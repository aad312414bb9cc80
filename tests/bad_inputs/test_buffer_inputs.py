"""Bad arguments to `IndexBuffer`, `Field` and the write policies, and to write/sample."""

from typing import Any

import numpy as np
import pytest

from recollect import Field, IndexBuffer, ReservoirPolicy, TaskRingPolicy
from recollect.index_buffer import supervised_fields
from tests.bad_inputs.harness import (
    CAPACITY,
    CLASSES,
    CODE_BYTES,
    OBSERVED,
    TASKS,
    Case,
    Subject,
    area,
    cached,
    check,
    labels,
    no_target,
    params,
    variables_state,
    without,
)

# The cases pass wrong types on purpose: the constructors are called as untyped.
field: Any = Field
index_buffer: Any = IndexBuffer
task_ring: Any = TaskRingPolicy

SUPERVISED = {"codes": Field((CODE_BYTES,), "uint8"), "label": Field((), "int32", CLASSES)}
SUPERVISED_WITH_TASK = {**SUPERVISED, "task": Field((), "int32", TASKS)}


def buffer_items(n: int, **overrides: Any) -> dict[str, np.ndarray]:
    items = {"codes": np.full((n, CODE_BYTES), 7, np.uint8), "label": labels(n)}
    return {**items, "task": np.arange(n) % 2, **overrides}


@cached
def written_buffer() -> Subject:
    fields = supervised_fields(code_bytes=CODE_BYTES, num_classes=CLASSES, num_tasks=TASKS)
    buffer = IndexBuffer(capacity=CAPACITY, fields=fields, seed=0)
    buffer.write(buffer_items(OBSERVED))
    return Subject(buffer, lambda: variables_state(buffer.variables))


BUFFER_ARGS = area(
    no_target,
    [
        ("Field(shape=(-1,))", lambda _: field((-1,), "uint8")),
        ("Field(shape='ab')", lambda _: field("ab", "uint8")),
        ("Field(shape=3) (not a tuple)", lambda _: field(3, "uint8")),
        ("Field(dtype='int33')", lambda _: field((), "int33")),
        ("Field(dtype='float32', num_values=4)", lambda _: field((), "float32", 4)),
        ("Field(dtype='int32', num_values=0)", lambda _: field((), "int32", 0)),
        ("Field(dtype='int32', num_values=-3)", lambda _: field((), "int32", -3)),
        ("IndexBuffer(capacity=0)", lambda _: index_buffer(capacity=0, fields=SUPERVISED)),
        ("IndexBuffer(capacity=-1)", lambda _: index_buffer(capacity=-1, fields=SUPERVISED)),
        ("IndexBuffer(capacity=2.5)", lambda _: index_buffer(capacity=2.5, fields=SUPERVISED)),
        ("IndexBuffer(capacity=True)", lambda _: index_buffer(capacity=True, fields=SUPERVISED)),
        ("IndexBuffer(fields={})", lambda _: index_buffer(capacity=4, fields={})),
        ("IndexBuffer(fields=None)", lambda _: index_buffer(capacity=4, fields=None)),
        (
            "IndexBuffer(fields={'a': Field((-1,))})",
            lambda _: index_buffer(capacity=4, fields={"a": field((-1,), "uint8")}),
        ),
        (
            "IndexBuffer(fields={'a': {'bogus': 1}})",
            lambda _: index_buffer(capacity=4, fields={"a": {"bogus": 1}}),
        ),
        (
            "IndexBuffer(policy='ring')",
            lambda _: index_buffer(capacity=4, fields=SUPERVISED, policy="ring"),
        ),
        (
            "IndexBuffer(policy=TaskRingPolicy(3)) without a task field",
            lambda _: index_buffer(capacity=6, fields=SUPERVISED, policy=task_ring(3)),
        ),
        (
            "IndexBuffer(capacity=2, policy=TaskRingPolicy(3))",
            lambda _: index_buffer(capacity=2, fields=SUPERVISED_WITH_TASK, policy=task_ring(3)),
        ),
        (
            "IndexBuffer(seed='x')",
            lambda _: index_buffer(capacity=4, fields=SUPERVISED, seed="x"),
        ),
        (
            "IndexBuffer(policy=ReservoirPolicy) (the class)",
            lambda _: index_buffer(capacity=4, fields=SUPERVISED, policy=ReservoirPolicy),
        ),
        ("TaskRingPolicy(0)", lambda _: task_ring(0)),
        ("TaskRingPolicy(-1)", lambda _: task_ring(-1)),
        ("TaskRingPolicy(2.0)", lambda _: task_ring(2.0)),
        ("TaskRingPolicy(True) (bool as int)", lambda _: task_ring(True)),
        ("TaskRingPolicy('3')", lambda _: task_ring("3")),
        ("TaskRingPolicy(None)", lambda _: task_ring(None)),
    ],
)

BUFFER_CALLS = area(
    written_buffer,
    [
        ("write without the task field", lambda b: b.write(without(buffer_items(3), "task"))),
        ("write with an unknown field", lambda b: b.write(buffer_items(3, extra=np.zeros(3)))),
        ("write codes int32", lambda b: b.write(buffer_items(3, codes=np.zeros((3, 2), np.int32)))),
        (
            "write codes 3 bytes wide",
            lambda b: b.write(buffer_items(3, codes=np.zeros((3, 3), np.uint8))),
        ),
        (
            "write label = num_classes",
            lambda b: b.write(buffer_items(3, label=np.full(3, CLASSES))),
        ),
        ("write label -1", lambda b: b.write(buffer_items(3, label=np.full(3, -1)))),
        ("write task float", lambda b: b.write(buffer_items(3, task=np.zeros(3, np.float32)))),
        (
            "write label of length 2 for 3 items",
            lambda b: b.write(buffer_items(3, label=labels(2))),
        ),
        ("write a list, not a dict", lambda b: b.write(list(buffer_items(3).values()))),
        ("write an empty batch", lambda b: b.write(buffer_items(0)), True),
        ("sample(0)", lambda b: b.sample(0)),
        ("sample(-2)", lambda b: b.sample(-2)),
        ("sample(2.5)", lambda b: b.sample(2.5)),
        ("sample(True) (bool as int)", lambda b: b.sample(True)),
        ("sample(3, task=2) (no items of task 2)", lambda b: b.sample(3, task=2)),
        ("sample(3, task=7) (out of range)", lambda b: b.sample(3, task=7)),
        ("sample(3, task=-1)", lambda b: b.sample(3, task=-1)),
    ],
)


@pytest.mark.parametrize("case", params(BUFFER_ARGS))
def test_buffer_constructors_refuse(case: Case) -> None:
    """IndexBuffer(), Field() and the policies: the global RNGs stay as they were."""
    check(case)


@pytest.mark.parametrize("case", params(BUFFER_CALLS))
def test_buffer_write_and_sample_refuse(case: Case) -> None:
    """write / sample on a buffer holding 10 rows: its fields and counters unchanged."""
    check(case)
