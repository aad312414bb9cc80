"""Every `python -m` command in the documentation runs a module that knows its flags.

```
README.md, BUILD.md, docs/**/*.md
  fenced blocks -> lines, backslash continuations joined -> parts split on && ; |
  -> Command("docs/usage.md:43", "runners.continual", ("--flagfile=...", "--workdir=W"))
each module, once:  python -m MODULE --helpfull --help
  absl reads --helpfull first: every flag of the program ("  --name:", "  --[no]name:")
  argparse passes over the unknown --helpfull and prints --help ("  -x, --long-name")
each --name, --name=value, --noname of a command -> a name its module knows
  --flagfile=PATH -> an existing file whose flags (nested flagfiles too) the module knows
  after a bare --: the flags benchmarks.tables hands to runners.continual for every row
```
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import glob
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCUMENTS = (
    "README.md",
    "BUILD.md",
    *sorted(
        os.path.relpath(path, REPO)
        for path in glob.glob(os.path.join(REPO, "docs", "**", "*.md"), recursive=True)
    ),
)
NOT_PROJECT_MODULES = frozenset({"pytest", "venv", "pip"})
# The runner a module hands the flags after a bare `--` to (benchmarks/tables.py: run_row).
FORWARDS_TO = {"benchmarks.tables": "runners.continual"}
# Each help run spends seconds importing TensorFlow; a few at once finish sooner on shared cores.
HELP_RUNS_AT_ONCE = 4

_INTERPRETER = re.compile(r"(?:\S*/)?python(?:3(?:\.\d+)?)?")
_SEPARATOR = re.compile(r"&&|\|\||;|\|")
_ABSL_FLAG = re.compile(r"^  (?:-\S,)?--(\[no\])?([\w.-]+):", re.MULTILINE)
_LONG_OPTION = re.compile(r"--[A-Za-z0-9][\w-]*")


@dataclasses.dataclass(frozen=True)
class Command:
    source: str  # "docs/usage.md:43", where the command starts
    module: str
    args: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Help:
    names: frozenset[str]  # the accepted spellings, without "--": x and nox for a --[no]x
    absl: bool  # absl reads --flagfile; argparse has no such flag
    error: str | None = None  # why the help run failed


def fenced_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line inside ``` fences, continued lines joined."""
    lines: list[tuple[int, str]] = []
    fenced = False
    start, pending = 0, ""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced, pending = not fenced, ""
            continue
        if not fenced:
            continue
        if not pending:
            start = number
        pending += line.strip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        lines.append((start, pending))
        pending = ""
    return lines


def _tokens(part: str) -> list[str]:
    """part's words, without a trailing # comment or the [ ] of optional arguments."""
    try:
        words = shlex.split(part, comments=True)
    except ValueError:  # an unbalanced quote in prose-like text
        words = part.split("#")[0].split()
    return [w for w in (word.strip("[]") for word in words) if w]


def _is_project_module(module: str) -> bool:
    """Whether module is the repository's (or a misspelt one): not pytest, pip or venv."""
    top = module.split(".")[0]
    if top in NOT_PROJECT_MODULES:
        return False
    spec = importlib.util.find_spec(top)
    origin = spec.origin if spec and spec.origin else ""
    return spec is None or os.path.abspath(origin).startswith(REPO + os.sep)


def parse_command(part: str) -> tuple[str, tuple[str, ...]] | None:
    """(module, arguments) of a `python -m module ...` shell part, None for other parts."""
    words = _tokens(part)
    for i in range(len(words) - 2):
        if _INTERPRETER.fullmatch(words[i]) and words[i + 1] == "-m":
            module = words[i + 2]
            return (module, tuple(words[i + 3 :])) if _is_project_module(module) else None
    return None


def commands_in(text: str, name: str) -> list[Command]:
    """The project's `python -m` commands in the fenced blocks of the markdown text."""
    commands = []
    for number, line in fenced_lines(text):
        for part in _SEPARATOR.split(line):
            parsed = parse_command(part)
            if parsed:
                commands.append(Command(f"{name}:{number}", *parsed))
    return commands


def documented_commands() -> list[Command]:
    commands = []
    for name in DOCUMENTS:
        with open(os.path.join(REPO, name), encoding="utf-8") as f:
            commands.extend(commands_in(f.read(), name))
    return commands


