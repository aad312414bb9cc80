"""The run layer both runners share: the workdir rule, seeds, results with a kind."""

import dataclasses
import json
import os
from typing import ClassVar

import pytest
import tensorflow as tf

from agents import continual, experiment, lifelong
from agents.experiment import settings


@dataclasses.dataclass(frozen=True)
class _Config:
    seeds: tuple[int, ...] = (0, 1)
    scale: float = 1.0
    note: str = "new setting"

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))


class _Counting:
    """An experiment whose seed result is seed * scale; counts the seeds it ran."""

    kind: ClassVar[str] = "counting"

    def __init__(self, config: _Config, fail_at: int | None = None) -> None:
        self.config = config
        self.fail_at = fail_at
        self.ran: list[int] = []
        self.finished: list[int] = []

    def prepare(self) -> None:
        if self.config.scale < 0:
            raise ValueError("Expected scale >= 0. Received: a negative one")

    def run_seed(self, context: experiment.SeedContext) -> dict:
        if context.seed == self.fail_at:
            raise experiment.RunInterrupted("stopped")
        self.ran.append(context.seed)
        assert os.path.isdir(context.directory)
        return {"seed": context.seed, "value": context.seed * self.config.scale}

    def finish_seed(self, context: experiment.SeedContext) -> None:
        self.finished.append(context.seed)

    def aggregate(self, per_seed: list[dict]) -> dict:
        return {"value": experiment.mean_std([s["value"] for s in per_seed])}


def test_results_carry_the_kind_and_every_seed(tmp_path):
    results = experiment.run(_Counting(_Config()), str(tmp_path), files={"flags.txt": "--x"})
    assert results == {"kind": "counting", "value": {"mean": 0.5, "std": 0.5}}
    assert json.loads((tmp_path / "results.json").read_text()) == results
    assert json.loads((tmp_path / "seed_1" / "result.json").read_text())["value"] == 1.0
    assert (tmp_path / "flags.txt").read_text() == "--x"


def test_a_resumed_run_does_not_rerun_finished_seeds(tmp_path):
    first = _Counting(_Config(), fail_at=1)
    with pytest.raises(experiment.RunInterrupted):
        experiment.run(first, str(tmp_path))
    assert first.ran == [0] and first.finished == [0]
    second = _Counting(_Config())
    results = experiment.run(second, str(tmp_path), resume=True)
    assert second.ran == [1] and results["value"]["mean"] == 0.5


def test_bad_settings_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="scale >= 0"):
        experiment.run(_Counting(_Config(scale=-1.0)), str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_the_workdir_rule(tmp_path):
    with pytest.raises(ValueError, match="holding a run to --resume"):
        experiment.run(_Counting(_Config()), str(tmp_path), resume=True)
    experiment.run(_Counting(_Config()), str(tmp_path))
    with pytest.raises(ValueError, match="empty --workdir or --resume"):
        experiment.run(_Counting(_Config()), str(tmp_path))
    with pytest.raises(ValueError, match=r"same settings.*scale: 2.0 here, 1.0 there"):
        experiment.run(_Counting(_Config(scale=2.0)), str(tmp_path), resume=True)


def test_a_setting_a_saved_run_lacks_is_no_difference_at_its_default():
    saved = _Config().to_dict()
    del saved["note"]
    assert settings.first_difference(_Config(), saved) is None
    assert settings.first_difference(_Config(note="other"), saved) == (
        "note: 'other' here, None there"
    )
    assert settings.first_difference(_Config(seeds=(0,)), _Config().to_dict()) == (
        "seeds: [0] here, [0, 1] there"
    )


def test_both_runners_refuse_resume_on_an_empty_workdir_the_same_way(tmp_path):
    messages = []
    configs = [
        (continual.run, continual.ContinualConfig(stream="mnist_rotations", learner="online")),
        (lifelong.run, lifelong.LifelongConfig(games=("breakout",))),
    ]
    for run, config in configs:
        workdir = tmp_path / run.__module__
        with pytest.raises(ValueError) as refused:
            run(config, str(workdir), resume=True, progress=False)
        messages.append(str(refused.value).replace(str(workdir), "W"))
        assert not workdir.exists()
    assert messages[0] == messages[1]
    assert messages[0].startswith("Expected a --workdir holding a run to --resume.")


def test_as_config_refuses_unknown_settings():
    assert settings.as_config({"scale": 2.0}, _Config).scale == 2.0
    assert settings.as_config(None, _Config) == _Config()
    with pytest.raises(ValueError, match=r"settings of _Config among .* unknown \['scal'\]"):
        settings.as_config({"scal": 2.0}, _Config)
    with pytest.raises(ValueError, match="Expected a _Config or a mapping"):
        settings.as_config(3, _Config)


class _Counter(tf.Module):
    def __init__(self):
        super().__init__()
        self.value = tf.Variable(0.0)


def _saved_three_times(directory):
    """A SeedState saved with value 1, 2, 3 (checkpoints 1, 2, 3)."""
    state = experiment.SeedState(str(directory), _Counter())
    for value in (1.0, 2.0, 3.0):
        state.checkpoint.learner.value.assign(value)
        state.save()
    return state


def _restored(directory, agree=None):
    counter = _Counter()
    state = experiment.SeedState(str(directory), counter)
    found = state.restore(agree=agree)
    return found, state.progress.checkpoint_number, float(counter.value.numpy())


def test_a_seed_keeps_its_last_two_checkpoints(tmp_path):
    _saved_three_times(tmp_path)
    names = sorted(
        os.path.basename(p).split(".")[0]
        for p in tf.io.gfile.glob(str(tmp_path / "checkpoints" / "*.index"))
    )
    assert names == ["ckpt-2", "ckpt-3"]
    assert _restored(tmp_path) == (True, 3, 3.0)


def test_workers_one_save_apart_resume_from_the_older_checkpoint(tmp_path):
    _saved_three_times(tmp_path)
    seen = []

    def lowest(newest):
        seen.append(newest)
        return 2  # another worker's newest

    assert _restored(tmp_path, agree=lowest) == (True, 2, 2.0)
    assert seen == [3]
    assert _restored(tmp_path, agree=lambda newest: 0) == (False, 0, 0.0)


def test_workers_two_saves_apart_are_refused_with_what_to_do(tmp_path):
    _saved_three_times(tmp_path)
    with pytest.raises(
        ValueError, match=r"Expected checkpoint 1.*keeps \[3, 2\].*without --resume"
    ):
        _restored(tmp_path, agree=lambda newest: 1)


def test_a_kill_between_the_two_progress_files_resumes_from_the_previous(tmp_path):
    _saved_three_times(tmp_path)
    os.remove(tmp_path / "progress.json")  # the moment after the rename
    assert _restored(tmp_path) == (True, 2, 2.0)
