"""benchmarks.distill_table: seeds' curves joined into tables, and the better of two runs."""

import json

import pytest

from benchmarks import distill_table

EPISODES = [100, 1000]


def _memories():
    return {
        "10x": {
            "num_latents": 8,
            "num_categories": 2,
            "items": 50,
            "param_count": 1000,
            "total_storage": 5.0,
            "l1_distortion": 0.05,
        }
    }


def _workdir(tmp_path, name, learning_rate, curves_by_seed, *, episodes=EPISODES):
    """A finished run of one or more seeds: config.json and results.json."""
    workdir = tmp_path / name
    workdir.mkdir()
    (workdir / "config.json").write_text(
        json.dumps({"episodes": episodes, "learning_rate": learning_rate})
    )
    per_seed = [
        {
            "seed": seed,
            "teacher_accuracy": 0.99,
            "curves": curves,
            "memories": _memories(),
            "steps": 1000,
            "train_seconds": 10.0,
        }
        for seed, curves in enumerate(curves_by_seed)
    ]
    (workdir / "results.json").write_text(json.dumps({"per_seed": per_seed}))
    return str(workdir)


def test_table_gives_mean_and_population_std_over_seeds(tmp_path):
    workdir = _workdir(tmp_path, "a", 1e-3, [{"cnn/real": [0.5, 0.9]}, {"cnn/real": [0.7, 0.95]}])
    seeds = distill_table.seed_curves(workdir)
    assert [s["learning_rate"] for s in seeds] == [1e-3, 1e-3]
    assert "| cnn/real | 60.00 ± 10.00 | 92.50 ± 2.50 |" in distill_table.table(seeds, EPISODES)


def test_best_table_takes_each_cell_from_the_run_with_the_higher_mean(tmp_path):
    high_lr = _workdir(tmp_path, "a", 1e-3, [{"cnn/real": [0.6, 0.90], "cnn/rec": [0.5, 0.80]}])
    low_lr = _workdir(tmp_path, "b", 1e-4, [{"cnn/real": [0.4, 0.95], "cnn/rec": [0.3, 0.70]}])
    runs = [distill_table.seed_curves(high_lr), distill_table.seed_curves(low_lr)]
    text = distill_table.best_table(runs, EPISODES)
    assert "| cnn/real | 60.00 ± 0.00 (lr 0.001) | 95.00 ± 0.00 (lr 0.0001) |" in text
    assert "| cnn/rec | 50.00 ± 0.00 (lr 0.001) | 80.00 ± 0.00 (lr 0.001) |" in text


def test_best_table_refuses_runs_that_test_at_different_episodes(tmp_path):
    a = _workdir(tmp_path, "a", 1e-3, [{"cnn/real": [0.6, 0.9]}])
    b = _workdir(tmp_path, "b", 1e-4, [{"cnn/real": [0.6, 0.9]}], episodes=[10, 1000])
    runs = [distill_table.seed_curves(a), distill_table.seed_curves(b)]
    with pytest.raises(ValueError, match="same --episodes"):
        distill_table.best_table(runs, [1000])


def test_main_appends_the_better_of_the_runs_with_best_of(tmp_path):
    a = _workdir(tmp_path, "a", 1e-3, [{"cnn/real": [0.6, 0.9]}])
    b = _workdir(tmp_path, "b", 1e-4, [{"cnn/real": [0.5, 0.97]}])
    output = tmp_path / "table.md"
    text = distill_table.main(
        [f"--workdirs={a}", f"--best_of={b}", "--episodes=100,1000", f"--output={output}"]
    )
    assert "| cnn/real | 60.00 ± 0.00 | 90.00 ± 0.00 |" in text  # the first run alone
    assert "| cnn/real | 60.00 ± 0.00 (lr 0.001) | 97.00 ± 0.00 (lr 0.0001) |" in text
    assert output.read_text() == text
