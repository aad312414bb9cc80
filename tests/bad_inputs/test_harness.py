"""The harness itself: a case that changes state or raises nothing must fail."""

from types import ModuleType

import numpy as np
import pytest

from tests.bad_inputs import (
    test_budget_inputs,
    test_buffer_inputs,
    test_checkpoint_inputs,
    test_data_inputs,
    test_memory_inputs,
    test_observe_inputs,
    test_recall_inputs,
    test_runner_inputs,
    test_saved_model_inputs,
)
from tests.bad_inputs.harness import Case, Subject, check, run_case

AREAS = (
    test_memory_inputs,
    test_observe_inputs,
    test_recall_inputs,
    test_buffer_inputs,
    test_checkpoint_inputs,
    test_saved_model_inputs,
    test_budget_inputs,
    test_data_inputs,
    test_runner_inputs,
)


def box_subject() -> Subject:
    box = {"value": np.zeros(2)}
    return Subject(box, lambda: {"value": box["value"].copy()})


def assign(target: dict[str, np.ndarray]) -> None:
    target["value"] = np.ones(2)


def refuse(target: object) -> None:
    raise ValueError("Expected a good input. Received: a bad one")


def test_a_silent_call_that_changes_state_fails() -> None:
    outcome = run_case(Case("silent", box_subject, assign))
    assert outcome.error is None and outcome.changed == ("value",)
    with pytest.raises(AssertionError, match=r"no error was raised; state changed: value"):
        check(Case("silent", box_subject, assign))


def test_a_refusal_passes_and_a_no_op_passes_where_allowed() -> None:
    check(Case("refused", box_subject, refuse))
    check(Case("empty", box_subject, len, no_op_ok=True))
    with pytest.raises(AssertionError, match="no error was raised"):
        check(Case("empty", box_subject, len))


def test_a_refusal_that_changes_state_fails_and_names_the_error() -> None:
    def assign_then_refuse(target: dict[str, np.ndarray]) -> None:
        assign(target)
        refuse(target)

    with pytest.raises(AssertionError, match=r"state changed: value \(ValueError: Expected"):
        check(Case("half done", box_subject, assign_then_refuse))


def cases_of(module: ModuleType) -> list[Case]:
    lists = [v for v in vars(module).values() if isinstance(v, list) and v]
    return [case for cases in lists if isinstance(cases[0], Case) for case in cases]


def test_every_case_is_kept() -> None:
    """The 426 cases, each named once within its test."""
    counts = {module.__name__: len(cases_of(module)) for module in AREAS}
    assert sum(counts.values()) == 426, counts
