"""The package's layering, checked on its source (no import is executed):

- dependencies run one way: entry layer (`rarl.cli`, `rarl.ablate`, `rarl.integrations`) -> recipes
  (`rarl.recipes`) -> engine (`rarl.train`, `rarl.model`, `rarl.algorithms`, `rarl.rewards`, `rarl.eval`,
  `rarl.data`, `rarl.utils`); the engine never imports a recipe or the entry layer, recipes never import
  the entry layer, function bodies included;
- no import cycle among modules, counting imports inside functions and the package `__init__` a dotted
  import runs first;
- `rarl` imports sit at module level (the CLI alone defers its imports, so `rarl --help` starts without
  torch); a third-party import is deferred only for an optional dependency;
- no module is over 500 lines.

Imports under `if TYPE_CHECKING:` are annotations only: they are checked against the layers, not counted as
cycles or as deferred imports.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "rarl"

ENGINE = (
    "rarl.train",
    "rarl.model",
    "rarl.algorithms",
    "rarl.rewards",
    "rarl.eval",
    "rarl.data",
    "rarl.utils",
)
RECIPES = ("rarl.recipes",)
ENTRY = ("rarl.cli", "rarl.ablate", "rarl.integrations", "rarl.__main__")
DEFERRED_IMPORTS_ALLOWED = ("rarl.cli",)
"""Modules that may import `rarl` inside functions: the CLI, so that `rarl --help` is instant."""
OPTIONAL_THIRD_PARTY = {
    "vllm",
    "openpyxl",
    "trl",
    "tensorboard",
    "torch.utils.tensorboard",
    "wandb",
    "trackio",
}
"""Optional dependencies (extras) that a function may import when it needs them."""
MAX_LINES = 500


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    deferred: bool  # inside a function
    typing_only: bool  # under `if TYPE_CHECKING:`


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    """0 engine, 1 recipes, 2 entry; the package root `rarl` counts as entry."""
    for rank, prefixes in enumerate((ENGINE, RECIPES, ENTRY)):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return 2


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, deferred: bool, typing_only: bool):
    """(import node, inside a function, under TYPE_CHECKING) for every import below `node`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, deferred, typing_only
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _walk(child, True, typing_only)
        elif isinstance(child, ast.If) and _is_type_checking(child):
            yield from _walk(child, deferred, True)
        else:
            yield from _walk(child, deferred, typing_only)


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project modules an import statement names (`from pkg import sub` names the submodule)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "rarl"]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        origin = ".".join(base + ([node.module] if node.module else []))
    else:
        origin = node.module or ""
    if origin.split(".")[0] != "rarl":
        return []
    out = []
    for alias in node.names:
        sub = f"{origin}.{alias.name}"
        out.append(sub if sub in MODULES else origin)
    return out


def _edges() -> list[Edge]:
    edges = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node, deferred, typing_only in _walk(tree, False, False):
            for target in _targets(module, path.name == "__init__.py", node):
                edges.append(Edge(module, target, node.lineno, deferred, typing_only))
    return edges


def _third_party_deferred() -> list[str]:
    found = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node, deferred, typing_only in _walk(tree, False, False):
            if not deferred or typing_only or module in DEFERRED_IMPORTS_ALLOWED:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                names = [] if node.level else [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                optional = top in OPTIONAL_THIRD_PARTY or any(
                    name.startswith(o + ".") or name == o for o in OPTIONAL_THIRD_PARTY
                )
                if top != "rarl" and not optional and not _is_stdlib(top):
                    found.append(f"{module}:{node.lineno} imports {name} inside a function")
    return found


def _is_stdlib(name: str) -> bool:
    return name in sys.stdlib_module_names


EDGES = _edges()


def _graph() -> dict[str, set[str]]:
    """module -> modules it makes Python execute: its imports and, for a dotted target, the target's parent
    packages (their `__init__` runs first) unless the importer lives inside that package."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for e in EDGES:
        if e.typing_only or e.target not in MODULES or e.target == e.source:
            continue
        graph[e.source].add(e.target)
        parts = e.target.split(".")
        for i in range(2, len(parts)):
            parent = ".".join(parts[:i])
            inside = e.source == parent or e.source.startswith(parent + ".")
            if parent in MODULES and not inside:
                graph[e.source].add(parent)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_checker_sees_the_package():
    assert len(MODULES) > 80 and {"rarl.train.grpo", "rarl.recipes.base", "rarl.cli"} <= set(MODULES)
    assert any(e.source == "rarl.train.grpo" and e.target == "rarl.train.update" for e in EDGES)
    # a deferred import and a TYPE_CHECKING one are both seen, and told apart
    assert any(e.source == "rarl.cli" and e.deferred for e in EDGES)
    assert any(e.source == "rarl.rewards.contract" and e.typing_only for e in EDGES)


def test_dependencies_run_one_way():
    upward = [
        f"{e.source}:{e.line} imports {e.target}"
        for e in EDGES
        if _layer(e.target) > _layer(e.source) and e.target != "rarl"
    ]
    assert not upward, "imports against the layering (entry -> recipes -> engine):\n" + "\n".join(upward)


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_project_imports_are_at_module_level():
    deferred = [
        f"{e.source}:{e.line} imports {e.target} inside a function"
        for e in EDGES
        if e.deferred and not e.typing_only and e.source not in DEFERRED_IMPORTS_ALLOWED
    ]
    assert not deferred, "\n".join(deferred)


def test_third_party_imports_are_deferred_only_for_optional_dependencies():
    found = _third_party_deferred()
    assert not found, "\n".join(found)


def test_no_module_over_500_lines():
    long = {
        m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_cycle_finder_on_hand_made_graphs(graph, expected):
    assert _cycles(graph) == expected
