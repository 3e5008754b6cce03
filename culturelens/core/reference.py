"""Human reference answers: per (country, WVS question) the share of respondents per answer option and the mean score.

The human score of a country on a question follows the paper: r_k = share of the country's respondents who chose
option k (negative WVS codes -- don't know, no answer, not asked, missing -- dropped), score = sum_k r_k s_k with
s_k the question's scale values in [-1, 1] (``Question.scores``). Shares are unweighted.

Sources:
- raw WVS wave-7 CSVs (the official country-pooled file, or per-country exports in the same layout):
  ``build_from_wvs_csv`` -- distributions and means;
- "country means" CSVs (country, question, wvs_score already on [-1, 1]): ``build_from_means_csv`` -- means only.

A ``HumanReference`` holds only aggregates (never respondent rows) and is saved as compact JSON; the embedded default
(``culturelens/data/reference_default.json``) is rebuilt with ``culturelens data build-reference``.
"""
from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import logging
import lzma
import math
import re
import time
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from culturelens.core.errors import DataError

log = logging.getLogger(__name__)

WVS_CITATION = (
    "Haerpfer, C., Inglehart, R., Moreno, A., Welzel, C., Kizilova, K., Diez-Medrano J., M. Lagos, P. Norris, "
    "E. Ponarin & B. Puranen (eds.). 2022. World Values Survey: Round Seven - Country-Pooled Datafile Version 5.0. "
    "Madrid, Spain & Vienna, Austria: JD Systems Institute & WVSA Secretariat. doi:10.14281/18241.24."
)
WVS_DOI = "10.14281/18241.24"
COUNTRY_COLUMN = "B_COUNTRY_ALPHA"
COLUMNS = ["country", "qid", "n", "mean", "dist", "source"]
DEFAULT_FILE = "reference_default.json"
DECIMALS = 6

# --------------------------------------------------------------------------------------------- helpers


def _version() -> str:
    try:
        from culturelens import __version__

        return str(__version__)
    except Exception:  # pragma: no cover
        return "unknown"


def _qid_key(qid: str) -> tuple:
    """Natural order of question ids: Q2 < Q27 < Q122 < Q122A."""
    m = re.match(r"^([A-Za-z_]*)(\d+)(.*)$", str(qid))
    if not m:
        return (str(qid), -1, "")
    return (m.group(1).upper(), int(m.group(2)), m.group(3))


def _norm_col(name: Any) -> str:
    return str(name).replace("\ufeff", "").strip().strip('"').strip().upper()


def _open_text(path: Path) -> io.TextIOBase:
    """Text handle on a (possibly compressed) CSV, for sniffing its header."""
    suffix = path.suffix.lower()
    kw = {"encoding": "utf-8-sig", "errors": "replace", "newline": ""}
    if suffix == ".gz":
        return gzip.open(path, "rt", **kw)
    if suffix == ".bz2":
        return bz2.open(path, "rt", **kw)
    if suffix == ".xz":
        return lzma.open(path, "rt", **kw)
    if suffix == ".zip":
        zf = zipfile.ZipFile(path)
        names = [n for n in zf.namelist() if not n.endswith("/")]
        if len(names) != 1:
            raise DataError(f"{path} is a zip with {len(names)} files: unzip it and pass the CSV")
        return io.TextIOWrapper(zf.open(names[0]), **kw)
    return open(path, "r", **kw)


def _sniff(path: Path) -> tuple[str, list[str]]:
    """(separator, column names) of a CSV, from its first line: ',' ';' tab or '|', whichever occurs most."""
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder, expected a CSV file")
    try:
        with _open_text(path) as fh:
            header = fh.readline()
    except (OSError, zipfile.BadZipFile, EOFError, lzma.LZMAError) as exc:
        raise DataError(f"could not read {path}: {exc}") from exc
    header = header.rstrip("\r\n")
    if not header.strip():
        raise DataError(f"{path} is empty or has no header line")
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    sep = max(counts, key=lambda s: counts[s]) if max(counts.values()) > 0 else ","
    names = next(csv.reader([header], delimiter=sep))
    return sep, [n.replace("\ufeff", "") for n in names]


