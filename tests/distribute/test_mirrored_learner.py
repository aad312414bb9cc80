"""Replay with recollections under MirroredStrategy (two logical CPUs) against one device."""

import json

import numpy as np
import pytest

from tests.distribute import run_python


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    output = tmp_path_factory.mktemp("learner") / "out.json"
    result = run_python("-m", "tests.distribute.mirrored_learner", str(output))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(output.read_text())


def test_replay_steps_on_two_replicas_equal_those_on_one_device(compared):
    assert compared["replicas"] == 2
    np.testing.assert_allclose(
        compared["losses"]["mirrored"], compared["losses"]["single"], rtol=1e-5
    )
    for mirrored, single in compared["model"] + compared["codec"]:
        # Float order differs (two half sums, then an all-reduce): 2e-6 was seen.
        np.testing.assert_allclose(mirrored, single, rtol=1e-4, atol=1e-5)
    assert compared["sizes"] == [32, 32]  # every replica's rows, 4 batches of 8
    assert compared["model_replicas_equal"]


def test_a_batch_the_replicas_cannot_share_is_refused_before_anything_changes(compared):
    assert compared["odd_batch"].startswith("Expected a batch that the 2 replicas share equally")
    assert compared["sizes"][0] == 32  # nothing written by the refused batch
