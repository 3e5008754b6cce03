"""Weighted statistics on question x country grids: one Pearson r, one mean, with bootstrap weights.

Every function takes arrays with any leading batch axes (..., Q, C) and optional weights that
broadcast against them (a bootstrap replicate's question and country counts, ``bootstrap.py``).
Weight 0 or a nan value leaves a position out. With integer weights a statistic equals the
statistic on the resampled data (a unit drawn twice counts twice); with no weights it is the plain
statistic, so the model, every permutation of the null and every bootstrap replicate go through the
same code.

Pearson r is nan with fewer than 3 distinct units of positive weight or when either side is
constant: a weighted range of at most ``CONSTANT_TOL`` (1e-12; scores live in [-1, 1]), so that a
centred constant row, which keeps rounding residues of ~1e-17, gives nan and not a correlation of
rounding noise. This is the only constant-column rule.
"""
from __future__ import annotations

import warnings

import numpy as np

CONSTANT_TOL = 1e-12


def _prepare(x, y, w):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    w = np.ones((), dtype=float) if w is None else np.asarray(w, dtype=float)
    x, y, w = np.broadcast_arrays(x, y, w)
    ok = np.isfinite(x) & np.isfinite(y) & (w > 0)
    return np.where(ok, x, 0.0), np.where(ok, y, 0.0), np.where(ok, w, 0.0), ok


def pearson(x, y, w=None, axis: int = -1) -> np.ndarray:
    """Weighted Pearson r along ``axis`` over the positions finite in x and y with positive weight."""
    x, y, w, ok = _prepare(x, y, w)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sw = w.sum(axis=axis, keepdims=True)
        dx = np.where(ok, x - (w * x).sum(axis=axis, keepdims=True) / sw, 0.0)
        dy = np.where(ok, y - (w * y).sum(axis=axis, keepdims=True) / sw, 0.0)
        r = (w * dx * dy).sum(axis=axis) / np.sqrt((w * dx * dx).sum(axis=axis) * (w * dy * dy).sum(axis=axis))
        big = np.finfo(float).max
        span_x = np.where(ok, x, -big).max(axis=axis) - np.where(ok, x, big).min(axis=axis)
        span_y = np.where(ok, y, -big).max(axis=axis) - np.where(ok, y, big).min(axis=axis)
    bad = (ok.sum(axis=axis) < 3) | (span_x <= CONSTANT_TOL) | (span_y <= CONSTANT_TOL)
    return np.clip(np.where(bad, np.nan, r), -1.0, 1.0)


def mean(x, w=None, axis: int = -1) -> np.ndarray:
    """Weighted mean along ``axis`` over the finite entries with positive weight (nan when there are none)."""
    x, _, w, ok = _prepare(x, np.zeros(()), w)
    with np.errstate(invalid="ignore", divide="ignore"):
        sw = w.sum(axis=axis)
        return np.where(sw > 0, (w * x).sum(axis=axis) / np.where(sw > 0, sw, 1.0), np.nan)


def centre(x, valid, w=None) -> np.ndarray:
    """x minus each question's weighted mean over its valid countries (last axis), nan outside ``valid``."""
    xs = np.where(valid, x, np.nan)
    return xs - mean(xs, w, axis=-1)[..., None]


def slope(x, y, w=None, axis: int = -1) -> np.ndarray:
    """Least-squares slope of y on x through the origin (both centred by the caller): sum(w x y) / sum(w x^2)."""
    x, y, w, ok = _prepare(x, y, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        sxx = (w * x * x).sum(axis=axis)
        return np.where((ok.sum(axis=axis) >= 2) & (sxx > CONSTANT_TOL), (w * x * y).sum(axis=axis) / sxx, np.nan)


def wasserstein_1(p: np.ndarray, q: np.ndarray, values) -> np.ndarray:
    """W1 between distributions p and q (last axis = options, broadcast over the rest) on the scale values.

    On one support W1 = sum_k |F_p(v_k) - F_q(v_k)| (v_{k+1} - v_k) over the sorted values, which is
    what ``scipy.stats.wasserstein_distance(values, values, p, q)`` computes, vectorised.
    """
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    steps = np.diff(values[order])
    cdf_p = np.cumsum(np.take(p, order, axis=-1), axis=-1)[..., :-1]
    cdf_q = np.cumsum(np.take(q, order, axis=-1), axis=-1)[..., :-1]
    return np.sum(np.abs(cdf_p - cdf_q) * steps, axis=-1)
