"""BUILD.md's "add a learner" example works as written: one file and one registry line."""

import dataclasses
import importlib.util
import json
import os
import re
import sys

import pytest
from absl import flags

from agents import continual
from agents.learners import LEARNERS
from runners import config_flags
from tests.datasets import fakes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def example_module(directory):
    """Writes BUILD.md's example to agents_l2.py and imports it, as a new file would be."""
    with open(os.path.join(REPO, "BUILD.md"), encoding="utf-8") as f:
        text = f.read()
    block = re.search(r"<!-- example: add-a-learner -->\n```python\n(.*?)```", text, re.S)
    path = directory / "l2.py"
    path.write_text(block.group(1))
    spec = importlib.util.spec_from_file_location("agents.learners.l2", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_build_md_learner_runs_with_one_registry_line(tmp_path, monkeypatch):
    module = example_module(tmp_path)
    monkeypatch.setitem(sys.modules, "agents.learners.l2", module)
    monkeypatch.setitem(LEARNERS, "l2", module.L2Learner)  # the one registry line

    fields = {n: config_flags.dataclass_fields(c.config_class) for n, c in LEARNERS.items()}
    flag_values = flags.FlagValues()
    config_flags.define(fields, "learner", flag_values)
    assert "squared distance" in flag_values["l2_strength"].help
    assert "--learner=l2" in flag_values["l2_strength"].help

    fakes.write_mnist(tmp_path / "data" / "mnist", num_train=20, num_test=10, seed=0)
    config = continual.ContinualConfig(
        data_dir=str(tmp_path / "data"),
        stream_options={"num_tasks": 2, "examples_per_task": 8, "test_examples_per_task": 5},
        batch_size=4,
        learner="l2",
        learner_config={"l2_strength": 0.5},
    )
    assert dataclasses.asdict(config.learner_config)["l2_strength"] == 0.5
    workdir = tmp_path / "run"
    with pytest.raises(continual.RunInterrupted):
        continual.run(config, str(workdir), progress=False, stop_after_steps=3)
    results = continual.run(config, str(workdir), resume=True, progress=False)
    assert len(results["per_seed"][0]["accuracy_matrix"]) == 2
    assert json.loads((workdir / "config.json").read_text())["learner"] == "l2"
