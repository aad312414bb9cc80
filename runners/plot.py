"""Plots retention and accuracy matrices of continual runs (or lifelong runs' returns) to PNG.

    python -m runners.plot --workdirs=runs/replay_real_100,runs/replay_rec_100
        --output=runs/retention.png

Draws, for each work directory, its retention (mean +- std over seeds) as a bar,
and the accuracy matrix of its first seed as a heat map (rows: after training on
task i; columns: test accuracy on task j). For lifelong runs (runners.lifelong) it
draws each game's evaluation return after every phase, one line per run, and
each run's return matrix; for distillation runs (runners.distill), one panel per
run with each method's test accuracy against episodes (log scale).

    python -m runners.plot --workdirs=runs/replay_rec_100 --output=runs/retention.png
        --drift_output=runs/drift.png

With --drift_output it also draws code drift (the paper's Figure 5) for runs made
with --drift_probe_items: one curve per task, the L1 distortion of that task's
probe codes after each task trained, starting from its value when written.
"""

from __future__ import annotations

from absl import app, flags

from agents import plotting
from runners import program

_WORKDIRS = flags.DEFINE_list("workdirs", None, "Work directories holding results.json.")
_OUTPUT = flags.DEFINE_string("output", "retention.png", "PNG file to write.")
_DRIFT_OUTPUT = flags.DEFINE_string(
    "drift_output", None, "Also write the code-drift PNG here (runs with --drift_probe_items)."
)


def main(argv: list[str]) -> None:
    """Plots the runs in --workdirs to --output."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    workdirs = _WORKDIRS.value or []
    try:
        paths = [plotting.plot_runs(workdirs, _OUTPUT.value)]
        if _DRIFT_OUTPUT.value:
            paths.append(plotting.plot_drift(workdirs, _DRIFT_OUTPUT.value))
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    for path in paths:
        print(f"wrote {path}")


if __name__ == "__main__":
    flags.mark_flag_as_required("workdirs")
    program.run(main)
