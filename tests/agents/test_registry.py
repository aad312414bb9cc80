"""One get(identifier) per family: a name, a dict or the part; unknown names refused."""

import pytest

from agents import learners, models, stores
from agents.learners import LEARNERS, ReplayLearner
from agents.lifelong import replay
from agents.lifelong import stores as lifelong_stores
from agents.registry import Registry, UnknownNameError
from recollect import ReservoirPolicy, TaskRingPolicy


def test_a_name_a_dict_or_the_part_resolve_to_the_same_part():
    assert learners.get("replay") is ReplayLearner
    assert learners.get({"name": "replay"}) is ReplayLearner
    assert learners.get(ReplayLearner) is ReplayLearner
    assert stores.get("jpeg") is stores.JpegStore
    assert models.get("mlp") is models.mlp


@pytest.mark.parametrize(
    ("get", "name", "flag"),
    [
        (learners.get, "fifo", "--learner"),
        (stores.get, "png", "--storage"),
        (models.get, "resnet50", "--model"),
        (lifelong_stores.get, "zip", "--storage"),
    ],
)
def test_an_unknown_name_is_a_clear_error_in_every_family(get, name, flag):
    with pytest.raises(ValueError, match=rf"Expected {flag} among \[.*\]. Received: '{name}'"):
        get(name)


def test_no_silent_fallback_for_write_policies():
    assert isinstance(replay.make_policy("reservoir", 2), ReservoirPolicy)
    rings = replay.make_policy("game_rings", 3)
    assert isinstance(rings, TaskRingPolicy) and rings.num_tasks == 3
    with pytest.raises(ValueError, match=r"--write_policy among \['game_rings', 'reservoir'"):
        replay.make_policy("reservior", 2)


def test_bad_identifiers_are_refused():
    with pytest.raises(ValueError, match=r'as \{"name": ...\}'):
        learners.get({"name": "replay", "learning_rate": 0.1})
    with pytest.raises(ValueError, match="a registered learner"):
        learners.get(object())
    with pytest.raises(ValueError, match="a learner name, a string"):
        LEARNERS[""] = ReplayLearner


def test_a_registry_is_a_mapping_a_new_part_is_one_line():
    registry = Registry("colour", "--colour", {"red": 1})
    registry["blue"] = 2
    assert list(registry) == ["red", "blue"] and registry.get("green") is None
    assert registry.resolve({"name": "blue"}) == 2 and "blue" in registry
    with pytest.raises(UnknownNameError) as unknown:
        registry["green"]
    assert str(unknown.value) == "Expected --colour among ['red', 'blue']. Received: 'green'"
    assert isinstance(unknown.value, KeyError) and isinstance(unknown.value, ValueError)
    del registry["blue"]
    assert len(registry) == 1
