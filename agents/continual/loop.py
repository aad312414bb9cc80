"""A whole continual-learning run: run -> per seed -> per task -> learner.train_step.

Where this sits: `runners/continual.py` parses flags into a `ContinualConfig` and
calls `run(config, workdir)`; tests call `run` directly.

```
run(config, workdir) = agents.experiment.run(ContinualExperiment(config), workdir)
  prepare: stream, storage plan (bad settings fail here, before any training)
  for seed in config.seeds: run_seed                  workdir/seed_<s>/
    learner = build_learner(...); restore on resume
    initial accuracy on every task (for FWT)
    for task in stream: _run_task
      for batch: learner.train_step(x, y, task)       checkpoint on SIGINT/SIGTERM
                 probe.record (drift probe on)        the codes that step wrote
      learner.end_task; accuracy on every task -> accuracy-matrix row
      probe.measure -> drift-matrix row (drift probe on); checkpoint
    seed_result -> seed_<s>/result.json, accuracy_matrix_seed<s>.csv
  aggregate -> results.json (kind "continual", mean +- std over seeds, footprint,
               data checksums)
```

The workdir rule, seeds, stop signals and results.json are
`agents.experiment.run`'s; this module is what a continual seed does.

A run killed at any point continues with `resume=True` from its last checkpoint
(models, optimisers, store, RNG state, data position, drift probe) and ends with
the same results as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from typing import ClassVar, cast

import keras
import numpy as np
import tensorflow as tf
import tqdm

from agents import experiment, strategies
from agents.continual import build
from agents.continual.config import ContinualConfig
from agents.continual.drift import DriftProbe
from agents.continual.progress import ContinualProgress
from agents.continual.results import aggregate, seed_result, write_matrix_csv
from agents.experiment import RunInterrupted, SeedContext, SeedState
from agents.learners import Learner
from agents.stores import CodeStore, StoragePlan
from recollect import datasets
from recollect.datasets.stream import scale_pixels

LOG_EVERY_STEPS = 50


@dataclasses.dataclass
class _Seed:
    """One seed's context, learner, saved state, logs, clock and drift probe (None: off)."""

    context: SeedContext
    learner: Learner
    state: SeedState
    writer: tf.summary.SummaryWriter
    bar: tqdm.tqdm
    clock: Callable[[], float]
    probe: DriftProbe | None = None

    @property
    def seed(self) -> int:
        """The run seed."""
        return self.context.seed

    def code_store(self) -> CodeStore:
        """The learner's store, which keeps codes when the probe is on (the config checks)."""
        return cast(CodeStore, self.learner.store)


