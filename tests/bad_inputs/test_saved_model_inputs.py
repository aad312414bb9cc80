"""Bad input to an exported SavedModel's signatures, and to `export_saved_model`."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from recollect.export import export_saved_model
from tests.bad_inputs.harness import (
    CATEGORIES,
    IMAGE,
    LATENTS,
    OBSERVED,
    TASKS,
    Case,
    Subject,
    area,
    cached,
    check,
    codes,
    files_state,
    images,
    images_with,
    memory_state,
    new_memory,
    params,
    partly_full,
    scratch,
    variables_state,
)

# The cases pass wrong types on purpose: the export is called as untyped.
export: Any = export_saved_model


def exported_subject(name: str, observed: int) -> Subject:
    path = scratch("export") / name
    export_saved_model(new_memory(observed=observed), str(path))
    loaded = tf.saved_model.load(str(path))  # kept in a variable: see STYLE.md
    return Subject(
        loaded, lambda: {**variables_state(loaded.variables), **files_state(scratch("export"))}
    )


@cached
def exported() -> Subject:
    return exported_subject("partly_full", OBSERVED)


@cached
def exported_empty() -> Subject:
    return exported_subject("empty", 0)


def export_setup() -> Subject:
    memory = partly_full().target
    folder = scratch("export")
    (folder / "a_file").write_bytes(b"not a folder")
    return Subject((memory, folder), lambda: {**memory_state(memory), **files_state(folder)})


def recall_signature(loaded: Any, n: Any, task: Any) -> Any:
    return loaded.recall(tf.constant(n), tf.constant(task))


def encode(x: np.ndarray) -> Callable[[Any], object]:
    return lambda s: s.encode(tf.constant(x))


def decode(indices: np.ndarray) -> Callable[[Any], object]:
    return lambda s: s.decode(tf.constant(indices))


SAVED_MODEL = area(
    exported,
    [
        ("encode(x with NaN)", encode(images_with(np.nan))),
        ("encode(x with +inf)", encode(images_with(np.inf))),
        ("encode(x with a value 2.0)", encode(images_with(2.0))),
        ("encode(x with a value -1.0)", encode(images_with(-1.0))),
        ("encode(x [3, 8, 8])", encode(images(3, (8, 8)))),
        ("encode(x int32)", lambda s: s.encode(tf.zeros([2, *IMAGE], tf.int32))),
        ("encode(x float64)", lambda s: s.encode(tf.zeros([2, *IMAGE], tf.float64))),
        ("encode_packed(x with NaN)", lambda s: s.encode_packed(tf.constant(images_with(np.nan)))),
        ("decode(codes = num_categories)", decode(codes(CATEGORIES))),
        ("decode(codes = -1)", decode(codes(-1))),
        ("decode(codes [2, 9])", decode(codes(0, (2, LATENTS + 1)))),
        ("decode(float codes)", decode(codes(0, dtype=np.float32))),
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
    exported_empty,
    [
        ("recall(n=2, task=-1)", lambda s: recall_signature(s, 2, -1)),
        ("recall(n=2, task=0)", lambda s: recall_signature(s, 2, 0)),
    ],
)

EXPORT = area(
    export_setup,
    [
        ("export_saved_model(a codec)", lambda t: export(t[0].codec, str(t[1] / "codec"))),
        ("export_saved_model(None)", lambda t: export(None, str(t[1] / "none"))),
        ("into a path that is a regular file", lambda t: export(t[0], str(t[1] / "a_file"))),
    ],
)


@pytest.mark.parametrize("case", params(SAVED_MODEL))
def test_saved_model_signatures_refuse(case: Case) -> None:
    """A loaded SavedModel of a partly full memory: its variables and files unchanged."""
    check(case)


@pytest.mark.parametrize("case", params(SAVED_MODEL_EMPTY))
def test_saved_model_of_an_empty_memory_refuses(case: Case) -> None:
    """recall() of a SavedModel of an empty memory is refused inside the graph."""
    check(case)


@pytest.mark.parametrize("case", params(EXPORT))
def test_export_saved_model_refuses(case: Case) -> None:
    """export_saved_model of a non-memory, or into a regular file: nothing written."""
    check(case)