def help_from(returncode: int, stdout: str, stderr: str) -> Help:
    """The flags a `--helpfull --help` run lists: argparse's options or absl's flags."""
    names: set[str] = set()
    if stdout.startswith("usage:") and returncode == 0:
        for line in stdout.splitlines():
            if line.startswith("  -"):  # "  -h, --help   show this..." -> the option part
                option_strings = re.split(r"\s{2,}", line.strip())[0]
                names.update(option[2:] for option in _LONG_OPTION.findall(option_strings))
        return Help(frozenset(names), absl=False)
    for match in _ABSL_FLAG.finditer(stdout):
        names.update((match[2], f"no{match[2]}") if match[1] else (match[2],))
    # absl's own app.run exits 1 after the help; runners.program makes that 0.
    if returncode in (0, 1) and names and "Traceback" not in stderr:
        return Help(frozenset(names), absl=True)
    return Help(frozenset(), absl=True, error=f"exit {returncode}: {stderr[-2000:]}")


def read_help(module: str) -> Help:
    result = subprocess.run(
        [sys.executable, "-m", module, "--helpfull", "--help"],
        cwd=REPO,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return help_from(result.returncode, result.stdout, result.stderr)


def modules_of(command: Command) -> set[str]:
    """The command's module, and the runner it forwards flags after `--` to."""
    forwarded = "--" in command.args and command.module in FORWARDS_TO
    return {command.module, FORWARDS_TO[command.module]} if forwarded else {command.module}


def unknown_flags(command: Command, helps: Mapping[str, Help]) -> list[str]:
    """What is wrong with the command's flags, in words ([] when every flag is known)."""
    args, forwarded = list(command.args), []
    if "--" in args:
        at = args.index("--")
        args, forwarded = args[:at], args[at + 1 :]
    problems = _check(args, command.module, helps[command.module], ())
    if forwarded and command.module not in FORWARDS_TO:
        problems.append(f"{command.module} forwards no arguments after --: {forwarded}")
    elif forwarded:
        target = FORWARDS_TO[command.module]
        problems += _check(forwarded, target, helps[target], ())
    return problems


def _check(args: Sequence[str], module: str, known: Help, seen: tuple[str, ...]) -> list[str]:
    problems = []
    for arg in args:
        if not arg.startswith("--"):
            continue  # a value, a positional argument or a short option
        name, _, value = arg[2:].partition("=")
        if name == "flagfile" and known.absl:
            problems += _check_flagfile(value, module, known, seen)
        elif name not in known.names:
            problems.append(f"{module} has no flag --{name}")
    return problems


def _check_flagfile(path: str, module: str, known: Help, seen: tuple[str, ...]) -> list[str]:
    """The problems of the flags in a flagfile; paths are relative to the repository."""
    full = os.path.join(REPO, path)
    if not os.path.isfile(full):
        return [f"--flagfile={path} does not exist"]
    if path in seen:
        return [f"--flagfile={path} includes itself"]
    with open(full, encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    flags_in_file = [line for line in lines if line and not line.startswith("#")]
    problems = _check(flags_in_file, module, known, (*seen, path))
    return [f"{problem} (in {path})" for problem in problems]


COMMANDS = documented_commands()
_HELPS: dict[str, Help] = {}


@pytest.fixture(scope="module")
def helps(request: pytest.FixtureRequest) -> dict[str, Help]:
    """The help of every module the selected commands run, each read once, in parallel."""
    needed: set[str] = set()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)  # parametrized items only
        command = callspec.params.get("command") if callspec else None
        if isinstance(command, Command):
            needed |= modules_of(command)
    missing = sorted(needed - _HELPS.keys())
    with concurrent.futures.ThreadPoolExecutor(max_workers=HELP_RUNS_AT_ONCE) as pool:
        _HELPS.update(zip(missing, pool.map(read_help, missing), strict=True))
    return _HELPS


@pytest.mark.parametrize("command", COMMANDS, ids=[f"{c.source}:{c.module}" for c in COMMANDS])
def test_documented_command_runs_a_module_that_knows_its_flags(command, helps):
    for module in sorted(modules_of(command)):
        error = helps[module].error
        assert error is None, f"{command.source}: python -m {module} --helpfull: {error}"
    problems = unknown_flags(command, helps)
    assert not problems, f"{command.source}: {'; '.join(problems)}"


def test_the_documentation_shows_runner_and_benchmark_commands():
    modules = {command.module for command in COMMANDS}
    assert {"runners.continual", "runners.lifelong", "benchmarks.tables"} <= modules
    assert any(c.source.startswith("docs/") for c in COMMANDS)


FAKE_PAGE = """\
A command in prose is not checked: `python -m runners.continual --not_checked`.

```bash
python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/python -m runners.continual \\
    --lerner=gem --noprogress [--seeds=0,1] --workdir W  # --commented_out
.venv/bin/python -m pytest -q; python -m pip list
python -m benchmarks.tables --table table1 --data_dir DATA -- --progress=false --nope
```
"""
CONTINUAL = Help(frozenset({"learner", "progress", "noprogress", "seeds", "workdir"}), absl=True)
TABLES = Help(frozenset({"help", "table", "data_dir", "root"}), absl=False)
FAKE_HELPS = {"runners.continual": CONTINUAL, "benchmarks.tables": TABLES}


def test_the_fenced_project_commands_of_a_page_are_found():
    commands = commands_in(FAKE_PAGE, "fake.md")
    assert [(c.source, c.module) for c in commands] == [
        ("fake.md:4", "runners.continual"),
        ("fake.md:7", "benchmarks.tables"),
    ]
    assert commands[0].args == ("--lerner=gem", "--noprogress", "--seeds=0,1", "--workdir", "W")


def test_an_unknown_flag_is_reported_and_known_spellings_pass():
    continual, tables = commands_in(FAKE_PAGE, "fake.md")
    assert unknown_flags(continual, FAKE_HELPS) == ["runners.continual has no flag --lerner"]
    # After `--` the flags are the runner's: --progress=false is, --nope is not.
    assert unknown_flags(tables, FAKE_HELPS) == ["runners.continual has no flag --nope"]
    assert modules_of(tables) == {"benchmarks.tables", "runners.continual"}


def test_arguments_after_a_separator_a_module_does_not_forward_are_reported():
    command = Command("fake.md:1", "runners.continual", ("--seeds=0", "--", "--workdir=W"))
    assert unknown_flags(command, FAKE_HELPS) == [
        "runners.continual forwards no arguments after --: ['--workdir=W']"
    ]


def test_flags_inside_nested_flagfiles_are_checked(tmp_path):
    inner = tmp_path / "inner.flags"
    inner.write_text("# a comment\n--seeds=0\n--unknown_inside=1\n")
    outer = tmp_path / "outer.flags"
    outer.write_text(f"--flagfile={inner}\n--learner=gem\n")
    missing = tmp_path / "missing.flags"
    command = Command("fake.md:1", "runners.continual", (f"--flagfile={outer}",))
    assert unknown_flags(command, FAKE_HELPS) == [
        f"runners.continual has no flag --unknown_inside (in {inner}) (in {outer})"
    ]
    command = Command("fake.md:1", "runners.continual", (f"--flagfile={missing}",))
    assert unknown_flags(command, FAKE_HELPS) == [f"--flagfile={missing} does not exist"]
    # An argparse module has no --flagfile.
    command = Command("fake.md:1", "benchmarks.tables", (f"--flagfile={outer}",))
    assert unknown_flags(command, FAKE_HELPS) == ["benchmarks.tables has no flag --flagfile"]


def test_absl_and_argparse_help_is_read():
    absl = (
        "\nrunners/plot.py:\n  --output: PNG.\n    (default: 'a')\n  --[no]progress: Bar.\n"
        "\nabsl.app:\n  -?,--[no]help: show this help\n"
    )
    assert help_from(1, absl, "").names == {"output", "progress", "noprogress", "help", "nohelp"}
    argparse = (
        "usage: tables.py [-h] [--table {a,b}]\n\noptions:\n"
        "  -h, --help            show this help and exit (see --not_an_option)\n"
        "  --table {a,b}\n                        which table\n"
        "  --jit_compile, --no-jit_compile\n"
    )
    assert help_from(0, argparse, "").names == {"help", "table", "jit_compile", "no-jit_compile"}
    failed = help_from(1, "", "Traceback (most recent call last):\nModuleNotFoundError: x\n")
    assert failed.error and "ModuleNotFoundError" in failed.error
