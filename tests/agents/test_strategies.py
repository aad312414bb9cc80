"""Strategy names, the runs that may use one, and the checks made before any training."""

import types

import pytest

from agents import strategies
from agents.continual import ContinualConfig
from tests.distribute import run_python


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"strategy": "tpu"}, r"--strategy among \['default', 'mirrored', 'multi_worker'\]"),
        ({"learner": "gem"}, r"--strategy=mirrored with a --learner among \['online', 'replay'\]"),
        ({"storage": "real"}, r"and a --storage among \['recollections'\]"),
        ({"drift_probe_items": 2}, r"--drift_probe_items=0 with --strategy=mirrored"),
    ],
)
def test_runs_a_strategy_cannot_train_are_refused_when_the_config_is_made(overrides, message):
    settings = {"strategy": "mirrored", "learner": "replay", **overrides}
    with pytest.raises(ValueError, match=message):
        ContinualConfig(**settings)


def test_the_default_and_the_supported_runs_are_accepted():
    assert ContinualConfig().strategy == "default"
    assert ContinualConfig(strategy="mirrored", learner="online").strategy == "mirrored"
    assert ContinualConfig(learner="gem", storage="real").strategy == "default"


def test_make_names_the_strategies():
    assert strategies.make("default") is None
    with pytest.raises(ValueError, match=r"Expected --strategy among"):
        strategies.make("parameter_server")


def test_batch_sizes_must_split_over_the_replicas():
    two = types.SimpleNamespace(num_replicas_in_sync=2)
    strategies.check_divisible(two, {"batch_size": 10, "replay_batch_size": 4})
    strategies.check_divisible(None, {"batch_size": 3})
    with pytest.raises(ValueError, match=r"Expected --replay_batch_size a multiple of the 2"):
        strategies.check_divisible(two, {"batch_size": 10, "replay_batch_size": 3})
    with pytest.raises(ValueError, match=r"Expected --cpu_devices an int >= 1"):
        strategies.split_cpu(0)


def test_importing_the_library_and_the_runner_leaves_tensorflow_unstarted():
    """--cpu_devices splits the CPU after the imports: none of them may start TensorFlow."""
    code = (
        "import tensorflow as tf\n"
        "import recollect, agents.continual, runners.continual\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "two = [tf.config.LogicalDeviceConfiguration()] * 2\n"
        "tf.config.set_logical_device_configuration(cpu, two)\n"
        "print(len(tf.config.list_logical_devices('CPU')))\n"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "2"
