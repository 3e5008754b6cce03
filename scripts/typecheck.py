"""Type-check culturelens.core and the statistics room of eval with mypy (configured in pyproject.toml, [tool.mypy]).

mypy, like import-linter, finds a package by walking folders, and pyproject's `package-dir` maps eval/ to
culturelens.eval (see scripts/lint_imports.py). So the packages are laid out as setuptools installs them in a
temporary folder, mypy runs there, and the paths it reports are mapped back to the repo's files.

    python scripts/typecheck.py          # exit code of mypy: 0 when the checked packages type-check
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from lint_imports import lay_out, source_dir  # noqa: E402

CHECKED = ("culturelens.core", "culturelens.eval.statistics")


def main(argv: list[str] | None = None) -> int:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_dir = pyproject["tool"]["setuptools"].get("package-dir", {})
    with tempfile.TemporaryDirectory(prefix="culturelens-types-") as tmp:
        site = Path(tmp) / "site"
        lay_out(site, pyproject)
        args = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                "--cache-dir", str(ROOT / ".mypy_cache"), *[a for p in CHECKED for a in ("-p", p)], *(argv or [])]
        print(f"mypy on {', '.join(CHECKED)} (installed layout in {site})", flush=True)
        done = subprocess.run(args, cwd=site, capture_output=True, text=True, env={"MYPYPATH": str(site), "PATH": ""})
    for line in (done.stdout + done.stderr).splitlines():
        path, sep, rest = line.partition(":")
        if sep and path.endswith(".py") and path.startswith("culturelens/"):
            package, module = path[: -len(".py")].rsplit("/", 1)
            line = f"{(source_dir(package.replace('/', '.'), package_dir) / (module + '.py')).relative_to(ROOT)}:{rest}"
        print(line)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
