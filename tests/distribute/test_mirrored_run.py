"""A continual run under --strategy=mirrored: same results resumed, close to one device."""

import json

import numpy as np
import pytest

from tests.datasets import fakes
from tests.distribute import run_python


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    fakes.write_mnist(root / "mnist", num_train=40, num_test=20, seed=0)
    return str(root)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("runs")
    result = run_python("-m", "tests.distribute.mirrored_run", data_dir, str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "out.json").read_text())


def matrices(results):
    return [seed["accuracy_matrix"] for seed in results["per_seed"]]


def test_a_mirrored_run_stopped_and_resumed_ends_as_an_uninterrupted_one(runs):
    assert runs["stops"] == 3
    assert matrices(runs["resumed"]) == matrices(runs["whole"])
    assert runs["resumed"]["retention_mean"] == runs["whole"]["retention_mean"]


def test_a_mirrored_run_matches_the_run_on_one_device(runs):
    np.testing.assert_allclose(matrices(runs["whole"]), matrices(runs["single"]), atol=0.051)


def test_a_run_stopped_on_one_device_resumes_under_the_strategy(runs):
    np.testing.assert_allclose(matrices(runs["switched"]), matrices(runs["single"]), atol=0.051)


def test_the_runner_refuses_a_batch_the_replicas_cannot_share(tmp_path, data_dir):
    workdir = tmp_path / "run"
    result = run_python(
        "-m",
        "runners.continual",
        "--stream=mnist_rotations",
        "--num_tasks=2",
        "--examples_per_task=12",
        "--strategy=mirrored",
        "--cpu_devices=2",
        "--batch_size=5",
        "--items=40",
        "--incremental_storage=2",
        f"--data_dir={data_dir}",
        f"--workdir={workdir}",
        f"--cache_dir={tmp_path / 'cache'}",
    )
    assert result.returncode != 0
    assert "Expected --batch_size a multiple of the 2 replicas of MirroredStrategy" in result.stderr
    assert not workdir.exists()
