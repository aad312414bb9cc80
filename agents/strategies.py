"""Which `tf.distribute` strategy a run trains under, by name, and its checks.

Where this sits: `runners/continual.py` and `runners/lifelong.py` take `--strategy`
(and `--cpu_devices`, which splits the CPU into logical devices before TensorFlow
starts) and call `start`; `agents.continual` builds the strategy once per run
(`make`) and builds each seed's model, optimizer and store under its scope, and
`agents.lifelong` replicates the DQN learner's step (`agents.lifelong.dqn`). The
memory's side of this is `recollect/replicas.py`.

```
default       one device: no strategy (TensorFlow's default), results as always
mirrored      MirroredStrategy over every GPU, else over every logical CPU device
multi_worker  MultiWorkerMirroredStrategy: the workers and this one's role from TF_CONFIG
global batch  split in replica order: replica i trains on rows [i*B/n, (i+1)*B/n)
              (the lifelong learner interleaves: rows i, i+n, ...)
```
"""

from __future__ import annotations

import contextlib
import json
import os

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")
CPU_DEVICES_HELP = (
    "Split the CPU into this many logical devices before TensorFlow starts (0: leave it "
    "whole), e.g. to run --strategy=mirrored over two replicas on a machine without GPUs."
)


def split_cpu(count: int) -> None:
    """Splits the host CPU into `count` logical devices (before TensorFlow starts).

    Raises:
        ValueError: count < 1, or TensorFlow already initialised its devices.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"Expected --cpu_devices an int >= 1. Received: {count!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError as error:
        raise ValueError(
            f"Expected --cpu_devices set before TensorFlow starts. Received: {error}"
        ) from error


_MADE: dict[str, tf.distribute.Strategy] = {}


def make(name: str) -> tf.distribute.Strategy | None:
    """The strategy `name` names (`STRATEGIES`), made once per process; None for default.

    A runner makes it first, before anything else runs in TensorFlow (multi_worker
    must be made at program start), and a run then gets the same object.

    Raises:
        ValueError: an unknown name.
    """
    if name == "default":
        return None
    if name not in _MADE:
        _MADE[name] = _build(name)
    return _MADE[name]


def _build(name: str) -> tf.distribute.Strategy:
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"Expected --strategy among {list(STRATEGIES)}. Received: {name!r}")


def worker_workdir(workdir: str, name: str) -> str:
    """This worker's own directory under workdir for multi_worker (worker_<i>), else workdir.

    Every worker keeps its own checkpoints and results (they are the same: the
    weights and the buffer are mirrored), so the same command runs on every worker.

    Raises:
        ValueError: multi_worker without a TF_CONFIG naming this worker's task.
    """
    if name != "multi_worker":
        return workdir
    try:
        task = json.loads(os.environ.get("TF_CONFIG", ""))["task"]
        return os.path.join(workdir, f"{task['type']}_{int(task['index'])}")
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            "Expected TF_CONFIG with the cluster and this worker's task ({'cluster': "
            "{'worker': [host:port, ...]}, 'task': {'type': 'worker', 'index': i}}) for "
            f"--strategy=multi_worker. Received: {os.environ.get('TF_CONFIG')!r}"
        ) from error


def start(name: str, cpu_devices: int, workdir: str) -> str:
    """A runner's first step: splits the CPU, makes the strategy; returns its workdir.

    Args:
        name: --strategy (`STRATEGIES`).
        cpu_devices: --cpu_devices, logical CPU devices to make (0: leave the CPU whole).
        workdir: --workdir.

    Returns:
        The directory this process writes (`worker_workdir`).

    Raises:
        ValueError: as `split_cpu`, `worker_workdir` or `make`.
    """
    if cpu_devices:
        split_cpu(cpu_devices)
    workdir = worker_workdir(workdir, name)
    make(name)  # first: multi_worker must start before any op
    return workdir


def lowest_across_workers(strategy: tf.distribute.Strategy | None, value: int) -> int:
    """The smallest value over the workers of a multi-worker strategy (value otherwise).

    Every worker must call it at the same point: it is a collective.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return value
    mine = strategy.run(lambda: tf.constant([value], tf.int64))
    return int(tf.reduce_min(strategy.gather(mine, axis=0)))


def scope(strategy: tf.distribute.Strategy | None) -> contextlib.AbstractContextManager:
    """The strategy's scope, where a run builds its variables (nothing for None)."""
    return contextlib.nullcontext() if strategy is None else strategy.scope()


def check_divisible(strategy: tf.distribute.Strategy | None, sizes: dict[str, int]) -> None:
    """Refuses batch sizes that the replicas cannot share equally.

    Args:
        strategy: the run's strategy.
        sizes: flag name -> its value (each split over the replicas).

    Raises:
        ValueError: naming the first flag whose value is not a multiple of the
            number of replicas.
    """
    if strategy is None:
        return
    replicas = strategy.num_replicas_in_sync
    for name, value in sizes.items():
        if value % replicas:
            raise ValueError(
                f"Expected --{name} a multiple of the {replicas} replicas of "
                f"{type(strategy).__name__}. Received: {name}={value}"
            )
