"""Reader for answer-share files: ``{country: {qid: {code: share}}}`` (JSON), e.g. ../shared/data/wvs7_shares19.

A country key is an ISO code or an English name; a qid is a question-bank id; a code is a WVS answer code (string or
number) and its share the fraction of the country's respondents who gave it. A question may instead hold
``{"shares": {code: share}, "n": respondents}`` when the number of respondents is known; otherwise ``n`` is unknown.

Per (country, question): shares must be numbers >= 0 summing to at most 1.001 (the denominator may include missing
answers, so a sum below 1 is fine). Negative codes (don't know, no answer, not asked, missing) are dropped, the bank's
``remap`` is applied (a code remapped to None is dropped as missing), codes outside the question's options are dropped
and counted in a warning, and the remaining shares are renormalised to sum to 1: r_k = share_k / valid mass. A
question whose valid mass is 0 for a country is skipped and reported. mean = sum_k r_k s_k.

Errors (``DataError``): not a JSON object of objects, unknown country keys, unknown question ids (ids the bank leaves
out on purpose -- its ``meta["excluded"]`` -- are skipped with one warning), non-numeric or negative shares, sums
above 1.001.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from culturelens.core.errors import DataError
from culturelens.core.reference._common import COLUMNS, default_bank, fmt_code, qid_key, resolve_alpha3, shorten, version
from culturelens.core.reference.model import HumanReference

KIND = "wvs7_shares"
MAX_SUM = 1.001


@dataclass
class _Dropped:
    """Codes outside a question's options, over all countries of a file: how many entries, which codes, what mass."""

    entries: int = 0
    codes: set = field(default_factory=set)
    max_mass: float = 0.0


