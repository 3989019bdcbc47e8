"""The package graph of flinksql_gen has no cycle.

Nodes are the top-level packages and modules (`flinksql_gen.plan`, `flinksql_gen.kafka.client`, ...);
an edge is any import of one from another, including imports inside functions: a lazy import
hides a cycle from Python's loader, not from the design. Detector modules are also checked one by
one, since the detector registry sits between the detector types and their configs.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

from source_ast import parse_source

import flinksql_gen

ROOT = Path(flinksql_gen.__file__).parent

# Imports waived from the cycle check (none left: quoting lives in flinksql_gen.sql.quoting).
# An entry that no longer matches an import fails the test, so the list only shrinks.
PENDING: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = ROOT.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _imports(path: Path, module: str | None = None) -> Iterator[str]:
    """Every flinksql_gen module `path` imports, relative imports resolved."""
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(parse_source(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names = [".".join([*base, node.module] if node.module else base)]
            else:
                names = [node.module or ""]
            # `from package import module` imports that module too
            names += [f"{names[0]}.{a.name}" for a in node.names if _is_module(f"{names[0]}.{a.name}")]
        else:
            continue
        yield from (n for n in names if n == "flinksql_gen" or n.startswith("flinksql_gen."))


def _edges(node_of: Callable[[str], str | None]) -> dict[str, dict[str, list[str]]]:
    """node -> imported node -> the modules whose imports make that edge."""
    edges: dict[str, dict[str, list[str]]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_name(path)
        for imported in _imports(path):
            if (module, imported) in PENDING:
                continue
            a, b = node_of(module), node_of(imported)
            if a and b and a != b:
                edges.setdefault(a, {}).setdefault(b, []).append(module)
    return edges


def _cycles(edges: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _explain(edges: dict[str, dict[str, list[str]]], cycles: list[list[str]]) -> str:
    lines = []
    for component in cycles:
        lines.append("cycle: " + ", ".join(component))
        lines += [f"  {a} -> {b} (in {', '.join(sorted(set(edges[a][b])))})"
                  for a in component for b in component if b in edges.get(a, {})]
    return "\n".join(lines)


def _top_level(module: str) -> str | None:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else None


def _detector_module(module: str) -> str | None:
    return module if module.startswith("flinksql_gen.detectors.") else None


def test_no_cycle_between_packages() -> None:
    edges = _edges(_top_level)
    assert edges, "no imports found: the walk is broken"
    cycles = _cycles(edges)
    assert not cycles, _explain(edges, cycles)


def test_no_cycle_between_detector_modules() -> None:
    edges = _edges(_detector_module)
    assert "flinksql_gen.detectors.registry" in edges
    cycles = _cycles(edges)
    assert not cycles, _explain(edges, cycles)


def test_pending_entries_are_still_imports() -> None:
    by_module = {_module_name(p): set(_imports(p)) for p in ROOT.rglob("*.py")}
    stale = sorted(e for e in PENDING if e[1] not in by_module.get(e[0], set()))
    assert not stale, f"remove from PENDING (the import is gone): {stale}"


def test_the_walk_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text("import os\nfrom ..plan import planner\n\ndef f():\n    from flinksql_gen.stack import up\n")
    found = set(_imports(source, "flinksql_gen.runtime.mod"))
    assert found == {"flinksql_gen.plan", "flinksql_gen.plan.planner", "flinksql_gen.stack"}
    assert _cycles({"a": {"b": ["a"]}, "b": {"a": ["b"]}, "c": {"a": ["c"]}}) == [["a", "b"]]
