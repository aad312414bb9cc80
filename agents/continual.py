"""A whole continual-learning run: stream -> learner -> accuracy matrix -> results.

Where this sits: `runners/continual.py` parses flags into a `ContinualConfig` and
calls `run(config, workdir)`; tests call `run` directly.

```
for seed in config.seeds:                       workdir/seed_<s>/
    b = accuracy of the untrained model on every task        (for FWT)
    for task t in stream (one pass, protocol order):
        for batch in task t: learner.train_step(x, y, t)    checkpoint on SIGINT/SIGTERM
        learner.end_task(t); R[t, :] = test accuracy on every task; checkpoint
    retention = mean(R[T-1, :]), BWT, FWT (GEM's definitions)
workdir/results.json      mean +- std over seeds, per-seed matrices, storage accounting
workdir/accuracy_matrix_seed<s>.csv, workdir/tensorboard/seed_<s>/
```

A run killed at any point continues with `resume=True` from its last checkpoint
(models, optimisers, store, RNG state, data position) and ends with the same
results as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import shutil
import signal
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import tqdm

from agents import models
from agents.learners import LEARNERS, OPTIMIZERS, LearnerConfig
from agents.stores import RealStore, RecollectionStore
from recollect import DiscreteAutoencoder, RecollectionMemory, budget, datasets, metrics
from recollect.write_policies import ReservoirPolicy, TaskRingPolicy

STORAGES = ("real", "recollections")
CODECS = ("mlp", "conv")
LEARNERS_WITH_STORE = ("replay", "gem")


class RunInterrupted(KeyboardInterrupt):
    """Raised after a checkpoint is written because the run was asked to stop."""


@dataclasses.dataclass(frozen=True)
class ContinualConfig:
    """Everything a continual run depends on.

    Attributes:
        stream: a `recollect.datasets.STREAM_NAMES` entry.
        data_dir: data root (None: $RECOLLECT_DATA_DIR, else tensorflow_datasets).
        data_seed: seeds the stream's construction (angles, samples); the same for
            every run seed, so seeds differ only in the learner.
        stream_options: options of the stream, e.g. {"examples_per_task": 1000}.
        batch_size: incoming examples per step.
        learner: a key of `agents.learners.LEARNERS`.
        storage: "real" or "recollections" (replay and GEM only).
        incremental_storage: the storage budget in raw examples.
        items: codes the recollection buffer holds; None: as many as fit.
        num_latents: c; None with num_categories None: chosen by `recollect.budget`.
        num_categories: l; fixes l for the budget search when num_latents is None.
        codec: "mlp" or "conv" autoencoder.
        codec_units: hidden units (mlp) or filters (conv); None for the paper's c*l
            (mlp) or c*l/4 (conv).
        codec_learning_rate: Adam step size of the autoencoder.
        codec_noise: scale of the Gumbel noise in autoencoder training (1.0: the
            Gumbel-softmax estimator; 0.0: straight-through on the mode).
        model: a key of `agents.models.MODELS`.
        model_options: keyword arguments of the model builder.
        multi_head: restrict each task's outputs to its own classes.
        learner_config: `LearnerConfig`.
        seeds: run seeds.
        eval_batch_size: batch size of evaluation.
    """

    stream: str = "mnist_rotations"
    data_dir: str | None = None
    data_seed: int = 0
    stream_options: dict = dataclasses.field(default_factory=dict)
    batch_size: int = 10
    learner: str = "replay"
    storage: str = "recollections"
    incremental_storage: float = 100.0
    items: int | None = None
    num_latents: int | None = None
    num_categories: int | None = None
    codec: str = "mlp"
    codec_units: int | None = None
    codec_learning_rate: float = 1e-3
    codec_noise: float = 1.0
    model: str = "mlp"
    model_options: dict = dataclasses.field(default_factory=dict)
    multi_head: bool = False
    learner_config: LearnerConfig = dataclasses.field(default_factory=LearnerConfig)
    seeds: tuple[int, ...] = (0,)
    eval_batch_size: int = 1000

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ContinualConfig:
        values = dict(values)
        values["learner_config"] = LearnerConfig(**values.get("learner_config", {}))
        values["seeds"] = tuple(values.get("seeds", (0,)))
        return cls(**values)

    def check(self) -> None:
        """Raises ValueError naming the setting to change, before any work."""
        if self.learner not in LEARNERS:
            raise ValueError(
                f"Expected --learner among {sorted(LEARNERS)}. Received: learner={self.learner!r}"
            )
        if self.storage not in STORAGES:
            raise ValueError(
                f"Expected --storage among {STORAGES}. Received: storage={self.storage!r}"
            )
        if self.codec not in CODECS:
            raise ValueError(f"Expected --codec among {CODECS}. Received: codec={self.codec!r}")
        if self.model not in models.MODELS:
            raise ValueError(
                f"Expected --model among {sorted(models.MODELS)}. Received: model={self.model!r}"
            )
        if self.stream not in datasets.STREAM_NAMES:
            raise ValueError(
                f"Expected --stream among {datasets.STREAM_NAMES}. Received: {self.stream!r}"
            )
        if not self.seeds or any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ValueError(f"Expected --seeds non-negative ints. Received: {self.seeds!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"Expected distinct --seeds. Received: {self.seeds!r}")
        if self.batch_size < 1:
            raise ValueError(f"Expected --batch_size >= 1. Received: {self.batch_size}")
        if self.learner in LEARNERS_WITH_STORE and not self.incremental_storage > 0:
            raise ValueError(
                f"Expected --incremental_storage > 0 for {self.learner}. Received: "
                f"{self.incremental_storage}"
            )
        if (self.num_latents is None) != (self.num_categories is None) and self.num_latents:
            raise ValueError(
                "Expected --num_categories with --num_latents. Received: "
                f"num_latents={self.num_latents}, num_categories={self.num_categories}"
            )
        lc = self.learner_config
        if lc.gem_memories_per_task is not None and lc.gem_memories_per_task < 1:
            raise ValueError(
                f"Expected --gem_memories_per_task >= 1. Received: {lc.gem_memories_per_task}"
            )
        if lc.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"Expected --optimizer among {sorted(OPTIMIZERS)}. Received: {lc.optimizer!r}"
            )
        if lc.learning_rate <= 0 or lc.replay_batch_size < 1 or lc.stabilize_steps < 1:
            raise ValueError(
                "Expected --learning_rate > 0, --replay_batch_size >= 1, --stabilize_steps >= 1."
                f" Received: {lc.learning_rate}, {lc.replay_batch_size}, {lc.stabilize_steps}"
            )


@dataclasses.dataclass(frozen=True)
class StoragePlan:
    """How the budget is spent: buffer capacity and (for recollections) code shape."""

    storage: str
    capacity: int
    num_latents: int | None = None
    num_categories: int | None = None
    bits_per_item: int | None = None


def plan_storage(config: ContinualConfig, input_shape, num_tasks: int) -> StoragePlan | None:
    """Sizes the store for the budget, or raises ValueError saying what to change."""
    if config.learner not in LEARNERS_WITH_STORE:
        return None
    raw_bits = budget.raw_example_bits(input_shape)
    if config.storage == "real":
        capacity = int(config.incremental_storage)
        if capacity < 1:
            raise ValueError(
                f"Expected --incremental_storage >= 1 to hold one real example. Received: "
                f"{config.incremental_storage}"
            )
        plan = StoragePlan("real", capacity, bits_per_item=raw_bits)
    elif config.num_latents is not None:
        c, l = config.num_latents, config.num_categories
        fit = budget.max_items(
            incremental_storage=config.incremental_storage,
            num_latents=c,
            num_categories=l,
            input_shape=input_shape,
        )
        items = config.items or fit
        if items < 1 or items > fit:
            need = budget.describe(
                num_latents=c, num_categories=l, items=max(items, 1), input_shape=input_shape
            )
            raise ValueError(
                f"Expected a code shape that fits the budget. Received: {c}x{l} codes "
                f"({need.code_bytes} bytes each) for {max(items, 1)} items need "
                f"{need.incremental_storage:.1f} raw examples, more than "
                f"--incremental_storage={config.incremental_storage} (at most {fit} items fit). "
                "Lower --items or --num_latents, or raise --incremental_storage."
            )
        plan = StoragePlan("recollections", items, c, l, c * math.ceil(math.log2(l)))
    else:
        if config.items is None:
            raise ValueError(
                "Expected --items (the number of codes to store) or an explicit "
                "--num_latents/--num_categories for recollections. Received: neither"
            )
        shape = budget.best_code_shape(
            incremental_storage=config.incremental_storage,
            input_shape=input_shape,
            items=config.items,
            num_categories=config.num_categories,
        )
        plan = StoragePlan(
            "recollections",
            config.items,
            shape.num_latents,
            shape.num_categories,
            shape.bits_per_item,
        )
    if config.learner == "gem" and plan.capacity < num_tasks:
        raise ValueError(
            f"Expected room for one item per task for GEM ({num_tasks} tasks). Received: "
            f"capacity {plan.capacity}; raise --incremental_storage or --items."
        )
    return plan


def _build_learner(config: ContinualConfig, stream, plan: StoragePlan | None, seed: int):
    input_shape = tuple(stream.input_shape)
    num_tasks, num_classes = len(stream), stream.num_classes
    model = models.build_model(config.model, input_shape, num_classes, **config.model_options)
    store = None
    if plan is not None:
        policy = (
            TaskRingPolicy(num_tasks=num_tasks) if config.learner == "gem" else ReservoirPolicy()
        )
        if plan.storage == "real":
            store = RealStore(
                capacity=plan.capacity,
                input_shape=input_shape,
                num_classes=num_classes,
                num_tasks=num_tasks,
                policy=policy,
                seed=seed,
            )
        else:
            units = config.codec_units
            codec = DiscreteAutoencoder(
                input_shape=input_shape if config.codec == "conv" else (math.prod(input_shape),),
                num_latents=plan.num_latents,
                num_categories=plan.num_categories,
                filters=units if config.codec == "conv" else None,
                hidden_units=units if config.codec == "mlp" else None,
                noise_scale=config.codec_noise,
                seed=seed,
            )
            memory = RecollectionMemory(
                codec,
                capacity=plan.capacity,
                num_classes=num_classes,
                num_tasks=num_tasks,
                policy=policy,
                learning_rate=config.codec_learning_rate,
                seed=seed,
            )
            store = RecollectionStore(memory, stabilize_steps=config.learner_config.stabilize_steps)
            if config.codec == "mlp":
                store = _FlatStore(store, input_shape)
    masks = None
    if config.multi_head:
        masks = np.zeros((num_tasks, num_classes), np.float32)
        for task, classes in enumerate(stream.metadata["task_classes"]):
            masks[task, list(classes)] = 1.0
    learner_cls = LEARNERS[config.learner]
    return learner_cls(model, config=config.learner_config, store=store, task_masks=masks)


class _FlatStore:
    """Presents an MLP codec's flat recollections in the stream's image shape."""

    def __init__(self, inner: RecollectionStore, input_shape):
        self.inner = inner
        self.input_shape = tuple(input_shape)
        self.kind = inner.kind

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _flat(self, x):
        return np.reshape(x, (len(x), -1))

    def _image(self, x):
        return tf.reshape(x, [-1, *self.input_shape])

    def observe(self, x, y, task):
        self.inner.observe(self._flat(x), y, task)

    def recall(self, n, task=None):
        x, y, t = self.inner.recall(n, task)
        return self._image(x), y, t

    def read_rows(self, rows):
        x, y, t = self.inner.read_rows(rows)
        return self._image(x), y, t

    def stabilize(self, x, recollections):
        flat = [tf.reshape(r, [len(r), -1]) for r in recollections or []]
        self.inner.stabilize(self._flat(x), flat)


def _write_json(path: str, value: Any) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, default=_json_default)
    os.replace(tmp, path)


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class _StopFlag:
    """Turns SIGINT / SIGTERM into a flag the training loop checks after each step."""

    def __init__(self):
        self.raised: int | None = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handlers
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        del frame
        self.raised = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


class _SeedRun:
    """One seed's run with its checkpoint and progress files."""

    def __init__(self, config, stream, plan, seed, directory, tensorboard_dir):
        self.config, self.stream, self.plan, self.seed = config, stream, plan, seed
        self.directory = directory
        self.progress_path = os.path.join(directory, "progress.json")
        self.result_path = os.path.join(directory, "result.json")
        keras.utils.set_random_seed(seed)
        self.learner = _build_learner(config, stream, plan, seed)
        self.checkpoint = tf.train.Checkpoint(**self.learner.trackables())
        self.writer = tf.summary.create_file_writer(os.path.join(tensorboard_dir, f"seed_{seed}"))
        self.state = {
            "task": 0,
            "batch": 0,
            "steps": 0,
            "accuracy_matrix": [],
            "initial_accuracy": None,
            "wall_seconds": 0.0,
            "train_seconds": 0.0,
            "checkpoint": None,
            "checkpoint_number": 0,
        }
        self._tests: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def restore(self) -> bool:
        if not os.path.exists(self.progress_path):
            return False
        with open(self.progress_path, encoding="utf-8") as f:
            state = json.load(f)
        if state.get("checkpoint"):
            self.checkpoint.read(
                os.path.join(self.directory, state["checkpoint"])
            ).assert_consumed()
        self.state = state
        return True

    def save(self) -> None:
        """Writes a new checkpoint, then the progress file that points at it."""
        self.state["checkpoint_number"] += 1
        name = f"ckpt-{self.state['checkpoint_number']}"
        self.checkpoint.write(os.path.join(self.directory, "checkpoints", name))
        previous = self.state.get("checkpoint")
        self.state["checkpoint"] = os.path.join("checkpoints", name)
        _write_json(self.progress_path, self.state)
        if previous:
            for path in tf.io.gfile.glob(os.path.join(self.directory, previous) + ".*"):
                os.remove(path)

    def test_set(self, task: int):
        if task not in self._tests:
            arrays = self.stream.task_arrays(task)
            self._tests[task] = (arrays.x_test, arrays.y_test)
        return self._tests[task]

    def evaluate(self) -> list[float]:
        return [
            self.learner.accuracy(*self.test_set(t), t, batch_size=self.config.eval_batch_size)
            for t in range(len(self.stream))
        ]