def _read_columns(path: Path, sep: str, usecols: list[str]) -> pd.DataFrame:
    """Only the wanted columns of a CSV; the multi-threaded pyarrow parser when available, else pandas' C parser."""
    errors: list[str] = []
    try:
        import pyarrow  # noqa: F401

        try:
            return pd.read_csv(path, sep=sep, usecols=usecols, engine="pyarrow")
        except Exception as exc:  # odd quoting, bad bytes...: the C parser is more forgiving
            errors.append(str(exc))
            log.debug("pyarrow CSV reader failed on %s (%s); using the C parser", path, exc)
    except ImportError:
        pass
    try:
        return pd.read_csv(path, sep=sep, usecols=usecols, engine="c", low_memory=False, encoding="utf-8",
                           encoding_errors="replace")
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError, UnicodeError) as exc:
        raise DataError(f"could not read {path} as a CSV ('{sep}'-separated): {exc}") from exc


def _shorten(items: Iterable[Any], limit: int = 8) -> str:
    items = [str(i) for i in items]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... ({len(items)} in all)"


def _fmt_code(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _resolve_alpha3(names: Iterable[str]) -> list[str]:
    from culturelens.core.countries import resolve_country

    out = []
    for name in names:
        out.append(resolve_country(str(name)).alpha3)
    return out


def _default_bank(bank):
    if bank is not None:
        return bank
    from culturelens.core.questions import load_bank

    return load_bank()


# --------------------------------------------------------------------------------------------- HumanReference


class HumanReference:
    """Human answers per (country, qid): columns country (ISO alpha-3), qid, n, mean, dist, source.

    ``n`` = respondents with a valid answer (<NA> for means-only data); ``mean`` = sum_k r_k s_k in [-1, 1];
    ``dist`` = shares r_k in option order (None for means-only data); ``source`` names where the row came from.
    """

    def __init__(self, df: pd.DataFrame, meta: dict | None = None):
        missing = [c for c in ("country", "qid", "mean") if c not in df.columns]
        if missing:
            raise DataError(f"a human reference needs columns {', '.join(COLUMNS)}; missing: {', '.join(missing)}")
        df = df.copy()
        if "n" not in df.columns:
            df["n"] = pd.NA
        if "dist" not in df.columns:
            df["dist"] = None
        if "source" not in df.columns:
            df["source"] = ""
        df = df[COLUMNS].reset_index(drop=True)
        df["country"] = df["country"].astype(str).str.strip().str.upper()
        df["qid"] = df["qid"].astype(str).str.strip()
        df["n"] = pd.array(pd.to_numeric(df["n"], errors="coerce"), dtype="Int64")
        df["mean"] = pd.to_numeric(df["mean"], errors="coerce").astype(float)
        df["dist"] = pd.Series(
            [None if d is None or (isinstance(d, float) and math.isnan(d)) else [float(x) for x in d] for d in df["dist"]],
            dtype=object,
            index=df.index,
        )
        df["source"] = df["source"].fillna("").astype(str)
        dup = df.duplicated(["country", "qid"], keep=False)
        if dup.any():
            pairs = sorted(set(zip(df.loc[dup, "country"], df.loc[dup, "qid"])))
            raise DataError(f"duplicate human reference rows for {_shorten(f'{c}/{q}' for c, q in pairs)}")
        keys = list(zip(df["country"].tolist(), map(_qid_key, df["qid"].tolist())))
        order = sorted(range(len(df)), key=keys.__getitem__)
        self.df: pd.DataFrame = df.iloc[order].reset_index(drop=True)
        self.meta: dict = dict(meta or {})
        self.meta.setdefault("citation", WVS_CITATION)
        self.meta.setdefault("doi", WVS_DOI)
        self.meta.setdefault("sources", [])

    # -- views
    @property
    def countries(self) -> list[str]:
        return sorted(self.df["country"].unique().tolist())

    @property
    def qids(self) -> list[str]:
        return sorted(self.df["qid"].unique().tolist(), key=_qid_key)

    @property
    def has_distributions(self) -> bool:
        """True when at least one row carries an answer distribution (not only a mean)."""
        return bool(self.df["dist"].notna().any())

    def distribution_countries(self) -> list[str]:
        return sorted(self.df.loc[self.df["dist"].notna(), "country"].unique().tolist())

    def means(self) -> pd.DataFrame:
        """Human mean scores as a qid x country table (NaN where a country has no answers to a question)."""
        table = self.df.pivot(index="qid", columns="country", values="mean")
        return table.reindex(index=self.qids, columns=self.countries)

    def get(self, country: str, qid: str) -> dict:
        """The row of (country, qid) as a dict; DataError if the reference has no such row."""
        c, q = str(country).strip().upper(), str(qid).strip()
        hit = self.df[(self.df["country"] == c) & (self.df["qid"] == q)]
        if hit.empty and c not in set(self.df["country"]):
            try:
                c = _resolve_alpha3([country])[0]
            except Exception:
                pass
            hit = self.df[(self.df["country"] == c) & (self.df["qid"] == q)]
        if hit.empty:
            raise DataError(f"no human answers for {country} on {qid} in this reference")
        row = hit.iloc[0].to_dict()
        row["n"] = None if pd.isna(row["n"]) else int(row["n"])
        row["mean"] = float(row["mean"])
        return row

    def subset(self, countries: Iterable[str] | None = None, qids: Iterable[str] | None = None) -> "HumanReference":
        df = self.df
        if countries is not None:
            have = set(df["country"])
            wanted = set()
            for c in countries:
                code = str(c).strip().upper()
                if code not in have:
                    try:
                        code = _resolve_alpha3([c])[0]
                    except Exception:
                        pass
                wanted.add(code)
            df = df[df["country"].isin(wanted)]
        if qids is not None:
            df = df[df["qid"].isin({str(q).strip() for q in qids})]
        return HumanReference(df, self.meta)

    def merge(self, other: "HumanReference") -> "HumanReference":
        """Rows of both; where both have a (country, qid), this reference's row is kept."""
        have = set(zip(self.df["country"], self.df["qid"]))
        mask = [(c, q) not in have for c, q in zip(other.df["country"], other.df["qid"])]
        extra = other.df[mask]
        df = pd.concat([self.df, extra], ignore_index=True) if len(extra) else self.df
        meta = dict(self.meta)
        meta["sources"] = list(self.meta.get("sources", [])) + [
            s for s in other.meta.get("sources", []) if s not in self.meta.get("sources", [])
        ]
        return HumanReference(df, meta)

    def __len__(self) -> int:
        return len(self.df)

    def __repr__(self) -> str:
        nd = int(self.df["dist"].notna().sum())
        return (f"HumanReference({len(self.countries)} countries, {len(self.qids)} questions, {len(self.df)} rows, "
                f"{nd} with distributions)")

    # -- persistence
    def to_rows(self) -> list[dict]:
        rows = []
        for country, qid, n, mean, dist, source in self.df[COLUMNS].itertuples(index=False):
            rows.append({
                "country": country,
                "qid": qid,
                "n": None if pd.isna(n) else int(n),
                "mean": None if pd.isna(mean) else round(float(mean), DECIMALS),
                "dist": None if dist is None else [round(float(x), DECIMALS) for x in dist],
                "source": source,
            })
        return rows

    def save(self, path: str | Path) -> Path:
        """Compact JSON: {"meta": {...}, "rows": [...]}, one row per line, numbers rounded to 6 decimals."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = dict(self.meta)
        meta["citation"] = WVS_CITATION
        meta["doi"] = WVS_DOI
        meta["summary"] = {
            "countries": len(self.countries),
            "questions": len(self.qids),
            "rows": len(self.df),
            "rows_with_distributions": int(self.df["dist"].notna().sum()),
        }
        dump = lambda obj: json.dumps(obj, ensure_ascii=False, separators=(",", ":"))  # noqa: E731
        lines = ",\n".join(dump(r) for r in self.to_rows())
        path.write_text('{"meta":' + dump(meta) + ',\n"rows":[\n' + lines + "\n]}\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "HumanReference":
        path = Path(path)
        if not path.exists():
            raise DataError(f"reference file not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path} is not valid JSON ({exc}): expected a reference written by "
                            "`culturelens data build-reference`") from exc
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
            raise DataError(f"{path} is not a culturelens reference: expected {{\"meta\": ..., \"rows\": [...]}}")
        rows = data["rows"]
        bad = [i for i, r in enumerate(rows) if not isinstance(r, dict) or not {"country", "qid", "mean"} <= set(r)]
        if bad:
            raise DataError(f"{path}: row(s) {_shorten(bad)} lack country, qid or mean")
        df = pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)
        return cls(df, data.get("meta") or {})


# --------------------------------------------------------------------------------------------- builders


def _file_questions(path: Path, names: list[str], bank, wanted: list[str] | None) -> dict[str, str]:
    """qid -> column name of the bank questions present in a file (or of the requested ones)."""
    exact: dict[str, str] = {}
    loose: dict[str, str] = {}
    for name in names:
        key = _norm_col(name)
        exact.setdefault(key, name)
        m = re.match(r"^(Q\d+[A-Z]?(?:_[A-Z0-9]+)?)(?=[\s:.\-]|$)", key)
        if m:
            loose.setdefault(m.group(1), name)
    qids = wanted if wanted is not None else [q.qid for q in bank]
    found = {}
    for qid in qids:
        key = _norm_col(qid)
        col = exact.get(key) or loose.get(key)
        if col is not None:
            found[qid] = col
    return found


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
    bank = _default_bank(bank)
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("no WVS CSV files given")
    wanted = None if questions is None else list(dict.fromkeys(bank.get(q).qid for q in questions))
    keep_countries = None if countries is None else set(_resolve_alpha3(countries))
    warnings: list[str] = []

    counts: dict[tuple[str, str], np.ndarray] = {}
    empty: set[tuple[str, str]] = set()
    files_of: dict[str, list[str]] = {}
    total_rows = 0
    for path in paths:
        sep, names = _sniff(path)
        country_col = next((n for n in names if _norm_col(n) == COUNTRY_COLUMN), None)
        if country_col is None:
            raise DataError(
                f"{path} has no {COUNTRY_COLUMN} column: this is not a WVS wave-7 CSV (expected the official "
                "WVS_Cross-National_Wave_7 file or per-country exports)"
            )
        qcols = _file_questions(path, names, bank, wanted)
        if not qcols:
            if wanted is not None:
                raise DataError(f"{path} has none of the requested questions: {_shorten(wanted)} are missing")
            raise DataError(f"{path} has no column of a question-bank question (e.g. Q27): nothing to aggregate")
        if wanted is not None and len(qcols) < len(wanted):
            warnings.append(f"{path.name}: no column for {_shorten(q for q in wanted if q not in qcols)}")
        df = _read_columns(path, sep, [country_col, *dict.fromkeys(qcols.values())])
        total_rows += len(df)

        ctry = df[country_col].astype("string").str.strip().str.upper()
        no_country = ctry.isna() | (ctry == "")
        if no_country.any():
            warnings.append(f"{path.name}: {int(no_country.sum())} row(s) without a {COUNTRY_COLUMN} value ignored")
        keep = ~no_country
        if keep_countries is not None:
            keep &= ctry.isin(keep_countries).fillna(False)
        keep = keep.to_numpy(dtype=bool)
        if not keep.any():
            continue
        cidx, cnames = pd.factorize(ctry[keep])
        cnames = [str(c) for c in cnames]
        for c in cnames:
            files_of.setdefault(c, []).append(path.name)
        nc = len(cnames)

        for qid, col in qcols.items():
            q = bank.get(qid)
            codes = np.asarray(q.codes, dtype=float)
            k = len(codes)
            raw_series = df[col][keep]
            raw = pd.to_numeric(raw_series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            texty = int((np.isnan(raw) & raw_series.notna().to_numpy()).sum())
            if texty:
                sample = raw_series[np.isnan(raw) & raw_series.notna().to_numpy()].astype(str).unique()[:3]
                warnings.append(f"{path.name}: {qid}: {texty} non-numeric value(s) ignored (e.g. {_shorten(sample, 3)}); "
                                "export answer codes, not labels")
            valid = raw >= 0  # NaN compares False: missing cells dropped like the negative missing codes
            val = raw.copy()
            for src, dst in (q.remap or {}).items():
                hit = raw == float(src)
                val[hit] = np.nan if dst is None or dst == "" else float(dst)
            valid &= ~np.isnan(val)
            order = np.argsort(codes)
            pos = np.searchsorted(codes[order], val)
            pos = np.clip(pos, 0, k - 1)
            opt = order[pos]
            in_opts = valid & (codes[opt] == val)
            stray = valid & ~in_opts
            if stray.any():
                bad = np.unique(val[stray])
                warnings.append(
                    f"{path.name}: {qid}: {int(stray.sum())} answer(s) with codes outside the options "
                    f"({', '.join(_fmt_code(c) for c in codes)}) dropped: codes {_shorten((_fmt_code(b) for b in bad), 6)}"
                )
            table = np.bincount(cidx[in_opts] * k + opt[in_opts], minlength=nc * k).reshape(nc, k).astype(np.int64)
            answered = table.sum(axis=1) > 0
            for i, c in enumerate(cnames):
                key = (c, qid)
                if not answered[i]:
                    empty.add(key)
                elif key in counts:
                    counts[key] = counts[key] + table[i]
                else:
                    counts[key] = table[i]

    for c, files in sorted(files_of.items()):
        if len(files) > 1:
            warnings.append(f"{c} appears in several files ({_shorten(files, 4)}): its answers were pooled")
    if keep_countries is not None:
        absent = sorted(keep_countries - set(files_of))
        if absent:
            warnings.append(f"requested countries not in the files: {', '.join(absent)}")

    rows = []
    for (c, qid) in sorted(set(counts) | empty, key=lambda x: (x[0], _qid_key(x[1]))):
        cnt = counts.get((c, qid))
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
            "source": "wvs7:" + "+".join(files_of.get(c, [])),
        })
    df = pd.DataFrame(rows, columns=COLUMNS)
    meta = {
        "built_with": {"culturelens": _version(), "function": "culturelens.core.reference.build_from_wvs_csv",
                       "pandas": pd.__version__, "numpy": np.__version__},
        "method": "unweighted shares of respondents per option; negative codes dropped; codes remapped per question "
                  "bank; mean = sum_k share_k * score_k, scores linear in [-1, 1]",
        "sources": [{
            "kind": "wvs7_respondents",
            "files": [p.name for p in paths],
            "respondent_rows": int(total_rows),
            "countries": len({r["country"] for r in rows}),
            "questions": len({r["qid"] for r in rows}),
            "rows": len(rows),
        }],
    }
    log.info("built %d reference rows from %d file(s) in %.2fs", len(rows), len(paths), time.perf_counter() - t0)
    return HumanReference(df, meta), warnings


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


def build_from_means_csv(path: str | Path, bank=None, *, warnings: list[str] | None = None) -> HumanReference:
    """A HumanReference (means only) from a country-means CSV: country (name or ISO code), question (text) or qid,
    wvs_score or mean (already on [-1, 1]). Rows with an empty score (question not asked there) are dropped with a
    warning appended to ``warnings`` (and logged)."""
    from culturelens.core.countries import resolve_country

    path = Path(path)
    bank = _default_bank(bank)
    sep, names = _sniff(path)
    expected = "country, question (or qid), wvs_score (or mean)"
    low = {_norm_col(n).lower(): n for n in names}
    need = {"country": ["country"], "question": ["qid", "question"], "wvs_score": ["wvs_score", "mean"]}
    cols = {}
    for role, options in need.items():
        col = next((low[o] for o in options if o in low), None)
        if col is None:
            raise DataError(f"{path} has no '{role}' column{' (or ' + repr(options[0]) + ')' if len(options) > 1 else ''}: "
                            f"a country-means CSV needs columns {expected}; found: {_shorten(names)}")
        cols[role] = col
    try:
        df = pd.read_csv(path, sep=sep, usecols=list(cols.values()), dtype={cols["country"]: str, cols["question"]: str})
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError, UnicodeError) as exc:
        raise DataError(f"could not read {path} as a CSV: {exc}") from exc
    df = df.rename(columns={v: k for k, v in cols.items()})
    df = df.dropna(subset=["country", "question"], how="all")

    country_of: dict[str, str] = {}
    unknown = []
    for name in df["country"].dropna().astype(str).str.strip().unique():
        try:
            country_of[name] = resolve_country(name).alpha3
        except Exception:
            unknown.append(name)
    if df["country"].isna().any():
        unknown.append("<empty>")
    if unknown:
        raise DataError(f"{path}: unknown countries: {_shorten(unknown)} (use English names or ISO codes as listed by "
                        "`culturelens data countries`)")
    qid_of: dict[str, str] = {}
    unmatched = []
    for text in df["question"].dropna().astype(str).str.strip().unique():
        q = _find_question(bank, text)
        if q is None:
            unmatched.append(repr(text))
        else:
            qid_of[text] = q.qid
    if df["question"].isna().any():
        unmatched.append("<empty>")
    if unmatched:
        raise DataError(f"{path}: question(s) not found in the question bank: {_shorten(unmatched, 12)} "
                        "(use a question id such as Q177 or a short name listed by `culturelens data questions`)")

    df["country"] = df["country"].astype(str).str.strip().map(country_of)
    df["qid"] = df["question"].astype(str).str.strip().map(qid_of)
    score = pd.to_numeric(df["wvs_score"], errors="coerce")
    texty = score.isna() & df["wvs_score"].notna() & (df["wvs_score"].astype(str).str.strip() != "")
    if texty.any():
        raise DataError(f"{path}: non-numeric {cols['wvs_score']} values in row(s) {_shorten((i + 2 for i in df.index[texty]))}")
    out_of_range = score.abs() > 1 + 1e-9
    if out_of_range.any():
        i = df.index[out_of_range][0]
        raise DataError(f"{path}: {cols['wvs_score']} must be on [-1, 1] (got {score[i]} for {df.at[i, 'country']} "
                        f"{df.at[i, 'qid']}); convert raw means first, e.g. (x - 5.5) / 4.5 for a 1-10 item")
    df["mean"] = score
    dup = df.duplicated(["country", "qid"], keep=False)
    if dup.any():
        pairs = sorted(set(zip(df.loc[dup, "country"], df.loc[dup, "qid"])))
        raise DataError(f"{path}: several rows for {_shorten(f'{c}/{q}' for c, q in pairs)}")
    blank = df["mean"].isna()
    if blank.any():
        msg = (f"{path.name}: {int(blank.sum())} row(s) with an empty score (not asked) skipped: "
               f"{_shorten((f'{c}/{q}' for c, q in zip(df.loc[blank, 'country'], df.loc[blank, 'qid'])), 20)}")
        log.warning(msg)
        if warnings is not None:
            warnings.append(msg)
        df = df[~blank]
    df["n"] = pd.NA
    df["dist"] = None
    df["source"] = f"means:{path.name}"
    meta = {
        "built_with": {"culturelens": _version(), "function": "culturelens.core.reference.build_from_means_csv",
                       "pandas": pd.__version__},
        "sources": [{
            "kind": "country_means",
            "files": [path.name],
            "countries": int(df["country"].nunique()),
            "questions": int(df["qid"].nunique()),
            "rows": int(len(df)),
        }],
    }
    return HumanReference(df[COLUMNS], meta)


# --------------------------------------------------------------------------------------------- loading


def default_reference() -> HumanReference:
    """The embedded reference: 9 countries x 50 questions with distributions (WVS wave-7 respondents) and
    55 countries x 19 ethics questions with means only."""
    res = resources.files("culturelens.core") / "data" / DEFAULT_FILE
    try:
        text = res.read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise DataError(f"the embedded reference culturelens/data/{DEFAULT_FILE} is missing: reinstall culturelens or "
                        "build one with `culturelens data build-reference`") from exc
    with_path = Path(str(res))
    if with_path.exists():
        return HumanReference.load(with_path)
    data = json.loads(text)  # pragma: no cover - zipped installs
    return HumanReference(pd.DataFrame(data["rows"], columns=COLUMNS), data.get("meta"))


def _header(path: Path) -> set[str]:
    return {_norm_col(n) for n in _sniff(path)[1]}


def _wvs_csvs_in(folder: Path) -> list[Path]:
    out = []
    for p in sorted(folder.glob("*.csv")):
        try:
            if COUNTRY_COLUMN in _header(p):
                out.append(p)
        except DataError:
            continue
    return out


def _expand_wvs_paths(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            found = _wvs_csvs_in(p)
            if not found:
                raise DataError(f"{p} has no CSV with a {COUNTRY_COLUMN} column (WVS wave-7 respondent data)")
            out.extend(found)
        elif not p.exists():
            raise DataError(f"file not found: {p}")
        else:
            out.append(p)
    return out


def _log_warnings(warnings: list[str], limit: int = 10) -> None:
    for w in warnings[:limit]:
        log.warning(w)
    if len(warnings) > limit:
        log.warning("... and %d more warnings", len(warnings) - limit)


def load_reference(spec: str | Path | None = None, bank=None) -> HumanReference:
    """A human reference from: None or "default" (embedded), a reference .json, a raw WVS wave-7 CSV (column
    B_COUNTRY_ALPHA), a country-means CSV (country + question/qid columns), or a folder of WVS CSVs."""
    if spec is None or str(spec).strip().lower() in ("", "default"):
        return default_reference()
    path = Path(str(spec)).expanduser()
    hint = ("pass 'default', a reference .json, a WVS wave-7 CSV or folder of them, or a country-means CSV "
            "(country, question, wvs_score)")
    if not path.exists():
        raise DataError(f"reference '{spec}' not found: {hint}")
    if path.is_dir():
        files = _wvs_csvs_in(path)
        if not files:
            raise DataError(f"reference folder {path} has no CSV with a {COUNTRY_COLUMN} column: {hint}")
        ref, warnings = build_from_wvs_csv(files, _default_bank(bank))
        _log_warnings(warnings)
        return ref
    if path.suffix.lower() == ".json":
        return HumanReference.load(path)
    header = _header(path)
    if COUNTRY_COLUMN in header:
        ref, warnings = build_from_wvs_csv([path], _default_bank(bank))
        _log_warnings(warnings)
        return ref
    if "COUNTRY" in header and ({"QUESTION", "QID"} & header):
        return build_from_means_csv(path, _default_bank(bank))
    raise DataError(f"{path} is neither a WVS wave-7 CSV (no {COUNTRY_COLUMN} column) nor a country-means CSV "
                    f"(columns country, question or qid, wvs_score or mean): {hint}")


# --------------------------------------------------------------------------------------------- CLI


def build_reference(
    wvs_csv: Iterable[str | Path] = (),
    means_csv: Iterable[str | Path] = (),
    questions: list[str] | None = None,
    countries: list[str] | None = None,
    bank=None,
) -> tuple[HumanReference, list[str]]:
    """WVS respondent files first (distributions), then means files; where both cover a (country, qid), the
    respondent data wins."""
    bank = _default_bank(bank)
    wvs = _expand_wvs_paths(wvs_csv or [])
    means = [Path(p).expanduser() for p in (means_csv or [])]
    if not wvs and not means:
        raise DataError("nothing to build from: pass --wvs-csv FILE... and/or --means-csv FILE...")
    warnings: list[str] = []
    ref: HumanReference | None = None
    if wvs:
        ref, w = build_from_wvs_csv(wvs, bank, questions=questions, countries=countries)
        warnings += w
    qids = None if questions is None else [bank.get(q).qid for q in questions]
    keep_c = None if countries is None else _resolve_alpha3(countries)
    for p in means:
        m = build_from_means_csv(p, bank, warnings=warnings)
        if qids is not None or keep_c is not None:
            m = m.subset(countries=keep_c, qids=qids)
        ref = m if ref is None else ref.merge(m)
    assert ref is not None
    if ref.df.empty:
        raise DataError("the inputs gave no human answers for the chosen questions and countries")
    return ref, warnings


def build_reference_cli(
    wvs_csv: list[str], means_csv: list[str], out: str, questions: list[str] | None = None,
    countries: list[str] | None = None,
) -> None:
    """`culturelens data build-reference`: build, save, print a short summary."""
    t0 = time.perf_counter()
    ref, warnings = build_reference(wvs_csv, means_csv, questions=questions, countries=countries)
    path = ref.save(out)
    secs = time.perf_counter() - t0
    nd = len(ref.distribution_countries())
    print(f"reference written to {path}: {len(ref.countries)} countries ({nd} with answer distributions), "
          f"{len(ref.qids)} questions, {len(ref)} rows; {len(warnings)} warning(s); {secs:.1f} s")
    for w in warnings[:15]:
        print(f"  warning: {w}")
    if len(warnings) > 15:
        print(f"  ... and {len(warnings) - 15} more warning(s)")
