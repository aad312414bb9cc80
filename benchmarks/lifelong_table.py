"""The lifelong runs' table: normalised returns, retention and BWT at equal bytes.

Reads the results.json of finished `runners.lifelong` runs and a references.json
(`--mode=references`), normalises every seed's return matrix between its random
policy and the single-game references (over the games whose reference beats a
random policy; the others are listed and left out), and prints one markdown row
per run:
transitions held, bits per frame, final mean normalised return (retention over all
games after the last cycle), the mean normalised return of each game in its own
phase, BWT, each game's final raw return, and training speed; then each game's
frame error after its own phases and after the other games' phases (the codec's
forgetting); then each game's mean training return over the second half of each
of its phases, from every seed's `seed_<s>/result.json` (less noisy than the few
greedy evaluation episodes behind "in phase").

Usage (from the repository root):
    python -m benchmarks.lifelong_table --workdirs=runs/minatar_real,runs/minatar_rec \
        --references=runs/minatar_ref/references.json [--output=lifelong.json]

A workdir given as `A+B` joins runs of the same settings made with other seeds
into one row (named after A).
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from agents.lifelong import results


def _load(path: str) -> dict:
    if not os.path.exists(path):
        raise SystemExit(f"error: expected {path}; finish the run first")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def joined_run(workdirs: list[str]) -> dict:
    """The results of runs of the same settings but other seeds, as one run's.

    Raises:
        SystemExit: if the runs' settings, apart from their seeds, differ.
    """
    runs = [_load(os.path.join(w, "results.json")) for w in workdirs]
    for workdir, run in zip(workdirs, runs, strict=True):
        for seed in run["seeds"]:
            path = os.path.join(workdir, f"seed_{seed['seed']}", "result.json")
            if "episodes" not in seed and os.path.exists(path):
                seed["episodes"] = _load(path)["episodes"]
    settings = [{k: v for k, v in r["config"].items() if k != "seeds"} for r in runs]
    if any(s != settings[0] for s in settings):
        raise SystemExit(f"error: expected runs of the same settings to join: {workdirs}")
    return {**runs[0], "seeds": [s for r in runs for s in r["seeds"]]}


def learned_games(runs: list[dict], references: dict[str, float]) -> list[str]:
    """The games whose single-game reference beats every seed's random policy."""
    games = runs[0]["seeds"][0]["games"]
    return [
        g
        for i, g in enumerate(games)
        if all(references[g] > s["random_returns"][i] for r in runs for s in r["seeds"])
    ]


def run_row(run: dict, references: dict[str, float], learned: list[str]) -> dict:
    """Per-seed normalised summaries of one run over the learned games, mean and std."""
    seeds = run["seeds"]
    games = seeds[0]["games"]
    columns = [games.index(g) for g in learned]
    scales = [references[g] for g in games]
    summaries = [
        results.normalised_columns(
            np.asarray(seed["return_matrix"]),
            seed["random_returns"],
            scales,
            seed["phase_games"],
            columns,
        )[1]
        for seed in seeds
    ]
    finals = np.asarray([s["final_returns"] for s in seeds])
    return {
        "footprint": run["footprint"],
        "seeds": [s["seed"] for s in seeds],
        "normalised_games": learned,
        "normalised": {key: results.mean_std([s[key] for s in summaries]) for key in summaries[0]},
        "final_returns": dict(zip(games, finals.mean(0).tolist(), strict=True)),
        "random_returns": dict(
            zip(games, np.mean([s["random_returns"] for s in seeds], 0).tolist(), strict=True)
        ),
        "train_steps_per_second": float(np.mean([s["train_steps_per_second"] for s in seeds])),
        "wall_seconds_per_seed": float(np.mean([s["wall_seconds"] for s in seeds])),
    }


