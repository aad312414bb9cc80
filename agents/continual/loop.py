"""A whole continual-learning run: run -> per seed -> per task -> learner.train_step.

Where this sits: `runners/continual.py` parses flags into a `ContinualConfig` and
calls `run(config, workdir)`; tests call `run` directly.

```
run(config, workdir)                                  workdir/config.json, results.json
  stream, storage plan (bad settings fail here, before any training)
  for seed in config.seeds: _run_seed                 workdir/seed_<s>/
    learner = build_learner(...); restore on resume
    initial accuracy on every task (for FWT)
    for task in stream: _run_task
      for batch: learner.train_step(x, y, task)       checkpoint on SIGINT/SIGTERM
                 probe.record (drift probe on)        the codes that step wrote
      learner.end_task; accuracy on every task -> accuracy-matrix row
      probe.measure -> drift-matrix row (drift probe on); checkpoint
    seed_result -> seed_<s>/result.json, accuracy_matrix_seed<s>.csv
  aggregate -> results.json (mean +- std over seeds, footprint, data checksums)
```

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
from typing import cast

import keras
import numpy as np
import tensorflow as tf
import tqdm

from agents.continual import build
from agents.continual.checkpoint import Progress, SeedState, StopSignal, read_json, write_json
from agents.continual.config import ContinualConfig
from agents.continual.drift import DriftProbe
from agents.continual.results import aggregate, seed_result, write_matrix_csv
from agents.learners import Learner
from agents.stores import CodeStore, StoragePlan
from recollect import datasets
from recollect.datasets.stream import scale_pixels

LOG_EVERY_STEPS = 50


class RunInterrupted(KeyboardInterrupt):
    """Raised after a checkpoint is written because the run was asked to stop.

    Attributes:
        signal_number: the signal that stopped it (SIGINT for the test hook), so a
            program can exit with 128 + it, as the shell expects.
    """

    def __init__(self, message: str, signal_number: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signal_number = int(signal_number)


@dataclasses.dataclass
class _Run:
    """What every seed of one run shares."""

    config: ContinualConfig
    stream: datasets.TaskStream
    plan: StoragePlan | None
    workdir: str
    resume: bool
    show_progress: bool
    stop: StopSignal
    stop_after_steps: int | None
    steps_this_call: int = 0

    def should_stop(self) -> bool:
        """A signal arrived, or the test hook's step count is reached."""
        return self.stop.raised is not None or self.steps_this_call == self.stop_after_steps

    def evaluate(self, learner: Learner) -> list[float]:
        """Test accuracy on every task.

        Each task's test set is read when it is scored, as the stream's uint8 rows
        (views, mapped from the cache), and scaled inside the learner's compiled
        count: float32 copies of MNIST-Rotations' 20 test sets would hold 627 MB.
        """
        accuracies = []
        for task in range(len(self.stream)):
            arrays = self.stream.task_arrays(task, dtype=np.uint8)
            accuracies.append(
                learner.accuracy(
                    arrays.x_test, arrays.y_test, task, batch_size=self.config.eval_batch_size
                )
            )
        return accuracies


