"""Guards of the import graph, read from the source (every import, lazy ones inside functions included):
- no import cycle among culturelens modules (a module that imports, directly or through others, itself); imports
  under `if TYPE_CHECKING:` (annotations only, never run) do not count;
- no private name (leading underscore) used outside its module: neither `from m import _x` nor `m._x` on an imported
  module. A private *module* (`pkg/_common.py`) may be used by the modules of its own package only.

Module names follow the installed layout: pyproject's `package-dir` maps eval/, synth/ and train/ to
culturelens.eval, culturelens.synth and culturelens.train."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"culturelens": ROOT / "culturelens", "culturelens.eval": ROOT / "eval", "culturelens.synth": ROOT / "synth",
           "culturelens.train": ROOT / "train"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def production_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every .py of the package (packages named by their __init__)."""
    found: dict[str, Path] = {}
    for prefix, folder in SOURCES.items():
        for py in folder.rglob("*.py"):
            rel = py.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([prefix, *parts])
            if prefix == "culturelens" and parts and parts[0] in ("eval", "synth", "train"):
                continue  # not a real folder of culturelens/ (mapped from the top level)
            found[name] = py
    return found


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return name in modules and modules[name].name == "__init__.py"


def _absolute(node: ast.ImportFrom, module: str, modules: dict[str, Path]) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if _is_package(module, modules) else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes under `if TYPE_CHECKING:` (imports for annotations, never run)."""
    return {id(n) for node in ast.walk(tree)
            if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"
            for stmt in node.body for n in ast.walk(stmt)}


def imports_of(module: str, tree: ast.AST, modules: dict[str, Path], runtime_only: bool = False) -> list[tuple[int, str, str | None]]:
    """(line, imported culturelens module, imported name or None) of every import in the tree (without those under
    `if TYPE_CHECKING:` when `runtime_only`). `from pkg import x` names the module pkg.x when that is a module,
    else pkg with the name x."""
    out: list[tuple[int, str, str | None]] = []
    skip = _type_checking_only(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, None) for a in node.names if a.name.split(".")[0] == "culturelens"]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, modules)
            if source.split(".")[0] != "culturelens":
                continue
            for a in node.names:
                sub = f"{source}.{a.name}"
                out.append((node.lineno, sub, None) if sub in modules else (node.lineno, source, a.name))
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = production_modules()
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges[name] = {m for _, m, _ in imports_of(name, tree, modules, runtime_only=True) if m in modules and m != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_module_list_is_the_package(graph):
    assert {"culturelens.cli", "culturelens.core.models", "culturelens.eval.runner", "culturelens.eval.statistics.metrics",
            "culturelens.synth.run", "culturelens.train.sft"} <= set(graph)
    assert "culturelens.core.adapters" in graph["culturelens.core.models"]  # lazy imports inside functions count


def test_no_import_cycle(graph):
    assert cycles(graph) == []


def test_a_cycle_is_found():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def private_uses(path: Path, module: str, modules: dict[str, Path]) -> list[str]:
    """Private names of other culturelens modules that `path` uses: imported by name, or read as module._name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    bad: list[str] = []
    module_aliases: dict[str, str] = {}  # local name -> culturelens module it is bound to
    for line, imported, name in imports_of(module, tree, modules):
        target_parts = imported.split(".")
        private_module = next((i for i, p in enumerate(target_parts) if _private(p)), None)
        if private_module is not None:
            owner = ".".join(target_parts[:private_module])  # the package the private module belongs to
            if module != owner and not module.startswith(owner + "."):
                bad.append(f"{where}:{line} imports private module {imported}")
        if name is not None and _private(name) and imported != module:
            bad.append(f"{where}:{line} imports {imported}.{name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("culturelens.") and a.asname:
                    module_aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, modules)
            for a in node.names:
                if f"{source}.{a.name}" in modules:
                    module_aliases[a.asname or a.name] = f"{source}.{a.name}"
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in module_aliases
                and _private(node.attr) and module_aliases[node.value.id] != module):
            bad.append(f"{where}:{node.lineno} reads {module_aliases[node.value.id]}.{node.attr}")
    return bad


def test_no_private_name_crosses_modules():
    modules = production_modules()
    files = dict(modules)
    files |= {f"tests.{p.stem}": p for p in (ROOT / "tests").glob("*.py")}
    bad = [b for name, path in sorted(files.items()) for b in private_uses(path, name, modules)]
    assert bad == []


def test_a_private_import_is_found(tmp_path):
    modules = production_modules()
    probe = tmp_path / "probe_privates.py"
    probe.write_text("from culturelens.eval.statistics import metrics\n"
                     "from culturelens.core.reference._common import COLUMNS\n"
                     "from culturelens.core.errors import _hidden\n"
                     "x = metrics._clean([1])\n")
    bad = private_uses(probe, "tests.probe_privates", modules)
    assert len(bad) == 3, bad
    assert any("culturelens.core.errors._hidden" in b for b in bad)
    assert any("private module culturelens.core.reference._common" in b for b in bad)
    assert any("culturelens.eval.statistics.metrics._clean" in b for b in bad)


def test_only_core_tracking_imports_wandb():
    """Production code talks to W&B through culturelens.core.tracking alone (tests read runs with tests/wandb_log.py)."""
    users = []
    for name, path in production_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            if any(n == "wandb" or n.startswith("wandb.") for n in names):
                users.append(name)
    assert sorted(set(users)) == ["culturelens.core.tracking"]
