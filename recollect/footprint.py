"""What a memory or a learner keeps, in bytes and in the paper's raw-example units.

Where this sits: `RecollectionMemory.footprint()` returns one, and so does every
store and learner in `agents/` (real storage, recollections, EWC's Fisher sums,
LwF's teacher), so results are reported in one layout whatever the method.

```
inputs   stored codes (recollections) or raw 8-bit inputs (real storage)   input_bytes
buffer   inputs + labels + task ids + other side fields, at capacity        buffer_bytes
codec    float32 encoder + decoder parameters                               codec_bytes
state    other state a method keeps (EWC: Fisher sums; LwF: a teacher)      state_bytes
incremental_storage_raw_examples = (input_bytes + state_bytes) / raw_example_bytes
```

The paper counts the stored inputs (codes or raw examples) as incremental storage
and the codec as part of the total; labels and task ids are the same for every
method and are left out of both, as in the paper.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Footprint:
    """Storage of one memory or learner. Every size carries its unit in its name.

    Attributes:
        kind: a label for reports ("none", "real", "recollections", "ewc", "lwf").
        bits_per_item: bits of one stored input (k for a code, 8 * n for a raw
            8-bit input of n values); 0 when nothing is stored per item.
        items_stored: items in the buffer now.
        capacity: items the buffer can hold.
        input_bytes: bytes of the stored inputs (codes or raw) at capacity.
        buffer_bytes: all bytes of the buffer at capacity (inputs and side fields).
        codec_bytes: float32 parameters of the codec (encoder + decoder).
        state_bytes: other state the method keeps (EWC, LwF), in bytes.
        raw_example_bytes: bytes of one raw input at its bit depth.
        num_latents: c of the code shape, for recollections; else None.
        num_categories: l of the code shape, for recollections; else None.
    """

    kind: str
    bits_per_item: int = 0
    items_stored: int = 0
    capacity: int = 0
    input_bytes: int = 0
    buffer_bytes: int = 0
    codec_bytes: int = 0
    state_bytes: int = 0
    raw_example_bytes: float = 0.0
    num_latents: int | None = None
    num_categories: int | None = None

    @property
    def incremental_storage_raw_examples(self) -> float:
        """(input_bytes + state_bytes) in raw examples: the paper's incremental storage."""
        if not self.raw_example_bytes:
            return 0.0
        return (self.input_bytes + self.state_bytes) / self.raw_example_bytes

    @property
    def total_storage_raw_examples(self) -> float:
        """Incremental storage plus the codec, in raw examples (the paper's total)."""
        if not self.raw_example_bytes:
            return 0.0
        return self.incremental_storage_raw_examples + self.codec_bytes / self.raw_example_bytes

    def to_dict(self) -> dict:
        """The fields and both storage totals, for results files."""
        return {
            **dataclasses.asdict(self),
            "incremental_storage_raw_examples": self.incremental_storage_raw_examples,
            "total_storage_raw_examples": self.total_storage_raw_examples,
        }


def codec_param_bytes(codec: Any) -> int:
    """codec_bytes of a codec: its encoder's and decoder's parameters as float32."""
    return 4 * (codec.encoder.count_params() + codec.decoder.count_params())


def raw_example_bytes(num_values: int, *, bits_per_value: int = 8) -> float:
    """Bytes of one raw input of `num_values` values at `bits_per_value` bits each.

    Raises:
        ValueError: if bits_per_value is not an int >= 1.
    """
    if isinstance(bits_per_value, bool) or not isinstance(bits_per_value, int):
        raise ValueError(f"Expected an int bits_per_value. Received: {bits_per_value!r}")
    if bits_per_value < 1:
        raise ValueError(f"Expected bits_per_value >= 1. Received: {bits_per_value}")
    raw_bits = int(num_values) * bits_per_value
    return raw_bits // 8 if raw_bits % 8 == 0 else raw_bits / 8