class ContinualExperiment:
    """A continual run as an `agents.experiment.Experiment`: tasks, batches, accuracy.

    Args:
        config: the run's `ContinualConfig`.
        cache_dir: where prepared streams are cached (None: $RECOLLECT_CACHE_DIR,
            else ~/.cache/recollect); where it is does not change the results.
    """

    kind: ClassVar[str] = "continual"

    def __init__(self, config: ContinualConfig, cache_dir: str | None = None) -> None:
        self.config = config
        self.cache_dir = cache_dir
        self.stream: datasets.TaskStream | None = None
        self.plan: StoragePlan | None = None
        self.strategy: tf.distribute.Strategy | None = None  # None: one device
        self.steps_this_call = 0  # over every seed of this call (the test hook counts them)

    def prepare(self) -> None:
        """Loads the stream and plans the storage (bad settings or data fail here)."""
        self.stream = build.load_stream(self.config, cache_dir=self.cache_dir)
        self.plan = build.plan_storage(self.config, self.stream)
        self.strategy = strategies.make(self.config.strategy)
        sizes = {"batch_size": self.config.batch_size}
        replay = getattr(self.config.learner_config, "replay_batch_size", None)
        if replay is not None:
            sizes["replay_batch_size"] = replay
        strategies.check_divisible(self.strategy, sizes)
        tf.config.experimental.enable_op_determinism()

    def loaded_stream(self) -> datasets.TaskStream:
        """The stream `prepare` loaded."""
        if self.stream is None:
            raise RuntimeError("Expected prepare() before the run. Received: no stream")
        return self.stream

    def run_seed(self, context: SeedContext) -> dict:
        """Trains (or resumes) one seed over every task; returns its result."""
        config, stream = self.config, self.loaded_stream()
        keras.utils.set_random_seed(context.seed)
        with strategies.scope(self.strategy):
            learner = build.build_learner(config, stream, self.plan, context.seed, self.strategy)
        probe = build.build_drift_probe(config, stream, self.plan)
        beside = None if probe is None else {"drift_probe": probe}
        state = SeedState(context.directory, learner, ContinualProgress, beside=beside)
        if context.resume:
            state.restore(
                agree=lambda newest: strategies.lowest_across_workers(self.strategy, newest)
            )
        progress = state.progress
        if progress.initial_accuracy is None:
            progress.initial_accuracy = self.evaluate(learner)
        tensorboard = os.path.join(context.workdir, "tensorboard", f"seed_{context.seed}")
        with _progress_bar(context, stream, config.batch_size, progress.steps) as bar:
            writer = tf.summary.create_file_writer(tensorboard)
            current = _Seed(context, learner, state, writer, bar, _clock(progress), probe)
            for task in range(progress.task, len(stream)):
                _run_task(self, current, task)
        name = f"accuracy_matrix_seed{context.seed}.csv"
        write_matrix_csv(os.path.join(context.workdir, name), progress.accuracy_matrix)
        return seed_result(context.seed, progress, learner)

    def finish_seed(self, context: SeedContext) -> None:
        """Drops the finished seed's checkpoints (its result.json is written)."""
        shutil.rmtree(os.path.join(context.directory, "checkpoints"), ignore_errors=True)

    def aggregate(self, per_seed: list[dict]) -> dict:
        """Mean +- std over seeds, footprint and data checksums (`results.aggregate`)."""
        return aggregate(self.config, self.loaded_stream(), per_seed)

    def evaluate(self, learner: Learner) -> list[float]:
        """Test accuracy on every task.

        Each task's test set is read when it is scored, as the stream's uint8 rows
        (views, mapped from the cache), and scaled inside the learner's compiled
        count: float32 copies of MNIST-Rotations' 20 test sets would hold 627 MB.
        """
        stream = self.loaded_stream()
        accuracies = []
        for task in range(len(stream)):
            arrays = stream.task_arrays(task, dtype=np.uint8)
            accuracies.append(
                learner.accuracy(
                    arrays.x_test, arrays.y_test, task, batch_size=self.config.eval_batch_size
                )
            )
        return accuracies


def run(
    config: ContinualConfig,
    workdir: str,
    *,
    resume: bool = False,
    progress: bool = True,
    stop_after_steps: int | None = None,
    cache_dir: str | None = None,
    files: dict[str, str] | None = None,
) -> dict:
    """Trains the configured learner over the stream for every seed; writes results.

    Args:
        config: the run's `ContinualConfig`.
        workdir: output directory (created). Holds results.json, config.json,
            per-seed checkpoints, CSV accuracy matrices and TensorBoard logs.
        resume: continue from the checkpoints in workdir; without it a workdir
            that already holds a run is refused, and with it an empty one is.
        progress: show a progress bar.
        stop_after_steps: stop (as on SIGTERM, after checkpointing) once this
            many steps have run in this call; for tests of resumption.
        cache_dir: where prepared streams are cached (None: $RECOLLECT_CACHE_DIR,
            else ~/.cache/recollect); where it is does not change the results.
        files: more text files to write into workdir once the settings are known
            to work (the runner's flags.txt), name -> content.

    Returns:
        The results dict also written to workdir/results.json.

    Raises:
        ValueError: bad config, data or workdir, before any training.
        RunInterrupted: on SIGINT/SIGTERM or stop_after_steps, after checkpointing.
    """
    return experiment.run(
        ContinualExperiment(config, cache_dir),
        workdir,
        resume=resume,
        progress=progress,
        stop_after_steps=stop_after_steps,
        files=files,
    )


