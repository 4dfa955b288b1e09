"""The package's shape: no import circles, and no module past the size where a concern wants a
folder. The layer order itself is import-linter's contract in pyproject.toml (run by .ci/run)."""

from __future__ import annotations

from pathlib import Path

import grimp

import autodiffcli

PACKAGE = Path(autodiffcli.__file__).parent
MAX_MODULE_LINES = 600


def import_graph():
    graph = grimp.build_graph("autodiffcli", cache_dir=None)
    return {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}


def circle_through(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module], found = 1, None
        path.append(module)
        for imported in sorted(edges.get(module, ())):
            if state.get(imported) == 1:
                return path[path.index(imported) :] + [imported]
            if imported not in state and (found := visit(imported)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(edges):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_package_has_no_import_circle():
    assert circle_through(import_graph()) is None


def test_the_circle_finder_finds_a_circle():
    assert circle_through({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_module_is_over_600_lines():
    sizes = {p.relative_to(PACKAGE): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {path: n for path, n in sizes.items() if n > MAX_MODULE_LINES} == {}
