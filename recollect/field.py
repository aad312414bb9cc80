"""Field specs: what one stored field of an item holds, and checks against them.

Where this sits: `IndexBuffer` makes one variable [capacity, *shape] per `Field`
and checks every written batch here (`check_values`); `RecollectionMemory` lays
out its fields from `supervised_fields`, or from side fields given as `Field`s:

```
supervised    codes uint8 [code_bytes]   label int32 []   task int32 []
transition    codes uint8 [code_bytes]   action int32 or float32 [*action_shape]
              reward float32 []   discount float32 []   next_codes uint8 [code_bytes]
```

Shapes are per item; an integer field with num_values holds values in
[0, num_values) (labels in [0, num_classes), task ids in [0, num_tasks)).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from recollect.arguments import is_int


@dataclasses.dataclass(frozen=True)
class Field:
    """Describes one stored field of an item.

    Attributes:
        shape: the per-item shape, ints >= 0 (the buffer adds a leading capacity
            axis).
        dtype: a TF dtype name, e.g. "uint8", "int32", "float32".
        num_values: for integer fields, values must lie in [0, num_values);
            None for no range check.

    Raises:
        ValueError: on a shape that is not a tuple of ints >= 0, or num_values
            neither None nor an int >= 1 on an integer field.
    """

    shape: tuple[int, ...] = ()
    dtype: str = "int32"
    num_values: int | None = None

    def __post_init__(self) -> None:
        shape = self.shape
        if not isinstance(shape, tuple | list) or not all(is_int(d) and d >= 0 for d in shape):
            raise ValueError(f"Expected shape a tuple of ints >= 0. Received: shape={shape!r}")
        object.__setattr__(self, "shape", tuple(int(d) for d in shape))
        tf_dtype = tf.as_dtype(self.dtype)
        object.__setattr__(self, "dtype", tf_dtype.name)
        count = self.num_values
        if count is not None and not (tf_dtype.is_integer and is_int(count) and count >= 1):
            raise ValueError(
                f"Expected num_values >= 1 (an int) on an integer field, or None. Received: "
                f"dtype={self.dtype}, num_values={count!r}"
            )

    def bytes_per_item(self) -> int:
        """Bytes one item of this field occupies."""
        return int(np.prod(self.shape, dtype=np.int64)) * tf.as_dtype(self.dtype).size

    def to_config(self) -> dict:
        """The spec as a JSON-friendly dict; `Field(**config)` rebuilds it."""
        return {"shape": list(self.shape), "dtype": self.dtype, "num_values": self.num_values}


def supervised_fields(
    *, code_bytes: int, num_classes: int, num_tasks: int, label_dtype: str = "int32"
) -> dict[str, Field]:
    """The fields of a supervised item: packed codes, label and task id."""
    return {
        "codes": Field((code_bytes,), "uint8"),
        "label": Field((), label_dtype, num_classes),
        "task": Field((), "int32", num_tasks),
    }


def transition_fields(
    *, code_bytes: int, num_actions: int | None = None, action_shape: tuple[int, ...] = ()
) -> dict[str, Field]:
    """The fields of an RL transition: (codes, action, reward, discount, next_codes).

    The next observation is stored as its own packed code, so a sampled transition
    decodes without depending on which neighbouring rows survived overwriting.
    """
    return {
        "codes": Field((code_bytes,), "uint8"),
        "action": Field(action_shape, "int32" if num_actions else "float32", num_actions),
        "reward": Field((), "float32"),
        "discount": Field((), "float32"),
        "next_codes": Field((code_bytes,), "uint8"),
    }


def check_values(name: str, value: np.ndarray | tf.Tensor, spec: Field) -> None:
    """Checks a batch of one field's values against its spec, changing nothing.

    Args:
        name: the field's name, for messages.
        value: numpy or eager tensor [batch, *spec.shape] (shape checked before).
        spec: the field's spec.

    Raises:
        ValueError: on a dtype kind the field cannot hold, NaN or Inf, or integer
            values outside [0, num_values).
    """
    dtype = tf.as_dtype(value.dtype) if not isinstance(value.dtype, tf.DType) else value.dtype
    target = tf.as_dtype(spec.dtype)
    if target.is_integer and not dtype.is_integer:
        raise ValueError(
            f"Expected an integer dtype for {name}. Received: {name}.dtype={dtype.name}"
        )
    if target.is_floating and not (dtype.is_floating or dtype.is_integer):
        raise ValueError(
            f"Expected a numeric dtype for {name}. Received: {name}.dtype={dtype.name}"
        )
    if target == tf.uint8 and dtype != tf.uint8:
        raise ValueError(f"Expected uint8 for {name}. Received: {name}.dtype={dtype.name}")
    array = value if isinstance(value, np.ndarray) else value.numpy()
    if array.size == 0:
        return
    if dtype.is_floating and not np.all(np.isfinite(array)):
        raise ValueError(f"Expected finite values in {name}. Received: NaN or Inf")
    if spec.num_values is not None:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high >= spec.num_values:
            raise ValueError(
                f"Expected {name} in [0, {spec.num_values}). Received: values in [{low}, {high}]"
            )
