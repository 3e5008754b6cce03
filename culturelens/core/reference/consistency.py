"""Cross-source consistency: where two sources both have a (country, question), do they say the same?

For every pair of sources (e.g. respondent rows and answer shares) and every (country, question) both cover:
|delta mean| = |mean_a - mean_b| (means on [-1, 1]) and, where both carry a distribution, |delta share| =
max_k |r_a,k - r_b,k|. Per pair of sources the report gives how many pairs overlap and the max and mean of both
differences with the (country, question) where the max occurs. Above ``TOLERANCE`` (0.01) the build stops unless
mismatches are allowed, since two derivations of the same survey should agree to rounding.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from culturelens.core.errors import DataError
from culturelens.core.reference.model import HumanReference

TOLERANCE = 0.01


def _share_diff(a, b) -> float:
    if a is None or b is None or len(a) != len(b):
        return float("nan")
    return float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))))


def _worst(values: pd.Series) -> tuple[float | None, float | None, str | None]:
    """(max, mean, 'COUNTRY/QID' of the max) of a difference series indexed by (country, qid); Nones when empty."""
    values = values.dropna()
    if values.empty:
        return None, None, None
    country, qid = values.idxmax()
    return float(values.max()), float(values.mean()), f"{country}/{qid}"


def compare_pair(name_a: str, a: HumanReference, name_b: str, b: HumanReference) -> dict | None:
    """The consistency entry of two sources, or None when they share no (country, question)."""
    left = a.df.set_index(["country", "qid"])
    right = b.df.set_index(["country", "qid"])
    both = left.index.intersection(right.index)
    if len(both) == 0:
        return None
    la, rb = left.loc[both], right.loc[both]
    d_mean = (la["mean"] - rb["mean"]).abs()
    d_share = pd.Series([_share_diff(x, y) for x, y in zip(la["dist"], rb["dist"])], index=both, dtype=float)
    max_s, mean_s, worst_s = _worst(d_share)
    max_m, mean_m, worst_m = _worst(d_mean)
    return {
        "sources": [name_a, name_b],
        "pairs": int(len(both)),
        "pairs_with_distributions": int(d_share.notna().sum()),
        "countries": sorted(set(both.get_level_values(0))),
        "max_abs_diff_share": max_s, "mean_abs_diff_share": mean_s, "worst_share": worst_s,
        "max_abs_diff_mean": max_m, "mean_abs_diff_mean": mean_m, "worst_mean": worst_m,
    }


def consistency_report(parts: list[tuple[str, HumanReference]]) -> list[dict]:
    """One entry per pair of sources that overlap, in precedence order."""
    out = []
    for i, (name_a, a) in enumerate(parts):
        for name_b, b in parts[i + 1:]:
            entry = compare_pair(name_a, a, name_b, b)
            if entry is not None:
                out.append(entry)
    return out


def describe(entry: dict) -> str:
    """One line: 'wvs7_respondents vs wvs7_shares: 182 pairs (4 countries), max |d share| 0.0000 (BRA/Q27), ...'."""
    def num(x):
        return "n/a" if x is None else f"{x:.2g}"

    share = f"max |d share| {num(entry['max_abs_diff_share'])}"
    if entry["worst_share"]:
        share += f" ({entry['worst_share']})"
    return (f"{entry['sources'][0]} vs {entry['sources'][1]}: {entry['pairs']} (country, question) pairs in "
            f"{len(entry['countries'])} countries, {share}, max |d mean| {num(entry['max_abs_diff_mean'])} "
            f"({entry['worst_mean']})" + (" -- above the tolerance, allowed" if entry.get("above_tolerance") else ""))


def check(report: list[dict], tolerance: float, allow_mismatch: bool) -> None:
    """Mark every pair of sources that differ by more than ``tolerance`` (``above_tolerance``); a DataError for the
    first one unless mismatches are allowed (then the report, printed and saved, says so)."""
    for entry in report:
        worst = max(entry["max_abs_diff_share"] or 0.0, entry["max_abs_diff_mean"] or 0.0)
        entry["above_tolerance"] = bool(worst > tolerance)
        if entry["above_tolerance"] and not allow_mismatch:
            raise DataError(f"sources disagree beyond {tolerance}: {describe(entry)}; check that both describe the same "
                            "survey, countries and answer coding, or pass --allow-mismatch to keep the "
                            "higher-precedence rows")