def _load(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"shares file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON ({exc}): expected {{country: {{qid: {{code: share}}}}}}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DataError(f"{path} is not a shares file: expected a JSON object {{country: {{qid: {{code: share}}}}}}")
    return data


def _countries(path: Path, keys) -> dict[str, str]:
    """File key -> ISO alpha-3; DataError naming every unknown key."""
    out, unknown = {}, []
    for key in keys:
        try:
            out[key] = resolve_alpha3([key])[0]
        except Exception:
            unknown.append(repr(key))
    if unknown:
        raise DataError(f"{path}: unknown country key(s) {shorten(unknown)}: use ISO alpha-3 codes or English names "
                        "as listed by `culturelens data countries`")
    dup = [c for c in set(out.values()) if list(out.values()).count(c) > 1]
    if dup:
        raise DataError(f"{path}: several keys name the same country ({', '.join(sorted(dup))}): keep one")
    return out


def _question_ids(path: Path, data: dict, bank, warnings: list[str]) -> dict[str, str]:
    """File qid -> bank qid; ids the bank excludes on purpose are skipped (one warning), others are an error."""
    excluded = {e["qid"] for e in getattr(bank, "meta", {}).get("excluded", [])}
    keys = sorted({q for per_country in data.values() for q in per_country}, key=qid_key)
    out, skipped, unknown = {}, [], []
    for key in keys:
        norm = str(key).strip().upper()
        if norm in bank:
            out[key] = bank.get(norm).qid
        elif norm in excluded:
            skipped.append(norm)
        else:
            unknown.append(repr(key))
    if unknown:
        raise DataError(f"{path}: unknown question id(s) {shorten(unknown)}: not in the question bank "
                        "(see `culturelens data questions`); fix the keys or add the questions with questions_file")
    if skipped:
        warnings.append(f"{path.name}: {len(skipped)} question(s) the bank leaves out skipped ({shorten(skipped)}); "
                        "reasons in the bank's meta 'excluded'")
    return out


def _code_shares(path: Path, where: str, value) -> tuple[dict[int, float], int | None]:
    """{code: share} and n of one (country, question) entry; DataError on bad numbers or a sum above 1.001."""
    n = None
    if isinstance(value, dict) and "shares" in value:
        n = value.get("n")
        if n is not None and (not isinstance(n, (int, float)) or n < 0 or not float(n).is_integer()):
            raise DataError(f"{path}: {where}: n must be a whole number of respondents, got {n!r}")
        value = value["shares"]
    if not isinstance(value, dict):
        raise DataError(f"{path}: {where}: expected {{code: share}}, got {type(value).__name__}")
    shares: dict[int, float] = {}
    for code, share in value.items():
        try:
            c = float(code)
            s = float(share)
        except (TypeError, ValueError):
            raise DataError(f"{path}: {where}: code {code!r} has share {share!r}: codes and shares must be numbers") from None
        if not c.is_integer() or not math.isfinite(s) or s < 0:
            raise DataError(f"{path}: {where}: bad entry {code!r}: {share!r} (integer codes, shares >= 0)")
        shares[int(c)] = shares.get(int(c), 0.0) + s
    total = sum(shares.values())
    if total > MAX_SUM:
        raise DataError(f"{path}: {where}: shares sum to {total:.4f} > {MAX_SUM}: these are not shares of "
                        "one question's respondents (check the file layout)")
    return shares, None if n is None else int(n)


def _distribution(shares: dict[int, float], question, dropped: _Dropped) -> tuple[np.ndarray, float]:
    """(shares per option, valid mass) after dropping missing codes, applying remaps and dropping stray codes."""
    index = {c: i for i, c in enumerate(question.codes)}
    dist = np.zeros(len(index))
    stray = 0.0
    for code, share in shares.items():
        if code < 0:
            continue
        new = (question.remap or {}).get(code, code)
        if new is None or new == "":
            continue
        if int(new) in index:
            dist[index[int(new)]] += share
        elif share > 0:
            dropped.entries += 1
            dropped.codes.add(int(new))
            stray += share
    dropped.max_mass = max(dropped.max_mass, stray)
    return dist, float(dist.sum())


def _rows(path: Path, data: dict, bank, wanted: set[str] | None, keep: set[str] | None,
          warnings: list[str]) -> tuple[list[dict], dict]:
    country_of = _countries(path, data.keys())
    qid_of = _question_ids(path, data, bank, warnings)
    rows: list[dict] = []
    empty: list[str] = []
    dropped: defaultdict[str, _Dropped] = defaultdict(_Dropped)
    for key, per_country in data.items():
        country = country_of[key]
        if keep is not None and country not in keep:
            continue
        for qkey, value in per_country.items():
            qid = qid_of.get(qkey)
            if qid is None or (wanted is not None and qid not in wanted):
                continue
            question = bank.get(qid)
            shares, n = _code_shares(path, f"{key}/{qkey}", value)
            dist, mass = _distribution(shares, question, dropped[qid])
            if mass <= 0:
                empty.append(f"{country}/{qid}")
                continue
            dist = dist / mass
            rows.append({"country": country, "qid": qid, "n": n, "mean": float(dist @ np.asarray(question.scores)),
                         "dist": dist.tolist(), "source": f"shares:{path.name}"})
    stats = _report(path, bank, dropped, empty, warnings)
    return rows, stats


def _report(path: Path, bank, dropped: dict[str, _Dropped], empty: list[str], warnings: list[str]) -> dict:
    """Warnings for dropped codes and empty questions; their counts for the metadata."""
    for qid, d in sorted(dropped.items(), key=lambda x: qid_key(x[0])):
        if d.entries:
            opts = ", ".join(fmt_code(c) for c in bank.get(qid).codes)
            warnings.append(f"{path.name}: {qid}: {d.entries} share(s) with codes outside the options ({opts}) dropped: "
                            f"codes {', '.join(fmt_code(c) for c in sorted(d.codes))} (at most {d.max_mass:.4f} of a "
                            "country's respondents)")
    if empty:
        warnings.append(f"{path.name}: no valid answer mass for {len(empty)} (country, question) pair(s), skipped: "
                        f"{shorten(empty, 12)}")
    return {"dropped_code_shares": sum(d.entries for d in dropped.values()), "skipped_no_valid_mass": len(empty)}


def build_from_shares_json(path: str | Path, bank=None, *, questions: list[str] | None = None,
                           countries: list[str] | None = None, warnings: list[str] | None = None) -> HumanReference:
    """A HumanReference (distributions and means, n unknown unless given) from one ``{country: {qid: {code: share}}}``
    file; warnings are appended to ``warnings``."""
    path = Path(path)
    bank = default_bank(bank)
    warnings = [] if warnings is None else warnings
    wanted = None if questions is None else {bank.get(q).qid for q in questions}
    keep = None if countries is None else set(resolve_alpha3(countries))
    rows, stats = _rows(path, _load(path), bank, wanted, keep, warnings)
    df = pd.DataFrame(rows, columns=COLUMNS)
    meta = {
        "built_with": {"culturelens": version(), "function": "culturelens.core.reference.build_from_shares_json",
                       "pandas": pd.__version__},
        "sources": [{
            "kind": KIND, "files": [path.name],
            "weighted": None,  # a shares file does not say whether its shares were weighted (W_WEIGHT) or not
            "method": "shares per answer code; negative codes and codes remapped to None dropped; codes outside the "
                      "options dropped and counted; renormalised over the valid codes; n unknown unless given",
            "countries": int(df["country"].nunique()), "questions": int(df["qid"].nunique()), "rows": len(df),
            **stats,
        }],
    }
    return HumanReference(df, meta)


def read(paths: list[Path], bank, *, questions: list[str] | None, countries: list[str] | None,
         warnings: list[str]) -> HumanReference | None:
    """The reader interface (see ``culturelens.core.reference.sources``): one reference per file, merged in order
    (the first file wins a (country, qid) both have)."""
    ref: HumanReference | None = None
    for p in paths:
        part = build_from_shares_json(p, bank, questions=questions, countries=countries, warnings=warnings)
        ref = part if ref is None else ref.merge(part)
    return ref
