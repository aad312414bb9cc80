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

from absl import app

from runners import flagfiles

HELP_FLAGS = frozenset({"--help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml"})


def run(main: Callable[[list[str]], None], argv: list[str] | None = None) -> None:
    """Runs main under absl with flagfiles expanded; help requests exit 0.

    Raises:
        SystemExit: always, with main's status (2 for an unreadable flagfile).
    """
    argv = list(sys.argv if argv is None else argv)
    try:
        argv = flagfiles.expand(argv)
    except ValueError as error:
        sys.exit(f"error: {error}")
    try:
        app.run(main, argv=argv)
    except SystemExit as exiting:
        if exiting.code == 1 and HELP_FLAGS.intersection(argv[1:]):
            sys.exit(0)
        raise
