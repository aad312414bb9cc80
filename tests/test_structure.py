"""The code's shape: no import circles, short modules and functions, the library's imports.

Static checks over the source (nothing is imported): every `import` and `from ...
import` of the project's packages, wherever it sits (module level, inside a
function, under `if TYPE_CHECKING:`), is an edge of the import graph.
"""

import ast
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("recollect", "agents", "runners", "benchmarks")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60  # without its docstring
# Distribution -> the module it installs, for setup.py's INSTALL_REQUIRES.
MODULE_OF = {"tensorflow-datasets": "tensorflow_datasets", "pillow": "PIL"}
# Modules the library imports that its requirements bring: tfds downloads with requests.
BROUGHT_BY_REQUIREMENTS = {"requests"}


def project_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of PACKAGES."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _owner(name: str, modules: Mapping[str, Path]) -> str | None:
    """The longest project module that name is or lies inside."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imported_names(path: Path, module: str) -> set[str]:
    """Every dotted name the file imports: `import a.b` gives a.b; `from a import b`, a.b.

    A relative import is made absolute; the package itself is counted only for
    names that are not its modules (`from a import b` with b a module imports
    a.b; a's __init__ runs first, but importing its own modules is what an
    __init__ does, not a circle).
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports."""
    graph = {}
    for module, path in modules.items():
        owners = {_owner(name, modules) for name in imported_names(path, module)}
        graph[module] = {o for o in owners if o is not None and o != module}
    return graph


def reachable(graph: Mapping[str, Iterable[str]], start: str) -> set[str]:
    """Every module start imports, directly or through others."""
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


def circles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The import circles: groups of more than one module that import each other."""
    reach = {node: reachable(graph, node) for node in graph}
    groups = {
        tuple(sorted({node} | {other for other in reach[node] if node in reach[other]}))
        for node in graph
        if node in reach[node]
    }
    return sorted(list(group) for group in groups)


def test_the_circle_finder_finds_circles_and_only_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    modules = project_modules()
    assert "agents.experiment.loop" in modules and "recollect.memory" in modules
    assert circles(import_graph(modules)) == []


def test_no_module_over_400_lines():
    long = {
        str(path.relative_to(REPO)): n
        for path in project_modules().values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def function_lengths(path: Path) -> dict[str, int]:
    """name:line -> lines of each function or method, its docstring not counted."""
    out = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            lines = node.end_lineno - node.lineno + 1
            docstring = node.body[0]
            if (
                isinstance(docstring, ast.Expr)
                and isinstance(docstring.value, ast.Constant)
                and isinstance(docstring.value.value, str)
            ):
                assert docstring.end_lineno is not None
                lines -= docstring.end_lineno - docstring.lineno + 1
            out[f"{node.name}:{node.lineno}"] = lines
    return out


def test_function_lengths_count_code_not_docstrings(tmp_path):
    source = tmp_path / "m.py"
    source.write_text('def f():\n    """Doc.\n\n    More.\n    """\n    x = 1\n    return x\n')
    assert function_lengths(source) == {"f:1": 3}


def test_no_function_over_60_lines():
    long = {
        f"{path.relative_to(REPO)}:{name}": n
        for path in project_modules().values()
        for name, n in function_lengths(path).items()
        if n > MAX_FUNCTION_LINES
    }
    assert long == {}


def install_requires() -> list[str]:
    """setup.py's INSTALL_REQUIRES, read without running setup.py."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and getattr(node.targets[0], "id", "") == "INSTALL_REQUIRES"
        ):
            return [ast.literal_eval(e).split("==")[0] for e in node.value.elts]  # type: ignore[attr-defined]
    raise AssertionError("setup.py has no INSTALL_REQUIRES")


@pytest.mark.parametrize("package", ["recollect"])
def test_the_library_imports_only_what_it_requires(package):
    required = {MODULE_OF.get(name, name) for name in install_requires()}
    modules = project_modules()
    imported = set()
    for module, path in modules.items():
        if module.split(".")[0] == package:
            imported |= {name.split(".")[0] for name in imported_names(path, module)}
    third_party = imported - set(sys.stdlib_module_names) - {"__future__", package}
    assert third_party - required - BROUGHT_BY_REQUIREMENTS == set()
    assert not third_party & {"agents", "runners", "benchmarks"}
    assert required <= third_party | {"importlib_resources"}  # tfds imports that one
