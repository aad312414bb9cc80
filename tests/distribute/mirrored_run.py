"""A tiny continual run under MirroredStrategy on two logical CPUs: whole, and resumed.

Run as a script (`python -m tests.distribute.mirrored_run DATA_DIR OUT_DIR`) by
`tests/distribute/test_mirrored_run.py`. Writes OUT_DIR/out.json with the results
of an uninterrupted run, of a run stopped twice and resumed, of the same run
on one device, and of a run stopped on one device and resumed under the strategy.
"""

from __future__ import annotations

import json
import os
import sys

import tensorflow as tf


def main(data_dir: str, out_dir: str) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from agents import continual
    from agents.experiment import RunInterrupted
    from tests.agents.test_continual import tiny_config

    config = tiny_config(data_dir, strategy="mirrored", learner_config={"replay_batch_size": 2})
    whole = continual.run(config, os.path.join(out_dir, "whole"), progress=False)
    stopped = os.path.join(out_dir, "stopped")
    stops = 0
    for resume in (False, True):
        try:
            continual.run(config, stopped, resume=resume, progress=False, stop_after_steps=2)
        except RunInterrupted:
            stops += 1
    resumed = continual.run(config, stopped, resume=True, progress=False)
    single = continual.run(
        tiny_config(data_dir, learner_config={"replay_batch_size": 2}),
        os.path.join(out_dir, "single"),
        progress=False,
    )
    # Stopped on one device, resumed under the strategy.
    switched = os.path.join(out_dir, "switched")
    single_config = tiny_config(data_dir, learner_config={"replay_batch_size": 2})
    try:
        continual.run(single_config, switched, progress=False, stop_after_steps=2)
    except RunInterrupted:
        stops += 1
    switched_run = continual.run(config, switched, resume=True, progress=False)
    out = {"whole": whole, "resumed": resumed, "single": single, "switched": switched_run}
    with open(os.path.join(out_dir, "out.json"), "w") as f:
        json.dump({**out, "stops": stops}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
