"""No import cycle between the modules of one package under src/proctor.

Every import counts: at module level, inside functions, and under ``TYPE_CHECKING`` (a
cycle that only type checking sees still ties the modules together for a reader). A
package's ``__init__`` is not a member: it re-exports its modules, it is not one of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import proctor

SRC = Path(proctor.__file__).parents[1]


def modules(src: Path) -> dict[str, Path]:
    """Every module under ``src`` by dotted name (a package by its own name)."""
    found = {}
    for path in src.rglob("*.py"):
        name = ".".join(path.relative_to(src).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def package_of(module: str) -> str:
    return module.rpartition(".")[0]


def imported_names(module: str, path: Path) -> Iterator[str]:
    """Every module name an import statement anywhere in the file names, made absolute;
    ``from a import b`` names both ``a`` and ``a.b`` (``b`` may be a module)."""
    package = module if path.name == "__init__.py" else package_of(module)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: up ``level - 1`` packages from this one
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(src: Path) -> dict[str, set[str]]:
    """Each module's imports of other modules of its own package (``__init__`` left out)."""
    found = modules(src)
    plain = {name for name, path in found.items() if path.name != "__init__.py"}
    return {
        name: {
            target
            for target in imported_names(name, found[name])
            if target in plain and target != name and package_of(target) == package_of(name)
        }
        for name in plain
    }


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """The modules ``start`` reaches through one import or more."""
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph[module])
    return seen


def import_cycles(src: Path) -> set[frozenset[str]]:
    """The import cycles under ``src``: each a set of modules that all reach each other."""
    graph = import_graph(src)
    reach = {module: reachable(graph, module) for module in graph}
    return {
        frozenset({module} | {other for other in reach[module] if module in reach[other]})
        for module in graph
        if module in reach[module]
    }


def show(cycle: frozenset[str]) -> str:
    names = sorted(cycle)
    return f"{package_of(names[0])}: {', '.join(name.rpartition('.')[2] for name in names)}"


def test_no_import_cycle_inside_a_package() -> None:
    found = import_cycles(SRC)
    assert not found, "import cycles: " + "; ".join(sorted(map(show, found)))


def test_every_kind_of_import_makes_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg.a import A\nfrom pkg.c import C\n")
    (package / "a.py").write_text("def f():\n    from pkg import b\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n"
    )
    (package / "c.py").write_text("import pkg.d\n")
    (package / "d.py").write_text("from pkg import c\n")
    (package / "e.py").write_text("import pkg\n")  # the package's __init__: not a member

    assert import_cycles(tmp_path) == {
        frozenset({"pkg.a", "pkg.b"}),
        frozenset({"pkg.c", "pkg.d"}),
    }
