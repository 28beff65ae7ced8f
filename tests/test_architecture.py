"""The package's shape: imports flow one way, no cycles, no oversized modules.

The import graph is built with :mod:`ast` over every module of ``recdenoise`` (imports inside
functions count too; ``if TYPE_CHECKING:`` blocks do not, they never run). Units are the
sub-packages and the root modules; each has a layer, and a unit may import only units of a
lower layer (or itself).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "recdenoise"

# data -> graph -> samplers/models -> losses -> methods -> training -> evaluation -> reporting
# -> experiment -> cli; the leaves (errors, types, config...) sit below all of them.
LAYERS: dict[str, int] = {
    "errors": 0,
    "compat": 0,
    "types": 1,
    "utils": 1,
    "schema": 1,
    "config": 2,
    "scoring": 2,
    "data": 3,
    "graph": 4,
    "samplers": 5,
    "models": 5,
    "losses": 6,
    "methods": 7,
    "training": 8,
    "evaluation": 9,
    "reporting": 10,
    "llm": 4,  # needs only data (the augment-dir format is read by methods/llmrec)
    "experiment": 11,
    "bench": 12,
    "testing": 12,
    "cli": 13,
    "__init__": 14,
    "__main__": 14,
}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> set[str]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("recdenoise"))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.startswith("recdenoise"):
                    found.add(target)
                    for a in child.names:  # `from . import x` / `from .pkg import module`
                        sub = PACKAGE.parent.joinpath(*f"{target}.{a.name}".split("."))
                        if sub.with_suffix(".py").is_file() or sub.is_dir():
                            found.add(f"{target}.{a.name}")
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _unit(_module_name(path))
        for target in _imports(path):
            if target != "recdenoise":
                edges.setdefault(source, set()).add(_unit(target))
    return edges


def test_every_unit_has_a_layer():
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert units <= set(LAYERS), f"give these units a layer in LAYERS: {sorted(units - set(LAYERS))}"


def test_imports_flow_down_the_layers():
    upward = [
        f"{source} -> {target}"
        for source, targets in _graph().items()
        for target in targets
        if target != source and LAYERS[target] >= LAYERS[source]
    ]
    assert not upward, f"imports against the flow (or across one layer): {sorted(upward)}"


def test_no_import_cycles_between_units():
    graph = _graph()
    state: dict[str, int] = {}

    def dfs(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if nxt == node:
                continue
            if state.get(nxt) == 1:
                pytest.fail(f"import cycle: {' -> '.join(stack[stack.index(nxt):] + [nxt])}")
            if nxt not in state:
                dfs(nxt, stack + [nxt])
        state[node] = 2

    for unit in graph:
        if unit not in state:
            dfs(unit, [unit])


def test_no_module_over_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, f"split these modules (each is usually two ideas): {long}"


SIDE_EFFECT = re.compile(
    r"matplotlib\.use\(|os\.environ\[[^\]]+\]\s*=[^=]|os\.environ\.(setdefault|update|pop)\(|os\.putenv\("
    r"|np\.random\.seed\(|torch\.manual_seed\(|torch\.cuda\.manual_seed|(?<![\w.])random\.seed\("
)


def test_library_has_no_import_time_side_effects():
    """No backend switches, environment writes or global seeding in library code (the CLI may seed)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        text = path.read_text(encoding="utf-8")
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.lstrip().startswith("#") and SIDE_EFFECT.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{lineno}: {line.strip()}")
    allowed = {"utils.py"}  # seed_everything (called by the CLI only) and seeded_rng (inside fork_rng)
    offenders = [o for o in offenders if o.split(":")[0] not in allowed]
    assert not offenders, offenders
