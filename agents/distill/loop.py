"""A whole distillation run: run -> per seed -> teacher, memories, a student per method.

Where this sits: `runners/distill.py` parses flags into a `DistillConfig` and calls
`run(config, workdir)`; tests call `run` directly.

```
run(config, workdir) = agents.experiment.run(DistillExperiment(config), workdir)
  prepare: MNIST, a code shape per compression, the teacher file (bad settings fail here)
  for seed in config.seeds: run_seed                     workdir/seed_<s>/
    per student: its state (network, Adam, generator); restore on resume
    teacher: train a LeNet -> teacher.keras (or load --teacher); its test accuracy
    per compression: codec fit, every training image's code -> memories/<r>x
    per method (config.methods(): per student, per source, per sampler): _run_method
      reset the method's student to its initial weights for this seed
      train_step x (max episodes / batch_size)            checkpoint on SIGINT/SIGTERM
      at each test point: test accuracy -> curves[method]; checkpoint
  aggregate -> results.json (kind "distill", mean +- std over seeds per method and point)
```

Every phase draws from its own seed (run seed, phase name) and the student's
weights, optimizer and generator are checkpointed at every test point, so a run
killed at any point continues with `resume=True` and ends with the same results as
an uninterrupted run. Every method of a seed that trains one kind of student starts
from the same weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf
import tqdm

from agents import experiment
from agents.distill import networks, recollections, sources
from agents.distill.config import DistillConfig, Method
from agents.distill.progress import DistillProgress
from agents.distill.results import aggregate, seed_result
from agents.distill.samplers import UniformSampler, build_sampler
from agents.distill.student import Students, StudentState, train_step
from agents.distill.teacher import NUM_CLASSES, accuracy_fn, load_teacher, save_teacher
from agents.distill.teacher import train_teacher as fit_teacher
from agents.experiment import RunInterrupted, SeedContext, SeedState
from recollect import RecollectionMemory, datasets


@dataclasses.dataclass
class _Saver:
    """One seed's context, saved state and clock: how each phase saves and stops."""

    context: SeedContext
    state: SeedState
    clock: Callable[[], float]

    @property
    def progress(self) -> DistillProgress:
        """The seed's progress (saved with its checkpoint)."""
        return self.state.progress

    def save(self) -> None:
        """Writes the checkpoint and the progress file, with the time spent so far."""
        self.progress.wall_seconds = self.clock()
        self.state.save()

    def stop_if_asked(self, where: str) -> None:
        """Saves and raises RunInterrupted if SIGINT or SIGTERM arrived."""
        raised = self.context.stop.raised
        if raised is not None:
            self.save()
            raise RunInterrupted(self.stopped(where), raised)

    def stopped(self, where: str) -> str:
        """The message of a stop at where."""
        return (
            f"Stopped at seed {self.context.seed}, {where}; checkpoint in "
            f"{self.state.directory}. Rerun with --resume to continue."
        )


@dataclasses.dataclass
class _Seed:
    """One seed's saver, students with their initial weights and accuracy, teacher, sources."""

    saver: _Saver
    students: Students
    initial_weights: dict[str, list[np.ndarray]]
    accuracy: dict[str, Callable[[], float]]
    teacher: keras.Model
    parts: sources.SourceParts
    bar: tqdm.tqdm


