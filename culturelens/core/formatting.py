"""Numbers and confidence intervals as text, the one way every report and console table writes them.

`fmt_num(0.1234)` -> "0.123", `fmt_num(0.1234, signed=True)` -> "+0.123", `fmt_ci(0.1, 0.2)` ->
"[0.100, 0.200]"; a missing value (None, nan, pandas NA) is an em dash "—".
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from culturelens.core.ci import CI

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


def fmt_interval(ci: CI | Mapping | Sequence | None, nd: int = 3, signed: bool = False) -> str:
    """`fmt_ci` of a `CI` (culturelens/core/ci.py) or its JSON ``{"lo", "hi"}``, or of a [lo, hi] pair such as a null's
    range (None or [] -> a dash)."""
    if isinstance(ci, Mapping):
        ci = CI.model_validate(ci)
    if isinstance(ci, CI):
        return fmt_ci(ci.lo, ci.hi, nd=nd, signed=signed)
    return fmt_ci(ci[0], ci[1], nd=nd, signed=signed) if ci and len(ci) == 2 else MISSING


def format_cell(v, floatfmt: str = ".3f") -> str:
    """One table cell as text: floats with floatfmt, missing as '—', booleans yes/no, lists bracketed."""
    if is_missing(v):
        return MISSING
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return format(v, floatfmt)
    if hasattr(v, "dtype") and getattr(v.dtype, "kind", "") == "f":
        return format(float(v), floatfmt)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(format_cell(x, floatfmt) for x in v) + "]"
    return str(v).replace("|", "\\|").replace("\n", " ")


def format_table(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A GitHub-flavoured markdown table; floats formatted with floatfmt, missing values as '—'."""
    if df is None or len(df.columns) == 0:
        return "_(no data)_"
    cols = [str(c) for c in df.columns]
    rows = [[format_cell(v, floatfmt) for v in row] for row in df.itertuples(index=False, name=None)]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(cols)]

    def line(cells):
        return "| " + " | ".join(
            (cell.rjust(w) if num else cell.ljust(w)) for cell, w, num in zip(cells, widths, numeric)
        ) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in zip(widths, numeric)) + "|"
    out = [line(cols), sep] + [line(r) for r in rows]
    if not rows:
        out.append("| " + " | ".join("" for _ in cols) + " |")
    return "\n".join(out)
