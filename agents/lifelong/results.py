"""Return matrices -> normalised returns, retention and backward transfer.

Where this sits: `agents.lifelong.loop` fills one return matrix per seed (row p:
the mean evaluation return on every game after phase p) and calls `seed_result`
at the end; `aggregate` joins the seeds for `results.json`.

```
returns     float [P, G]   phase p = cycle * len(games) + position in the cycle
normalised  (R - random) / (reference - random) per game: 0 = a random policy,
            1 = a single-game agent given as many steps (when references are known;
            over the games whose reference beats the seed's random policy)
final       mean over games of the last row              (the agent at the end)
retention   mean over games of the last row, each game's entry taken from the
            normalised matrix (= final), reported with BWT
bwt         mean over games of R[P-1, g] - R[last phase of g, g]   (< 0: forgetting)
learned     R[p, game of p] for every phase: the game just trained, in its phase
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from agents.experiment.stats import mean_std


def normalise(
    returns: np.ndarray,
    random_returns: Sequence[float],
    references: Sequence[float] | None,
) -> np.ndarray | None:
    """(R - random) / (reference - random) per game; None without references.

    Raises:
        ValueError: if a reference does not lie above its game's random return.
    """
    if references is None:
        return None
    low, high = np.asarray(random_returns, float), np.asarray(references, float)
    if np.any(high <= low):
        raise ValueError(
            "Expected every reference return above the random policy's. Received: "
            f"references={high.tolist()}, random={low.tolist()}"
        )
    return (np.asarray(returns, float) - low) / (high - low)


def phase_games(games: Sequence[str], cycles: int) -> list[int]:
    """The game id (index among distinct games) trained in every phase."""
    ids = {name: i for i, name in enumerate(dict.fromkeys(games))}
    return [ids[name] for _ in range(cycles) for name in games]


def summary(matrix: np.ndarray, played: Sequence[int]) -> dict[str, float]:
    """final mean, BWT and the mean in-phase value of a [P, G] matrix.

    A phase whose entry in `played` is negative trained a game that is not a
    column here (one left out of the normalisation); it still counts as time.
    """
    matrix = np.asarray(matrix, float)
    last_phase = {g: p for p, g in enumerate(played) if g >= 0}
    final = matrix[-1]
    bwt = [final[g] - matrix[p, g] for g, p in last_phase.items()]
    learned = [matrix[p, g] for p, g in enumerate(played) if g >= 0]
    return {
        "final_mean": float(final.mean()),
        "bwt": float(np.mean(bwt)),
        "in_phase_mean": float(np.mean(learned)),
    }


def normalised_columns(
    returns: np.ndarray,
    random_returns: Sequence[float],
    references: Sequence[float],
    played: Sequence[int],
    columns: Sequence[int],
) -> tuple[np.ndarray, dict[str, float]]:
    """The normalised matrix [P, len(columns)] of some games and its summary.

    Args:
        returns: float [P, G], every game's return after every phase.
        random_returns, references: per game, all G of them.
        played: `phase_games`; phases of a game not in columns count as time only.
        columns: the game ids to normalise, in order.

    Raises:
        ValueError: as `normalise`.
    """
    matrix = normalise(
        np.asarray(returns, float)[:, list(columns)],
        [random_returns[c] for c in columns],
        [references[c] for c in columns],
    )
    assert matrix is not None  # references are given
    remap = {c: i for i, c in enumerate(columns)}
    return matrix, summary(matrix, [remap.get(g, -1) for g in played])


def seed_result(
    *,
    seed: int,
    games: Sequence[str],
    cycles: int,
    returns: np.ndarray,
    random_returns: Sequence[float],
    references: Sequence[float] | None,
    extras: Mapping[str, object],
) -> dict:
    """One seed's results: raw and normalised matrices and their summaries.

    The normalised ones cover the games whose reference beats this seed's random
    policy ("normalised_games"); a game no agent learned above random (its
    reference at or below the random return) has no scale and is left out.
    """
    played = phase_games(games, cycles)
    names = list(dict.fromkeys(games))
    scales = list(references) if references is not None else []
    columns = [g for g in range(len(scales)) if scales[g] > random_returns[g]]
    result = {
        "seed": seed,
        "games": names,
        "phase_games": played,
        "return_matrix": np.asarray(returns, float).tolist(),
        "random_returns": list(map(float, random_returns)),
        "raw": summary(returns, played),
        "final_returns": np.asarray(returns, float)[-1].tolist(),
        **extras,
    }
    if columns:
        normalised, normalised_summary = normalised_columns(
            returns, random_returns, scales, played, columns
        )
        result["normalised_games"] = [names[c] for c in columns]
        result["normalised_matrix"] = normalised.tolist()
        result["normalised"] = normalised_summary
        result["retention"] = normalised_summary["final_mean"]
    return result


def aggregate(seeds: Sequence[dict]) -> dict:
    """Mean and std over seeds of every summary number, and each game's final return."""
    out: dict[str, object] = {"num_seeds": len(seeds)}
    for block in ("raw", "normalised"):
        if all(block in s for s in seeds):
            keys = seeds[0][block]
            out[block] = {k: mean_std([s[block][k] for s in seeds]) for k in keys}
    finals = np.asarray([s["final_returns"] for s in seeds], float)
    out["final_returns"] = {
        game: mean_std(finals[:, g]) for g, game in enumerate(seeds[0]["games"])
    }
    return out
