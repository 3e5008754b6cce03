"""Numbers and confidence intervals as text, the one way every report and console table writes them.

`fmt_num(0.1234)` -> "0.123", `fmt_num(0.1234, signed=True)` -> "+0.123", `fmt_ci(0.1, 0.2)` ->
"[0.100, 0.200]"; a missing value (None, nan, pandas NA) is an em dash "—".
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

MISSING = "—"


def is_missing(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return isinstance(v, float) and math.isnan(v)
    except TypeError:
        return False


def fmt_num(x, nd: int = 3, signed: bool = False) -> str:
    if is_missing(x):
        return MISSING
    return f"{float(x):+.{nd}f}" if signed else f"{float(x):.{nd}f}"


def fmt_ci(lo, hi, nd: int = 3, signed: bool = False) -> str:
    """"[lo, hi]"; a dash when either end is missing."""
    if is_missing(lo) or is_missing(hi):
        return MISSING
    return f"[{fmt_num(lo, nd, signed)}, {fmt_num(hi, nd, signed)}]"


def fmt_interval(ci: Sequence | None, nd: int = 3, signed: bool = False) -> str:
    """`fmt_ci` of a [lo, hi] pair as stored in JSON (None or [] -> a dash)."""
    return fmt_ci(*ci, nd=nd, signed=signed) if ci and len(ci) == 2 else MISSING
