"""Plots retention and accuracy matrices of continual runs (or lifelong runs' returns) to PNG.

    python -m runners.plot --workdirs=runs/replay_real_100,runs/replay_rec_100
        --output=runs/retention.png

Draws, for each work directory, its retention (mean +- std over seeds) as a bar,
and the accuracy matrix of its first seed as a heat map (rows: after training on
task i; columns: test accuracy on task j). For lifelong runs (runners.lifelong) it
draws each game's evaluation return after every phase, one line per run, and
each run's return matrix.
"""

from __future__ import annotations

from absl import app, flags

from agents import plotting
from runners import program

_WORKDIRS = flags.DEFINE_list("workdirs", None, "Work directories holding results.json.")
_OUTPUT = flags.DEFINE_string("output", "retention.png", "PNG file to write.")


def main(argv: list[str]) -> None:
    """Plots the runs in --workdirs to --output."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        path = plotting.plot_runs(_WORKDIRS.value or [], _OUTPUT.value)
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    print(f"wrote {path}")


if __name__ == "__main__":
    flags.mark_flag_as_required("workdirs")
    program.run(main)
