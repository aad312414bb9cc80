"""Builds the parts of a run from its config: the stream, the storage plan, the learner.

Where this sits: `agents.continual.loop` calls `load_stream` and `plan_storage`
once per run (so a budget that does not fit fails before any training) and
`build_learner` once per seed. Parts are chosen through the registries
(`LEARNERS`, `STORES`, `MODELS`); a learner says itself whether it needs a store
and which write policy that store must use.

```
config --load_stream--> TaskStream
config + stream --plan_storage--> StoragePlan | None     (None: no store)
config + stream + plan + seed --build_learner--> model -> store -> learner
config + stream + plan --build_drift_probe--> DriftProbe | None (None: the probe is off)
```
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from agents import models
from agents.continual.config import ContinualConfig
from agents.continual.drift import DriftProbe
from agents.learners import Learner
from agents.stores import STORES, StoragePlan
from recollect import bits, datasets

# The first task's first examples, which a store may size itself by (a JPEG slot).
CALIBRATION_EXAMPLES = 256


def load_stream(config: ContinualConfig, cache_dir: str | None = None) -> datasets.TaskStream:
    """The config's task stream (from the cache in cache_dir when it was built before)."""
    return datasets.load_stream(
        config.stream,
        data_dir=config.data_dir,
        cache_dir=cache_dir,
        seed=config.data_seed,
        batch_size=config.batch_size,
        **config.stream_options,
    )


def plan_storage(config: ContinualConfig, stream: datasets.TaskStream) -> StoragePlan | None:
    """Sizes the store for the budget (None without one), or raises ValueError saying why."""
    if not config.uses_store:
        return None
    plan = STORES[config.storage].plan(
        config.store_config,
        incremental_storage=config.incremental_storage,
        input_shape=tuple(stream.input_shape),
        budget_kind=config.budget,
        examples=stream.task_arrays(0, dtype=np.uint8).x_train[:CALIBRATION_EXAMPLES],
    )
    config.learner_class.write_policy(num_tasks=len(stream), capacity=plan.capacity)
    return plan


def task_masks(config: ContinualConfig, stream: datasets.TaskStream) -> np.ndarray | None:
    """float32 [num_tasks, num_classes]: each task's classes (multi-head), else None."""
    if not config.multi_head:
        return None
    masks = np.zeros((len(stream), stream.num_classes), np.float32)
    for task, classes in enumerate(stream.metadata["task_classes"]):
        masks[task, list(classes)] = 1.0
    return masks


def build_learner(
    config: ContinualConfig,
    stream: datasets.TaskStream,
    plan: StoragePlan | None,
    seed: int,
    strategy: tf.distribute.Strategy | None = None,
) -> Learner:
    """A fresh learner (model, store, optimizer) for one seed; the caller seeds Keras.

    Under a strategy, the caller builds it inside the strategy's scope.
    """
    input_shape = tuple(stream.input_shape)
    num_tasks, num_classes = len(stream), stream.num_classes
    model = models.build_model(config.model, input_shape, num_classes, **config.model_options)
    learner_class = config.learner_class
    store = None
    if plan is not None:
        store = STORES[config.storage].from_plan(
            plan,
            config=config.store_config,
            input_shape=input_shape,
            num_classes=num_classes,
            num_tasks=num_tasks,
            policy=learner_class.write_policy(num_tasks=num_tasks, capacity=plan.capacity),
            seed=seed,
        )
    # Only learners that train replicated take a strategy (the config refused the others).
    replicated = {} if strategy is None else {"strategy": strategy}
    return learner_class(
        model,
        config=config.learner_config,
        store=store,
        task_masks=task_masks(config, stream),
        **replicated,
    )


def build_drift_probe(
    config: ContinualConfig, stream: datasets.TaskStream, plan: StoragePlan | None
) -> DriftProbe | None:
    """The seed's drift probe when `config.drift_probe_items` > 0 (the config checked the store)."""
    if not config.drift_probe_items or plan is None:
        return None
    if plan.num_latents is None or plan.num_categories is None:
        raise ValueError(f"Expected a plan with a code shape for the drift probe. Received: {plan}")
    return DriftProbe(
        num_tasks=len(stream),
        items_per_task=config.drift_probe_items,
        input_shape=tuple(stream.input_shape),
        code_bytes=bits.code_bytes(plan.num_latents, plan.num_categories),
    )
