"""The drift probe (Figure 5): what it records, that it changes nothing, resume, outputs."""

import json

import numpy as np
import pytest
import tensorflow as tf

from agents import continual, plotting
from agents.continual.build import build_drift_probe
from agents.stores import RecollectionStore
from recollect import bits, metrics
from recollect.datasets.stream import scale_pixels
from recollect.memory_layout import codes_field
from tests.agents.test_continual import TINY_STREAM, tiny_config
from tests.datasets import fakes

PROBE_ITEMS = 5  # tasks of 12 examples in batches of 4: the probe spans two batches


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    fakes.write_mnist(root / "mnist", num_train=40, num_test=20, seed=0)
    return str(root)


@pytest.fixture(scope="module")
def probed_run(tmp_path_factory, data_dir):
    """A finished 3-task replay run with the probe on: (workdir, results)."""
    workdir = tmp_path_factory.mktemp("probed")
    stream = {**TINY_STREAM, "num_tasks": 3}
    config = tiny_config(data_dir, stream_options=stream, drift_probe_items=PROBE_ITEMS)
    return workdir, continual.run(config, str(workdir), progress=False)


def _as_matrix(rows):
    return np.asarray(rows, dtype=np.float64)  # None -> nan


def test_drift_matrix_is_lower_triangular_with_a_row_per_task(probed_run):
    workdir, results = probed_run
    seed = json.loads((workdir / "seed_0" / "result.json").read_text())
    matrix = _as_matrix(seed["drift_matrix"])
    assert matrix.shape == (3, 3)
    below = np.tril(np.ones((3, 3), bool))
    assert np.all(np.isnan(matrix[~below])) and not np.any(np.isnan(matrix[below]))
    assert np.all((matrix[below] > 0) & (matrix[below] < 1))
    at_write = np.asarray(seed["drift_at_write"])
    assert at_write.shape == (3,) and np.all((at_write > 0) & (at_write < 1))
    # One seed: its matrix is the mean, and the spread is zero where measured.
    np.testing.assert_array_equal(_as_matrix(results["drift_matrix_mean"]), matrix)
    np.testing.assert_array_equal(_as_matrix(results["drift_matrix_std"])[below], 0.0)
    assert results["drift_at_write_mean"] == seed["drift_at_write"]
    assert results["per_seed"][0]["drift_matrix"] == seed["drift_matrix"]


