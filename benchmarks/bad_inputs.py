"""Bad input, case by case: is it refused with a clear error before any state changes?

Calls the public API of `recollect`, `agents.continual` and `runners.continual` with
malformed input, one case at a time. Before and after each call it takes numpy
copies of every piece of state the call could touch:

- a `RecollectionMemory`: every variable in `memory.variables` and in its optimizer
  (codec weights, Adam slots and iterations, the buffer's fields, counters and RNG
  seeds), and for checkpoints and exports the files too;
- an `IndexBuffer` or a loaded SavedModel: its variables;
- files: the names and bytes of everything under the workdir, checkpoint, export,
  data or cache folder involved;
- constructors and pure functions (bits, budget, configs): the process's global
  RNGs (Python's and numpy's), which a half-built object could have drawn from.

It prints (and with --output writes) one markdown row per case,

    | area | case | error raised | state unchanged |

where "error raised" is the exception's type and the start of its message ("no
error" when the call returned) and "state unchanged" is `yes` when every snapshot is
bit-identical afterwards, else `NO`; then the failing cases and a summary line,
`N cases, N refused, N unchanged`. It exits with 1 if any case raised no error or
changed state; the list names what changed. Empty batches may also pass by doing
nothing (no error, no change). A clear TensorFlow error from inside a graph (a
SavedModel's assertions) counts as refused; so does a runner that exits non-zero
(its message is the last error line it wrote). The rows show the library as it is:
a case that fails is a finding about the library, not about this script.

Everything runs on small objects and data made in a temporary folder (a conv codec
on (8, 8, 1) and an MLP codec on (16,), capacity 20, 4 classes, 3 tasks; tiny fake
MNIST files from `tests.datasets.fakes`), in a few minutes on 2 CPU cores.

Usage (from the repository root):

    python -m benchmarks.bad_inputs [--output bad_inputs.md] [--area observe ...]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import itertools
import json
import os
import pickle
import random
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import runners  # noqa: F401  # isort: skip  (imports TensorFlow without its start-up noise)
import keras
import numpy as np
import tensorflow as tf
from absl import logging

from agents import continual
from recollect import (
    DiscreteAutoencoder,
    Field,
    IndexBuffer,
    RecollectionMemory,
    ReservoirPolicy,
    TaskRingPolicy,
    bits,
    budget,
    datasets,
)
from recollect.export import export_saved_model
from recollect.index_buffer import supervised_fields
from tests.datasets import fakes

REPO = Path(__file__).resolve().parent.parent
IMAGE, VECTOR = (8, 8, 1), (16,)
LATENTS, CATEGORIES = 8, 4
CAPACITY, CLASSES, TASKS = 20, 4, 3
OBSERVED = 10  # items in the partly full memory: of tasks 0 and 1, none of task 2
CODE_BYTES = 2  # ceil(8 latents * 2 bits / 8)
TINY_STREAM = {"num_tasks": 2, "examples_per_task": 8, "test_examples_per_task": 5}
DATA_FILE = ".data-00000-of-00001"
MNIST_IMAGES = "train-images-idx3-ubyte"
MNIST_LABELS = "train-labels-idx1-ubyte"


# ------------------------------------------------------------------- the runner
@dataclasses.dataclass(frozen=True)
class Subject:
    """What a case calls (`target`) and a snapshot of the state it must leave alone."""

    target: Any
    state: Callable[[], dict[str, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class Case:
    """One malformed call: `call(setup().target)`."""

    area: str
    name: str
    setup: Callable[[], Subject]
    call: Callable[[Any], object]
    no_op_ok: bool = False  # doing nothing (no error, no change) passes too


@dataclasses.dataclass(frozen=True)
class Row:
    """What one case did: its error text, and what state it changed (if any)."""

    area: str
    case: str
    error: str
    refused: bool
    changed: tuple[str, ...]
    no_op_ok: bool = False

    @property
    def unchanged(self) -> bool:
        return not self.changed

    @property
    def passed(self) -> bool:
        return (self.refused or self.no_op_ok) and self.unchanged


class CommandError(Exception):
    """A program exited non-zero (how a runner refuses)."""


def area(name: str, setup: Callable[[], Subject], entries: Sequence[tuple]) -> list[Case]:
    """Cases that share one subject: entries of (case name, call[, no_op_ok])."""
    return [Case(name, entry[0], setup, *entry[1:]) for entry in entries]


def run_case(case: Case) -> Row:
    """Snapshots, calls, catches and compares."""
    try:
        subject = case.setup()
        before = subject.state()
    except Exception as error:  # a broken fixture is a failing row, not a crash
        text = f"setup failed: {error_text(error)}"
        return Row(case.area, case.name, text, False, ("(no snapshot)",))
    raised = None
    try:
        case.call(subject.target)
    except Exception as error:
        raised = error
    changed = changed_state(before, subject.state())
    text = error_text(raised)
    if raised is None and case.no_op_ok:
        text += " (a no-op passes)"
    return Row(case.area, case.name, text, raised is not None, changed, case.no_op_ok)


def error_text(error: BaseException | None, limit: int = 80) -> str:
    """'Type: first `limit` characters of the message', or 'no error'."""
    if error is None:
        return "no error"
    text = op_error_line(error.message) if isinstance(error, tf.errors.OpError) else str(error)
    text = " ".join(text.split()).removeprefix("Binding inputs to tf.function failed due to `")
    return f"{type(error).__name__}: {text[:limit]}"


def op_error_line(message: str) -> str:
    """The informative line of a TensorFlow graph error (not its header or trace)."""
    noise = ("Graph execution error", "Detected at node", "<stack traces", "File ", "Node: ")
    for line in message.splitlines():
        if line.strip() and not line[0].isspace() and not line.startswith(noise):
            return line.split("[[")[0]
    return message


def changed_state(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> tuple[str, ...]:
    """What differs between two snapshots (keys, dtypes, shapes or bytes), by short name."""
    keys = sorted(set(before) | set(after))
    return tuple(
        short_name(key)
        for key in keys
        if key not in before
        or key not in after
        or before[key].dtype != after[key].dtype
        or before[key].shape != after[key].shape
        or before[key].tobytes() != after[key].tobytes()
    )


def short_name(key: str) -> str:
    """A variable's name without its position, a path relative to the scratch folder."""
    root = f"{scratch_root()}/"
    return key.replace(root, "") if root in key else key.split(":", 1)[-1]


