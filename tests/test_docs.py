"""The manual and README against the code (scripts/check_docs.py): no broken link, no page naming a module or a file
that does not exist. The strict MkDocs build itself runs in .ci/run."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("check_docs", ROOT / "scripts" / "check_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_and_docs_point_at_things_that_exist(check):
    found = check.problems()
    assert not found, "\n".join(found) + "\nfix the page, or the name it points to (python scripts/check_docs.py)"


def test_every_page_is_in_the_site_nav():
    import yaml

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]

    def pages(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from pages(value)
        elif isinstance(node, list):
            for item in node:
                yield from pages(item)

    listed = set(pages(nav))
    on_disk = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").glob("**/*.md")}
    assert on_disk == listed, f"in docs/ but not in mkdocs.yml nav: {on_disk - listed}; in nav but missing: {listed - on_disk}"


def test_readme_is_the_short_front_door():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: move reference text into docs/"
    assert not (ROOT / "ARCHITECTURE.md").exists(), "the architecture lives in docs/architecture.md only"


@pytest.mark.parametrize("text, problem", [
    ("See [the probe](evaluating.md#no-such-heading).", "no heading '#no-such-heading'"),
    ("See [a page](no_such_page.md).", "does not exist"),
    ("Read `culturelens.core.no_such_module`.", "culturelens.core.no_such_module"),
    ("Read `culturelens.core.runfolder.no_such_function`.", "no_such_function"),
    ("The probe is in `eval/prompts_gone.py`.", "eval/prompts_gone.py"),
    ("Run `configs/eval/nothing_*.yaml`.", "configs/eval/nothing_*.yaml"),
])
def test_a_bad_page_is_caught(check, tmp_path, text, problem):
    page = ROOT / "docs" / f"_tmp_check_{tmp_path.name}.md"
    page.write_text(f"# A page\n\n{text}\n")
    try:
        found = check.problems([page])
    finally:
        page.unlink()
    assert any(problem in line for line in found), found


def test_good_names_pass(check, tmp_path):
    page = ROOT / "docs" / f"_tmp_check_{tmp_path.name}.md"
    page.write_text("# A page\n\n## Second part\n\n[up](#second-part), [eval](evaluating.md#the-probe), "
                    "`culturelens.core.runfolder`, `culturelens.core.config.StrictModel`, `configs/eval/default.yaml`, "
                    "`configs/eval/*.yaml`, `runs/<experiment>/<run>/summary.json`, `scripts/`, https://example.org, "
                    "`benchmarks/results/not_run_yet.json`\n")
    try:
        assert check.problems([page]) == []
    finally:
        page.unlink()


def test_architecture_module_tables_are_checked(check, tmp_path):
    page = tmp_path / "architecture.md"
    page.write_text("# Architecture\n\n### culturelens.core (`culturelens/core/`)\n| module | job |\n|---|---|\n"
                    "| `runfolder` | run folders |\n| `gone_module` | nothing |\n\n`culturelens/core/reference/` "
                    "(`culturelens.core.reference`): readers\n\n| module | job |\n|---|---|\n| `wvs_csv` | CSV |\n"
                    "| `runfolder` | not in this sub-package |\n\nData flow: core.inputs.resolve_inputs, core.vanished\n")
    found = check.architecture_problems(page)
    assert any("gone_module" in line for line in found) and any("core.vanished" in line for line in found), found
    assert any("culturelens.core.reference table lists 'runfolder'" in line for line in found), found
    assert not any("wvs_csv" in line or "resolve_inputs" in line for line in found), found
    assert not any("culturelens.core table lists 'runfolder'" in line for line in found), found