class DistillExperiment:
    """A distillation run as an `agents.experiment.Experiment`: teacher, memories, students.

    Args:
        config: the run's `DistillConfig`.
        cache_dir: where decoded data sets are cached (None: $RECOLLECT_CACHE_DIR,
            else ~/.cache/recollect); where it is does not change the results.
    """

    kind: ClassVar[str] = "distill"

    def __init__(self, config: DistillConfig, cache_dir: str | None = None) -> None:
        self.config = config
        self.cache_dir = cache_dir
        self.methods: tuple[Method, ...] = config.methods()
        self.samplers = {
            name: build_sampler(name, k=config.sampler_k, n=config.sampler_n)
            for name in config.samplers
        }
        self.data: datasets.DataArrays | None = None
        self.shapes: dict = {}
        self.images: sources.TrainingImages | None = None
        self.steps_this_call = 0  # over every seed of this call (the test hook counts them)

    def prepare(self) -> None:
        """Loads MNIST, fits a code shape to each compression, checks the teacher file."""
        data = datasets.load_arrays(
            "mnist", data_dir=self.config.data_dir, cache_dir=self.cache_dir
        )
        x_train = data.arrays["x_train"]
        self.shapes = recollections.code_shapes(
            self.config, items=len(x_train), input_shape=x_train.shape[1:]
        )
        if self.config.teacher is not None:
            load_teacher(self.config.teacher, x_train.shape[1:])
        self.data = data
        tf.config.experimental.enable_op_determinism()

    def arrays(self) -> dict[str, np.ndarray]:
        """The MNIST arrays `prepare` loaded (uint8 images, int labels)."""
        if self.data is None:
            raise RuntimeError("Expected prepare() before the run. Received: no data")
        return dict(self.data.arrays)

    def run_seed(self, context: SeedContext) -> dict:
        """Trains (or resumes) one seed: teacher, memories, a student per method."""
        config, arrays = self.config, self.arrays()
        x_test, y_test = arrays["x_test"], arrays["y_test"]
        states, initial_weights, accuracy = {}, {}, {}
        for name in config.students:
            keras.utils.set_random_seed(phase_seed(context.seed, f"student {name}"))
            model = networks.get(name)(x_test.shape[1:], NUM_CLASSES)
            initial_weights[name] = [np.array(w) for w in model.get_weights()]  # methods' start
            states[name] = StudentState(
                model, learning_rate=config.learning_rate, seed=context.seed
            )
            accuracy[name] = accuracy_fn(model, x_test, y_test, batch_size=config.eval_batch_size)
        students = Students(states)
        state = SeedState(context.directory, students, DistillProgress)
        if context.resume:
            state.restore()
        saver = _Saver(context, state, _clock(state.progress))
        teacher = self._teacher(saver)
        if self.images is None:
            self.images = sources.TrainingImages(arrays["x_train"], arrays["y_train"])
        parts = sources.SourceParts(self.images, self._memories(saver), context.seed)
        with self._progress_bar(saver) as bar:
            current = _Seed(saver, students, initial_weights, accuracy, teacher, parts, bar)
            for index in range(saver.progress.method, len(self.methods)):
                _run_method(self, current, index)
        return seed_result(context.seed, saver.progress)

    def finish_seed(self, context: SeedContext) -> None:
        """Drops the finished seed's student checkpoints (teacher and memories stay)."""
        shutil.rmtree(os.path.join(context.directory, "checkpoints"), ignore_errors=True)

    def aggregate(self, per_seed: list[dict]) -> dict:
        """Mean +- std over seeds per method and test point (`results.aggregate`)."""
        metadata = self.data.metadata if self.data is not None else {}
        data = {k: metadata.get(k) for k in ("source", "format", "files", "note")}
        return aggregate(self.config, per_seed, data)

    def _teacher(self, saver: _Saver) -> keras.Model:
        """The seed's teacher: trained and saved once (or --teacher), then read from its file."""
        config, arrays, progress = self.config, self.arrays(), saver.progress
        path = config.teacher or os.path.join(saver.context.directory, "teacher.keras")
        if config.teacher is None and progress.teacher_accuracy is None:
            started = time.perf_counter()
            trained = fit_teacher(
                arrays["x_train"],
                arrays["y_train"],
                epochs=config.teacher_epochs,
                batch_size=config.fit_batch_size,
                seed=phase_seed(saver.context.seed, "teacher"),
            )
            save_teacher(trained, path)
            progress.teacher_seconds = time.perf_counter() - started
        teacher = load_teacher(path, arrays["x_test"].shape[1:])
        if progress.teacher_accuracy is None:
            progress.teacher_accuracy = accuracy_fn(
                teacher, arrays["x_test"], arrays["y_test"], batch_size=config.eval_batch_size
            )()
            saver.save()
            saver.stop_if_asked("after the teacher")
        return teacher

    def _memories(self, saver: _Saver) -> dict[str, RecollectionMemory]:
        """The seed's filled memory per compression: filled and saved once, else restored."""
        config, arrays, progress = self.config, self.arrays(), saver.progress
        x_train = arrays["x_train"]
        memories = {}
        for ratio in config.compressions:
            name = recollections.key(ratio)
            seed = phase_seed(saver.context.seed, f"codec {name}")
            keras.utils.set_random_seed(seed)
            shape = self.shapes[name]
            memory = recollections.build_memory(
                config, shape, input_shape=x_train.shape[1:], seed=seed
            )
            path = recollections.checkpoint_path(saver.context.directory, ratio)
            if name in progress.memories:
                memory.restore_checkpoint(path)
            else:
                report = recollections.fill_memory(
                    memory, config, x_train, arrays["y_train"], seed=seed
                )
                memory.save_checkpoint(path)
                progress.memories[name] = {**recollections.describe(shape, memory), **report}
                saver.save()
                saver.stop_if_asked(f"after the {name} memory")
            memories[name] = memory
        return memories

    @contextlib.contextmanager
    def _progress_bar(self, saver: _Saver) -> Iterator[tqdm.tqdm]:
        steps = self.config.episodes[-1] // self.config.batch_size
        bar = tqdm.tqdm(
            total=steps * len(self.methods),
            initial=saver.progress.steps,
            disable=not saver.context.show_progress,
            desc=f"seed {saver.context.seed}",
            unit="step",
            dynamic_ncols=True,
        )
        with contextlib.closing(bar):
            yield bar


