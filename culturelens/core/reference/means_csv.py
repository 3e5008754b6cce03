"""Reader for "country means" CSVs: columns country (name or ISO code), question (text) or qid, wvs_score or mean
(already on [-1, 1]). Means only: rows carry no answer distribution and ``n`` is unknown."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from culturelens.core.errors import DataError
from culturelens.core.reference._common import COLUMNS, default_bank, norm_col, resolve_alpha3, shorten, version
from culturelens.core.reference.csv_io import sniff
from culturelens.core.reference.model import HumanReference

log = logging.getLogger(__name__)
KIND = "country_means"
EXPECTED = "country, question (or qid), wvs_score (or mean)"
ROLES = {"country": ["country"], "question": ["qid", "question"], "wvs_score": ["wvs_score", "mean"]}


def _find_question(bank, text: str):
    """The bank question a user text names (its short name, an alias or its id), or None."""
    text = str(text).strip()
    try:
        q = bank.find(text)
    except (DataError, KeyError, LookupError, ValueError):
        q = None
    if q is None and re.match(r"^[Qq]\d+", text):
        try:
            q = bank.get(text.upper())
        except (DataError, KeyError, LookupError, ValueError):
            q = None
    return q


def _columns(path: Path, names: list[str]) -> dict[str, str]:
    """role (country, question, wvs_score) -> column name in the file."""
    low = {norm_col(n).lower(): n for n in names}
    cols = {}
    for role, options in ROLES.items():
        col = next((low[o] for o in options if o in low), None)
        if col is None:
            alt = " (or " + repr(options[0]) + ")" if len(options) > 1 else ""
            raise DataError(f"{path} has no '{role}' column{alt}: a country-means CSV needs columns {EXPECTED}; "
                            f"found: {shorten(names)}")
        cols[role] = col
    return cols


def _read(path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """The file as a frame with columns country, question, wvs_score; and role -> the file's column name."""
    sep, names = sniff(path)
    cols = _columns(path, names)
    try:
        df = pd.read_csv(path, sep=sep, usecols=list(cols.values()), dtype={cols["country"]: str, cols["question"]: str})
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError, UnicodeError) as exc:
        raise DataError(f"could not read {path} as a CSV: {exc}") from exc
    df = df.rename(columns={v: k for k, v in cols.items()})
    return df.dropna(subset=["country", "question"], how="all"), cols


def _map_each(column: pd.Series, lookup) -> tuple[pd.Series, list[str]]:
    """``lookup`` applied once per distinct stripped value (None = not found); the mapped column and what failed
    (empty cells as "<empty>")."""
    found: dict[str, str] = {}
    failed = []
    for value in column.dropna().astype(str).str.strip().unique():
        key = lookup(value)
        if key is None:
            failed.append(value)
        else:
            found[value] = key
    if column.isna().any():
        failed.append("<empty>")
    return column.astype(str).str.strip().map(found), failed


def _alpha3_or_none(name: str) -> str | None:
    try:
        return resolve_alpha3([name])[0]
    except Exception:
        return None


def _country_codes(path: Path, column: pd.Series) -> pd.Series:
    """ISO alpha-3 per row; DataError naming every unknown or empty country."""
    codes, unknown = _map_each(column, _alpha3_or_none)
    if unknown:
        raise DataError(f"{path}: unknown countries: {shorten(unknown)} (use English names or ISO codes as listed by "
                        "`culturelens data countries`)")
    return codes


def _question_ids(path: Path, column: pd.Series, bank) -> pd.Series:
    """Bank qid per row; DataError naming every question the bank does not know."""
    qids, unmatched = _map_each(column, lambda text: getattr(_find_question(bank, text), "qid", None))
    if unmatched:
        unmatched = [u if u == "<empty>" else repr(u) for u in unmatched]
        raise DataError(f"{path}: question(s) not found in the question bank: {shorten(unmatched, 12)} "
                        "(use a question id such as Q177 or a short name listed by `culturelens data questions`)")
    return qids


def _scores(path: Path, df: pd.DataFrame, name: str) -> pd.Series:
    """The numeric scores (NaN where empty); DataError for text or values off [-1, 1]."""
    score = pd.to_numeric(df["wvs_score"], errors="coerce")
    texty = score.isna() & df["wvs_score"].notna() & (df["wvs_score"].astype(str).str.strip() != "")
    if texty.any():
        raise DataError(f"{path}: non-numeric {name} values in row(s) {shorten(i + 2 for i in df.index[texty])}")
    out_of_range = score.abs() > 1 + 1e-9
    if out_of_range.any():
        i = df.index[out_of_range][0]
        raise DataError(f"{path}: {name} must be on [-1, 1] (got {score[i]} for {df.at[i, 'country']} "
                        f"{df.at[i, 'qid']}); convert raw means first, e.g. (x - 5.5) / 4.5 for a 1-10 item")
    return score


def _drop_blank(path: Path, df: pd.DataFrame, warnings: list[str] | None) -> pd.DataFrame:
    blank = df["mean"].isna()
    if not blank.any():
        return df
    msg = (f"{path.name}: {int(blank.sum())} row(s) with an empty score (not asked) skipped: "
           f"{shorten((f'{c}/{q}' for c, q in zip(df.loc[blank, 'country'], df.loc[blank, 'qid'])), 20)}")
    log.warning(msg)
    if warnings is not None:
        warnings.append(msg)
    return df[~blank]


def build_from_means_csv(path: str | Path, bank=None, *, warnings: list[str] | None = None) -> HumanReference:
    """A HumanReference (means only) from a country-means CSV: country (name or ISO code), question (text) or qid,
    wvs_score or mean (already on [-1, 1]). Rows with an empty score (question not asked there) are dropped with a
    warning appended to ``warnings`` (and logged)."""
    path = Path(path)
    bank = default_bank(bank)
    df, cols = _read(path)
    df["country"] = _country_codes(path, df["country"])
    df["qid"] = _question_ids(path, df["question"], bank)
    df["mean"] = _scores(path, df, cols["wvs_score"])
    dup = df.duplicated(["country", "qid"], keep=False)
    if dup.any():
        pairs = sorted(set(zip(df.loc[dup, "country"], df.loc[dup, "qid"])))
        raise DataError(f"{path}: several rows for {shorten(f'{c}/{q}' for c, q in pairs)}")
    df = _drop_blank(path, df, warnings)
    df["n"] = pd.NA
    df["dist"] = None
    df["source"] = f"means:{path.name}"
    meta = {
        "built_with": {"culturelens": version(), "function": "culturelens.core.reference.build_from_means_csv",
                       "pandas": pd.__version__},
        "sources": [{
            "kind": KIND,
            "weighted": False,  # means as the file gives them: no respondent weights are applied here
            "files": [path.name],
            "countries": int(df["country"].nunique()),
            "questions": int(df["qid"].nunique()),
            "rows": int(len(df)),
        }],
    }
    return HumanReference(df[COLUMNS], meta)


def read(paths: list[Path], bank, *, questions: list[str] | None, countries: list[str] | None,
         warnings: list[str]) -> HumanReference | None:
    """The reader interface (see ``culturelens.core.reference.sources``): one reference per file, merged in order
    (the first file wins a (country, qid) both have), limited to the wanted questions and countries."""
    qids = None if questions is None else [bank.get(q).qid for q in questions]
    keep = None if countries is None else resolve_alpha3(countries)
    ref: HumanReference | None = None
    for p in paths:
        m = build_from_means_csv(p, bank, warnings=warnings)
        if qids is not None or keep is not None:
            m = m.subset(countries=keep, qids=qids)
        ref = m if ref is None else ref.merge(m)
    return ref
