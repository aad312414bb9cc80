"""Bad input, case by case: is it refused with a clear error before any state changes?

Each case calls the public API of `recollect`, `agents.continual` or
`runners.continual` with malformed input. Before and after the call the harness takes
numpy copies of every piece of state the call could touch:

- a `RecollectionMemory`: every variable in `memory.variables` and in its optimizer
  (codec weights, Adam slots and iterations, the buffer's fields, counters and RNG
  seeds), and for checkpoints and exports the files too;
- an `IndexBuffer` or a loaded SavedModel: its variables;
- files: the names and bytes of everything under the workdir, checkpoint, export,
  data or cache folder involved;
- constructors and pure functions (bits, budget, configs): the process's global
  RNGs (Python's and numpy's), which a half-built object could have drawn from.

A case passes when the call raises (or, for an empty batch marked `no_op_ok`, does
nothing) and every snapshot is bit-identical afterwards. A clear TensorFlow error
from inside a graph (a SavedModel's assertions) counts as refused; so does a runner
that exits non-zero.

Everything runs on small objects and data made in one scratch folder per test session
(a conv codec on (8, 8, 1) and an MLP codec on (16,), capacity 20, 4 classes, 3 tasks;
tiny fake MNIST files from `tests.datasets.fakes`). Subjects that are slow to make
(memories, checkpoints, exports, data folders) are made once per session by
`cached` functions and shared by the cases that leave them unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import os
import pickle
import random
import shutil
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import tensorflow as tf

from recollect import DiscreteAutoencoder, Field, RecollectionMemory

REPO = Path(__file__).resolve().parents[2]
IMAGE, VECTOR = (8, 8, 1), (16,)
LATENTS, CATEGORIES = 8, 4
CAPACITY, CLASSES, TASKS = 20, 4, 3
OBSERVED = 10  # items in the partly full memory: of tasks 0 and 1, none of task 2
CODE_BYTES = 2  # ceil(8 latents * 2 bits / 8)
TINY_STREAM = {"num_tasks": 2, "examples_per_task": 8, "test_examples_per_task": 5}

T = TypeVar("T")


# ------------------------------------------------------------------- cases
@dataclasses.dataclass(frozen=True)
class Subject:
    """What a case calls (`target`) and a snapshot of the state it must leave alone."""

    target: Any
    state: Callable[[], dict[str, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class Case:
    """One malformed call: `call(setup().target)`."""

    name: str
    setup: Callable[[], Subject]
    call: Callable[[Any], object]
    no_op_ok: bool = False  # doing nothing (no error, no change) passes too


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one case did: the error it raised (if any) and the state it changed."""

    error: BaseException | None
    changed: tuple[str, ...]


def area(setup: Callable[[], Subject], entries: Sequence[tuple[Any, ...]]) -> list[Case]:
    """Cases that share one subject: entries of (case name, call[, no_op_ok])."""
    return [Case(entry[0], setup, *entry[1:]) for entry in entries]


def params(cases: Sequence[Case]) -> list[Any]:
    """One pytest parameter per case, named by the case."""
    return [pytest.param(case, id=case.name) for case in cases]


def run_case(case: Case) -> Outcome:
    """Sets up, snapshots, calls, catches and compares (warnings do not count)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        subject = case.setup()
        before = subject.state()
        raised = None
        try:
            case.call(subject.target)
        except Exception as error:
            raised = error
        return Outcome(raised, changed_state(before, subject.state()))


def check(case: Case) -> None:
    """Fails unless the case was refused (or was an allowed no-op) and changed nothing."""
    outcome = run_case(case)
    problems = []
    if outcome.error is None and not case.no_op_ok:
        problems.append("no error was raised")
    if outcome.changed:
        problems.append(f"state changed: {', '.join(outcome.changed)}")
    assert not problems, f"{case.name}: {'; '.join(problems)} ({error_text(outcome.error)})"


def error_text(error: BaseException | None, limit: int = 200) -> str:
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
    root = f"{scratch_root()}/" if _ROOT else None
    return key.replace(root, "") if root and root in key else key.split(":", 1)[-1]


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
_ROOT: list[Path] = []
_CACHES: list[Any] = []
_FRESH = itertools.count()


def use_scratch_root(root: Path) -> None:
    """Makes `root` (a session's temporary folder) the parent of every scratch path."""
    _ROOT[:] = [root]


def reset() -> None:
    """Forgets the cached subjects and removes the scratch folder."""
    for function in _CACHES:
        function.cache_clear()
    for root in _ROOT:
        shutil.rmtree(root, ignore_errors=True)
    _ROOT.clear()


def cached(function: Callable[[], T]) -> Callable[[], T]:
    """`functools.cache`, emptied with the scratch folder when the session ends."""
    wrapped = functools.cache(function)
    _CACHES.append(wrapped)
    return wrapped


def scratch_root() -> Path:
    if not _ROOT:
        raise RuntimeError("Expected a scratch folder. Received: none (see conftest.py)")
    return _ROOT[0]


def scratch(*parts: str) -> Path:
    """A folder under this session's scratch root (made if missing)."""
    path = scratch_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def fresh_path(label: str) -> Path:
    """A path under the scratch root that does not exist yet."""
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


def codes(value: int, shape: tuple[int, ...] = (2, LATENTS), dtype: Any = np.int32) -> np.ndarray:
    return np.full(shape, value, dtype)


def without(items: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in items.items() if k != name}


def conv_codec(**overrides: Any) -> DiscreteAutoencoder:
    settings = {"input_shape": IMAGE, "num_latents": LATENTS, "num_categories": CATEGORIES}
    return DiscreteAutoencoder(**{**settings, "seed": 0, **overrides})


def memory_with(codec: Any, **overrides: Any) -> RecollectionMemory:
    """A memory of the default size around `codec`, with some arguments replaced."""
    settings = {"capacity": CAPACITY, "num_classes": CLASSES, "num_tasks": TASKS, "seed": 0}
    return RecollectionMemory(codec, **{**settings, **overrides})


def new_memory(
    codec: Any = None, *, observed: int = OBSERVED, **overrides: Any
) -> RecollectionMemory:
    """A memory holding `observed` items of tasks 0 and 1."""
    memory = memory_with(codec or conv_codec(), **overrides)
    if observed:
        x = images(observed, memory.codec.input_spec_shape)
        memory.observe(x, labels(observed), np.arange(observed) % 2)
    return memory


def memory_subject(memory: RecollectionMemory) -> Subject:
    return Subject(memory, lambda: memory_state(memory))


@cached
def partly_full() -> Subject:
    return memory_subject(new_memory())


@cached
def empty_memory() -> Subject:
    return memory_subject(new_memory(observed=0))


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


@cached
def transitions() -> Subject:
    return memory_subject(transitions_memory())
