"""Western vs non-Western sides of a per-country measure: the one gap (mean of one side minus the other) and the raw
Western gap of the old rule (no null), used by the per-country measures beyond the null (``western.py``) and by the
raw per-country r gap of every summary (``metrics.western_gap``)."""
from __future__ import annotations

import numpy as np

from culturelens.core.jsonsafe import json_safe
from culturelens.eval.statistics import bootstrap as bs


def side_gap(values: np.ndarray, west: np.ndarray, rest: np.ndarray) -> float:
    """mean(values over ``west``) - mean(values over ``rest``) (boolean masks); nan when a side is empty. The one
    Western minus non-Western gap of a per-country measure (``gap_beyond_null``, ``raw_gap``)."""
    values = np.asarray(values, dtype=float)
    return float(values[west].mean() - values[rest].mean()) if west.any() and rest.any() else float("nan")


def raw_gap(values, is_western, n_boot: int = 1000, seed: int = 0, level: float = bs.LEVEL) -> dict:
    """The old rule, no null: mean per-country value (raw r) of Western minus non-Western countries, each side's mean
    with its bootstrap CI over its countries and the gap with a stratified bootstrap CI (each side resampled within
    itself). values, is_western: (C,); nan values are left out."""
    values = np.asarray(values, dtype=float)
    is_western = np.asarray(is_western, dtype=bool)
    ok = np.isfinite(values)
    west, rest = ok & is_western, ok & ~is_western
    w_est, w_ci = bs.mean_ci(values[west], n_boot, seed, level)
    nw_est, nw_ci = bs.mean_ci(values[rest], n_boot, seed + 1, level)
    return json_safe({
        "western_r": w_est, "western_ci": w_ci, "non_western_r": nw_est, "non_western_ci": nw_ci,
        "gap": side_gap(values, west, rest), "ci": bs.stratified_mean_gap_ci(values[west], values[rest], n_boot, seed, level),
        "n_western": int(west.sum()), "n_non_western": int(rest.sum()),
    })
