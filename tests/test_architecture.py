"""The layout's rules, checked on the source tree (AST only, nothing imported).

Floors, bottom to top: `models` (the network, no file or GIS code) stands alone; in `cfipt_cli`, the base
modules (`errors`, `log`), then the shared mechanisms (`io`, `compute`), the folder contracts between
stages (`contracts`), the stages (`prepare`, `train`, `predict`, `evaluate`, `sample`, `regularize`), the compositions
of stages (commands that run several stages in one process), the command line (`cli`), and `testing`
(synthetic data for tests, the demo and benchmarks). A module imports only from its own
package or from lower floors: no stage imports another stage, no shared floor imports a stage.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("cfipt_cli", "models")
FLOORS = {
    "base": 0,
    "io": 1,
    "compute": 1,
    "contracts": 2,
    "prepare": 3,
    "train": 3,
    "predict": 3,
    "evaluate": 3,
    "sample": 3,
    "regularize": 3,
    "suggest": 4,  # compositions of stages: predict's block stream + a selection
    "reproduce": 4,  # compositions of stages (a command that runs several stages in one process)
    "cli": 5,
    "testing": 6,
}
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400
MAX_COMMAND_STATEMENTS = 12  # a CLI command: checks of its arguments' form, one library call, the report


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. cfipt_cli.io.rasters
    path: Path
    tree: ast.Module

    @property
    def package(self) -> str:
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


def _modules() -> dict[str, Module]:
    found = {}
    for top in PACKAGES:
        for path in sorted((REPO / top).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = Module(name, path, ast.parse(path.read_text(), str(path)))
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module of ours that the dotted `name` is, or lies in (a name imported from a module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: Module) -> Iterator[tuple[str, int]]:
    """Every module of ours that `module` imports (at any depth of its code), with the line: each
    name of `import a, b` and of `from package import x, y` counts."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.package.split(".")[: len(module.package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in sorted({resolved for name in names if (resolved := _resolve(name))}):
            yield target, node.lineno


def _group(name: str) -> str | None:
    """The floor group of a cfipt_cli module: its subpackage, or "base" for the top-level modules."""
    parts = name.split(".")
    if parts[0] != "cfipt_cli":
        return None
    if name == "cfipt_cli.__main__":
        return "cli"  # `python -m cfipt_cli`, the entry point torchrun starts
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in FLOORS) else "base"


def test_every_imported_name_counts() -> None:
    """`from package import a, b` imports both modules (a checker that saw only `a` would miss a
    crossing hidden behind the first name)."""
    code = "from cfipt_cli.io import atomic, rasters\nimport cfipt_cli.errors, cfipt_cli.log\n"
    probe = Module("cfipt_cli.cli.probe", REPO / "cfipt_cli/cli/probe.py", ast.parse(code))
    assert sorted(target for target, _ in _imports(probe)) == [
        "cfipt_cli.errors",
        "cfipt_cli.io.atomic",
        "cfipt_cli.io.rasters",
        "cfipt_cli.log",
    ]


def test_every_subpackage_has_a_floor() -> None:
    groups = {_group(name) for name in MODULES} - {None}
    assert groups <= set(FLOORS), f"give these a floor: {sorted(groups - set(FLOORS))}"


def test_imports_go_down_the_floors_only() -> None:
    wrong = []
    for module in MODULES.values():
        group = _group(module.name)
        for target, line in _imports(module):
            if module.name.startswith("models") and target.startswith("cfipt_cli"):
                wrong.append(f"{module.path.name}:{line} models imports {target}")
            target_group = _group(target)
            if group is None or target_group is None or target_group == group:
                continue
            if FLOORS[target_group] >= FLOORS[group]:
                wrong.append(f"{module.name}:{line} imports {target} ({group} -> {target_group})")
    assert not wrong, "\n".join(wrong)


def test_no_import_circles() -> None:
    graph = {name: {t for t, _ in _imports(m) if t != name} for name, m in MODULES.items()}
    circles: list[list[str]] = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    assert not circles, circles


def _size_problems(module: Module) -> list[str]:
    problems = []
    lines = len(module.path.read_text().splitlines())
    if lines > MAX_MODULE_LINES:
        problems.append(f"{lines} lines; split it by role")
    for node in ast.walk(module.tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                problems.append(f"{node.name} is {length} lines (line {node.lineno})")
    return problems


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_and_function_sizes(name: str) -> None:
    problems = _size_problems(MODULES[name])
    assert not problems, f"{MODULES[name].path}: {'; '.join(problems)}"


def _commands() -> Iterator[tuple[Module, ast.FunctionDef]]:
    for module in MODULES.values():
        if module.package == "cfipt_cli.cli.commands" and module.path.name != "__init__.py":
            for node in module.tree.body:
                if isinstance(node, ast.FunctionDef) and node.name == "command":
                    yield module, node


def test_every_command_is_a_conversion_and_one_library_call() -> None:
    commands = list(_commands())
    assert {m.name.rpartition(".")[2] for m, _ in commands} == {
        "prepare",
        "train",
        "predict",
        "evaluate",
        "sample",
        "suggest",
        "regularize",
        "reproduce",
    }
    heavy = []
    for module, node in commands:
        body = node.body[1:] if ast.get_docstring(node) else node.body
        statements = len(body)
        if statements > MAX_COMMAND_STATEMENTS:
            heavy.append(f"{module.name}.command: {statements} statements")
    assert not heavy, heavy


def test_the_library_never_imports_testing() -> None:
    wrong = [
        f"{m.name} imports {t}"
        for m in MODULES.values()
        if _group(m.name) != "testing"
        for t, _ in _imports(m)
        if _group(t) == "testing"
    ]
    assert not wrong, wrong


def test_the_tests_mirror_the_packages() -> None:
    """tests/<name>/ for every stage and shared floor of cfipt_cli and for models, and no other folder."""
    folders = {p.name for p in (REPO / "tests").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    wanted = (set(FLOORS) - {"base", "testing"}) | {"models"}
    assert folders == wanted