def run(
    config: ContinualConfig,
    workdir: str,
    *,
    resume: bool = False,
    progress: bool = True,
    stop_after_steps: int | None = None,
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

    Returns:
        The results dict also written to workdir/results.json.

    Raises:
        ValueError: bad config or data, before any training.
        RunInterrupted: on SIGINT/SIGTERM or stop_after_steps, after checkpointing.
    """
    config.check()
    os.makedirs(workdir, exist_ok=True)
    config_path = os.path.join(workdir, "config.json")
    if os.path.exists(config_path):
        with open(config_path, encoding="utf-8") as f:
            saved = json.load(f)
        if not resume:
            raise ValueError(
                f"Expected an empty --workdir or --resume. Received: {workdir} already holds a "
                "run; pass --resume to continue it or choose another --workdir."
            )
        if saved != json.loads(json.dumps(config.to_dict(), default=_json_default)):
            raise ValueError(
                f"Expected the same settings to resume {workdir}. Received: settings that differ "
                f"from its config.json; rerun with the original flags."
            )
    stream = datasets.load_stream(
        config.stream,
        data_dir=config.data_dir,
        seed=config.data_seed,
        batch_size=config.batch_size,
        **config.stream_options,
    )
    plan = plan_storage(config, stream.input_shape, len(stream))
    _write_json(config_path, config.to_dict())
    tf.config.experimental.enable_op_determinism()

    per_seed = []
    steps_this_call = 0
    num_tasks = len(stream)
    # Tasks differ in size (Omniglot's alphabets): count each task's own batches.
    total_steps = sum(math.ceil(n / config.batch_size) for n in stream.metadata["train_sizes"])
    with _StopFlag() as stop:
        for seed in config.seeds:
            directory = os.path.join(workdir, f"seed_{seed}")
            os.makedirs(directory, exist_ok=True)
            result_path = os.path.join(directory, "result.json")
            if os.path.exists(result_path):
                with open(result_path, encoding="utf-8") as f:
                    per_seed.append(json.load(f))
                continue
            seed_run = _SeedRun(
                config, stream, plan, seed, directory, os.path.join(workdir, "tensorboard")
            )
            if resume:
                seed_run.restore()
            state = seed_run.state
            started = time.perf_counter()
            elapsed_before = state["wall_seconds"]
            if state["initial_accuracy"] is None:
                state["initial_accuracy"] = seed_run.evaluate()
            bar = tqdm.tqdm(
                total=total_steps,
                initial=state["steps"],
                disable=not progress,
                desc=f"seed {seed}",
                unit="step",
                dynamic_ncols=True,
            )
            with contextlib.closing(bar):
                for task in range(state["task"], num_tasks):
                    arrays = stream.task_arrays(task)
                    x_train, y_train = arrays.x_train, arrays.y_train
                    num_batches = math.ceil(len(y_train) / config.batch_size)
                    for index in range(state["batch"], num_batches):
                        rows = slice(index * config.batch_size, (index + 1) * config.batch_size)
                        step_start = time.perf_counter()
                        loss = seed_run.learner.train_step(x_train[rows], y_train[rows], task)
                        state["train_seconds"] += time.perf_counter() - step_start
                        if not math.isfinite(loss):
                            raise FloatingPointError(
                                f"Training diverged (loss {loss}) at seed {seed}, task {task}, "
                                f"batch {index}. Lower --learning_rate (or --ewc_lambda)."
                            )
                        state["steps"] += 1
                        state["batch"] = index + 1
                        steps_this_call += 1
                        bar.update(1)
                        if state["steps"] % 50 == 0:
                            with seed_run.writer.as_default(step=state["steps"]):
                                tf.summary.scalar("train/loss", loss)
                            bar.set_postfix(task=task, loss=f"{loss:.3f}", refresh=False)
                        if stop.raised is not None or steps_this_call == stop_after_steps:
                            state["wall_seconds"] = elapsed_before + time.perf_counter() - started
                            seed_run.save()
                            raise RunInterrupted(
                                f"Stopped at seed {seed}, task {task}, batch {index + 1}; "
                                f"checkpoint in {directory}. Rerun with --resume to continue."
                            )
                    seed_run.learner.end_task(task, x_train, y_train)
                    row = seed_run.evaluate()
                    state["accuracy_matrix"].append(row)
                    state["task"], state["batch"] = task + 1, 0
                    seen = float(np.mean(row[: task + 1]))
                    bar.set_postfix(task=task, seen_acc=f"{seen:.3f}", refresh=True)
                    with seed_run.writer.as_default(step=task):
                        tf.summary.scalar("eval/mean_accuracy_seen_tasks", seen)
                        tf.summary.scalar("eval/mean_accuracy_all_tasks", float(np.mean(row)))
                        for j, accuracy in enumerate(row):
                            tf.summary.scalar(f"eval/task_{j:02d}", accuracy)
                    state["wall_seconds"] = elapsed_before + time.perf_counter() - started
                    seed_run.save()
            seed_result = _seed_result(seed, state, seed_run.learner)
            _write_json(result_path, seed_result)
            _write_matrix_csv(
                os.path.join(workdir, f"accuracy_matrix_seed{seed}.csv"), state["accuracy_matrix"]
            )
            shutil.rmtree(os.path.join(directory, "checkpoints"), ignore_errors=True)
            per_seed.append(seed_result)
    results = _aggregate(config, stream, plan, per_seed)
    _write_json(os.path.join(workdir, "results.json"), results)
    return results


def _seed_result(seed: int, state: dict, learner) -> dict:
    matrix = np.asarray(state["accuracy_matrix"])
    initial = np.asarray(state["initial_accuracy"])
    summary = (
        metrics.summarize(matrix, initial)
        if len(matrix) > 1
        else {"retention": metrics.retention(matrix), "bwt": None, "fwt": None}
    )
    extra = {}
    if hasattr(learner, "num_projections"):
        extra["gem_projections"] = learner.num_projections
    return {
        "seed": seed,
        "retention": summary["retention"],
        "bwt": summary["bwt"],
        "fwt": summary["fwt"],
        "accuracy_matrix": matrix.tolist(),
        "initial_accuracy": initial.tolist(),
        "wall_seconds": state["wall_seconds"],
        "train_seconds": state["train_seconds"],
        "steps": state["steps"],
        "storage": learner.storage(),
        **extra,
    }


def _write_matrix_csv(path: str, matrix) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["after_task", *[f"task_{j}" for j in range(len(matrix[0]))]])
        for i, row in enumerate(matrix):
            writer.writerow([i, *[f"{v:.4f}" for v in row]])


def _stat(values, reducer):
    values = [v for v in values if v is not None]
    return float(reducer(values)) if values else None


def _aggregate(config, stream, plan, per_seed) -> dict:
    storage = per_seed[0]["storage"] if per_seed else {}
    out = {
        "stream": config.stream,
        "learner": config.learner,
        "storage": plan.storage if plan else "none",
        "incremental_storage": config.incremental_storage if plan else 0,
        "items": plan.capacity if plan else 0,
        "bits_per_item": plan.bits_per_item if plan else 0,
        "num_latents": plan.num_latents if plan else None,
        "num_categories": plan.num_categories if plan else None,
        "code_bytes": storage.get("code_bytes", 0),
        "autoencoder_bytes": storage.get("autoencoder_bytes", 0),
        "equivalent_raw_examples": storage.get("incremental_storage", 0.0),
        "seeds": [r["seed"] for r in per_seed],
        "retention_mean": _stat([r["retention"] for r in per_seed], np.mean),
        "retention_std": _stat([r["retention"] for r in per_seed], np.std),
        "bwt_mean": _stat([r["bwt"] for r in per_seed], np.mean),
        "bwt_std": _stat([r["bwt"] for r in per_seed], np.std),
        "fwt_mean": _stat([r["fwt"] for r in per_seed], np.mean),
        "fwt_std": _stat([r["fwt"] for r in per_seed], np.std),
        "wall_seconds": float(sum(r["wall_seconds"] for r in per_seed)),
        "steps_per_seed": per_seed[0]["steps"] if per_seed else 0,
        "per_seed": per_seed,
        "data": {
            k: stream.metadata.get(k)
            for k in ("name", "seed", "options", "sha256", "num_classes", "input_shape")
        },
        "data_note": (stream.metadata.get("source") or {}).get("note"),
        "std_is_population": True,
    }
    if stream.metadata.get("angles") is not None:
        out["data"]["angles"] = stream.metadata["angles"]
    return out