def render(rows: Sequence[Row], seconds: float) -> str:
    """The markdown table, the failing cases and the summary line."""
    lines = ["| area | case | error raised | state unchanged |", "|---|---|---|---|"]
    for row in rows:
        cells = (row.area, row.case, row.error, "yes" if row.unchanged else "NO")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    failing = [row for row in rows if not row.passed]
    if failing:
        lines += ["", f"Failing today ({len(failing)}):"]
        lines += [f"- {row.area}: {row.case} ({failure(row)})" for row in failing]
    refused = sum(row.refused for row in rows)
    unchanged = sum(row.unchanged for row in rows)
    lines += ["", f"{len(rows)} cases, {refused} refused, {unchanged} unchanged ({seconds:.0f} s)"]
    return "\n".join(lines)


def failure(row: Row) -> str:
    """Why a row fails: 'no error', and what it changed."""
    why = [] if row.refused or row.no_op_ok else ["no error"]
    if row.changed:
        shown = ", ".join(row.changed[:3]) + (", ..." if len(row.changed) > 3 else "")
        why.append(f"changed {shown}")
    return "; ".join(why)


# ------------------------------------------------------------------- snapshots
def variables_state(variables: Sequence[Any]) -> dict[str, np.ndarray]:
    """Numpy copies of variables, keyed by position and name."""
    return {
        f"{i}:{getattr(v, 'path', None) or v.name}": np.array(v.numpy(), copy=True)
        for i, v in enumerate(variables)
    }


def memory_state(memory: RecollectionMemory) -> dict[str, np.ndarray]:
    """The memory's variables (codec, buffer) and its optimizer's (slots, iterations)."""
    return variables_state([*memory.variables, *memory.optimizer.variables])


def files_state(root: Path) -> dict[str, np.ndarray]:
    """Whether root exists, and every file's bytes (and every folder) under it."""
    root = Path(root)
    paths = [root] if root.is_file() else sorted(root.rglob("*"))
    state = {f"{root} exists": np.array(root.exists())}
    for path in paths:
        content = path.read_bytes() if path.is_file() else b"<folder>"
        state[str(path)] = np.frombuffer(content, np.uint8).copy()
    return state


def global_rng_state() -> dict[str, np.ndarray]:
    """The process's global RNGs, which constructors and pure functions could draw from."""
    states = {"python random": random.getstate(), "numpy random": np.random.get_state()}
    return {k: np.frombuffer(pickle.dumps(v), np.uint8).copy() for k, v in states.items()}


def no_target() -> Subject:
    """For constructors and pure functions: nothing to call, the global RNGs to keep."""
    return Subject(None, global_rng_state)


# ------------------------------------------------------------ scratch folders
@functools.cache
def scratch_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="bad_inputs_"))


def scratch(*parts: str) -> Path:
    """A folder under this run's temporary root (made if missing)."""
    path = scratch_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


_FRESH = itertools.count()


def fresh_path(label: str) -> Path:
    """A path under the temporary root that does not exist yet."""
    return scratch("fresh") / f"{label}_{next(_FRESH)}"


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def empty(path: Path) -> None:
    path.write_bytes(b"")


def delete(path: Path) -> None:
    path.unlink()


@contextlib.contextmanager
def unset_env(*names: str) -> Iterator[None]:
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


# -------------------------------------------------------------- inputs, fixtures
def images(n: int, shape: tuple[int, ...] = IMAGE, dtype: str = "float32") -> np.ndarray:
    """n inputs in [0, 1) (the same ones for the same n and shape)."""
    return np.random.default_rng(n).random((n, *shape)).astype(dtype)


def images_with(value: Any, n: int = 3, shape: tuple[int, ...] = IMAGE) -> np.ndarray:
    """Valid inputs but for one value."""
    x = images(n, shape)
    x.flat[0] = value
    return x


def labels(n: int) -> np.ndarray:
    return np.arange(n) % CLASSES


def without(items: dict, name: str) -> dict:
    return {k: v for k, v in items.items() if k != name}


def conv_codec(**overrides: Any) -> DiscreteAutoencoder:
    settings = {"input_shape": IMAGE, "num_latents": LATENTS, "num_categories": CATEGORIES}
    return DiscreteAutoencoder(**{**settings, "seed": 0, **overrides})


def memory_with(codec: Any, **overrides: Any) -> RecollectionMemory:
    """A memory of the default size around `codec`, with some arguments replaced."""
    settings = {"capacity": CAPACITY, "num_classes": CLASSES, "num_tasks": TASKS, "seed": 0}
    return RecollectionMemory(codec, **{**settings, **overrides})


def new_memory(codec: Any = None, *, observed: int = OBSERVED, **overrides: Any):
    """A memory holding `observed` items of tasks 0 and 1."""
    memory = memory_with(codec or conv_codec(), **overrides)
    if observed:
        x = images(observed, memory.codec.input_spec_shape)
        memory.observe(x, labels(observed), np.arange(observed) % 2)
    return memory


