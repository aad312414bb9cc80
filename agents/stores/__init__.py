"""Episodic stores a learner replays from: real examples, recollections or JPEGs.

Where this sits: a replay or GEM learner calls `recall` (and `stabilize`) before
its model step and `observe` after it. Both stores share one interface, so every
learner works with either storage; `STORES` names them for the run loop.

```
RealStore          IndexBuffer of raw uint8 inputs [capacity, *input_shape] + label + task
RecollectionStore  RecollectionMemory: packed k-bit codes + label + task, decoded on recall
JpegStore          IndexBuffer of JPEG scans in fixed slots + label + task, decoded on recall

plan(config, incremental_storage=, input_shape=, budget_kind=, examples=) -> StoragePlan
    (capacity, code shape; budget_kind "total" counts a codec's parameters too, eq. 5;
    examples: the first task's first inputs, uint8, which size a JPEG slot)
from_plan(plan, config=, input_shape=, num_classes=, num_tasks=, policy=, seed=)
stabilize_batches   recalled batches its own stabilising uses per step (0: none)
keeps_codes         True for recollections: codes(x) / decode_codes(codes) (a CodeStore)
observe(x, y, task) / recall(n, task) / read_rows(rows) -> (x float32 [n, ...], y, task)
stabilize(x, recollections) / size() / task_size(task) / footprint() -> Footprint
```

The write policy is injected: the learner says which one it needs.
"""

from typing import Any

from agents.registry import Registry
from agents.stores.base import CodeStore, EpisodicStore, StoragePlan, StoreItems
from agents.stores.codecs import CODECS
from agents.stores.jpeg import JpegStore, JpegStoreConfig
from agents.stores.real import RealStore, RealStoreConfig
from agents.stores.recollection_config import RecollectionStoreConfig
from agents.stores.recollections import RecollectionStore

StoreClass = type[RealStore] | type[RecollectionStore] | type[JpegStore]

STORES: Registry[StoreClass] = Registry(
    "storage",
    "--storage",
    {"real": RealStore, "recollections": RecollectionStore, "jpeg": JpegStore},
)


def get(identifier: Any) -> StoreClass:
    """The store class a name, a {"name": ...} dict or the class identifies.

    Raises:
        ValueError: an unknown name or object (`agents.registry.Registry.resolve`).
    """
    return STORES.resolve(identifier)


__all__ = [
    "CODECS",
    "STORES",
    "CodeStore",
    "EpisodicStore",
    "JpegStore",
    "JpegStoreConfig",
    "RealStore",
    "RealStoreConfig",
    "RecollectionStore",
    "RecollectionStoreConfig",
    "StoragePlan",
    "StoreItems",
    "get",
]
