"""Guards of the package structure: the layer contracts (import-linter, on the installed layout: the stages' one and
the one between the rooms of eval) and no top-level
`eval` / `synth` / `train` imports (they only work from the repo root, never once installed)."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
STAGE_FOLDERS = ("eval", "synth", "train")  # importable as culturelens.<name> only
SCANNED = ("culturelens", "eval", "synth", "train", "tests", "benchmarks", "scripts")


def _script():
    spec = importlib.util.spec_from_file_location("lint_imports", ROOT / "scripts" / "lint_imports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The packages laid out as setuptools installs them (see scripts/lint_imports.py)."""
    site = tmp_path_factory.mktemp("layout") / "site"
    _script().lay_out(site, tomllib.loads((ROOT / "pyproject.toml").read_text()))
    return site


def test_the_layout_is_the_installed_one(site):
    for package in ("culturelens/core/reference", "culturelens/eval", "culturelens/eval/statistics", "culturelens/synth", "culturelens/train"):
        assert (site / package / "__init__.py").is_file(), package
    assert (site / "culturelens" / "eval" / "statistics" / "metrics.py").read_text() == (ROOT / "eval" / "statistics" / "metrics.py").read_text()


def test_layer_contracts_are_kept(site):
    done = _script().run_contracts(site, capture=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout and "Missing layer" not in done.stdout


@pytest.mark.parametrize("module, bad_import", [
    ("culturelens/core/zoo.py", "import culturelens.eval.statistics.metrics"),  # core imports a stage
    ("synth/build.py", "from culturelens.eval import metrics"),  # a stage imports a sibling stage
    ("eval/statistics/metrics.py", "import culturelens.experiments.claims"),  # a stage imports the orchestration above it
    ("eval/backends/cache.py", "from culturelens.eval.statistics import metrics"),  # a backend imports the statistics
    ("eval/backends/probe.py", "import culturelens.eval.reporting.report"),  # a backend imports the reporting
    ("eval/statistics/western.py", "import culturelens.eval.reporting.console"),  # statistics import the reporting above them
    ("eval/reporting/report.py", "import culturelens.eval.runner"),  # reporting imports the runner above it
    ("eval/runner.py", "import culturelens.eval.interop.lm_eval_import"),  # the runner imports interop above it
])
def test_layer_contracts_catch_a_violation(site, module, bad_import):
    target = site / module if module.startswith("culturelens/") else site / "culturelens" / module
    original = target.read_text()
    try:
        target.write_text(original + f"\n{bad_import}  # noqa\n")
        done = _script().run_contracts(site, capture=True)
    finally:
        target.write_text(original)
    assert done.returncode != 0 and "BROKEN" in done.stdout, done.stdout


# ------------------------------------------------------------------------------------------- top-level stage imports


def top_level_stage_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every absolute import of eval, synth or train as top-level packages, including
    importlib.import_module("eval...") / __import__("eval...") with a literal name."""
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")):
            names = [node.args[0].value]
        found += [(node.lineno, n) for n in names if n.split(".")[0] in STAGE_FOLDERS]
    return found


def test_the_scan_finds_top_level_stage_imports():
    code = ("import eval.metrics\nfrom synth import build\nimport importlib\nimportlib.import_module('train.sft')\n"
            "import culturelens.eval.statistics.metrics\nfrom culturelens.synth import build\nfrom . import sibling\n"
            "import evaluate\n")
    assert [m for _, m in top_level_stage_imports(ast.parse(code))] == ["eval.metrics", "synth", "train.sft"]


def test_no_code_imports_the_stage_folders_as_top_level_packages():
    bad = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, module in top_level_stage_imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                bad.append(f"{path.relative_to(ROOT)}:{line}: import of '{module}' (write culturelens.{module})")
    assert not bad, "\n".join(bad)


def test_every_package_folder_is_installed():
    """A sub-package missing from [tool.setuptools] packages works from the repo but is absent once installed."""
    st = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(st["packages"])
    found = set()
    for package, folder in st["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]))
    assert found - listed == set(), f"add to [tool.setuptools] packages: {sorted(found - listed)}"
