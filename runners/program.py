"""What every runner's `__main__` does: expand flagfiles, run, exit with the right code.

```
python -m runners.X --flagfile=... --flag=...   ->  program.run(main)
  argv with flagfiles inlined (repository or installed copies)  runners.flagfiles
  app.run(main, argv)                                            absl
  --help / --helpfull: usage on stdout, exit 0 (absl exits 1)
```
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from absl import app, flags, logging

from agents.experiment import RunInterrupted
from runners import flagfiles

HELP_FLAGS = frozenset({"--help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml"})


def run(
    main: Callable[[list[str]], None],
    argv: list[str] | None = None,
    *,
    flag_values: flags.FlagValues | None = None,
) -> None:
    """Runs main under absl with flagfiles expanded; help requests exit 0.

    Args:
        main: the program's main(argv).
        argv: the command line (default sys.argv).
        flag_values: the program's own flags, when they are not absl's global
            FLAGS (a runner whose flag names another runner also uses).

    Raises:
        SystemExit: always, with main's status (2 for an unreadable flagfile).
    """
    argv = list(sys.argv if argv is None else argv)
    try:
        argv = flagfiles.expand(argv)
    except ValueError as error:
        sys.exit(f"error: {error}")
    if flag_values is not None and HELP_FLAGS.intersection(argv[1:]):
        print(flag_values.get_help())
        sys.exit(0)
    parser = None if flag_values is None else _own_parser(flag_values)
    try:
        app.run(main, argv=argv, flags_parser=parser) if parser else app.run(main, argv=argv)
    except SystemExit as exiting:
        if exiting.code == 1 and HELP_FLAGS.intersection(argv[1:]):
            sys.exit(0)
        raise


def _own_parser(flag_values: flags.FlagValues) -> Callable[[list[str]], list[str]]:
    """An absl flags_parser that reads the program's flags into flag_values."""

    def parse(argv: list[str]) -> list[str]:
        flags.FLAGS(argv[:1])  # absl's own flags (logging) at their defaults
        try:
            return flag_values(argv)
        except flags.Error as error:
            sys.exit(f"error: {error}")

    return parse


def start(
    argv: list[str],
    workdir: str | None,
    make_config: Callable[[], Any],
    *,
    output_flag: str = "workdir",
) -> tuple[Any, str]:
    """A runner main's first steps: no stray arguments, quiet logs, --workdir, a config.

    Args:
        argv: what absl left of the command line (the program's name alone).
        workdir: the value of the program's output flag.
        make_config: builds the config from the parsed flags.
        output_flag: the name of that output flag ("workdir"; "output" for a file).

    Returns:
        (the config make_config builds, the work directory or output path).

    Raises:
        app.UsageError: on stray arguments, no output flag, or a bad setting.
    """
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    if workdir is None:
        raise app.UsageError(f"Expected --{output_flag}. Received: none")
    try:
        return make_config(), workdir
    except ValueError as error:
        raise app.UsageError(str(error)) from error


def finish(execute: Callable[[], str]) -> None:
    """Prints the line execute() returns; a stopped run exits 128 + its signal, a refused one 2.

    Raises:
        SystemExit: when the run was stopped (after its checkpoint) or refused.
    """
    try:
        line = execute()
    except RunInterrupted as stop:
        print(f"\n{stop}", file=sys.stderr)
        sys.exit(128 + stop.signal_number)
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(line)