def memory_subject(memory: RecollectionMemory) -> Subject:
    return Subject(memory, lambda: memory_state(memory))


@functools.cache
def partly_full() -> Subject:
    return memory_subject(new_memory())


@functools.cache
def empty_memory() -> Subject:
    return memory_subject(new_memory(observed=0))


@functools.cache
def spare_codec() -> Subject:
    """A codec handed to memory constructors that must leave it (and the RNGs) alone."""
    codec = conv_codec()
    return Subject(codec, lambda: {**variables_state(codec.variables), **global_rng_state()})


TRANSITION_FIELDS = {
    "action": Field((), "int32", 4),
    "reward": Field((), "float32"),
    "discount": Field((), "float32"),
}


def transition(n: int, **overrides: Any) -> dict[str, np.ndarray]:
    """n valid RL transitions for the transitions memory, some values replaced."""
    items = {
        "x": images(n, VECTOR),
        "next_x": images(n + 1, VECTOR)[:n],
        "action": np.arange(n) % 4,
        "reward": np.ones(n, np.float32),
        "discount": np.full(n, 0.9, np.float32),
    }
    return {**items, **overrides}


def transitions_memory() -> RecollectionMemory:
    codec = DiscreteAutoencoder(
        input_shape=VECTOR, num_latents=LATENTS, num_categories=CATEGORIES, seed=0
    )
    memory = RecollectionMemory(
        codec,
        capacity=CAPACITY,
        side_fields=TRANSITION_FIELDS,
        encoded_inputs=("x", "next_x"),
        seed=0,
    )
    memory.observe(**transition(6))
    return memory


@functools.cache
def transitions() -> Subject:
    return memory_subject(transitions_memory())


def buffer_items(n: int, **overrides: Any) -> dict[str, np.ndarray]:
    items = {"codes": np.full((n, CODE_BYTES), 7, np.uint8), "label": labels(n)}
    return {**items, "task": np.arange(n) % 2, **overrides}


@functools.cache
def written_buffer() -> Subject:
    fields = supervised_fields(code_bytes=CODE_BYTES, num_classes=CLASSES, num_tasks=TASKS)
    buffer = IndexBuffer(capacity=CAPACITY, fields=fields, seed=0)
    buffer.write(buffer_items(OBSERVED))
    return Subject(buffer, lambda: variables_state(buffer.variables))