def _run_task(run: ContinualExperiment, current: _Seed, task: int) -> None:
    progress = current.state.progress
    stored = run.loaded_stream().task_arrays(task, dtype=np.uint8)
    x_train, y_train = scale_pixels(stored.x_train), stored.y_train
    batch_size = run.config.batch_size
    num_batches = math.ceil(len(y_train) / batch_size)
    for index in range(progress.batch, num_batches):
        rows = slice(index * batch_size, (index + 1) * batch_size)
        _train_batch(run, current, task, index, x_train[rows], y_train[rows])
    current.learner.end_task(task, x_train, y_train)
    row = run.evaluate(current.learner)
    progress.accuracy_matrix.append(row)
    _measure_drift(current, task)
    progress.task, progress.batch = task + 1, 0
    seen = float(np.mean(row[: task + 1]))
    current.bar.set_postfix(task=task, seen_acc=f"{seen:.3f}", refresh=True)
    with current.writer.as_default(step=task):
        tf.summary.scalar("eval/mean_accuracy_seen_tasks", seen)
        tf.summary.scalar("eval/mean_accuracy_all_tasks", float(np.mean(row)))
        for j, accuracy in enumerate(row):
            tf.summary.scalar(f"eval/task_{j:02d}", accuracy)
    progress.wall_seconds = current.clock()
    current.state.save()


def _measure_drift(current: _Seed, task: int) -> None:
    """Appends the drift row after `task` and task's at-write distortion; logs the row."""
    if current.probe is None:
        return
    progress = current.state.progress
    row = current.probe.measure(current.code_store(), after_task=task)
    progress.drift_matrix.append(row)
    progress.drift_at_write.append(current.probe.at_write_distortion(task))
    with current.writer.as_default(step=task):
        for write_task, distortion in enumerate(row):
            if distortion is not None:
                tf.summary.scalar(f"drift/write_task_{write_task:02d}", distortion)


def _train_batch(
    run: ContinualExperiment, current: _Seed, task: int, index: int, x: np.ndarray, y: np.ndarray
) -> None:
    progress = current.state.progress
    started = time.perf_counter()
    loss = current.learner.train_step(x, y, task)
    progress.train_seconds += time.perf_counter() - started
    if not math.isfinite(loss):
        raise FloatingPointError(
            f"Training diverged (loss {loss}) at seed {current.seed}, task {task}, batch "
            f"{index}. Lower --learning_rate (or --ewc_lambda)."
        )
    if current.probe is not None:  # before the next step changes the codec
        first_item = index * run.config.batch_size
        current.probe.record(current.code_store(), x, task=task, first_item=first_item)
    progress.steps += 1
    progress.batch = index + 1
    run.steps_this_call += 1
    current.bar.update(1)
    if progress.steps % LOG_EVERY_STEPS == 0:
        with current.writer.as_default(step=progress.steps):
            tf.summary.scalar("train/loss", loss)
        current.bar.set_postfix(task=task, loss=f"{loss:.3f}", refresh=False)
    stop = current.context.stop
    if stop.raised is not None or run.steps_this_call == current.context.stop_after_steps:
        progress.wall_seconds = current.clock()
        current.state.save()
        raise RunInterrupted(
            f"Stopped at seed {current.seed}, task {task}, batch {index + 1}; checkpoint in "
            f"{current.state.directory}. Rerun with --resume to continue.",
            stop.raised or signal.SIGINT,
        )


@contextlib.contextmanager
def _progress_bar(
    context: SeedContext, stream: datasets.TaskStream, batch_size: int, steps_done: int
) -> Iterator[tqdm.tqdm]:
    # Tasks differ in size (Omniglot's alphabets): count each task's own batches.
    total = sum(math.ceil(n / batch_size) for n in stream.metadata["train_sizes"])
    bar = tqdm.tqdm(
        total=total,
        initial=steps_done,
        disable=not context.show_progress,
        desc=f"seed {context.seed}",
        unit="step",
        dynamic_ncols=True,
    )
    with contextlib.closing(bar):
        yield bar


def _clock(progress: ContinualProgress) -> Callable[[], float]:
    """Seconds spent in this seed: those of earlier calls plus this one's so far."""
    before, started = progress.wall_seconds, time.perf_counter()
    return lambda: before + time.perf_counter() - started
