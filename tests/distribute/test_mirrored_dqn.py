"""The lifelong DQN learner under MirroredStrategy (two logical CPUs) against one device."""

import json

import numpy as np
import pytest

from tests.distribute import run_python


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("dqn")
    result = run_python("-m", "tests.distribute.mirrored_dqn", str(out), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "out.json").read_text())


STORES = [
    "real",
    "real_clipped",
    "recollections",
    "recollections_ring",
    "recollections_decoder_fixed",
]


@pytest.mark.parametrize("store", STORES)
def test_learn_steps_on_two_replicas_equal_those_on_one_device(compared, store):
    assert compared["replicas"] == 2
    steps = compared["steps"][store]
    assert steps["learn_steps"] == [8, 8] and steps["sizes"] == [12, 12]
    np.testing.assert_allclose(steps["loss"]["mirrored"], steps["loss"]["single"], rtol=1e-4)
    assert steps["action"]["mirrored"] == steps["action"]["single"]
    assert steps["q_replicas_equal"]
    for weights in ("q", "target", "codec"):
        for mirrored, single in steps[weights]:
            np.testing.assert_allclose(mirrored, single, rtol=1e-4, atol=1e-5)
    if store.startswith("recollections"):
        assert steps["codec"]  # the codec was compared, and it trained
    first_q = np.asarray(steps["q"][0][0])
    assert np.abs(first_q).sum() > 0


def test_clipping_binds_and_still_matches_one_device(compared):
    # The same start and draws as "real": a norm that binds moves the weights less.
    clipped, free = compared["steps"]["real_clipped"]["q"], compared["steps"]["real"]["q"]
    moved = [np.abs(np.subtract(c, f)).max() for (c, _), (f, _) in zip(clipped, free, strict=True)]
    assert max(moved) > 1e-4


def test_a_batch_the_replicas_cannot_share_is_refused(compared):
    assert compared["refused"] == (
        "Expected --batch_size a multiple of the 2 replicas of MirroredStrategy. "
        "Received: batch_size=7"
    )


def test_a_mirrored_run_stopped_and_resumed_ends_as_an_uninterrupted_one(compared):
    runs = compared["runs"]
    assert runs["stops"] == 3
    assert runs["resumed"] == runs["whole"]


def test_a_mirrored_run_matches_the_run_on_one_device(compared):
    runs = compared["runs"]
    assert runs["whole"]["env_steps"] == runs["single"]["env_steps"] == 120
    np.testing.assert_allclose(
        runs["whole"]["return_matrix"], runs["single"]["return_matrix"], atol=0.11
    )
    assert runs["whole"]["return_matrix"][0][0] >= 0.9  # it learned the first game


def test_a_run_stopped_under_the_strategy_resumes_on_one_device(compared):
    runs = compared["runs"]
    assert runs["switched"]["env_steps"] == 120
    np.testing.assert_allclose(
        runs["switched"]["return_matrix"], runs["single"]["return_matrix"], atol=0.11
    )


def test_the_lifelong_runner_refuses_a_batch_the_replicas_cannot_share(tmp_path):
    workdir = tmp_path / "run"
    result = run_python(
        "-m",
        "runners.lifelong",
        "--games=breakout",
        "--steps_per_phase=10",
        "--strategy=mirrored",
        "--cpu_devices=2",
        "--batch_size=7",
        f"--workdir={workdir}",
    )
    assert result.returncode != 0
    assert "Expected --batch_size a multiple of the 2 replicas of MirroredStrategy" in result.stderr
    assert not workdir.exists()
