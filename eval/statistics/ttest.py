"""The engine's two-sample t test: difference of means with its CI, two-sided p and minimum detectable effect.

``two_sample_t(a, b, equal_var=...)`` along an axis, nan entries dropped:
- ``equal_var=True``: Student's pooled t, df = n_a + n_b - 2, se = s_p sqrt(1/n_a + 1/n_b). Exact (nominal type-I
  error at any n) when the two samples are exchangeable under the null, e.g. the training study's arms' per-seed
  metrics (same procedure, another seed); Welch's t at 3 vs 3 seeds is conservative there (2.2 % at 5 %, measured in
  ``benchmarks/calibration.py``).
- ``equal_var=False``: Welch's t (Welch-Satterthwaite df), for samples whose spreads differ by construction, e.g.
  the Western verdict's per-country slopes (Western slopes are more precise).

Minimum detectable effect: the true |difference| that the same two-sided test at ``level`` detects with probability
``power``, from the noncentral t law of the statistic (noncentrality = difference / se, the test's df):
``P(|T'| > t_{1-alpha/2}) = power``. (The shortcut (t_{1-alpha/2} + t_power) x se is 1 % lower at df = 4.)
"""
from __future__ import annotations

import numpy as np
from scipy import optimize, stats

LEVEL = 0.95
POWER = 0.8


def _noncentrality(df: float, crit: float, power: float) -> float:
    """The noncentrality at which a two-sided t test with critical value ``crit`` and ``df`` has ``power``."""
    if not (np.isfinite(df) and df > 0 and np.isfinite(crit)):
        return float("nan")

    def gap(nc: float) -> float:
        return stats.nct.sf(crit, df, nc) + np.nan_to_num(stats.nct.cdf(-crit, df, nc)) - power

    hi = crit + 10.0
    while gap(hi) < 0 and hi < 1e4:  # widen until the power is reached (few df need a large noncentrality)
        hi *= 2
    return float(optimize.brentq(gap, 0.0, hi)) if gap(0.0) < 0 < gap(hi) else float("nan")


def two_sample_t(a: np.ndarray, b: np.ndarray, *, equal_var: bool, axis: int = -1, level: float = LEVEL, power: float = POWER):
    """(diff, lo, hi, p, mde) of mean(a) - mean(b) along ``axis``: pooled (Student) or Welch t (module docstring)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    na, nb = np.isfinite(a).sum(axis=axis), np.isfinite(b).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma, mb = np.nanmean(a, axis=axis), np.nanmean(b, axis=axis)
        sa, sb = np.nanvar(a, axis=axis, ddof=1), np.nanvar(b, axis=axis, ddof=1)
        if equal_var:
            df = (na + nb - 2).astype(float)
            pooled = ((na - 1) * sa + (nb - 1) * sb) / df
            se = np.sqrt(pooled * (1 / na + 1 / nb))
        else:
            va, vb = sa / na, sb / nb
            se = np.sqrt(va + vb)
            df = (va + vb) ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1))
        diff = ma - mb
        crit = stats.t.ppf(0.5 + level / 2, df)
        p = 2 * stats.t.sf(np.abs(diff / se), df)
    nc = np.vectorize(_noncentrality, otypes=[float])(df, crit, power)
    mde = nc * se
    return diff, diff - crit * se, diff + crit * se, p, mde
