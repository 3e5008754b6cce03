"""Check README.md and docs/*.md against the code: broken relative links, and names of modules and files that do not
exist.

    python scripts/check_docs.py      # prints one line per problem; exit 1 if there is any (tests/test_docs.py runs it)

What counts as a problem:
- a relative link `[text](target)` whose file does not exist, or whose `#anchor` is no heading of the target page;
- a dotted name `culturelens.x.y[.attr]` that is neither a module nor an attribute of one;
- a repository path such as `eval/metrics.py`, `configs/eval/default.yaml` or `scripts/` that does not exist (globs
  such as `configs/eval/*.yaml` must match something; paths with placeholders `<...>`, `{...}`, `...` and benchmark
  outputs under `benchmarks/results/` are skipped);
- in docs/architecture.md, a module named in the table of a `### culturelens.<package>` section, or a short dotted
  name such as `core.inputs.resolve_inputs`, that does not exist.
"""
from __future__ import annotations

import glob
import importlib
import importlib.util
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PATH_ROOTS = ("culturelens", "eval", "synth", "train", "configs", "scripts", "benchmarks", "tests", "docs", ".ci")
OUTPUTS = ("benchmarks/results/",)  # written when a benchmark runs: a page may name a result before it exists
FILE_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".jsonl", ".sh", ".md", ".csv", ".toml", ".txt")

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
DOTTED = re.compile(r"(?<![\w./-])culturelens(?:\.[A-Za-z_]\w*)+")
SHORT_DOTTED = re.compile(r"(?<![\w./-])(?:core|eval|synth|train|experiments)(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(r"(?<![\w./<>-])(?:{})/[\w./*{{}}<>,-]*".format("|".join(re.escape(r) for r in PATH_ROOTS)))
FENCE = re.compile(r"^(```|~~~)")


def doc_files(repo: Path = REPO) -> list[Path]:
    return [repo / "README.md", *sorted((repo / "docs").glob("**/*.md"))]


def slugs(heading: str) -> set[str]:
    """The anchors MkDocs (toc's default slugify: runs of spaces and hyphens become one '-') and GitHub (each space
    becomes '-') give a heading."""
    text = re.sub(r"<[^>]+>", "", heading).replace("`", "").strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return {re.sub(r"[-\s]+", "-", text), re.sub(r"\s", "-", text)}


def anchors(page: Path) -> set[str]:
    out: set[str] = set()
    in_code = False
    for line in page.read_text().splitlines():
        if FENCE.match(line.strip()):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            out |= slugs(line.lstrip("#").strip())
    return out


def link_problems(page: Path) -> list[str]:
    problems = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z][a-z+.-]*:", target) or target.startswith("//"):  # http:, mailto: ...
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            problems.append(f"{_rel(page)}: broken link '{target}': {_rel(dest)} does not exist")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{_rel(page)}: broken link '{target}': no heading '#{anchor}' in {_rel(dest)}")
    return problems


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def name_exists(dotted: str) -> bool:
    """Whether `a.b.c` is a module, or an attribute (chain) of the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            spec = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue
        if cut == len(parts):
            return True
        obj = importlib.import_module(module_name)
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def path_exists(token: str, repo: Path = REPO) -> bool | None:
    """Whether a repository path named in a page exists; None when it is not a checkable path."""
    token = token.rstrip(".,:;")
    if any(mark in token for mark in ("<", ">", "{", "}", "...", "…")) or token.startswith(OUTPUTS):
        return None
    is_dir = token.endswith("/")
    if not is_dir and not token.endswith(FILE_SUFFIXES) and "*" not in token:
        return None  # a prose fragment such as "eval/synth": only files and folders ending in '/' are checked
    if "*" in token:
        return bool(glob.glob(str(repo / token)))
    return (repo / token).is_dir() if is_dir else (repo / token).exists()


def name_problems(page: Path) -> list[str]:
    text = page.read_text()  # names are checked everywhere: prose, code spans and code blocks
    problems = []
    for name in sorted(set(DOTTED.findall(text))):
        if not name_exists(name):
            problems.append(f"{_rel(page)}: names '{name}', which is no module or attribute of culturelens")
    for token in sorted(set(PATH.findall(text))):
        if path_exists(token) is False:
            problems.append(f"{_rel(page)}: names the path '{token.rstrip('.,:;')}', which does not exist")
    return problems


def architecture_problems(page: Path) -> list[str]:
    """Module tables under `### culturelens.<package>` headings, and short dotted names (core.x, eval.y)."""
    problems = []
    package = None
    text = page.read_text()
    for line in text.splitlines():
        heading = re.match(r"^###\s+(culturelens(?:\.\w+)*)", line) or re.match(r"^`[\w/]+/` \(`(culturelens(?:\.\w+)*)`\)", line)
        if heading:  # a package's section, or a sub-package's paragraph: "`eval/backends/` (`culturelens.eval.backends`): ..."
            package = heading.group(1)
            continue
        if line.startswith("#"):
            package = None
        if package and line.startswith("| `"):
            first_cell = line.split("|")[1]
            for name in re.findall(r"`([\w/]+)`", first_cell):
                if not name_exists(f"{package}.{name.rstrip('/')}"):
                    problems.append(f"{_rel(page)}: the {package} table lists '{name}', which is no module of {package}")
    for name in sorted(set(SHORT_DOTTED.findall(text))):
        if not name_exists(f"culturelens.{name}"):
            problems.append(f"{_rel(page)}: names '{name}', which is no module or attribute of culturelens")
    return problems


def problems(files: list[Path] | None = None) -> list[str]:
    out = []
    for page in files or doc_files():
        out += link_problems(page)
        out += name_problems(page)
        if page.name == "architecture.md":
            out += architecture_problems(page)
    return out


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} problem(s): fix the page (or the name it points to)", file=sys.stderr)
        return 1
    print("README.md and docs/: every link, module and path exists")
    return 0


if __name__ == "__main__":
    sys.exit(main())