# ------------------------------------------------------------- constructors
MEMORY_ARGS = area(
    "RecollectionMemory()",
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
    "DiscreteAutoencoder()",
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

SUPERVISED = {"codes": Field((CODE_BYTES,), "uint8"), "label": Field((), "int32", CLASSES)}
SUPERVISED_WITH_TASK = {**SUPERVISED, "task": Field((), "int32", TASKS)}

BUFFER_ARGS = area(
    "IndexBuffer() / Field() / policies",
    no_target,
    [
        ("Field(shape=(-1,))", lambda _: Field((-1,), "uint8")),
        ("Field(shape='ab')", lambda _: Field("ab", "uint8")),
        ("Field(shape=3) (not a tuple)", lambda _: Field(3, "uint8")),
        ("Field(dtype='int33')", lambda _: Field((), "int33")),
        ("Field(dtype='float32', num_values=4)", lambda _: Field((), "float32", 4)),
        ("Field(dtype='int32', num_values=0)", lambda _: Field((), "int32", 0)),
        ("Field(dtype='int32', num_values=-3)", lambda _: Field((), "int32", -3)),
        ("IndexBuffer(capacity=0)", lambda _: IndexBuffer(capacity=0, fields=SUPERVISED)),
        ("IndexBuffer(capacity=-1)", lambda _: IndexBuffer(capacity=-1, fields=SUPERVISED)),
        ("IndexBuffer(capacity=2.5)", lambda _: IndexBuffer(capacity=2.5, fields=SUPERVISED)),
        ("IndexBuffer(capacity=True)", lambda _: IndexBuffer(capacity=True, fields=SUPERVISED)),
        ("IndexBuffer(fields={})", lambda _: IndexBuffer(capacity=4, fields={})),
        ("IndexBuffer(fields=None)", lambda _: IndexBuffer(capacity=4, fields=None)),
        (
            "IndexBuffer(fields={'a': Field((-1,))})",
            lambda _: IndexBuffer(capacity=4, fields={"a": Field((-1,), "uint8")}),
        ),
        (
            "IndexBuffer(fields={'a': {'bogus': 1}})",
            lambda _: IndexBuffer(capacity=4, fields={"a": {"bogus": 1}}),
        ),
        (
            "IndexBuffer(policy='ring')",
            lambda _: IndexBuffer(capacity=4, fields=SUPERVISED, policy="ring"),
        ),
        (
            "IndexBuffer(policy=TaskRingPolicy(3)) without a task field",
            lambda _: IndexBuffer(capacity=6, fields=SUPERVISED, policy=TaskRingPolicy(3)),
        ),
        (
            "IndexBuffer(capacity=2, policy=TaskRingPolicy(3))",
            lambda _: IndexBuffer(
                capacity=2, fields=SUPERVISED_WITH_TASK, policy=TaskRingPolicy(3)
            ),
        ),
        ("IndexBuffer(seed='x')", lambda _: IndexBuffer(capacity=4, fields=SUPERVISED, seed="x")),
        (
            "IndexBuffer(policy=ReservoirPolicy) (the class)",
            lambda _: IndexBuffer(capacity=4, fields=SUPERVISED, policy=ReservoirPolicy),
        ),
        ("TaskRingPolicy(0)", lambda _: TaskRingPolicy(0)),
        ("TaskRingPolicy(-1)", lambda _: TaskRingPolicy(-1)),
        ("TaskRingPolicy(2.0)", lambda _: TaskRingPolicy(2.0)),
        ("TaskRingPolicy(True) (bool as int)", lambda _: TaskRingPolicy(True)),
        ("TaskRingPolicy('3')", lambda _: TaskRingPolicy("3")),
        ("TaskRingPolicy(None)", lambda _: TaskRingPolicy(None)),
    ],
)

BUFFER_CALLS = area(
    "IndexBuffer.write / sample",
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


# -------------------------------------------------------------------- observe
def observe3(memory: RecollectionMemory, x: Any = None, y: Any = None, task: Any = 0, **side):
    """observe() of 3 items, with x and y valid unless given."""
    x = images(3) if x is None else x
    y = labels(3) if y is None else y
    return memory.observe(x, y, task, **side)


OBSERVE = area(
    "observe",
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
    "observe (transitions)",
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


# ---------------------------------------------------------------- recall & co.
RECALL = area(
    "recall / recall_items / recall_rows",
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
    "empty memory",
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
    "stabilize",
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


def codes(value: int, shape: tuple[int, ...] = (2, LATENTS), dtype: Any = np.int32) -> np.ndarray:
    return np.full(shape, value, dtype)


CODEC_CALLS = area(
    "encode / decode / footprint",
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


# ----------------------------------------------------------------- checkpoints
@functools.cache
def saved_checkpoint() -> str:
    """A checkpoint of a memory that holds other items than the restore targets."""
    memory = new_memory(observed=12)
    memory.stabilize(images(4), num_steps=1)  # non-zero Adam slots and iterations
    return memory.save_checkpoint(str(scratch("ckpt") / "memory"))


def damaged_checkpoint(suffix: str, damage: Callable[[Path], None]) -> str:
    """A copy of the saved checkpoint with one of its files damaged."""
    source = Path(saved_checkpoint())
    prefix = scratch("ckpt") / f"{damage.__name__}{suffix.split('-')[0].replace('.', '_')}"
    for file in source.parent.glob(f"{source.name}.*"):  # .index, .data-*, any sidecar
        shutil.copyfile(file, f"{prefix}{file.name[len(source.name) :]}")
    damage(Path(f"{prefix}{suffix}"))
    return str(prefix)


@functools.cache
def restore_target() -> RecollectionMemory:
    return new_memory(observed=7)


def restore_case(
    name: str,
    *,
    prefix: Callable[[], str] = saved_checkpoint,
    target: Callable[[], RecollectionMemory] = restore_target,
) -> Case:
    """restore_checkpoint(prefix) into target; state: the target and the checkpoints."""

    def setup() -> Subject:
        memory, path = target(), prefix()
        return Subject(
            (memory, path), lambda: {**memory_state(memory), **files_state(scratch("ckpt"))}
        )

    return Case("restore_checkpoint", name, setup, lambda t: t[0].restore_checkpoint(t[1]))


RESTORE = [
    restore_case("from a missing prefix", prefix=lambda: str(scratch("ckpt") / "missing")),
    restore_case(
        "from the checkpoint's folder, not its prefix", prefix=lambda: str(scratch("ckpt"))
    ),
    restore_case(
        "from a truncated .data file", prefix=lambda: damaged_checkpoint(DATA_FILE, truncate)
    ),
    restore_case(
        "from a bit-flipped .data file", prefix=lambda: damaged_checkpoint(DATA_FILE, flip_byte)
    ),
    restore_case("from an empty .data file", prefix=lambda: damaged_checkpoint(DATA_FILE, empty)),
    restore_case("without its .data file", prefix=lambda: damaged_checkpoint(DATA_FILE, delete)),
    restore_case(
        "from a truncated .index file", prefix=lambda: damaged_checkpoint(".index", truncate)
    ),
    restore_case(
        "from a bit-flipped .index file", prefix=lambda: damaged_checkpoint(".index", flip_byte)
    ),
    restore_case("from an empty .index file", prefix=lambda: damaged_checkpoint(".index", empty)),
    restore_case(
        "without its .memory.json", prefix=lambda: damaged_checkpoint(".memory.json", delete)
    ),
    restore_case(
        "from a truncated .memory.json", prefix=lambda: damaged_checkpoint(".memory.json", truncate)
    ),
    restore_case("into num_classes=5", target=lambda: new_memory(observed=7, num_classes=5)),
    restore_case("into num_tasks=4", target=lambda: new_memory(observed=7, num_tasks=4)),
    restore_case("into capacity=21", target=lambda: new_memory(observed=7, capacity=21)),
    restore_case("into capacity=8", target=lambda: new_memory(observed=7, capacity=8)),
    restore_case(
        "into code shape 16x4", target=lambda: new_memory(conv_codec(num_latents=16), observed=7)
    ),
    restore_case(
        "into code shape 8x16", target=lambda: new_memory(conv_codec(num_categories=16), observed=7)
    ),
    restore_case(
        "into policy TaskRingPolicy(3)",
        target=lambda: new_memory(observed=7, policy=TaskRingPolicy(3)),
    ),
    restore_case(
        "into an mlp codec on (8, 8, 1)",
        target=lambda: new_memory(conv_codec(architecture="mlp"), observed=7),
    ),
    restore_case(
        "into input shape (16, 16, 1)",
        target=lambda: new_memory(conv_codec(input_shape=(16, 16, 1)), observed=7),
    ),
    restore_case("into a transitions memory", target=transitions_memory),
]


def save_setup() -> Subject:
    """The partly full memory and a folder holding a regular file."""
    memory = partly_full().target
    folder = scratch("save")
    (folder / "a_file").write_bytes(b"not a folder")
    (folder / "cwd").mkdir(exist_ok=True)
    return Subject((memory, folder), lambda: {**memory_state(memory), **files_state(folder)})


def save_into_empty_prefix(memory: RecollectionMemory, folder: Path) -> str:
    with contextlib.chdir(folder / "cwd"):
        return memory.save_checkpoint("")


SAVE = area(
    "save_checkpoint",
    save_setup,
    [
        ("under a regular file", lambda t: t[0].save_checkpoint(str(t[1] / "a_file" / "memory"))),
        ("save_checkpoint(None)", lambda t: t[0].save_checkpoint(None)),
        ("save_checkpoint(123)", lambda t: t[0].save_checkpoint(123)),
        ("save_checkpoint('') (an empty prefix)", lambda t: save_into_empty_prefix(*t)),
    ],
)


def rewrite_config(source: Path, target: Path, **changes: Any) -> None:
    """A copy of a .keras file whose config.json has some memory arguments changed."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"].update(changes)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


@functools.cache
def keras_files() -> Subject:
    """A saved .keras memory and damaged copies of it."""
    folder = scratch("keras")
    good = folder / "memory.keras"
    new_memory().save(str(good))
    for damage in (truncate, flip_byte, empty):
        shutil.copyfile(good, folder / f"{damage.__name__}.keras")
        damage(folder / f"{damage.__name__}.keras")
    (folder / "garbage.keras").write_bytes(np.random.default_rng(0).bytes(4096))
    shutil.copyfile(good, folder / "memory.zip")
    (folder / "a_folder.keras").mkdir(exist_ok=True)
    rewrite_config(good, folder / "capacity_0.keras", capacity=0)
    rewrite_config(good, folder / "capacity_21.keras", capacity=21)
    rewrite_config(good, folder / "unknown_arg.keras", bogus=1)
    return Subject(folder, lambda: files_state(folder))


LOAD_MODEL = area(
    "keras.models.load_model",
    keras_files,
    [
        (what, lambda d, f=file: keras.models.load_model(d / f))
        for what, file in [
            ("a truncated .keras file", "truncate.keras"),
            ("a bit-flipped .keras file", "flip_byte.keras"),
            ("an empty .keras file", "empty.keras"),
            ("a .keras file of random bytes", "garbage.keras"),
            ("a missing .keras file", "missing.keras"),
            ("a folder named x.keras", "a_folder.keras"),
            ("config.json with capacity=0", "capacity_0.keras"),
            ("config.json with capacity=21, weights of 20", "capacity_21.keras"),
            ("config.json with an unknown argument", "unknown_arg.keras"),
        ]
    ]
    + [("a good .keras file named .zip", lambda d: keras.models.load_model(d / "memory.zip"))],
)


# ------------------------------------------------------------------ SavedModel
def exported_subject(name: str, observed: int) -> Subject:
    path = scratch("export") / name
    export_saved_model(new_memory(observed=observed), str(path))
    loaded = tf.saved_model.load(str(path))  # kept in a variable: see STYLE.md
    return Subject(
        loaded, lambda: {**variables_state(loaded.variables), **files_state(scratch("export"))}
    )


@functools.cache
def exported() -> Subject:
    return exported_subject("partly_full", OBSERVED)


@functools.cache
def exported_empty() -> Subject:
    return exported_subject("empty", 0)


def export_setup() -> Subject:
    memory = partly_full().target
    folder = scratch("export")
    (folder / "a_file").write_bytes(b"not a folder")
    return Subject((memory, folder), lambda: {**memory_state(memory), **files_state(folder)})


def recall_signature(loaded: Any, n: Any, task: Any) -> Any:
    return loaded.recall(tf.constant(n), tf.constant(task))


SAVED_MODEL = area(
    "SavedModel signatures",
    exported,
    [
        ("encode(x with NaN)", lambda s: s.encode(tf.constant(images_with(np.nan)))),
        ("encode(x with +inf)", lambda s: s.encode(tf.constant(images_with(np.inf)))),
        ("encode(x with a value 2.0)", lambda s: s.encode(tf.constant(images_with(2.0)))),
        ("encode(x with a value -1.0)", lambda s: s.encode(tf.constant(images_with(-1.0)))),
        ("encode(x [3, 8, 8])", lambda s: s.encode(tf.constant(images(3, (8, 8))))),
        ("encode(x int32)", lambda s: s.encode(tf.zeros([2, *IMAGE], tf.int32))),
        ("encode(x float64)", lambda s: s.encode(tf.zeros([2, *IMAGE], tf.float64))),
        ("encode_packed(x with NaN)", lambda s: s.encode_packed(tf.constant(images_with(np.nan)))),
        ("decode(codes = num_categories)", lambda s: s.decode(tf.constant(codes(CATEGORIES)))),
        ("decode(codes = -1)", lambda s: s.decode(tf.constant(codes(-1)))),
        ("decode(codes [2, 9])", lambda s: s.decode(tf.constant(codes(0, (2, LATENTS + 1))))),
        ("decode(float codes)", lambda s: s.decode(tf.constant(codes(0, dtype=np.float32)))),
        ("recall(n=0, task=-1)", lambda s: recall_signature(s, 0, -1)),
        ("recall(n=-5, task=-1)", lambda s: recall_signature(s, -5, -1)),
        ("recall(n=2, task=-2)", lambda s: recall_signature(s, 2, -2)),
        ("recall(n=2, task=3) (= num_tasks)", lambda s: recall_signature(s, 2, TASKS)),
        ("recall(n=2, task=2) (no items of task 2)", lambda s: recall_signature(s, 2, 2)),
        ("recall(n=2.0 float, task=-1)", lambda s: recall_signature(s, 2.0, -1)),
        ("recall(n=[2] rank 1, task=-1)", lambda s: recall_signature(s, [2], -1)),
    ],
)

SAVED_MODEL_EMPTY = area(
    "SavedModel signatures (empty memory)",
    exported_empty,
    [
        ("recall(n=2, task=-1)", lambda s: recall_signature(s, 2, -1)),
        ("recall(n=2, task=0)", lambda s: recall_signature(s, 2, 0)),
    ],
)

EXPORT = area(
    "export_saved_model",
    export_setup,
    [
        (
            "export_saved_model(a codec)",
            lambda t: export_saved_model(t[0].codec, str(t[1] / "codec")),
        ),
        ("export_saved_model(None)", lambda t: export_saved_model(None, str(t[1] / "none"))),
        (
            "into a path that is a regular file",
            lambda t: export_saved_model(t[0], str(t[1] / "a_file")),
        ),
    ],
)


# ----------------------------------------------------------------- bits, budget
def pack(indices: Any, num_categories: Any = CATEGORIES) -> Any:
    return bits.pack_codes(indices, num_categories)


def unpack(packed: Any, num_latents: Any = LATENTS, num_categories: Any = CATEGORIES) -> Any:
    return bits.unpack_codes(packed, num_latents, num_categories)


BITS = area(
    "recollect.bits",
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

MNIST = (28, 28, 1)


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
    "recollect.budget",
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


# ------------------------------------------------------------------- datasets
@functools.cache
def data_root() -> Subject:
    """Folders of tiny MNIST files, good and damaged, and an empty cache folder."""
    root = scratch("data")
    fakes.write_mnist(root / "good" / "mnist", num_train=30, num_test=10, gz=False)
    damages = {
        "truncated": (MNIST_IMAGES, truncate),
        "no_labels": (MNIST_LABELS, delete),
        "bad_magic": (MNIST_IMAGES, lambda p: p.write_bytes(b"\0\0\x0d\x03" + p.read_bytes()[4:])),
        "short_labels": (MNIST_LABELS, lambda p: p.write_bytes(fakes.idx_bytes(np.zeros(29)))),
    }
    for name, (file, damage) in damages.items():
        shutil.copytree(root / "good", root / name)
        damage(root / name / "mnist" / file)
    fakes.write_mnist(root / "bad_gzip" / "mnist", num_train=30, num_test=10, gz=True)
    flip_byte(root / "bad_gzip" / "mnist" / f"{MNIST_IMAGES}.gz")
    (root / "empty" / "mnist").mkdir(parents=True, exist_ok=True)
    (root / "a_file").write_bytes(b"not a folder")
    (root / "cache").mkdir(exist_ok=True)
    return Subject(root, lambda: files_state(root))


def load(root: Path, name: str = "mnist_rotations", data: str = "good", **overrides: Any):
    """load_stream of tiny MNIST from root/data, cached in root/cache."""
    settings = {"data_dir": root / data, "cache_dir": root / "cache", **TINY_STREAM}
    return datasets.load_stream(name, **{**settings, **overrides})


def load_local_without_data_dir(root: Path) -> Any:
    with unset_env("RECOLLECT_DATA_DIR"):
        return datasets.load_stream(
            "mnist_rotations", source="local", cache_dir=root / "cache", **TINY_STREAM
        )


DATASETS = area(
    "datasets.load_stream",
    data_root,
    [
        ("name='mnist_rotation' (typo)", lambda r: load(r, "mnist_rotation")),
        ("name=None", lambda r: load(r, None)),
        ("name=''", lambda r: load(r, "")),
        ("seed=-1", lambda r: load(r, seed=-1)),
        ("seed=1.5", lambda r: load(r, seed=1.5)),
        ("seed=True (bool as int)", lambda r: load(r, seed=True)),
        ("seed='0'", lambda r: load(r, seed="0")),
        ("seed=None", lambda r: load(r, seed=None)),
        ("batch_size=0", lambda r: load(r, batch_size=0)),
        ("batch_size=-4", lambda r: load(r, batch_size=-4)),
        ("batch_size=2.5", lambda r: load(r, batch_size=2.5)),
        ("batch_size=True (bool as int)", lambda r: load(r, batch_size=True)),
        ("source='ftp'", lambda r: load(r, source="ftp")),
        ("source='local' and no data_dir", load_local_without_data_dir),
        ("an unknown option examples=8", lambda r: load(r, examples=8)),
        ("num_tasks=0", lambda r: load(r, num_tasks=0)),
        ("num_tasks=-2", lambda r: load(r, num_tasks=-2)),
        ("num_tasks=2.0", lambda r: load(r, num_tasks=2.0)),
        ("num_tasks=True (bool as int)", lambda r: load(r, num_tasks=True)),
        ("examples_per_task=0", lambda r: load(r, examples_per_task=0)),
        ("examples_per_task=1000 (data has 30)", lambda r: load(r, examples_per_task=1000)),
        ("test_examples_per_task=0", lambda r: load(r, test_examples_per_task=0)),
        ("test_examples_per_task=100 (data has 10)", lambda r: load(r, test_examples_per_task=100)),
        ("degrees_per_task=0", lambda r: load(r, degrees_per_task=0)),
        ("degrees_per_task=nan", lambda r: load(r, degrees_per_task=float("nan"))),
        ("degrees_per_task='9'", lambda r: load(r, degrees_per_task="9")),
        ("flatten='no' (a str)", lambda r: load(r, flatten="no")),
        ("permuted_mnist num_tasks=0", lambda r: load(r, "permuted_mnist", num_tasks=0)),
        (
            "incremental_cifar100 variant='bogus'",
            lambda r: datasets.load_stream(
                "incremental_cifar100", data_dir=r / "good", cache_dir=r / "cache", variant="bogus"
            ),
        ),
        (
            "split_cifar10 without cifar10 files",
            lambda r: datasets.load_stream(
                "split_cifar10", data_dir=r / "good", cache_dir=r / "cache"
            ),
        ),
        ("data_dir missing", lambda r: load(r, data="missing")),
        ("data_dir a regular file", lambda r: load(r, data="a_file")),
        ("data_dir with an empty mnist/", lambda r: load(r, data="empty")),
        ("train images truncated", lambda r: load(r, data="truncated")),
        ("train labels missing", lambda r: load(r, data="no_labels")),
        ("train images with a wrong IDX magic", lambda r: load(r, data="bad_magic")),
        ("29 labels for 30 images", lambda r: load(r, data="short_labels")),
        ("a corrupt .gz", lambda r: load(r, data="bad_gzip")),
    ],
)


# ------------------------------------------------------------ continual runs
@functools.cache
def run_data() -> Path:
    root = scratch("run_data")
    fakes.write_mnist(root / "mnist", num_train=30, num_test=10, seed=0)
    return root


def tiny_config(**overrides: Any) -> continual.ContinualConfig:
    """A tiny replay-with-recollections run over 2 tasks of 8 fake MNIST images."""
    settings = {
        "stream": "mnist_rotations",
        "data_dir": str(run_data()),
        "stream_options": dict(TINY_STREAM),
        "batch_size": 4,
        "learner": "replay",
        "storage": "recollections",
        "incremental_storage": 2,
        "store_config": {"items": 40, "num_categories": 4},
        "learner_config": {"learning_rate": 0.05, "replay_batch_size": 3},
        "seeds": (0,),
        "eval_batch_size": 7,
    }
    return continual.ContinualConfig(**{**settings, **overrides})


ONLINE = {"learner": "online", "learner_config": None, "store_config": None}

CONFIG = area(
    "ContinualConfig()",
    no_target,
    [
        ("learner='nope'", lambda _: tiny_config(learner="nope")),
        ("storage='disk'", lambda _: tiny_config(storage="disk")),
        ("stream='mnist'", lambda _: tiny_config(stream="mnist")),
        ("model='transformer'", lambda _: tiny_config(model="transformer")),
        ("seeds=()", lambda _: tiny_config(seeds=())),
        ("seeds=(-1,)", lambda _: tiny_config(seeds=(-1,))),
        ("seeds=(0, 0)", lambda _: tiny_config(seeds=(0, 0))),
        ("seeds=('0',)", lambda _: tiny_config(seeds=("0",))),
        ("seeds=(1.5,)", lambda _: tiny_config(seeds=(1.5,))),
        ("seeds=(True,) (bool as int)", lambda _: tiny_config(seeds=(True,))),
        ("batch_size=0", lambda _: tiny_config(batch_size=0)),
        ("batch_size=-1", lambda _: tiny_config(batch_size=-1)),
        ("batch_size=2.5", lambda _: tiny_config(batch_size=2.5)),
        ("batch_size='10'", lambda _: tiny_config(batch_size="10")),
        ("eval_batch_size=0", lambda _: tiny_config(eval_batch_size=0)),
        ("incremental_storage=0 (replay)", lambda _: tiny_config(incremental_storage=0)),
        ("incremental_storage=-5", lambda _: tiny_config(incremental_storage=-5)),
        ("incremental_storage=nan", lambda _: tiny_config(incremental_storage=float("nan"))),
        ("learner_config={'bogus': 1}", lambda _: tiny_config(learner_config={"bogus": 1})),
        (
            "learner_config learning_rate=0",
            lambda _: tiny_config(learner_config={"learning_rate": 0}),
        ),
        (
            "learner_config optimizer='rmsprop'",
            lambda _: tiny_config(learner_config={"optimizer": "rmsprop"}),
        ),
        (
            "learner_config replay_batch_size=0",
            lambda _: tiny_config(learner_config={"replay_batch_size": 0}),
        ),
        ("learner_config='fast' (a str)", lambda _: tiny_config(learner_config="fast")),
        ("store_config codec='rnn'", lambda _: tiny_config(store_config={"codec": "rnn"})),
        (
            "store_config stabilize_steps=-1",
            lambda _: tiny_config(store_config={"stabilize_steps": -1}),
        ),
        (
            "store_config num_latents without num_categories",
            lambda _: tiny_config(store_config={"num_latents": 8}),
        ),
        (
            "store_config codec_learning_rate=-1",
            lambda _: tiny_config(store_config={"codec_learning_rate": -1}),
        ),
        ("store_config codec_noise=-1", lambda _: tiny_config(store_config={"codec_noise": -1})),
        ("model_options with an unknown key", lambda _: tiny_config(model_options={"bogus": 1})),
        (
            "model_options hidden_units=-3",
            lambda _: tiny_config(model_options={"hidden_units": -3}),
        ),
        ("multi_head='yes' (a str)", lambda _: tiny_config(multi_head="yes")),
        ("data_seed=-1", lambda _: tiny_config(data_seed=-1)),
    ],
)


def run_in(config: continual.ContinualConfig, workdir: Path, resume: bool = False) -> dict:
    cache = str(scratch("run_cache"))
    return continual.run(config, str(workdir), resume=resume, progress=False, cache_dir=cache)


@functools.cache
def finished_run() -> Path:
    """The workdir of a finished tiny online run."""
    workdir = scratch("runs") / "finished"
    run_in(tiny_config(**ONLINE), workdir)
    return workdir


def a_file() -> Path:
    path = scratch("runs") / "a_file"
    path.write_bytes(b"not a folder")
    return path


def continual_case(
    name: str,
    settings: dict,
    *,
    workdir: Callable[[], Path] = lambda: fresh_path("run"),
    resume: bool = False,
) -> Case:
    """continual.run(tiny_config(**settings), workdir); state: the workdir's files."""

    def setup() -> Subject:
        config, path = tiny_config(**settings), workdir()
        return Subject((config, path), lambda: files_state(path))

    return Case("continual.run", name, setup, lambda t: run_in(*t, resume=resume))


RUN = [
    continual_case("recollections budget too small (0.001)", {"incremental_storage": 0.001}),
    continual_case(
        "real storage below one example (0.5)",
        {"storage": "real", "store_config": None, "incremental_storage": 0.5},
    ),
    continual_case(
        "GEM with 1 real row for 2 tasks",
        {
            "learner": "gem",
            "storage": "real",
            "learner_config": None,
            "store_config": None,
            "incremental_storage": 1,
        },
    ),
    continual_case(
        "GEM with 1 recollection for 2 tasks",
        {
            "learner": "gem",
            "learner_config": None,
            "store_config": {"items": 1, "num_categories": 4},
        },
    ),
    continual_case(
        "num_latents=10**6 over the budget",
        {"store_config": {"items": 40, "num_latents": 10**6, "num_categories": 4}},
    ),
    continual_case(
        "stream_options num_tasks=0", {"stream_options": {**TINY_STREAM, "num_tasks": 0}}
    ),
    continual_case(
        "stream_options with an unknown key", {"stream_options": {**TINY_STREAM, "bogus": 1}}
    ),
    continual_case(
        "examples_per_task=1000 (data has 30)",
        {"stream_options": {**TINY_STREAM, "examples_per_task": 1000}},
    ),
    continual_case("data_dir missing", {"data_dir": str(REPO / "no_such_data_dir")}),
    continual_case("a workdir holding a run, without resume", ONLINE, workdir=finished_run),
    continual_case(
        "resume with other settings (batch_size=2)",
        {**ONLINE, "batch_size": 2},
        workdir=finished_run,
        resume=True,
    ),
    continual_case(
        "resume of an empty workdir", ONLINE, workdir=lambda: scratch("runs", "empty"), resume=True
    ),
    continual_case("resume of a missing workdir", ONLINE, resume=True),
    continual_case("workdir is a regular file", ONLINE, workdir=a_file),
]


# ----------------------------------------------------------------- the runner CLI
TINY_FLAGS = [
    "--num_tasks=2",
    "--examples_per_task=8",
    "--test_examples_per_task=5",
    "--batch_size=4",
]


def run_cli(workdir: Path, flags: Sequence[str]) -> str:
    """python -m runners.continual on tiny data; raises CommandError on a non-zero exit."""
    command = [sys.executable, "-m", "runners.continual", *flags, f"--workdir={workdir}"]
    command += [
        f"--data_dir={run_data()}",
        f"--cache_dir={scratch('run_cache')}",
        "--progress=false",
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "rror" in line] or lines or [""]
    raise CommandError(f"exit {done.returncode}: {errors[-1].strip()}")


def cli_case(name: str, *flags: str) -> Case:
    def setup() -> Subject:
        path = fresh_path("cli")
        return Subject(path, lambda: files_state(path))

    return Case(
        "python -m runners.continual",
        name,
        setup,
        lambda path: run_cli(path, [*TINY_FLAGS, *flags]),
    )


CLI = [
    cli_case("--learner=nope", "--learner=nope"),
    cli_case("--storage=disk", "--storage=disk"),
    cli_case("--seeds=0,a", "--seeds=0,a"),
    cli_case("--seeds=-1", "--seeds=-1"),
    cli_case("--batch_size=-1", "--batch_size=-1"),
    cli_case("--flagfile=missing.flags", "--flagfile=missing.flags"),
    cli_case(
        "--incremental_storage=0.001 (budget too small)",
        "--incremental_storage=0.001",
        "--items=40",
    ),
]


def all_cases() -> list[Case]:
    return [
        *MEMORY_ARGS,
        *CODEC_ARGS,
        *BUFFER_ARGS,
        *BUFFER_CALLS,
        *OBSERVE,
        *OBSERVE_TRANSITIONS,
        *RECALL,
        *RECALL_EMPTY,
        *STABILIZE,
        *CODEC_CALLS,
        *RESTORE,
        *SAVE,
        *LOAD_MODEL,
        *SAVED_MODEL,
        *SAVED_MODEL_EMPTY,
        *EXPORT,
        *BITS,
        *BUDGET,
        *DATASETS,
        *CONFIG,
        *RUN,
        *CLI,
    ]


# ------------------------------------------------------------------------ main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", help="Also write the markdown report to this file.")
    parser.add_argument(
        "--area",
        action="append",
        default=[],
        help="Run only the areas whose name contains this (repeatable), e.g. observe.",
    )
    return parser.parse_args(argv)


def quiet() -> None:
    """Keeps the report readable: no Python, TensorFlow or absl warnings."""
    warnings.simplefilter("ignore")
    tf.get_logger().setLevel("ERROR")
    logging.set_verbosity(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet()
    cases = [c for c in all_cases() if not args.area or any(a in c.area for a in args.area)]
    started = time.perf_counter()
    try:
        rows = [run_case(case) for case in cases]
    finally:
        shutil.rmtree(scratch_root(), ignore_errors=True)
    report = render(rows, time.perf_counter() - started)
    print(report)
    if args.output:
        Path(args.output).write_text(report + "\n", encoding="utf-8")
    return 0 if all(row.passed for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
