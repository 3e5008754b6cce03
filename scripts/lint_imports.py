"""Check the import contracts of pyproject.toml ([tool.importlinter]) on the package as it is INSTALLED.

Why not run `lint-imports` in the repo: pyproject's `package-dir` maps the top-level folders eval/, synth/ and
train/ to culturelens.eval, culturelens.synth and culturelens.train. import-linter (grimp) finds a package's modules
by walking its folder, and culturelens/ holds neither of them, so from the repo it would not see the stages at all.
This script lays the packages out as setuptools installs them -- every package of `[tool.setuptools] packages`,
its .py files copied from the folder `package-dir` maps it to -- in a temporary folder, and runs `lint-imports`
there (that folder first on PYTHONPATH). A package missing from `packages` is missing from the layout, as it
would be from the wheel.

    python scripts/lint_imports.py          # exit code of lint-imports: 0 when every contract is kept
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def source_dir(package: str, package_dir: dict[str, str]) -> Path:
    """The folder setuptools takes `package` from: the longest mapped prefix, then the rest of the dotted name."""
    parts = package.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in package_dir:
            return ROOT / package_dir[prefix] / Path(*parts[i:])
    return ROOT.joinpath(*parts)


def lay_out(target: Path, pyproject: dict) -> list[str]:
    """Copy every listed package's .py files to target/<dotted path>; returns the packages laid out."""
    st = pyproject["tool"]["setuptools"]
    package_dir = st.get("package-dir", {})
    for package in st["packages"]:
        src = source_dir(package, package_dir)
        if not (src / "__init__.py").is_file():
            raise SystemExit(f"error: package {package} maps to {src}, which has no __init__.py: fix "
                             "[tool.setuptools] packages / package-dir in pyproject.toml")
        dst = target.joinpath(*package.split("."))
        dst.mkdir(parents=True, exist_ok=True)
        for py in src.glob("*.py"):
            shutil.copy2(py, dst / py.name)
    return list(st["packages"])


def run_contracts(site: Path, *args: str, capture: bool = False) -> subprocess.CompletedProcess:
    """`lint-imports` with the contracts of pyproject.toml on the packages laid out in `site`."""
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        raise SystemExit("error: lint-imports not found next to this python: pip install -e '.[test]'")
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([str(exe), "--no-cache", str(ROOT / "pyproject.toml"), *args], cwd=site.parent, env=env,
                          capture_output=capture, text=True)


def main(argv: list[str] | None = None) -> int:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="culturelens-layout-") as tmp:
        site = Path(tmp) / "site"
        packages = lay_out(site, pyproject)
        print(f"import contracts on the installed layout of {len(packages)} packages ({site})", flush=True)
        return run_contracts(site, *(argv or [])).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
