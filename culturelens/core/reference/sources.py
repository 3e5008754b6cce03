"""The reference sources, in precedence order, behind one reader interface.

A source is one module with a ``read(paths, bank, *, questions, countries, warnings) -> HumanReference | None``
function: it reads every file given for it, keeps the wanted questions and countries, appends its warnings, and
returns a ``HumanReference`` whose rows name their ``source`` and whose ``meta["sources"]`` has one entry per input
(with its ``kind``). Adding a source = one reader module + one ``Source`` line below (and a CLI flag).

``SOURCES`` is ordered by precedence: where two sources cover a (country, qid), the earlier one's row is kept:
respondent rows (exact counts) > answer shares (distributions, n unknown) > country means (no distribution).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from culturelens.core.errors import DataError
from culturelens.core.reference import means_csv, shares_json, wvs_csv
from culturelens.core.reference._common import COUNTRY_COLUMN, norm_col
from culturelens.core.reference.csv_io import sniff
from culturelens.core.reference.model import HumanReference


class Reader(Protocol):
    def __call__(self, paths: list[Path], bank, *, questions: list[str] | None, countries: list[str] | None,
                 warnings: list[str]) -> HumanReference | None: ...


def csv_header(path: Path) -> set[str]:
    return {norm_col(n) for n in sniff(path)[1]}


def wvs_csvs_in(folder: Path) -> list[Path]:
    """The CSVs of a folder that have the WVS country column."""
    out = []
    for p in sorted(folder.glob("*.csv")):
        try:
            if COUNTRY_COLUMN in csv_header(p):
                out.append(p)
        except DataError:
            continue
    return out


def expand_wvs_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; a folder stands for its WVS CSVs."""
    out: list[Path] = []
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            found = wvs_csvs_in(p)
            if not found:
                raise DataError(f"{p} has no CSV with a {COUNTRY_COLUMN} column (WVS wave-7 respondent data)")
            out.extend(found)
        elif not p.exists():
            raise DataError(f"file not found: {p}")
        else:
            out.append(p)
    return out


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    return [Path(p).expanduser() for p in paths]


@dataclass(frozen=True)
class Source:
    kind: str  # as in meta["sources"][i]["kind"]
    option: str  # the build_reference keyword and CLI flag (--wvs-csv)
    read: Reader
    expand: Callable[[Iterable[str | Path]], list[Path]] = expand_paths


SOURCES: tuple[Source, ...] = (
    Source(wvs_csv.KIND, "wvs_csv", wvs_csv.read, expand_wvs_paths),
    Source(shares_json.KIND, "shares_json", shares_json.read),
    Source(means_csv.KIND, "means_csv", means_csv.read),
)


def merge_in_order(refs: Iterable[HumanReference | None]) -> HumanReference | None:
    """Rows of all references; where several cover a (country, qid), the first one's row is kept."""
    out: HumanReference | None = None
    for ref in refs:
        if ref is not None:
            out = ref if out is None else out.merge(ref)
    return out