def run(
    config: DistillConfig,
    workdir: str,
    *,
    resume: bool = False,
    progress: bool = True,
    stop_after_steps: int | None = None,
    cache_dir: str | None = None,
    files: dict[str, str] | None = None,
) -> dict:
    """Distils a teacher into a new student per method, for every seed; writes results.

    Args:
        config: the run's `DistillConfig`.
        workdir: output directory (created). Holds results.json, config.json and
            per seed its teacher, memories and checkpoints.
        resume: continue from the checkpoints in workdir; without it a workdir
            that already holds a run is refused, and with it an empty one is.
        progress: show a progress bar.
        stop_after_steps: stop (as on SIGTERM, after checkpointing) once this many
            student steps have run in this call; for tests of resumption.
        cache_dir: where decoded data sets are cached.
        files: more text files to write into workdir once the settings are known
            to work (the runner's flags.txt), name -> content.

    Returns:
        The results dict also written to workdir/results.json.

    Raises:
        ValueError: bad config, data or workdir, before any training.
        RunInterrupted: on SIGINT/SIGTERM or stop_after_steps, after checkpointing.
    """
    return experiment.run(
        DistillExperiment(config, cache_dir),
        workdir,
        resume=resume,
        progress=progress,
        stop_after_steps=stop_after_steps,
        files=files,
    )


def _run_method(run: DistillExperiment, current: _Seed, index: int) -> None:
    config, saver, method = run.config, current.saver, run.methods[index]
    progress, student = saver.progress, current.students.states[method.student]
    if progress.step == 0:
        student.reset(
            current.initial_weights[method.student],
            seed=phase_seed(saver.context.seed, method.name),
        )
        progress.curves[method.name] = []
    draw = sources.make_draw(method, current.parts)
    sampler = run.samplers[method.sampler] if method.sampled else UniformSampler()
    step = train_step(student, current.teacher, method, draw, sampler, batch_size=config.batch_size)
    test_points = {episodes // config.batch_size for episodes in config.episodes}
    for _ in range(progress.step, config.episodes[-1] // config.batch_size):
        started = time.perf_counter()
        loss = float(step())
        progress.train_seconds += time.perf_counter() - started
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"Training diverged (loss {loss}) at seed {saver.context.seed}, method "
                f"{method.name}, step {progress.step}. Lower --learning_rate."
            )
        progress.step += 1
        progress.steps += 1
        run.steps_this_call += 1
        current.bar.update(1)
        if progress.step in test_points:
            progress.curves[method.name].append(current.accuracy[method.student]())
            saver.save()
        if run.steps_this_call == saver.context.stop_after_steps:
            saver.save()
            raise RunInterrupted(saver.stopped(f"{method.name} step {progress.step}"))
        saver.stop_if_asked(f"{method.name} step {progress.step}")
    progress.method, progress.step = index + 1, 0
    saver.save()


def phase_seed(seed: int, phase: str) -> int:
    """A seed in [0, 2**31) for one phase of a run seed (teacher, a codec, a method)."""
    digest = hashlib.sha256(f"{seed}/{phase}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _clock(progress: DistillProgress) -> Callable[[], float]:
    """Seconds spent in this seed: those of earlier calls plus this one's so far."""
    before, started = progress.wall_seconds, time.perf_counter()
    return lambda: before + time.perf_counter() - started
