"""The package's shape: layers whose imports point down only, no import cycle, modules one can read in a sitting.

The layers (README, "Architecture"), lowest first. A module may import its own layer and the layers listed for it;
``evaluation`` sits beside ``llm`` and ``classify``, never above them, so scoring a CSV never loads a model.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "callinsights"

BASE = {"config", "schema", "errors"}
#: What each layer may import besides itself and the base modules.
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "data": set(),
    "text": {"data"},
    "llm": {"data", "text"},
    "classify": {"data", "text", "llm"},
    "evaluation": {"data", "text"},
    "analysis": {"data", "text", "evaluation"},
    "labelling": {"data", "text", "evaluation", "analysis"},
    "reporting": {"data", "text", "evaluation", "analysis"},
    "pipelines": {"data", "text", "llm", "classify", "evaluation", "analysis", "labelling", "reporting"},
    "entry": {"pipelines"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "entry"
    if parts[1] in BASE:
        return "base"
    if parts[1] == "__main__":
        return "entry"
    return parts[1]


def _imports(path: Path) -> set[str]:
    """Every ``callinsights`` module a file imports, at any depth (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("callinsights")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("callinsights"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if _is_module(candidate) else node.module)
    return found


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def test_every_module_belongs_to_a_known_layer():
    unknown = sorted(m for m in MODULES if _layer(m) not in ALLOWED)
    assert not unknown, f"modules outside the layers of tests/test_architecture.py: {unknown}"


def test_imports_point_down_only():
    wrong = []
    for module, imported in GRAPH.items():
        layer = _layer(module)
        for target in imported:
            other = _layer(target)
            if other not in ({layer, "base"} | ALLOWED[layer]) and target != "callinsights":
                wrong.append(f"{module} ({layer}) imports {target} ({other})")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle():
    # Depth-first search for a back edge; the cycle is reported as the path that closes it.
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(GRAPH.get(node, ())):
            if target not in GRAPH:
                continue
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_checks_see_a_violation():
    # The walker must find function-level imports, or the layer test could pass on a package it cannot read.
    tree = ast.parse("def f():\n    from callinsights.llm import engines\n")
    body = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert body and body[0].module == "callinsights.llm"
    assert _layer("callinsights.evaluation.metrics") == "evaluation"
    assert "llm" not in ALLOWED["evaluation"] and "classify" not in ALLOWED["evaluation"]


# --- extension points are objects, and private names stay home ------------------------------------------------------

ROOT = PACKAGE.parents[1]
#: Every module of the project by dotted name: the package, its tests and the benchmarks.
PROJECT = {(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts) if p.is_relative_to(PACKAGE.parent)
            else ".".join(p.relative_to(ROOT).with_suffix("").parts)).removesuffix(".__init__"): p
           for tree in ("src", "tests", "benchmarks") for p in sorted((ROOT / tree).rglob("*.py"))}


def _branches_on(tree: ast.AST, names: tuple[str, ...] = ("method", "engine")) -> list[int]:
    """Lines of comparisons (``==``, ``in``, ``is`` ...) that mention a name or attribute called one of ``names``."""
    def mentions(node: ast.AST) -> bool:
        return any(isinstance(n, ast.Name) and n.id in names or isinstance(n, ast.Attribute) and n.attr in names
                   for n in ast.walk(node))

    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Compare) and any(mentions(side) for side in [node.left, *node.comparators])]


def _private_uses(module: str, tree: ast.AST) -> list[str]:
    """Another project module's private names that ``module`` imports or reads as ``module_alias._name``."""
    def private(name: str) -> bool:
        return name.startswith("_") and not name.endswith("__")

    found, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {a.asname: a.name for a in node.names if a.asname}
            aliases |= {a.name.split(".")[0]: a.name.split(".")[0] for a in node.names if not a.asname}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in PROJECT:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                elif node.module in PROJECT and node.module != module and private(alias.name):
                    found.append((node.lineno, f"from {node.module} import {alias.name}"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            parts, value = [], node.value
            while isinstance(value, ast.Attribute):
                parts, value = [value.attr, *parts], value.value
            if isinstance(value, ast.Name) and value.id in aliases:
                target = ".".join([aliases[value.id], *parts])
                if target in PROJECT and target != module:
                    found.append((node.lineno, f"{target}.{node.attr}"))
    return [f"line {line}: {use}" for line, use in sorted(found)]


def test_the_runner_asks_the_method_and_the_engine_instead_of_branching_on_them():
    lines = _branches_on(ast.parse((PACKAGE / "classify" / "runner.py").read_text()))
    assert not lines, (f"classify/runner.py compares a method or engine at lines {lines}: ask the method object "
                       "(classify.methods.METHODS) or the engine (llm.engines.ENGINES) instead")


def test_no_module_uses_another_modules_private_names():
    found = {str(path.relative_to(ROOT)): uses for module, path in PROJECT.items()
             if (uses := _private_uses(module, ast.parse(path.read_text(), filename=str(path))))}
    assert not found, ("private names used outside their module (make them public where they are shared): "
                       + "; ".join(f"{path} {uses}" for path, uses in sorted(found.items())))


def test_the_extension_point_checks_see_a_violation():
    assert _branches_on(ast.parse("if settings.method == 'probe':\n    pass")) == [1]
    assert _branches_on(ast.parse("x = engine in ('gpt4all', 'openai')")) == [1]
    assert _branches_on(ast.parse("if s.side == 'call' and ENGINES[s.engine].key_is_name:\n    pass")) == []
    uses = _private_uses("tests.test_x", ast.parse(
        "from callinsights.llm import models\nimport callinsights.llm.engines as e\n"
        "from callinsights.llm.models import _hidden\nmodels._load()\ne._F32\nmodels.vocabulary\n"))
    assert uses == ["line 3: from callinsights.llm.models import _hidden", "line 4: callinsights.llm.models._load",
                    "line 5: callinsights.llm.engines._F32"]
    assert _private_uses("callinsights.llm.models", ast.parse("import callinsights.llm.models as m\nm._own")) == []
