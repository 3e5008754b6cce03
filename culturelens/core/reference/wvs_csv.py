"""Reader for raw WVS wave-7 respondent CSVs (the official country-pooled file, or per-country exports in its layout).

Per file: sniff the header, find the country column (B_COUNTRY_ALPHA) and the question-bank columns, read only those.
Per question: parse the answer codes, drop negative codes (don't know, no answer, not asked, missing), apply the
bank's ``remap`` (None drops), drop codes outside the question's options (counted in a warning), and count answers
per (country, option). Counts of a country found in several files are pooled. Finally shares r_k = count_k / n and
mean = sum_k r_k s_k per (country, question); a pair with fewer than ``min_n`` valid answers is skipped with a warning.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from culturelens.core.errors import DataError
from culturelens.core.reference._common import (
    COLUMNS,
    COUNTRY_COLUMN,
    default_bank,
    fmt_code,
    norm_col,
    qid_key,
    resolve_alpha3,
    shorten,
    version,
)
from culturelens.core.reference.csv_io import read_columns, sniff
from culturelens.core.reference.model import HumanReference

log = logging.getLogger(__name__)
KIND = "wvs7_respondents"


@dataclass
class _Tally:
    """Answer counts per (country, qid) over all files, plus what the warnings and metadata need."""

    counts: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    empty: set[tuple[str, str]] = field(default_factory=set)
    files_of: dict[str, list[str]] = field(default_factory=dict)
    total_rows: int = 0

    def add(self, countries: list[str], qid: str, table: np.ndarray) -> None:
        """Add a (country x option) count table of one question from one file."""
        answered = table.sum(axis=1) > 0
        for i, c in enumerate(countries):
            if answered[i]:
                self.counts[(c, qid)] = self.counts.get((c, qid), 0) + table[i]
            else:
                self.empty.add((c, qid))


# --------------------------------------------------------------------------------------------- columns


def _file_questions(names: list[str], bank, wanted: list[str] | None, path: Path | None = None) -> dict[str, str]:
    """qid -> column name of the bank questions present in a file (or of the requested ones); two columns for one
    question are a DataError (one would be dropped silently)."""
    exact: dict[str, list[str]] = {}
    loose: dict[str, list[str]] = {}
    for name in names:
        key = norm_col(name)
        exact.setdefault(key, []).append(name)
        m = re.match(r"^(Q\d+[A-Z]?(?:_[A-Z0-9]+)?)(?=[\s:.\-]|$)", key)
        if m:
            loose.setdefault(m.group(1), []).append(name)
    qids = wanted if wanted is not None else [q.qid for q in bank]
    found = {}
    for qid in qids:
        cols = exact.get(norm_col(qid)) or loose.get(norm_col(qid))
        if cols and len(cols) > 1:
            raise DataError(f"{path}: {len(cols)} columns hold question {qid} ({', '.join(repr(c) for c in cols)}): "
                            "keep one column per question and rebuild the reference")
        if cols:
            found[qid] = cols[0]
    return found


def _country_column(path: Path, names: list[str]) -> str:
    col = next((n for n in names if norm_col(n) == COUNTRY_COLUMN), None)
    if col is None:
        raise DataError(
            f"{path} has no {COUNTRY_COLUMN} column: this is not a WVS wave-7 CSV (expected the official "
            "WVS_Cross-National_Wave_7 file or per-country exports)"
        )
    return col


def _question_columns(path: Path, names: list[str], bank, wanted: list[str] | None, warnings: list[str]) -> dict[str, str]:
    qcols = _file_questions(names, bank, wanted, path)
    if not qcols:
        if wanted is not None:
            raise DataError(f"{path} has none of the requested questions: {shorten(wanted)} are missing")
        raise DataError(f"{path} has no column of a question-bank question (e.g. Q27): nothing to aggregate")
    if wanted is not None and len(qcols) < len(wanted):
        warnings.append(f"{path.name}: no column for {shorten(q for q in wanted if q not in qcols)}")
    return qcols


def _country_rows(country: pd.Series, where: str, keep_countries: set[str] | None,
                  warnings: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(mask of the rows kept, country index per kept row, country codes) of one file's country column."""
    ctry = country.astype("string").str.strip().str.upper()
    no_country = ctry.isna() | (ctry == "")
    if no_country.any():
        warnings.append(f"{where}: {int(no_country.sum())} row(s) without a {COUNTRY_COLUMN} value ignored")
    keep = ~no_country
    if keep_countries is not None:
        keep &= ctry.isin(keep_countries).fillna(False)
    keep = keep.to_numpy(dtype=bool)
    if not keep.any():
        return keep, np.zeros(0, dtype=int), []
    cidx, cnames = pd.factorize(ctry[keep])
    _check_codes(where, [str(c) for c in cnames], ctry[keep])
    return keep, cidx, [str(c) for c in cnames]


