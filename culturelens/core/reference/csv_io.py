"""Reading (possibly compressed) CSVs: sniff the separator and header, then read only the wanted columns."""
from __future__ import annotations

import bz2
import csv
import gzip
import io
import logging
import lzma
import zipfile
from pathlib import Path

import pandas as pd

from culturelens.core.errors import DataError

log = logging.getLogger(__name__)


def open_text(path: Path) -> io.TextIOBase:
    """Text handle on a (possibly compressed) CSV, for sniffing its header."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    if suffix == ".bz2":
        return bz2.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    if suffix == ".xz":
        return lzma.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    if suffix == ".zip":
        zf = zipfile.ZipFile(path)
        names = [n for n in zf.namelist() if not n.endswith("/")]
        if len(names) != 1:
            raise DataError(f"{path} is a zip with {len(names)} files: unzip it and pass the CSV")
        return io.TextIOWrapper(zf.open(names[0]), encoding="utf-8-sig", errors="replace", newline="")
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


def sniff(path: Path) -> tuple[str, list[str]]:
    """(separator, column names) of a CSV, from its first line: ',' ';' tab or '|', whichever occurs most."""
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder, expected a CSV file")
    try:
        with open_text(path) as fh:
            header = fh.readline()
    except (OSError, zipfile.BadZipFile, EOFError, lzma.LZMAError) as exc:
        raise DataError(f"could not read {path}: {exc}") from exc
    header = header.rstrip("\r\n")
    if "\x00" in header or header.startswith("\ufffd\ufffd"):  # UTF-16 read as UTF-8: NUL bytes or a replaced BOM
        raise DataError(f"{path} is UTF-16 text, not UTF-8: re-save it as UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8`)")
    if not header.strip():
        raise DataError(f"{path} is empty or has no header line")
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    sep = max(counts, key=lambda s: counts[s]) if max(counts.values()) > 0 else ","
    names = next(csv.reader([header], delimiter=sep))
    return sep, [n.replace("\ufeff", "") for n in names]


def read_columns(path: Path, sep: str, usecols: list[str]) -> pd.DataFrame:
    """Only the wanted columns of a CSV; the multi-threaded pyarrow parser when available, else pandas' C parser."""
    try:
        import pyarrow  # noqa: F401

        try:
            return pd.read_csv(path, sep=sep, usecols=usecols, engine="pyarrow")
        except Exception as exc:  # odd quoting, bad bytes...: the C parser is more forgiving
            log.debug("pyarrow CSV reader failed on %s (%s); using the C parser", path, exc)
    except ImportError:
        pass
    try:
        return pd.read_csv(path, sep=sep, usecols=usecols, engine="c", low_memory=False, encoding="utf-8",
                           encoding_errors="replace")
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError, UnicodeError) as exc:
        raise DataError(f"could not read {path} as a CSV ('{sep}'-separated): {exc}") from exc