def markdown(rows: dict[str, dict], references: dict[str, float]) -> str:
    """The table, one row per run, then the random and reference rows."""
    games = list(next(iter(rows.values()))["final_returns"])
    head = "| run | transitions held | bits a frame | final (retention) | in phase | BWT | "
    head += " | ".join(games) + " | steps/s | min/seed |"
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for name, row in rows.items():
        n, f = row["normalised"], row["footprint"]

        def pm(key: str, n: dict = n) -> str:
            return f"{n[key]['mean']:.2f} ± {n[key]['std']:.2f}"

        cells = [
            f"{name} (seeds {','.join(map(str, row['seeds']))})",
            f"{f['capacity_transitions']:,}",
            str(f["bits_per_frame"]),
            pm("final_mean"),
            pm("in_phase_mean"),
            f"{n['bwt']['mean']:+.2f} ± {n['bwt']['std']:.2f}",
            *(f"{row['final_returns'][g]:.2f}" for g in games),
            f"{row['train_steps_per_second']:.0f}",
            f"{row['wall_seconds_per_seed'] / 60:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    random = next(iter(rows.values()))["random_returns"]
    blank = " | ".join([""] * 5)
    lines.append(f"| random policy | {blank} | " + " | ".join(f"{random[g]:.2f}" for g in games)
                 + " | | |")  # fmt: skip
    lines.append(f"| single-game reference | {blank} | "
                 + " | ".join(f"{references[g]:.2f}" for g in games) + " | | |")  # fmt: skip
    return "\n".join(lines)


def frame_error_summary(run: dict) -> dict[str, dict]:
    """Each game's frame error after its own phases and after the other games' phases.

    The frame error (`results.json`, `frame_error_matrix`) is the mean number of
    wrong pixels of an evaluation frame after encoding and decoding; raw storage
    logs 0. Returns game -> {"own", "other": per-phase values averaged over seeds
    (in phase order), "own_mean", "other_mean": their means}.
    """
    seeds = run["seeds"]
    games, played = seeds[0]["games"], seeds[0]["phase_games"]
    matrix = np.mean([np.asarray(s["frame_error_matrix"]) for s in seeds], axis=0)
    out = {}
    for g, game in enumerate(games):
        own = [float(matrix[p, g]) for p, q in enumerate(played) if q == g]
        other = [float(matrix[p, g]) for p, q in enumerate(played) if q != g]
        out[game] = {
            "own": own,
            "other": other,
            "own_mean": float(np.mean(own)) if own else float("nan"),
            "other_mean": float(np.mean(other)) if other else float("nan"),
        }
    return out


def frame_error_markdown(runs: dict[str, dict]) -> str:
    """One row per run and game: frame error after its own and the other games' phases."""
    lines = [
        "| run | game | after its own phases | after the other games' phases | other / own |",
        "|---|---|---|---|---:|",
    ]
    for name, run in runs.items():
        for game, row in frame_error_summary(run).items():
            own, other = row["own_mean"], row["other_mean"]
            ratio = f"{other / own:.1f}" if own > 0 else ""
            lines.append(
                f"| {name} | {game} | {', '.join(f'{v:.2f}' for v in row['own'])} "
                f"(mean {own:.2f}) | {', '.join(f'{v:.2f}' for v in row['other'])} "
                f"(mean {other:.2f}) | {ratio} |"
            )
    return "\n".join(lines)


def training_in_phase(run: dict, references: dict[str, float], learned: list[str]) -> dict:
    """Each phase's mean training return over its second half, raw and normalised.

    A seed's `episodes` are [env step at the episode's end, game, return]; a phase
    p of S steps keeps its game's episodes that end in (p S + S / 2, (p + 1) S].

    Returns:
        {"raw": game -> its phases' means over seeds, "normalised": mean and std over
        seeds of the mean over the learned games' phases of (R - random) /
        (reference - random)}; {} when a seed has no episodes.
    """
    seeds = run["seeds"]
    if not all("episodes" in s for s in seeds):
        return {}
    steps = run["config"]["steps_per_phase"]
    games, played = seeds[0]["games"], seeds[0]["phase_games"]
    means = np.full((len(seeds), len(played)), np.nan)
    for i, seed in enumerate(seeds):
        episodes = np.asarray(seed["episodes"], float).reshape(-1, 3)
        for p, g in enumerate(played):
            end = episodes[:, 0]
            kept = (end > p * steps + steps // 2) & (end <= (p + 1) * steps)
            kept &= episodes[:, 1] == g
            means[i, p] = episodes[kept, 2].mean() if kept.any() else np.nan
    raw = {
        game: [float(np.nanmean(means[:, p])) for p, q in enumerate(played) if q == g]
        for g, game in enumerate(games)
    }
    scores = []
    for i, seed in enumerate(seeds):
        low = seed["random_returns"]
        values = [
            (means[i, p] - low[g]) / (references[games[g]] - low[g])
            for p, g in enumerate(played)
            if games[g] in learned
        ]
        scores.append(float(np.nanmean(values)))
    return {"raw": raw, "normalised": results.mean_std(scores)}


def training_markdown(rows: dict[str, dict]) -> str:
    """One row per run: normalised training return in phase, each game's phase means."""
    games = list(next(iter(rows.values()))["raw"])
    lines = ["| run | normalised, in phase | " + " | ".join(games) + " |"]
    lines.append("|---" * (len(games) + 2) + "|")
    for name, row in rows.items():
        n = row["normalised"]
        cells = [f"{n['mean']:.2f} ± {n['std']:.2f}"]
        cells += [", ".join(f"{v:.2f}" for v in row["raw"][g]) for g in games]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Prints the table and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdirs", required=True)
    parser.add_argument("--references", required=True)
    parser.add_argument("--output", default="lifelong_table.json")
    args = parser.parse_args()
    references = _load(args.references)
    runs = {
        os.path.basename(os.path.normpath(w.split("+")[0])): joined_run(w.split("+"))
        for w in args.workdirs.split(",")
    }
    learned = learned_games(list(runs.values()), references)
    if not learned:
        raise SystemExit("error: no game's reference beats its random policy")
    rows = {name: run_row(run, references, learned) for name, run in runs.items()}
    errors = {name: frame_error_summary(run) for name, run in runs.items()}
    training = {name: training_in_phase(run, references, learned) for name, run in runs.items()}
    training = {name: row for name, row in training.items() if row}
    with open(args.output, "w", encoding="utf-8") as f:
        out = {"rows": rows, "frame_error": errors, "training": training}
        json.dump({**out, "references": references}, f, indent=2)
    print(markdown(rows, references))
    print("\nFrame error (wrong pixels of an evaluation frame after encoding and decoding, "
          "mean over seeds):\n")  # fmt: skip
    print(frame_error_markdown(runs))
    if training:
        print("\nTraining return (epsilon-greedy), second half of each phase, mean over seeds:\n")
        print(training_markdown(training))
    left_out = [g for g in next(iter(runs.values()))["seeds"][0]["games"] if g not in learned]
    if left_out:
        print(f"\nNormalised over {', '.join(learned)}; left out (the single-game agent "
              f"did not beat a random policy): {', '.join(left_out)}")  # fmt: skip


if __name__ == "__main__":
    main()
