"""Multiple comparisons: Holm across the claims of a report (family-wise), Benjamini-Hochberg q-values beside tables.

- ``holm(p)``: Holm's step-down adjusted p-values (each claim's primary endpoint, one p per claim);
  a claim is supported at level alpha when its adjusted p is below alpha.
- ``bh(p)``: Benjamini-Hochberg q-values (``scipy.stats.false_discovery_control``) for the rows of a
  section, zone or per-question table; a row is a discovery at FDR q when its q-value is below q.
nan p-values (rows without a test) stay nan and do not count toward the number of tests.
"""
from __future__ import annotations

import numpy as np
from scipy import stats


def _finite(p) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=float)
    return p, np.isfinite(p)


def holm(p) -> np.ndarray:
    """Holm-adjusted p-values (same order as ``p``)."""
    p, ok = _finite(p)
    out = np.full(p.shape, np.nan)
    vals = p[ok]
    m = vals.size
    if m == 0:
        return out
    order = np.argsort(vals, kind="stable")
    adj = np.maximum.accumulate((m - np.arange(m)) * vals[order])
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def bh(p) -> np.ndarray:
    """Benjamini-Hochberg q-values (same order as ``p``)."""
    p, ok = _finite(p)
    out = np.full(p.shape, np.nan)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def bh_q(p: list[float | None]) -> list[float | None]:
    """``bh`` of a table's p-values as JSON values: None where a row has no p."""
    return [float(q) if np.isfinite(q) else None for q in bh([np.nan if x is None else x for x in p])]
