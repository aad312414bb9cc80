"""One memory step under MirroredStrategy on two logical CPUs, and the same on one device.

Run as a script (`python -m tests.distribute.mirrored_memory OUT.json`) by
`tests/distribute/test_mirrored_memory.py`: logical devices must be set before
TensorFlow starts, which a pytest process has done long before. Writes what the
test compares: rows written and drawn, stored buffers, the codec's weights per
replica and on one device, and the losses.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import tensorflow as tf

GLOBAL_BATCH = 8
RECALL = 6


def build(seed: int = 3, decoder_steps: int | None = None, noise: float = 0.0):
    """A small memory (MLP codec): the same weights and state wherever it is built."""
    from recollect import DiscreteAutoencoder, RecollectionMemory

    codec = DiscreteAutoencoder(
        input_shape=(4, 4, 1),
        num_latents=6,
        num_categories=4,
        architecture="mlp",
        width=16,
        noise_scale=noise,
        seed=seed,
    )
    return RecollectionMemory(
        codec,
        capacity=32,
        num_classes=5,
        num_tasks=2,
        learning_rate=0.05,
        decoder_steps=decoder_steps,
        seed=seed,
    )


def copy_weights(source, target) -> None:
    """Sets target's codec weights to source's (they start alike across strategies)."""
    for mine, theirs in zip(target.codec.weights, source.codec.weights, strict=True):
        mine.assign(np.asarray(theirs.numpy()))


def batches(steps: int):
    rng = np.random.default_rng(0)
    for _ in range(steps):
        x = rng.random((GLOBAL_BATCH, 4, 4, 1)).astype(np.float32)
        y = rng.integers(0, 5, GLOBAL_BATCH).astype(np.int32)
        yield tf.constant(x), tf.constant(y)


def one_device_step(memory):
    @tf.function
    def step(x, y):
        rows = memory.observe(x, y, 1)
        recalled = memory.recall(RECALL)
        loss = memory.stabilize(x, [recalled[0]])
        return rows, recalled[0], loss

    return step


def mirrored_step(strategy, memory):
    @tf.function
    def step(x, y):
        def replica(x, y):
            context = tf.distribute.get_replica_context()
            i, n = context.replica_id_in_sync_group, context.num_replicas_in_sync
            size = GLOBAL_BATCH // n
            local_x, local_y = x[i * size : (i + 1) * size], y[i * size : (i + 1) * size]
            rows = memory.observe(local_x, local_y, 1)
            recalled = memory.recall(RECALL // n)
            loss = memory.stabilize(local_x, [recalled[0]])
            return rows, recalled[0], loss

        return strategy.run(replica, args=(x, y))

    return step


def joined(strategy, value) -> list:
    return np.concatenate([np.asarray(v) for v in strategy.experimental_local_results(value)])


def local_values(strategy, variable) -> list:
    return [np.asarray(p).tolist() for p in strategy.experimental_local_results(variable.value)]


def checkpoints(strategy, mirrored, single, directory: str, **settings) -> dict:
    """Each memory's checkpoint restored into a fresh memory built the other way.

    The fresh memories' codec weights are zeroed first, so a weight that matches
    after the restore came from the checkpoint.
    """
    with strategy.scope():
        into_mirrored = build(**settings)
    into_single = build(**settings)
    for memory in (into_mirrored, into_single):
        for weight in memory.codec.weights:
            weight.assign(np.zeros(weight.shape, weight.dtype))
    into_single.restore_checkpoint(mirrored.save_checkpoint(f"{directory}/mirrored"))
    into_mirrored.restore_checkpoint(single.save_checkpoint(f"{directory}/single"))
    return {
        "single_from_mirrored": {
            name: v.numpy().tolist() for name, v in into_single.buffer.variables_by_field.items()
        },
        "mirrored_from_single": {
            name: local_values(strategy, v)
            for name, v in into_mirrored.buffer.variables_by_field.items()
        },
        "single_weights_from_mirrored": [w.numpy().tolist() for w in into_single.codec.weights],
        "mirrored_weights_from_single": [
            local_values(strategy, w) for w in into_mirrored.codec.weights
        ],
    }


def main(output: str, mode: str = "exact", steps: int = 3) -> None:
    """Runs `steps` steps both ways; mode: exact (no noise), decoder_steps (frozen
    after 1 step), or noise (Gumbel noise, each replica its own)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    decoder_steps = 1 if mode == "decoder_steps" else None
    noise = 1.0 if mode == "noise" else 0.0
    with strategy.scope():
        mirrored = build(decoder_steps=decoder_steps, noise=noise)
    single = build(decoder_steps=decoder_steps, noise=noise)
    copy_weights(mirrored, single)
    run_mirrored, run_single = mirrored_step(strategy, mirrored), one_device_step(single)
    out: dict = {"mirrored": [], "single": []}
    for x, y in batches(steps):
        rows, recalled, loss = run_mirrored(x, y)
        out["mirrored"].append(
            {
                "rows": joined(strategy, rows).tolist(),
                "recalled": joined(strategy, recalled).tolist(),
                "loss": [float(np.mean(joined(strategy, loss)))],
            }
        )
        rows, recalled, loss = run_single(x, y)
        out["single"].append(
            {
                "rows": rows.numpy().tolist(),
                "recalled": recalled.numpy().tolist(),
                "loss": loss.numpy().tolist(),
            }
        )
    out["replica_weights"] = [local_values(strategy, w) for w in mirrored.codec.weights]
    out["single_weights"] = [np.asarray(w.numpy()).tolist() for w in single.codec.weights]
    out["replica_buffers"] = {
        name: local_values(strategy, v) for name, v in mirrored.buffer.variables_by_field.items()
    }
    out["single_buffers"] = {
        name: v.numpy().tolist() for name, v in single.buffer.variables_by_field.items()
    }
    out["sizes"] = [int(mirrored.size()), int(single.size())]
    out["checkpoints"] = checkpoints(
        strategy,
        mirrored,
        single,
        os.path.dirname(output),
        decoder_steps=decoder_steps,
        noise=noise,
    )
    with open(output, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
