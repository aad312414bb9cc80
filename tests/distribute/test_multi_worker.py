"""Two workers on localhost ports (MultiWorkerMirroredStrategy, TF_CONFIG): a run, and a
run whose workers are killed with SIGKILL one save apart and resumed, with the same
results."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.datasets import fakes
from tests.distribute import REPO, python_env

TIMEOUT_S = 420
RUN_FLAGS = (
    "--stream=mnist_rotations",
    "--num_tasks=4",
    "--examples_per_task=40",
    "--test_examples_per_task=20",
    "--batch_size=4",
    "--items=40",
    "--incremental_storage=2",
    "--num_categories=4",
    "--replay_batch_size=2",
    "--stabilize_steps=2",
    "--learning_rate=0.05",
    "--strategy=multi_worker",
    "--progress=false",
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    fakes.write_mnist(root / "mnist", num_train=40, num_test=20, seed=0)
    return str(root)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(workdir, data_dir, *extra):
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = []
    for index in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        env = python_env(TF_CONFIG=config)
        command = [sys.executable, "-m", "runners.continual", *RUN_FLAGS, *extra]
        command += [
            f"--data_dir={data_dir}",
            f"--workdir={workdir}",
            f"--cache_dir={workdir}.cache",
        ]
        with open(f"{workdir}.{index}.log", "a") as log:  # the worker keeps its own copy
            workers.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log))
    return workers


def wait(workers, workdir):
    deadline = time.monotonic() + TIMEOUT_S
    for worker in workers:
        try:
            worker.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other in workers:
                other.kill()
            pytest.fail(f"workers did not finish in {TIMEOUT_S} s; logs in {workdir}.*.log")
    logs = [pathlib.Path(f"{workdir}.{i}.log").read_text()[-3000:] for i in range(2)]
    assert [w.returncode for w in workers] == [0, 0], logs


def task_reached(progress):
    """The tasks a worker's last checkpoint has finished (0 before its first)."""
    try:
        return json.loads(pathlib.Path(progress).read_text()).get("task", 0)
    except (OSError, ValueError):  # not written yet
        return 0


def results(workdir, index):
    with open(os.path.join(workdir, f"worker_{index}", "results.json")) as f:
        return json.load(f)


def matrices(result):
    return [seed["accuracy_matrix"] for seed in result["per_seed"]]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir):
    workdir = str(tmp_path_factory.mktemp("whole") / "run")
    wait(start_workers(workdir, data_dir), workdir)
    return workdir


def test_two_workers_finish_with_the_same_results(uninterrupted):
    first, second = results(uninterrupted, 0), results(uninterrupted, 1)
    assert matrices(first) == matrices(second)
    assert len(matrices(first)[0]) == 4


def test_a_worker_killed_mid_run_resumes_with_the_results_of_an_uninterrupted_run(
    tmp_path, data_dir, uninterrupted
):
    workdir = str(tmp_path / "run")
    workers = start_workers(workdir, data_dir)
    seeds = [os.path.join(workdir, f"worker_{i}", "seed_0") for i in range(2)]
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:  # the second task's checkpoint, written by both
        if min(task_reached(os.path.join(seed, "progress.json")) for seed in seeds) >= 2:
            break
        time.sleep(0.05)
    workers[1].send_signal(signal.SIGKILL)
    assert workers[1].wait(timeout=30) == -signal.SIGKILL
    assert not os.path.exists(os.path.join(workdir, "worker_1", "results.json"))
    # Its peer waits in a collective for the dead worker: the job restarts both.
    workers[0].kill()
    workers[0].wait(timeout=30)
    # Worker 1 as if killed one save earlier than worker 0: its newest checkpoint gone.
    newest = json.loads(pathlib.Path(seeds[1], "progress.json").read_text())
    assert newest["task"] >= 2
    for path in pathlib.Path(seeds[1]).glob(newest["checkpoint"] + ".*"):
        path.unlink()
    os.replace(
        os.path.join(seeds[1], "progress.previous.json"), os.path.join(seeds[1], "progress.json")
    )
    wait(start_workers(workdir, data_dir, "--resume"), workdir)
    for index in range(2):
        assert matrices(results(workdir, index)) == matrices(results(uninterrupted, index))