def test_drift_is_logged_per_write_task_at_each_task(probed_run):
    workdir, _ = probed_run
    logged = {}
    for path in (workdir / "tensorboard" / "seed_0").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag.startswith("drift/"):
                    logged[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
    matrix = json.loads((workdir / "results.json").read_text())["per_seed"][0]["drift_matrix"]
    expected = {
        (f"drift/write_task_{j:02d}", i): matrix[i][j] for i in range(3) for j in range(i + 1)
    }
    assert logged.keys() == expected.keys()
    for key, value in expected.items():
        assert logged[key] == pytest.approx(value, rel=1e-6)  # logged as float32


def test_drift_plot_draws_the_runs_with_a_probe(probed_run, tmp_path):
    workdir, _ = probed_run
    png = tmp_path / "drift.png"
    assert plotting.plot_drift([str(workdir)], str(png)) == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_drift_plot_refuses_runs_without_a_probe(tmp_path, data_dir):
    workdir = tmp_path / "plain"
    continual.run(tiny_config(data_dir, learner="online"), str(workdir), progress=False)
    with pytest.raises(ValueError, match=r"--drift_probe_items.*Received: .*plain"):
        plotting.plot_drift([str(workdir)], str(tmp_path / "drift.png"))
    assert not (tmp_path / "drift.png").exists()


def _learner_and_probe(data_dir, learner="replay"):
    config = tiny_config(data_dir, learner=learner, drift_probe_items=PROBE_ITEMS)
    stream = continual.load_stream(config)
    plan = continual.plan_storage(config, stream)
    return continual.build_learner(config, stream, plan, seed=0), stream, plan, config


@pytest.mark.parametrize("learner", ["replay", "gem"])  # gem observes before its model step
def test_probe_codes_are_the_codes_written_to_the_buffer(data_dir, learner):
    learner, stream, plan, config = _learner_and_probe(data_dir, learner)
    probe = build_drift_probe(config, stream, plan)
    store = learner.store
    arrays = stream.task_arrays(0)
    for start in range(0, 12, 4):  # the codec trains at every step, so codes change
        x, y = arrays.x_train[start : start + 4], arrays.y_train[start : start + 4]
        learner.train_step(x, y, 0)
        probe.record(store, x, task=0, first_item=start)
        # Task 0's first rows (reservoir, or GEM's ring of task 0) hold its items in order.
        written = store.memory.buffer.read(tf.range(start, start + 4, dtype=tf.int64))
        np.testing.assert_array_equal(store.codes(x).numpy(), written[codes_field("x")].numpy())
    assert int(store.size()) == 12 and store.capacity > 2 * 12
    stored = store.memory.buffer.read(tf.range(PROBE_ITEMS, dtype=tf.int64))[codes_field("x")]
    np.testing.assert_array_equal(probe.codes[0, :PROBE_ITEMS].numpy(), stored.numpy())
    np.testing.assert_array_equal(int(probe.recorded[0]), PROBE_ITEMS)
    np.testing.assert_array_equal(probe.recorded[1:].numpy(), 0)
    originals = probe.pixels[0, :PROBE_ITEMS].numpy()
    np.testing.assert_array_equal(scale_pixels(originals), arrays.x_train[:PROBE_ITEMS])
    # measure decodes the kept codes with the codec as it is now, by hand here.
    memory = store.memory
    indices = bits.unpack_codes(stored, memory.codec.num_latents, memory.codec.num_categories)
    by_hand = metrics.reconstruction_distortion(
        arrays.x_train[:PROBE_ITEMS], memory.decode(indices).numpy()
    )
    row = probe.measure(store, after_task=0)
    assert row[0] == pytest.approx(by_hand, rel=1e-6) and row[1:] == [None]


def test_a_codec_that_is_not_trained_further_does_not_drift(tmp_path, data_dir, monkeypatch):
    # Every step's stabilising skipped: the codec stays as built, so every later
    # decoding of a task's codes gives its at-write distortion.
    monkeypatch.setattr(RecollectionStore, "stabilize", lambda self, x, recollections: None)
    config = tiny_config(data_dir, drift_probe_items=PROBE_ITEMS)
    seed = continual.run(config, str(tmp_path), progress=False)["per_seed"][0]
    matrix, at_write = _as_matrix(seed["drift_matrix"]), np.asarray(seed["drift_at_write"])
    for task in range(2):
        np.testing.assert_allclose(matrix[task:, task], at_write[task], rtol=1e-6)


def _checkpointed_learner(workdir):
    progress = json.loads((workdir / "seed_0" / "progress.json").read_text())
    reader = tf.train.load_checkpoint(str(workdir / "seed_0" / progress["checkpoint"]))
    names = [n for n in reader.get_variable_to_shape_map() if n.startswith("learner/")]
    return {n: reader.get_tensor(n) for n in names}


def test_the_probe_does_not_change_training(tmp_path, data_dir):
    states, results = [], []
    for items in (0, PROBE_ITEMS):
        config = tiny_config(data_dir, drift_probe_items=items)
        workdir = tmp_path / f"probe_{items}"
        with pytest.raises(continual.RunInterrupted):  # past the first task's measuring
            continual.run(config, str(workdir), progress=False, stop_after_steps=5)
        states.append(_checkpointed_learner(workdir))  # model, optimizers, codec, buffer, RNG
        results.append(continual.run(config, str(workdir), resume=True, progress=False))
    off, on = states
    assert off.keys() == on.keys() and len(off) > 10
    for name, value in off.items():
        np.testing.assert_array_equal(value, on[name], err_msg=name)
    plain, probed = (r["per_seed"][0] for r in results)
    assert plain["accuracy_matrix"] == probed["accuracy_matrix"]
    assert plain["footprint"] == probed["footprint"]  # outside the storage budget
    assert "drift_matrix" not in plain and len(probed["drift_matrix"]) == 2


def test_resume_after_a_kill_gives_identical_drift(tmp_path, data_dir):
    # Killed after task 0's measuring and between the two batches of task 1's probe items.
    config = tiny_config(data_dir, drift_probe_items=PROBE_ITEMS)
    straight = continual.run(config, str(tmp_path / "straight"), progress=False)
    killed = str(tmp_path / "killed")
    with pytest.raises(continual.RunInterrupted, match="--resume"):
        continual.run(config, killed, progress=False, stop_after_steps=4)
    resumed = continual.run(config, killed, resume=True, progress=False)
    for a, b in zip(straight["per_seed"], resumed["per_seed"], strict=True):
        assert a["drift_matrix"] == b["drift_matrix"]
        assert a["drift_at_write"] == b["drift_at_write"]
        assert a["accuracy_matrix"] == b["accuracy_matrix"]
    assert straight["drift_matrix_mean"] == resumed["drift_matrix_mean"]


def test_a_run_made_before_the_probe_existed_resumes(tmp_path, data_dir):
    config = tiny_config(data_dir, learner="online")
    with pytest.raises(continual.RunInterrupted):
        continual.run(config, str(tmp_path), progress=False, stop_after_steps=1)
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["drift_probe_items"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    resumed = continual.run(config, str(tmp_path), resume=True, progress=False)
    assert resumed["per_seed"][0]["steps"] == 6


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"storage": "real"}, r"--drift_probe_items=0 unless .*Received: .*storage='real'"),
        ({"learner": "online"}, r"--learner among \['gem', 'icarl', 'replay'\].*learner='online'"),
        ({"learner": "ewc", "storage": "real"}, "--drift_probe_items=0 unless"),
        ({"drift_probe_items": -1}, r"--drift_probe_items >= 0\. Received: drift_probe_items=-1"),
        ({"drift_probe_items": True}, "--drift_probe_items >= 0"),
        ({"drift_probe_items": 2.0}, "--drift_probe_items >= 0"),
    ],
)
def test_bad_drift_probe_settings_are_refused(tmp_path, data_dir, overrides, message):
    settings = {"drift_probe_items": 3, **overrides}
    with pytest.raises(ValueError, match=message):
        continual.run(tiny_config(data_dir, **settings), str(tmp_path / "w"), progress=False)
    assert not (tmp_path / "w").exists()
