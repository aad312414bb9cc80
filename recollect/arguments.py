"""Checks of scalar constructor arguments (integers, sizes, seeds), and scalar tensors as ints.

Where this sits: at the bottom of `recollect/`, beside `tensor_types.py`; the codec,
the buffer's `Field` and the memory check their integer arguments here before they
build anything, so a bad value is refused before any layer draws a default seed
from Python's global `random`. Nothing here holds state.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def is_int(value: Any) -> bool:
    """Whether value is a Python or numpy integer (a bool is not).

    Args:
        value: anything.

    Returns:
        bool.
    """
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_int(name: str, value: Any, *, minimum: int, optional: bool = False) -> None:
    """Raises ValueError unless value is an int >= minimum (or None, if optional).

    Args:
        name: the argument's name, for the message.
        value: the argument.
        minimum: the smallest value allowed.
        optional: whether None is allowed.

    Raises:
        ValueError: on a value that is not an int (a bool or float is not), or one
            below minimum.
    """
    if optional and value is None:
        return
    if not is_int(value) or value < minimum:
        alternative = " or None" if optional else ""
        raise ValueError(
            f"Expected {name} an int >= {minimum}{alternative}. Received: {name}={value!r}"
        )


def check_seed(name: str, value: Any, *, optional: bool = False) -> None:
    """Raises ValueError unless value is an int that fits int64 (or None, if optional).

    Args:
        name: the argument's name, for the message.
        value: the argument.
        optional: whether None is allowed.

    Raises:
        ValueError: on a value that is not an int, or one outside int64.
    """
    if optional and value is None:
        return
    if not is_int(value) or not INT64_MIN <= value <= INT64_MAX:
        alternative = " or None" if optional else ""
        raise ValueError(
            f"Expected {name} an int in [-2**63, 2**63){alternative}. Received: {name}={value!r}"
        )


def python_int(value: Any) -> Any:
    """An eager integer scalar tensor as a Python int; anything else unchanged."""
    if tf.is_tensor(value) and value.dtype.is_integer and value.shape.rank == 0:
        return int(value)
    return value
