"""Continual runs end to end on tiny generated data: learners, resume, bad config."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from agents import continual, models
from agents.continual import ContinualConfig
from agents.learners import LEARNERS, MASKED_LOGIT, OnlineConfig, OnlineLearner
from agents.stores import STORES
from recollect import datasets
from recollect.datasets.stream import scale_pixels
from tests.datasets import fakes

JPEG_BUDGET = 8  # raw examples: the JPEG headers alone take about 3 of them
TINY_STREAM = {"num_tasks": 2, "examples_per_task": 12, "test_examples_per_task": 10}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    fakes.write_mnist(root / "mnist", num_train=40, num_test=20, seed=0)
    return str(root)


def tiny_config(data_dir, **overrides):
    learner = overrides.get("learner", "replay")
    known = LEARNERS.get(learner)
    fields = {f.name for f in dataclasses.fields(known.config_class)} if known else set()
    learner_config = {"learning_rate": 0.05, "replay_batch_size": 3}
    store = STORES.get(overrides.get("storage", "recollections"))
    store_fields = {f.name for f in dataclasses.fields(store.config_class)} if store else set()
    store_config = {"items": 40, "num_categories": 4, "stabilize_steps": 2}
    settings = {
        "stream": "mnist_rotations",
        "data_dir": data_dir,
        "stream_options": dict(TINY_STREAM),
        "batch_size": 4,
        "learner": learner,
        "storage": "recollections",
        "incremental_storage": 2,
        "store_config": {k: v for k, v in store_config.items() if k in store_fields},
        "learner_config": {k: v for k, v in learner_config.items() if k in fields},
        "seeds": (0,),
        "eval_batch_size": 7,
    }
    settings.update(overrides)
    return ContinualConfig(**settings)


LEARNER_CASES = [
    ("online", "real"),
    ("replay", "real"),
    ("replay", "recollections"),
    ("gem", "real"),
    ("gem", "recollections"),
    ("ewc", "real"),
    ("lwf", "real"),
    ("icarl", "real"),
    ("icarl", "recollections"),
    ("replay", "jpeg"),
    ("gem", "jpeg"),
]


@pytest.mark.parametrize(("learner", "storage"), LEARNER_CASES)
def test_each_learner_runs_two_tasks_end_to_end(tmp_path, data_dir, learner, storage):
    budget = {"incremental_storage": JPEG_BUDGET} if storage == "jpeg" else {}
    config = tiny_config(data_dir, learner=learner, storage=storage, **budget)
    results = continual.run(config, str(tmp_path), progress=False)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["retention_mean"] == pytest.approx(results["retention_mean"])
    for key in (
        "retention_mean",
        "retention_std",
        "bwt_mean",
        "fwt_mean",
        "seeds",
        "per_seed",
        "footprint",
        "incremental_storage",
        "wall_seconds",
    ):
        assert key in results, key
    seed = results["per_seed"][0]
    matrix = np.asarray(seed["accuracy_matrix"])
    assert matrix.shape == (2, 2) and np.all((matrix >= 0) & (matrix <= 1))
    assert results["retention_mean"] == pytest.approx(matrix[-1].mean())
    assert seed["steps"] == 2 * 3
    assert (tmp_path / "accuracy_matrix_seed0.csv").exists()
    assert (tmp_path / "config.json").exists()
    assert list((tmp_path / "tensorboard" / "seed_0").iterdir())
    footprint = results["footprint"]
    assert footprint == seed["footprint"]
    if learner == "icarl":  # exemplars are written at task ends: a task's share each
        assert results["storage"] == storage
        # a share of capacity // 2 rows per task, or all of a task's 12 examples if fewer
        stored = {"real": 2, "recollections": 2 * 12}[storage]
        assert footprint["items_stored"] == stored
        assert footprint["state_bytes"] > 0  # the distillation teacher and the class means
    elif learner in ("replay", "gem"):
        assert results["storage"] == storage
        if storage == "real":
            assert footprint["capacity"] == 2 and footprint["bits_per_item"] == 28 * 28 * 8
        elif storage == "jpeg":  # more, smaller items than raw examples, within the budget
            assert footprint["capacity"] > JPEG_BUDGET and footprint["items_stored"] == 24
            assert footprint["input_bytes"] <= JPEG_BUDGET * 28 * 28
        else:
            assert footprint["capacity"] == 40 and footprint["items_stored"] == 24
            assert footprint["input_bytes"] <= 2 * 28 * 28  # within the budget
            assert footprint["incremental_storage_raw_examples"] <= 2
    else:
        assert results["storage"] == {"online": "none", "ewc": "ewc", "lwf": "lwf"}[learner]
        assert results["incremental_storage"] == 0
    if learner == "gem":
        assert seed["gem_projections"] >= 0


def test_several_seeds_report_mean_and_std(tmp_path, data_dir):
    config = tiny_config(data_dir, learner="online", seeds=(0, 1))
    results = continual.run(config, str(tmp_path), progress=False)
    retentions = [r["retention"] for r in results["per_seed"]]
    assert results["seeds"] == [0, 1]
    assert results["retention_mean"] == pytest.approx(np.mean(retentions))
    assert results["retention_std"] == pytest.approx(np.std(retentions))


@pytest.mark.parametrize(
    ("overrides", "stop_after"),
    [
        ({"learner": "replay", "storage": "recollections", "seeds": (0, 1)}, 4),
        ({"learner": "gem", "storage": "recollections"}, 3),
        (  # killed before the decoder is fixed (after 3 batches of 2 codec steps)
            {
                "store_config": {
                    "items": 40,
                    "num_categories": 4,
                    "stabilize_steps": 2,
                    "codec_decoder_steps": 6,
                }
            },
            2,
        ),
        ({"learner": "ewc", "storage": "real"}, 5),
        ({"store_config": {"items": 40, "codec": "grid", "codec_units": 8}}, 3),
        ({"learner": "icarl", "storage": "recollections"}, 4),
        ({"learner": "replay", "storage": "jpeg", "incremental_storage": JPEG_BUDGET}, 4),
    ],
)
def test_resume_after_a_kill_gives_identical_results(tmp_path, data_dir, overrides, stop_after):
    config = tiny_config(data_dir, **overrides)
    straight = continual.run(config, str(tmp_path / "straight"), progress=False)
    killed = str(tmp_path / "killed")
    with pytest.raises(continual.RunInterrupted, match="--resume"):
        continual.run(config, killed, progress=False, stop_after_steps=stop_after)
    with pytest.raises(ValueError, match="--resume"):
        continual.run(config, killed, progress=False)  # refuses to overwrite
    resumed = continual.run(config, killed, resume=True, progress=False)
    for a, b in zip(straight["per_seed"], resumed["per_seed"], strict=True):
        np.testing.assert_array_equal(a["accuracy_matrix"], b["accuracy_matrix"])
        np.testing.assert_array_equal(a["initial_accuracy"], b["initial_accuracy"])
        assert a["steps"] == b["steps"]
    assert straight["retention_mean"] == resumed["retention_mean"]


def test_resume_with_other_settings_is_refused(tmp_path, data_dir):
    config = tiny_config(data_dir, learner="online")
    with pytest.raises(continual.RunInterrupted):
        continual.run(config, str(tmp_path), progress=False, stop_after_steps=1)
    other = dataclasses.replace(config, batch_size=3)
    with pytest.raises(ValueError, match=r"same settings.*batch_size: 3 here, 4 there"):
        continual.run(other, str(tmp_path), resume=True, progress=False)
    steps = dataclasses.replace(config, learner_config=OnlineConfig(0.05, steps_per_batch=3))
    with pytest.raises(ValueError, match=r"learner_config.steps_per_batch: 3 here, 1 there"):
        continual.run(steps, str(tmp_path), resume=True, progress=False)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"learner": "icarl2"}, "--learner"),
        ({"storage": "webp"}, "--storage"),
        ({"storage": "jpeg", "store_config": {"jpeg_quality": 0}}, "--jpeg_quality"),
        ({"storage": "jpeg", "incremental_storage": 1}, "hold one JPEG"),
        ({"store_config": {"items": 40, "codec": "rnn"}}, "--codec"),
        ({"learner": "replay", "storage": "real", "incremental_storage": 0.5}, "one real example"),
        ({"store_config": {"items": 10**6, "num_categories": 4}}, "at least one latent"),
        ({"store_config": {"num_latents": 500, "num_categories": 4, "items": 40}}, "fits the"),
        ({"store_config": {}}, "--items"),
        ({"learner": "gem", "storage": "real", "incremental_storage": 1}, "one item per task"),
        ({"seeds": (0, 0)}, "distinct"),
        ({"learner_config": {"optimizer": "rmsprop"}}, "--optimizer"),
        ({"learner_config": {"ewc_lambda": 1.0}}, "unknown"),
        ({"seeds": (True,)}, "--seeds"),
        ({"batch_size": 2.5}, "--batch_size"),
        ({"model_options": {"bogus": 1}}, "model options of mlp"),
        ({"model_options": {"hidden_units": -3}}, "non-negative ints"),
    ],
)
def test_bad_settings_fail_before_training(tmp_path, data_dir, overrides, message):
    with pytest.raises(ValueError, match=message):
        config = tiny_config(data_dir, **overrides)
        continual.run(config, str(tmp_path / "w"), progress=False)
    assert not (tmp_path / "w").exists()  # nothing written


def test_missing_data_names_the_files_to_put_where(tmp_path):
    config = tiny_config(str(tmp_path / "empty"))
    with pytest.raises(datasets.DataNotFoundError, match="train-images-idx3-ubyte"):
        continual.run(config, str(tmp_path / "w"), progress=False)


@pytest.mark.parametrize("steps_per_batch", [1, 3])
def test_compiled_steps_do_not_retrace_per_batch(tmp_path, data_dir, steps_per_batch):
    config = tiny_config(
        data_dir,
        learner="gem",
        storage="recollections",
        learner_config={"replay_batch_size": 3, "steps_per_batch": steps_per_batch},
    )
    stream = datasets.load_stream("mnist_rotations", data_dir=data_dir, batch_size=4, **TINY_STREAM)
    plan = continual.plan_storage(config, stream)
    learner = continual.build_learner(config, stream, plan, seed=0)
    arrays = [stream.task_arrays(t) for t in range(2)]
    for task, batch in [(0, 4), (0, 3), (1, 4), (1, 1), (1, 4)]:
        learner.train_step(arrays[task].x_train[:batch], arrays[task].y_train[:batch], task)
    assert learner._train.experimental_get_tracing_count() == 1  # the whole step
    assert learner._apply.experimental_get_tracing_count() <= 1  # traced once GEM projects
    memory = learner.store.memory
    assert memory._stabilize_step.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("steps_per_batch", [1, 3])
def test_replay_step_does_not_retrace(data_dir, steps_per_batch):
    config = tiny_config(
        data_dir,
        learner="replay",
        storage="real",
        learner_config={"replay_batch_size": 3, "steps_per_batch": steps_per_batch},
    )
    stream = datasets.load_stream("mnist_rotations", data_dir=data_dir, batch_size=4, **TINY_STREAM)
    plan = continual.plan_storage(config, stream)
    learner = continual.build_learner(config, stream, plan, seed=0)
    arrays = stream.task_arrays(0)
    for batch in (4, 2, 4, 3):
        learner.train_step(arrays.x_train[:batch], arrays.y_train[:batch], 0)
    assert learner._train.experimental_get_tracing_count() == 1
    assert learner.optimizer.iterations.numpy() == 4 * steps_per_batch


@pytest.mark.parametrize("learner_name", ["replay", "gem"])
def test_the_codec_stabilises_once_per_batch_whatever_the_model_steps(data_dir, learner_name):
    config = tiny_config(
        data_dir,
        learner=learner_name,
        learner_config={"replay_batch_size": 3, "steps_per_batch": 3},
    )
    stream = datasets.load_stream("mnist_rotations", data_dir=data_dir, batch_size=4, **TINY_STREAM)
    plan = continual.plan_storage(config, stream)
    learner = continual.build_learner(config, stream, plan, seed=0)
    codec_steps = learner.store.memory_optimizer.iterations
    arrays = stream.task_arrays(0)
    for start, codec_steps_so_far in ((0, 2), (4, 4), (8, 6)):  # stabilize_steps=2 each
        learner.train_step(arrays.x_train[start : start + 4], arrays.y_train[start : start + 4], 0)
        assert codec_steps.numpy() == codec_steps_so_far
    assert learner.optimizer.iterations.numpy() == 3 * 3
    assert int(learner.store.memory.buffer.num_seen) == 12  # each example observed once


def test_adam_optimizer_trains_the_model(data_dir):
    config = tiny_config(
        data_dir,
        learner="replay",
        storage="real",
        learner_config={"learning_rate": 1e-3, "optimizer": "adam", "replay_batch_size": 3},
    )
    stream = datasets.load_stream("mnist_rotations", data_dir=data_dir, batch_size=4, **TINY_STREAM)
    plan = continual.plan_storage(config, stream)
    learner = continual.build_learner(config, stream, plan, seed=0)
    assert type(learner.optimizer).__name__ == "Adam"
    before = [v.numpy().copy() for v in learner.model.trainable_variables]
    arrays = stream.task_arrays(0)
    for start in (0, 4):
        loss = learner.train_step(
            arrays.x_train[start : start + 4], arrays.y_train[start : start + 4], 0
        )
        assert np.isfinite(loss)
    after = learner.model.trainable_variables
    assert all(not np.array_equal(b, a.numpy()) for b, a in zip(before, after, strict=True))


def test_resume_of_a_workdir_without_a_run_is_refused(tmp_path, data_dir):
    config = tiny_config(data_dir, learner="online")
    with pytest.raises(ValueError, match="drop --resume"):
        continual.run(config, str(tmp_path / "never_run"), resume=True, progress=False)
    assert not (tmp_path / "never_run" / "config.json").exists()


def test_sigterm_stops_the_run_with_its_signal_number(tmp_path, data_dir, monkeypatch):
    import os
    import signal

    step = OnlineLearner.train_step
    calls = []

    def signalled_step(self, x, y, task):
        calls.append(task)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # as `kill` would, mid-run
        return step(self, x, y, task)

    monkeypatch.setattr(OnlineLearner, "train_step", signalled_step)
    config = tiny_config(data_dir, learner="online")
    with pytest.raises(continual.RunInterrupted) as stopped:
        continual.run(config, str(tmp_path), progress=False)
    assert stopped.value.signal_number == signal.SIGTERM and len(calls) == 2
    monkeypatch.setattr(OnlineLearner, "train_step", step)
    resumed = continual.run(config, str(tmp_path), resume=True, progress=False)
    assert resumed["per_seed"][0]["steps"] == 6


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_resume_from_a_damaged_checkpoint_names_the_file(tmp_path, data_dir, damage):
    config = tiny_config(data_dir, learner="replay", storage="real")
    with pytest.raises(continual.RunInterrupted):
        continual.run(config, str(tmp_path), progress=False, stop_after_steps=2)
    (data_file,) = (tmp_path / "seed_0" / "checkpoints").glob("*.data-*")
    content = bytearray(data_file.read_bytes())
    if damage == "truncate":
        data_file.write_bytes(bytes(content[: len(content) // 2]))
    else:
        content[len(content) // 2] ^= 0xFF
        data_file.write_bytes(bytes(content))
    with pytest.raises(ValueError, match=r"ckpt-1\.data.*damaged or truncated"):
        continual.run(config, str(tmp_path), resume=True, progress=False)


def _trained_learner(data_dir, task_masks=None):
    stream = datasets.load_stream("mnist_rotations", data_dir=data_dir, batch_size=4, **TINY_STREAM)
    model = models.build_model("mlp", stream.input_shape, stream.num_classes, hidden_units=16)
    learner = OnlineLearner(model, config=OnlineConfig(learning_rate=0.5), task_masks=task_masks)
    arrays = stream.task_arrays(0)
    for start in range(0, 12, 4):
        learner.train_step(arrays.x_train[start : start + 4], arrays.y_train[start : start + 4], 0)
    return learner, stream


@pytest.mark.parametrize("batch_size", [1, 3, 10_000])
@pytest.mark.parametrize("multi_head", [False, True])
def test_accuracy_counts_what_numpy_counts_from_uint8_or_float32(data_dir, batch_size, multi_head):
    masks = None
    if multi_head:  # task 0 may answer 0-4 only, task 1 5-9 only
        masks = np.zeros((2, 10), np.float32)
        masks[0, :5] = masks[1, 5:] = 1.0
    learner, stream = _trained_learner(data_dir, masks)
    raw = stream.task_arrays(1, dtype=np.uint8)
    x = np.concatenate([raw.x_train, raw.x_test])
    y = np.concatenate([raw.y_train, raw.y_test])
    logits = learner.model(scale_pixels(x), training=False).numpy()
    for task in (0, 1):
        masked = logits if masks is None else logits + (1.0 - masks[task]) * MASKED_LOGIT
        expected = np.mean(np.argmax(masked, axis=-1) == y)
        assert learner.accuracy(x, y, task, batch_size=batch_size) == expected
        assert learner.accuracy(scale_pixels(x), y, task, batch_size=batch_size) == expected
    if masks is not None:  # the masks matter: class 0-4 labels score only under task 0
        assert learner.accuracy(x[y >= 5], y[y >= 5], 0) == 0.0
    assert learner.accuracy(x[:0], y[:0], 0) == 0.0
    assert learner._count_correct_uint8.experimental_get_tracing_count() == 1
    assert learner._count_correct.experimental_get_tracing_count() == 1


def test_uint8_inputs_are_scaled_in_the_graph_bit_for_bit_as_numpy(data_dir):
    # The model scores 0 on the true class when its input is exactly one of
    # numpy's x / 255 values and a huge logit on the other class otherwise.
    table = scale_pixels(np.arange(256, dtype=np.uint8))
    inputs = keras.Input((1,))
    gap = keras.ops.min(keras.ops.abs(inputs - table), axis=-1, keepdims=True)
    model = keras.Model(inputs, keras.ops.concatenate([keras.ops.zeros_like(gap), gap * 1e30], -1))
    learner = OnlineLearner(model, config=OnlineConfig())
    every_value, labels = np.arange(256, dtype=np.uint8)[:, None], np.zeros(256, np.int32)
    assert learner.accuracy(every_value, labels, 0) == 1.0
    assert learner.accuracy(table[:, None], labels, 0) == 1.0
    assert learner.accuracy(table[:, None] + np.float32(1e-7), labels, 0) < 0.1


def test_evaluation_reads_the_stored_uint8_test_rows(tmp_path, data_dir, monkeypatch):
    accuracy, seen = OnlineLearner.accuracy, []

    def spy(self, x, y, task, *, batch_size):
        seen.append((x.dtype, x.flags.writeable, len(y), batch_size))
        return accuracy(self, x, y, task, batch_size=batch_size)

    monkeypatch.setattr(OnlineLearner, "accuracy", spy)
    continual.run(tiny_config(data_dir, learner="online"), str(tmp_path), progress=False)
    assert seen == [(np.uint8, False, 10, 7)] * (3 * 2)  # before training and after each task


def test_a_run_written_before_newer_settings_resumes_while_they_keep_their_defaults(
    tmp_path, data_dir
):
    config = tiny_config(data_dir, learner="replay", storage="recollections")
    with pytest.raises(continual.RunInterrupted):
        continual.run(config, str(tmp_path), progress=False, stop_after_steps=2)
    path = tmp_path / "config.json"
    older = json.loads(path.read_text())
    del older["budget"], older["store_config"]["codec_init"]
    del older["store_config"]["codec_init_sha256"]
    path.write_text(json.dumps(older))
    resumed = continual.run(config, str(tmp_path), resume=True, progress=False)
    assert resumed["per_seed"][0]["steps"] == 6 and resumed["budget"] == "incremental"
    path.write_text(json.dumps(older))  # a setting away from its default still differs
    total = dataclasses.replace(config, budget="total", incremental_storage=400)
    with pytest.raises(ValueError, match=r"budget: 'total' here, None there"):
        continual.run(total, str(tmp_path), resume=True, progress=False)