@dataclasses.dataclass
class _Seed:
    """One seed's learner, saved state, logs, clock and drift probe (None: off)."""

    seed: int
    learner: Learner
    state: SeedState
    writer: tf.summary.SummaryWriter
    bar: tqdm.tqdm
    clock: Callable[[], float]
    probe: DriftProbe | None = None

    def code_store(self) -> CodeStore:
        """The learner's store, which keeps codes when the probe is on (the config checks)."""
        return cast(CodeStore, self.learner.store)


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
            that already holds a run is refused.
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
        ValueError: bad config or data, before any training.
        RunInterrupted: on SIGINT/SIGTERM or stop_after_steps, after checkpointing.
    """
    _check_workdir(config, workdir, resume)
    stream = build.load_stream(config, cache_dir=cache_dir)
    plan = build.plan_storage(config, stream)
    os.makedirs(workdir, exist_ok=True)
    write_json(os.path.join(workdir, "config.json"), config.to_dict())
    for name, text in (files or {}).items():
        with open(os.path.join(workdir, name), "w", encoding="utf-8") as f:
            f.write(text)
    tf.config.experimental.enable_op_determinism()
    with StopSignal() as stop:
        context = _Run(config, stream, plan, workdir, resume, progress, stop, stop_after_steps)
        per_seed = [_run_seed(context, seed) for seed in config.seeds]
    results = aggregate(config, stream, per_seed)
    write_json(os.path.join(workdir, "results.json"), results)
    return results


def _check_workdir(config: ContinualConfig, workdir: str, resume: bool) -> None:
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        if resume:
            raise ValueError(
                f"Expected a --workdir holding a run to --resume. Received: {workdir} has no "
                "config.json; drop --resume to start a new run there."
            )
        return
    if not resume:
        raise ValueError(
            f"Expected an empty --workdir or --resume. Received: {workdir} already holds a "
            "run; pass --resume to continue it or choose another --workdir."
        )
    difference = config.first_difference(read_json(path))
    if difference is not None:
        raise ValueError(
            f"Expected the same settings to resume {workdir}. Received: settings that differ "
            f"from its config.json ({difference}); rerun with the original flags."
        )


def _run_seed(context: _Run, seed: int) -> dict:
    directory = os.path.join(context.workdir, f"seed_{seed}")
    result_path = os.path.join(directory, "result.json")
    if os.path.exists(result_path):
        return read_json(result_path)
    os.makedirs(directory, exist_ok=True)
    keras.utils.set_random_seed(seed)
    learner = build.build_learner(context.config, context.stream, context.plan, seed)
    probe = build.build_drift_probe(context.config, context.stream, context.plan)
    state = SeedState(directory, learner, beside=None if probe is None else {"drift_probe": probe})
    if context.resume:
        state.restore()
    progress = state.progress
    if progress.initial_accuracy is None:
        progress.initial_accuracy = context.evaluate(learner)
    tensorboard = os.path.join(context.workdir, "tensorboard", f"seed_{seed}")
    with _progress_bar(context, seed, progress.steps) as bar:
        writer = tf.summary.create_file_writer(tensorboard)
        current = _Seed(seed, learner, state, writer, bar, _clock(progress), probe)
        for task in range(progress.task, len(context.stream)):
            _run_task(context, current, task)
    result = seed_result(seed, progress, learner)
    write_json(result_path, result)
    write_matrix_csv(
        os.path.join(context.workdir, f"accuracy_matrix_seed{seed}.csv"), progress.accuracy_matrix
    )
    shutil.rmtree(os.path.join(directory, "checkpoints"), ignore_errors=True)
    return result


def _run_task(context: _Run, current: _Seed, task: int) -> None:
    progress = current.state.progress
    stored = context.stream.task_arrays(task, dtype=np.uint8)
    x_train, y_train = scale_pixels(stored.x_train), stored.y_train
    num_batches = math.ceil(len(y_train) / context.config.batch_size)
    for index in range(progress.batch, num_batches):
        rows = slice(index * context.config.batch_size, (index + 1) * context.config.batch_size)
        _train_batch(context, current, task, index, x_train[rows], y_train[rows])
    current.learner.end_task(task, x_train, y_train)
    row = context.evaluate(current.learner)
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
    context: _Run, current: _Seed, task: int, index: int, x: np.ndarray, y: np.ndarray
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
        first_item = index * context.config.batch_size
        current.probe.record(current.code_store(), x, task=task, first_item=first_item)
    progress.steps += 1
    progress.batch = index + 1
    context.steps_this_call += 1
    current.bar.update(1)
    if progress.steps % LOG_EVERY_STEPS == 0:
        with current.writer.as_default(step=progress.steps):
            tf.summary.scalar("train/loss", loss)
        current.bar.set_postfix(task=task, loss=f"{loss:.3f}", refresh=False)
    if context.should_stop():
        progress.wall_seconds = current.clock()
        current.state.save()
        raise RunInterrupted(
            f"Stopped at seed {current.seed}, task {task}, batch {index + 1}; checkpoint in "
            f"{current.state.directory}. Rerun with --resume to continue.",
            context.stop.raised or signal.SIGINT,
        )


@contextlib.contextmanager
def _progress_bar(context: _Run, seed: int, steps_done: int) -> Iterator[tqdm.tqdm]:
    # Tasks differ in size (Omniglot's alphabets): count each task's own batches.
    batch_size = context.config.batch_size
    total = sum(math.ceil(n / batch_size) for n in context.stream.metadata["train_sizes"])
    bar = tqdm.tqdm(
        total=total,
        initial=steps_done,
        disable=not context.show_progress,
        desc=f"seed {seed}",
        unit="step",
        dynamic_ncols=True,
    )
    with contextlib.closing(bar):
        yield bar


def _clock(progress: Progress) -> Callable[[], float]:
    """Seconds spent in this seed: those of earlier calls plus this one's so far."""
    before, started = progress.wall_seconds, time.perf_counter()
    return lambda: before + time.perf_counter() - started
