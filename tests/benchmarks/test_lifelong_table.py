"""benchmarks.lifelong_table: normalised summaries of finished lifelong runs."""

import pytest

from benchmarks import lifelong_table


def _seed(seed, matrix):
    return {
        "seed": seed,
        "games": ["a", "b"],
        "phase_games": [0, 1],
        "return_matrix": matrix,
        "random_returns": [1.0, 0.0],
        "final_returns": matrix[-1],
        "train_steps_per_second": 100.0,
        "wall_seconds": 120.0,
    }


def test_rows_normalise_each_seed_then_average():
    run = {
        "footprint": {"capacity_transitions": 10, "bits_per_frame": 80},
        "seeds": [_seed(0, [[3.0, 0.0], [1.0, 2.0]]), _seed(1, [[5.0, 0.0], [3.0, 4.0]])],
    }
    references = {"a": 5.0, "b": 4.0}
    assert lifelong_table.learned_games([run], references) == ["a", "b"]
    row = lifelong_table.run_row(run, references, ["a", "b"])
    # seed 0: final (0 + 0.5) / 2, in phase (0.5 + 0.5) / 2, BWT (0 - 0.5 + 0) / 2
    # seed 1: final (0.5 + 1) / 2, in phase (1 + 1) / 2, BWT (0.5 - 1 + 0) / 2
    assert row["normalised"]["final_mean"]["mean"] == pytest.approx((0.25 + 0.75) / 2)
    assert row["normalised"]["in_phase_mean"]["mean"] == pytest.approx((0.5 + 1.0) / 2)
    assert row["normalised"]["bwt"]["mean"] == pytest.approx((-0.25 - 0.25) / 2)
    assert row["final_returns"] == {"a": 2.0, "b": 3.0}
    table = lifelong_table.markdown({"rec": row}, references)
    assert "| rec (seeds 0,1) | 10 | 80 | 0.50 ± 0.25 |" in table
    assert "single-game reference" in table and "| 5.00 | 4.00 |" in table


def test_games_the_reference_does_not_learn_are_left_out_of_the_normalisation():
    run = {
        "footprint": {"capacity_transitions": 10, "bits_per_frame": 80},
        "seeds": [_seed(0, [[3.0, 0.0], [1.0, 2.0]])],
    }
    references = {"a": 5.0, "b": 0.0}  # b's reference is no better than random (0)
    assert lifelong_table.learned_games([run], references) == ["a"]
    row = lifelong_table.run_row(run, references, ["a"])
    assert row["normalised"]["final_mean"]["mean"] == pytest.approx(0.0)  # (1 - 1) / 4
    assert row["normalised"]["in_phase_mean"]["mean"] == pytest.approx(0.5)  # phase 0 only
    assert row["normalised"]["bwt"]["mean"] == pytest.approx(-0.5)


def test_frame_error_is_split_into_after_own_and_after_other_phases_averaged_over_seeds():
    seeds = [_seed(0, [[0.0, 0.0]] * 4), _seed(1, [[0.0, 0.0]] * 4)]
    for seed, scale in zip(seeds, (1.0, 3.0), strict=True):
        seed["phase_games"] = [0, 1, 0, 1]
        seed["frame_error_matrix"] = [
            [scale * v for v in row] for row in ([1, 20], [30, 2], [1, 20], [30, 2])
        ]
    summary = lifelong_table.frame_error_summary({"seeds": seeds})
    assert summary["a"]["own"] == [2.0, 2.0] and summary["a"]["other"] == [60.0, 60.0]
    assert summary["b"]["own_mean"] == 4.0 and summary["b"]["other_mean"] == 40.0
    table = lifelong_table.frame_error_markdown({"rec": {"seeds": seeds}})
    assert "| rec | a | 2.00, 2.00 (mean 2.00) | 60.00, 60.00 (mean 60.00) | 30.0 |" in table


def test_runs_of_other_seeds_join_into_one_row_and_other_settings_are_refused(tmp_path):
    import json

    for name, seeds, cycles in (("a", [0], 3), ("b", [1, 2], 3), ("c", [3], 2)):
        (tmp_path / name).mkdir()
        run = {
            "config": {"seeds": seeds, "cycles": cycles},
            "seeds": [_seed(s, [[1.0, 2.0]]) for s in seeds],
        }
        (tmp_path / name / "results.json").write_text(json.dumps(run))
    joined = lifelong_table.joined_run([str(tmp_path / "a"), str(tmp_path / "b")])
    assert [s["seed"] for s in joined["seeds"]] == [0, 1, 2]
    with pytest.raises(SystemExit, match="same settings"):
        lifelong_table.joined_run([str(tmp_path / "a"), str(tmp_path / "c")])


def test_training_returns_in_phase_keep_the_second_half_of_each_phase(tmp_path):
    import json

    seeds = [_seed(0, [[0.0, 0.0]] * 3), _seed(1, [[0.0, 0.0]] * 3)]
    for seed in seeds:
        seed["phase_games"] = [0, 1, 0]
    # 10 steps a phase: episodes ending at steps 6-10 count for phase 0, 16-20 for phase 1
    seeds[0]["episodes"] = [[3, 0, 100.0], [7, 0, 3.0], [10, 0, 5.0], [18, 1, 2.0], [28, 0, 5.0]]
    seeds[1]["episodes"] = [[8, 0, 5.0], [12, 1, 100.0], [20, 1, 4.0], [29, 0, 3.0], [29, 1, 9.0]]
    run = {"config": {"steps_per_phase": 10, "seeds": [0]}, "seeds": seeds[:1]}
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "seed_0").mkdir()
    (tmp_path / "a" / "results.json").write_text(json.dumps({**run, "seeds": [_seed(0, [[0.0]])]}))
    (tmp_path / "a" / "seed_0" / "result.json").write_text(json.dumps(seeds[0]))
    joined = lifelong_table.joined_run([str(tmp_path / "a")])
    assert joined["seeds"][0]["episodes"] == seeds[0]["episodes"]  # read from seed_0
    run = {"config": {"steps_per_phase": 10}, "seeds": seeds}
    references = {"a": 5.0, "b": 4.0}  # random returns: a 1.0, b 0.0
    out = lifelong_table.training_in_phase(run, references, ["a", "b"])
    # seed 0: phases a 4.0, b 2.0, a 5.0; seed 1: a 5.0, b 4.0, a 3.0
    assert out["raw"] == {"a": [4.5, 4.0], "b": [3.0]}
    # normalised, seed 0: (0.75 + 0.5 + 1.0) / 3; seed 1: (1.0 + 1.0 + 0.5) / 3
    assert out["normalised"]["mean"] == pytest.approx((2.25 / 3 + 2.5 / 3) / 2)
    table = lifelong_table.training_markdown({"rec": out})
    assert "| rec | 0.79 ± 0.04 | 4.50, 4.00 | 3.00 |" in table
    assert lifelong_table.training_in_phase({"seeds": [_seed(0, [[0.0]])]}, references, ["a"]) == {}