def _check_codes(where: str, codes: list[str], column: pd.Series) -> None:
    """Every B_COUNTRY_ALPHA value must be a known ISO alpha-3 code (else eval fails later without a zone)."""
    from culturelens.core.countries import load_countries

    known = load_countries()
    unknown = [c for c in codes if c not in known]
    if unknown:
        n = int(column.isin(unknown).sum())
        raise DataError(f"{where}: unknown country code(s) in {COUNTRY_COLUMN}: {shorten(unknown, 6)} ({n} row(s)): "
                        "fix them to ISO alpha-3 codes (`culturelens data countries` lists them) or drop those rows")


# --------------------------------------------------------------------------------------------- one question


def _answer_codes(raw_series: pd.Series, where: str, qid: str, warnings: list[str]) -> np.ndarray:
    """The answer codes as floats (NaN for empty or non-numeric cells; the latter counted in a warning)."""
    raw = pd.to_numeric(raw_series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    texty_mask = np.isnan(raw) & raw_series.notna().to_numpy()
    if texty_mask.any():
        sample = raw_series[texty_mask].astype(str).unique()[:3]
        warnings.append(f"{where}: {qid}: {int(texty_mask.sum())} non-numeric value(s) ignored (e.g. "
                        f"{shorten(sample, 3)}); export answer codes, not labels")
    return raw


def _remapped(raw: np.ndarray, question) -> np.ndarray:
    """Codes after the question's remap; NaN for missing cells, negative codes and codes remapped to None."""
    val = raw.copy()
    for src, dst in (question.remap or {}).items():
        val[raw == float(src)] = np.nan if dst is None or dst == "" else float(dst)
    val[~(raw >= 0)] = np.nan  # NaN compares False: missing cells dropped like the negative missing codes
    return val


def _option_counts(raw_series: pd.Series, question, cidx: np.ndarray, n_countries: int, where: str,
                   warnings: list[str]) -> np.ndarray:
    """(country x option) answer counts of one question in one file."""
    codes = np.asarray(question.codes, dtype=float)
    k = len(codes)
    val = _remapped(_answer_codes(raw_series, where, question.qid, warnings), question)
    valid = ~np.isnan(val)
    order = np.argsort(codes)
    opt = order[np.clip(np.searchsorted(codes[order], val), 0, k - 1)]
    in_opts = valid & (codes[opt] == val)
    stray = valid & ~in_opts
    if stray.any():
        bad = np.unique(val[stray])
        warnings.append(
            f"{where}: {question.qid}: {int(stray.sum())} answer(s) with codes outside the options "
            f"({', '.join(fmt_code(c) for c in codes)}) dropped: codes {shorten((fmt_code(b) for b in bad), 6)}"
        )
    table = np.bincount(cidx[in_opts] * k + opt[in_opts], minlength=n_countries * k)
    return table.reshape(n_countries, k).astype(np.int64)


# --------------------------------------------------------------------------------------------- files -> rows


def _count_file(path: Path, bank, wanted: list[str] | None, keep_countries: set[str] | None, tally: _Tally,
                warnings: list[str]) -> None:
    """Add one CSV's answers to the tally."""
    sep, names = sniff(path)
    country_col = _country_column(path, names)
    qcols = _question_columns(path, names, bank, wanted, warnings)
    df = read_columns(path, sep, [country_col, *dict.fromkeys(qcols.values())])
    tally.total_rows += len(df)
    keep, cidx, cnames = _country_rows(df[country_col], path.name, keep_countries, warnings)
    if not cnames:
        return
    for c in cnames:
        tally.files_of.setdefault(c, []).append(path.name)
    for qid, col in qcols.items():
        table = _option_counts(df[col][keep], bank.get(qid), cidx, len(cnames), path.name, warnings)
        tally.add(cnames, qid, table)


def _coverage_warnings(tally: _Tally, keep_countries: set[str] | None) -> list[str]:
    out = [f"{c} appears in several files ({shorten(files, 4)}): its answers were pooled"
           for c, files in sorted(tally.files_of.items()) if len(files) > 1]
    absent = sorted((keep_countries or set()) - set(tally.files_of))
    if absent:
        out.append(f"requested countries not in the files: {', '.join(absent)}")
    return out


def _rows(tally: _Tally, bank, min_n: int, warnings: list[str]) -> list[dict]:
    """One reference row per (country, qid) with at least ``min_n`` valid answers: n, shares, mean."""
    rows = []
    for c, qid in sorted(set(tally.counts) | tally.empty, key=lambda x: (x[0], qid_key(x[1]))):
        cnt = tally.counts.get((c, qid))
        n = 0 if cnt is None else int(cnt.sum())
        if n == 0:
            warnings.append(f"no valid answers for {qid} in {c} (all missing or not asked): skipped")
            continue
        if n < min_n:
            warnings.append(f"only {n} valid answer(s) for {qid} in {c} (min_n={min_n}): skipped")
            continue
        shares = cnt / n
        scores = np.asarray(bank.get(qid).scores, dtype=float)
        rows.append({
            "country": c, "qid": qid, "n": n, "mean": float(shares @ scores), "dist": shares.tolist(),
            "source": "wvs7:" + "+".join(tally.files_of.get(c, [])),
        })
    return rows


def _meta(paths: list[Path], tally: _Tally, rows: list[dict]) -> dict:
    return {
        "built_with": {"culturelens": version(), "function": "culturelens.core.reference.build_from_wvs_csv",
                       "pandas": pd.__version__, "numpy": np.__version__},
        "method": "unweighted shares of respondents per option; negative codes dropped; codes remapped per question "
                  "bank; mean = sum_k share_k * score_k, scores linear in [-1, 1]",
        "sources": [{
            "kind": KIND,
            "files": [p.name for p in paths],
            "respondent_rows": int(tally.total_rows),
            "countries": len({r["country"] for r in rows}),
            "questions": len({r["qid"] for r in rows}),
            "rows": len(rows),
        }],
    }


def build_from_wvs_csv(
    paths: list[Path] | list[str] | Path | str,
    bank=None,
    questions: list[str] | None = None,
    countries: list[str] | None = None,
    min_n: int = 1,
) -> tuple[HumanReference, list[str]]:
    """Aggregate raw WVS wave-7 CSVs into a HumanReference; returns it with a list of warnings.

    Negative codes are dropped, ``Question.remap`` is applied (None drops), codes outside the question's options are
    dropped (and counted in a warning). Answers of a country found in several files are pooled. A (country, question)
    with fewer than ``min_n`` valid answers (by default: none) is skipped with a warning.
    """
    t0 = time.perf_counter()
    bank = default_bank(bank)
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise DataError("no WVS CSV files given")
    wanted = None if questions is None else list(dict.fromkeys(bank.get(q).qid for q in questions))
    keep_countries = None if countries is None else set(resolve_alpha3(countries))
    warnings: list[str] = []
    tally = _Tally()
    for path in paths:
        _count_file(path, bank, wanted, keep_countries, tally, warnings)
    warnings += _coverage_warnings(tally, keep_countries)
    rows = _rows(tally, bank, min_n, warnings)
    ref = HumanReference(pd.DataFrame(rows, columns=COLUMNS), _meta(paths, tally, rows))
    log.info("built %d reference rows from %d file(s) in %.2fs", len(rows), len(paths), time.perf_counter() - t0)
    return ref, warnings


def read(paths: list[Path], bank, *, questions: list[str] | None, countries: list[str] | None,
         warnings: list[str]) -> HumanReference:
    """The reader interface (see ``culturelens.core.reference.sources``): all files pooled into one reference."""
    ref, w = build_from_wvs_csv(paths, bank, questions=questions, countries=countries)
    warnings.extend(w)
    return ref
