"""The replay memory a lifelong run asks for: `make_store(storage, ...)` (`get(storage)`).

```
"real"           RealTransitions          raw frames, bit-packed when binary (replay.py)
"recollections"  RecollectionTransitions  k-bit codes (recollection_transitions.py)
"lossless"       LosslessTransitions      binary frames' set positions (lossless_transitions.py)
"corrected"      CorrectedTransitions     a fixed codec's code + the values it gets wrong
                                          (corrected_transitions.py)
```
All take the same byte budget and have the same methods: observe, learn_batch,
sample, stabilize, size, frame_error, footprint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents.lifelong.corrected_transitions import CorrectedTransitions
from agents.lifelong.lossless_transitions import LosslessTransitions
from agents.lifelong.recollection_transitions import RecollectionTransitions
from agents.lifelong.replay import RealTransitions
from agents.registry import Registry

TransitionStore = RealTransitions | RecollectionTransitions | LosslessTransitions


def _real(**kwargs: Any) -> RealTransitions:
    kwargs.pop("codec", None)
    kwargs.pop("strategy", None)  # raw frames: nothing to mirror, sampled on the host
    return RealTransitions(**kwargs)


STORES: Registry[Callable[..., TransitionStore]] = Registry(
    "storage",
    "--storage",
    {
        "real": _real,
        "recollections": RecollectionTransitions,
        "lossless": LosslessTransitions,
        "corrected": CorrectedTransitions,
    },
)


def get(identifier: Any) -> Callable[..., TransitionStore]:
    """The store maker a name, a {"name": ...} dict or the maker identifies.

    Raises:
        ValueError: an unknown name or object (`agents.registry.Registry.resolve`).
    """
    return STORES.resolve(identifier)


def make_store(storage: Any, **kwargs: Any) -> TransitionStore:
    """The store for --storage (see `get`); see the classes' Args.

    Raises:
        ValueError: for an unknown storage, or as the store's constructor.
    """
    return get(storage)(**kwargs)
