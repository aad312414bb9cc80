"""Memory checkpoints: the config side file, refusals of other memories and damage."""

import json
import os
import re

import numpy as np
import pytest

from recollect import DiscreteAutoencoder, RecollectionMemory, TaskRingPolicy
from tests.recollect.test_memory import SHAPE, batch, make_memory


def state(memory):
    return [v.numpy().tobytes() for v in [*memory.variables, *memory.optimizer.variables]]


def saved(tmp_path, memory=None):
    memory = memory or make_memory()
    memory.observe(*batch(6))
    memory.stabilize(batch(3)[0], num_steps=1)
    return memory.save_checkpoint(str(tmp_path / "ckpt" / "memory"))


def target():
    memory = make_memory(seed=3)
    memory.observe(*batch(4, seed=2))
    return memory


def test_save_writes_the_memory_config_next_to_the_checkpoint(tmp_path):
    prefix = saved(tmp_path)
    with open(prefix + ".memory.json") as f:
        side = json.load(f)
    config = side["body"]["config"]
    assert config["fields"]["label"] == {"shape": [], "dtype": "int32", "num_values": 10}
    assert config["policy"]["class"] == "recollect>ReservoirPolicy"
    assert config["encoded_inputs"] == ["x"]
    assert config["codec"]["num_latents"] == 6
    files = side["body"]["files"]
    assert set(files) == {".index", ".data-00000-of-00001"}
    for suffix, written in files.items():
        assert written["bytes"] == os.path.getsize(prefix + suffix)
        assert len(written["sha256"]) == 64
    # Nothing but the checkpoint is left in its directory (no temporary prefix).
    assert sorted(os.listdir(tmp_path / "ckpt")) == sorted(
        ["memory.memory.json", "memory.index", "memory.data-00000-of-00001"]
    )


def test_a_memory_of_20_tasks_and_100_classes_is_refused_by_one_of_3_and_10(tmp_path):
    codec = DiscreteAutoencoder(input_shape=SHAPE, num_latents=6, num_categories=4, seed=0)
    other = RecollectionMemory(codec, capacity=20, num_classes=100, num_tasks=20)
    rng = np.random.default_rng(0)
    other.observe(rng.random((6, *SHAPE), dtype=np.float32), np.full(6, 90), np.full(6, 17))
    prefix = other.save_checkpoint(str(tmp_path / "other"))
    memory = target()
    before = state(memory)
    message = (
        "Expected a checkpoint of a memory with the same config. Received: "
        "fields.label.num_values is 100 in the checkpoint, 10 here"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        memory.restore_checkpoint(prefix)
    assert state(memory) == before


CONFIG_DIFFERENCES = [
    ("num_tasks", {"num_tasks": 5}, "fields.task.num_values is 5 in the checkpoint, 3 here"),
    ("capacity", {"capacity": 30}, "capacity is 30 in the checkpoint, 20 here"),
    ("num_latents", {"num_latents": 8}, "codec.num_latents is 8 in the checkpoint, 6 here"),
    (
        "policy",
        {"policy": TaskRingPolicy(num_tasks=3)},
        "policy.class is 'recollect>TaskRingPolicy' in the checkpoint, "
        "'recollect>ReservoirPolicy' here",
    ),
    ("learning_rate", {"learning_rate": 0.01}, "learning_rate is 0.01 in the checkpoint"),
    ("temperature", {"temperature": 0.5}, "codec.temperature is 0.5 in the checkpoint, 1.0 here"),
]


def make_other(num_latents=6, num_classes=10, num_tasks=3, temperature=1.0, **kwargs):
    codec = DiscreteAutoencoder(
        input_shape=SHAPE, num_latents=num_latents, num_categories=4, temperature=temperature
    )
    kwargs.setdefault("capacity", 20)
    return RecollectionMemory(codec, num_classes=num_classes, num_tasks=num_tasks, **kwargs)


@pytest.mark.parametrize(
    ("other", "message"),
    [c[1:] for c in CONFIG_DIFFERENCES],
    ids=[c[0] for c in CONFIG_DIFFERENCES],
)
def test_any_config_difference_is_refused_naming_it_before_any_change(tmp_path, other, message):
    prefix = saved(tmp_path, make_other(**other))
    memory = target()
    before = state(memory)
    with pytest.raises(ValueError, match="same config. Received: " + re.escape(message)):
        memory.restore_checkpoint(prefix)
    assert state(memory) == before


def test_a_checkpoint_without_its_config_file_is_refused(tmp_path):
    prefix = saved(tmp_path)
    os.remove(prefix + ".memory.json")
    memory = target()
    before = state(memory)
    with pytest.raises(ValueError, match=re.escape(prefix + ".memory.json")):
        memory.restore_checkpoint(prefix)
    assert state(memory) == before


def truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def flip(path):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        data[len(data) // 2] ^= 0x5A
        f.seek(0)
        f.write(data)


DAMAGE = [
    ("data_truncated", ".data-00000-of-00001", truncate, "is damaged or truncated"),
    ("data_flipped", ".data-00000-of-00001", flip, "is damaged or truncated"),
    ("data_missing", ".data-00000-of-00001", os.remove, "is missing"),
    ("index_truncated", ".index", truncate, "is damaged or truncated"),
    ("index_flipped", ".index", flip, "is damaged or truncated"),
    ("index_missing", ".index", os.remove, "is missing"),
    ("config_flipped", ".memory.json", flip, "is damaged or truncated"),
    ("config_truncated", ".memory.json", truncate, "is damaged or truncated"),
]


@pytest.mark.parametrize(
    ("suffix", "damage", "message"), [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE]
)
def test_a_damaged_checkpoint_is_refused_naming_the_file_before_any_change(
    tmp_path, suffix, damage, message
):
    prefix = saved(tmp_path)
    damage(prefix + suffix)
    memory = target()
    before = state(memory)
    with pytest.raises(ValueError, match=re.escape(prefix + suffix) + ".*" + message):
        memory.restore_checkpoint(prefix)
    assert state(memory) == before


def test_restore_after_a_refusal_still_works(tmp_path):
    source = make_memory()
    prefix = saved(tmp_path, source)
    memory = target()
    with pytest.raises(ValueError):
        memory.restore_checkpoint(str(tmp_path / "nothing"))
    memory.restore_checkpoint(prefix)
    assert state(memory) == state(source)


def test_a_checkpoint_restores_into_a_memory_a_host_may_train(tmp_path):
    source = make_memory()
    prefix = saved(tmp_path, source)
    memory = make_memory(seed=3, host_trainable=True)
    memory.restore_checkpoint(prefix)
    assert state(memory) == state(source)


@pytest.mark.parametrize("path", ["", None, 123, "ckpt/"])
def test_save_refuses_a_path_that_is_not_a_prefix(tmp_path, path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="Expected a checkpoint prefix"):
        make_memory().save_checkpoint(path)
    assert os.listdir(tmp_path) == []
