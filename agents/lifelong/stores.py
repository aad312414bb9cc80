"""The replay memory a lifelong run asks for: `make_store(storage, ...)`.

```
"real"           RealTransitions          raw frames, bit-packed when binary (replay.py)
"recollections"  RecollectionTransitions  k-bit codes (recollection_transitions.py)
```
Both take the same byte budget and have the same methods: observe, learn_batch,
stabilize, size, footprint.
"""

from __future__ import annotations

from typing import Any

from agents.lifelong.recollection_transitions import RecollectionTransitions
from agents.lifelong.replay import RealTransitions

TransitionStore = RealTransitions | RecollectionTransitions


def make_store(storage: str, **kwargs: Any) -> TransitionStore:
    """The store for --storage ("real" or "recollections"); see the classes' Args."""
    if storage == "real":
        kwargs.pop("codec", None)
        return RealTransitions(**kwargs)
    return RecollectionTransitions(**kwargs)
