"""Replay with recollections, a few steps on two logical CPUs and on one device.

Run as a script (`python -m tests.distribute.mirrored_learner OUT.json`) by
`tests/distribute/test_mirrored_learner.py` (logical devices must be set before
TensorFlow starts). Both learners start from the same weights; each step's loss,
the final model and codec weights and the buffer are written for the test.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tensorflow as tf

from tests.distribute import mirrored_memory

BATCH = 8
STEPS = 4


def build(strategy):
    from agents import models
    from agents.learners.replay import ReplayConfig, ReplayLearner
    from agents.stores.recollections import RecollectionStore

    model = models.mlp((4, 4, 1), 5, hidden_units=16)
    store = RecollectionStore(mirrored_memory.build(), stabilize_steps=2)
    config = ReplayConfig(learning_rate=0.1, replay_batch_size=4, steps_per_batch=2)
    return ReplayLearner(model, config=config, store=store, strategy=strategy)


def copy(source, target) -> None:
    for mine, theirs in zip(target.model.weights, source.model.weights, strict=True):
        mine.assign(np.asarray(theirs.numpy()))
    mirrored_memory.copy_weights(source.store.memory, target.store.memory)


def main(output: str) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from agents import strategies

    strategy = strategies.make("mirrored")
    with strategy.scope():
        mirrored = build(strategy)
    single = build(None)
    copy(mirrored, single)
    rng = np.random.default_rng(1)
    losses: dict = {"mirrored": [], "single": []}
    for step in range(STEPS):
        x = rng.random((BATCH, 4, 4, 1)).astype(np.float32)
        y = rng.integers(0, 5, BATCH).astype(np.int32)
        losses["mirrored"].append(mirrored.train_step(x, y, step % 2))
        losses["single"].append(single.train_step(x, y, step % 2))
    try:
        mirrored.train_step(np.zeros((3, 4, 4, 1), np.float32), np.zeros(3, np.int32), 0)
        odd_batch = "accepted"
    except ValueError as error:
        odd_batch = str(error)
    out = {
        "replicas": strategy.num_replicas_in_sync,
        "losses": losses,
        "odd_batch": odd_batch,
        "sizes": [int(mirrored.store.size()), int(single.store.size())],
        "model": [
            [w.numpy().tolist(), v.numpy().tolist()]
            for w, v in zip(mirrored.model.weights, single.model.weights, strict=True)
        ],
        "codec": [
            [w.numpy().tolist(), v.numpy().tolist()]
            for w, v in zip(
                mirrored.store.memory.codec.weights, single.store.memory.codec.weights, strict=True
            )
        ],
        "model_replicas_equal": all(
            all(
                np.array_equal(p, mirrored_memory.local_values(strategy, w)[0])
                for p in mirrored_memory.local_values(strategy, w)
            )
            for w in mirrored.model.weights
        ),
    }
    with open(output, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1])
