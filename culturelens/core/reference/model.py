"""``HumanReference``: human answers per (country, WVS question) as a table, with views, subset/merge and JSON I/O.

Every reader (``wvs_csv``, ``means_csv``, ...) returns one of these; each row names its ``source`` and
``meta["sources"]`` lists one entry per input (``kind``, files, counts).
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from culturelens.core.errors import DataError
from culturelens.core.reference._common import COLUMNS, DECIMALS, WVS_CITATION, WVS_DOI, qid_key, resolve_alpha3, shorten


def _country_code(country: str, have: set[str]) -> str:
    """The code a user's country maps to: as given (upper-cased) when the reference has it, else its ISO alpha-3
    (left as given when it names no known country)."""
    code = str(country).strip().upper()
    if code in have:
        return code
    try:
        return resolve_alpha3([country])[0]
    except Exception:
        return code


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
            raise DataError(f"duplicate human reference rows for {shorten(f'{c}/{q}' for c, q in pairs)}")
        keys = list(zip(df["country"].tolist(), map(qid_key, df["qid"].tolist())))
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
        return sorted(self.df["qid"].unique().tolist(), key=qid_key)

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
        c, q = _country_code(country, set(self.df["country"])), str(qid).strip()
        hit = self.df[(self.df["country"] == c) & (self.df["qid"] == q)]
        if hit.empty:
            raise DataError(f"no human answers for {country} on {qid} in this reference")
        row = hit.iloc[0].to_dict()
        row["n"] = None if pd.isna(row["n"]) else int(row["n"])
        row["mean"] = float(row["mean"])
        return row

    def subset(self, countries: Iterable[str] | None = None, qids: Iterable[str] | None = None) -> HumanReference:
        df = self.df
        if countries is not None:
            have = set(df["country"])
            df = df[df["country"].isin({_country_code(c, have) for c in countries})]
        if qids is not None:
            df = df[df["qid"].isin({str(q).strip() for q in qids})]
        return HumanReference(df, self.meta)

    def merge(self, other: HumanReference) -> HumanReference:
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
    def load(cls, path: str | Path) -> HumanReference:
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
            raise DataError(f"{path}: row(s) {shorten(bad)} lack country, qid or mean")
        df = pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)
        return cls(df, data.get("meta") or {})


def as_distribution(v) -> np.ndarray | None:
    """A stored answer distribution (a row's ``dist``: shares per option) as probabilities summing to 1; None when
    it is missing, a scalar, shorter than 2, negative, not finite or all zero."""
    if v is None or isinstance(v, (str, float, int)):
        return None
    try:
        a = np.asarray(list(v), dtype=float)
    except (TypeError, ValueError):
        return None
    if a.size < 2 or not np.all(np.isfinite(a)) or np.any(a < 0) or a.sum() <= 0:
        return None
    return a / a.sum()
