"""Every random draw of the statistics: bootstrap weights and indices, joint country permutations, and the one CI type.

This module is the only place that turns a seed into random numbers for resampling; everything else
takes the draws it makes. Conventions:

- A grid is question x country (Q, C), nan where a pair is missing (``eval/statistics/grid.py``).
- **Bootstrap as weights.** A replicate is a pair of count vectors: ``rows`` (B, Q), how often each
  question was drawn, and ``cols`` (B, C), how often each country was drawn. A statistic computed
  with these weights equals the statistic on the resampled grid (a question drawn twice counts
  twice), so every statistic is one vectorised call over all replicates.
- **Two-way**: questions are drawn by *battery cluster* (a cluster of questions that belong to one
  questionnaire battery or move together across countries, ``culturelens.core.batteries``): each
  replicate draws as many clusters as there are, with replacement, and a question's weight is the
  count of its cluster; countries are drawn together with them, optionally within strata (Western /
  non-Western). Clustered questions are not independent units: resampling them one by one
  overstates n.
- **Joint country permutation** (the null): one shuffle of the country labels, applied to every
  question. A question that lacks some countries gets the permutation *induced* on the countries it
  has (follow the shuffle from a country until it lands on one the question has: the first-return
  map, a uniform permutation of that subset). A model whose answers carry a country-consistent
  quirk without knowledge keeps that quirk under the shuffle, so the null covers it.
- ``CI``: the one interval type (``culturelens/core/ci.py``; percentile bootstrap unless ``method`` says otherwise).
"""
from __future__ import annotations

import numpy as np

from culturelens.core.ci import CI, LEVEL
from culturelens.core.seeded import rng


def _finite(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def percentile_ci(boot: np.ndarray, level: float = LEVEL, over: str = "", axis: int = 0) -> CI | np.ndarray:
    """The percentile interval of bootstrap replicates (nan replicates dropped). With a 1-d input, a ``CI``;
    with more dimensions, an array (2, ...) of bounds along ``axis`` (for vectorised simulation)."""
    boot = np.asarray(boot, dtype=float)
    alpha = (1.0 - level) / 2.0
    if boot.ndim > 1:
        return np.nanpercentile(boot, [100 * alpha, 100 * (1 - alpha)], axis=axis)
    boot = boot[np.isfinite(boot)]
    if boot.size < 2:
        return CI(level=level, over=over)
    lo, hi = np.percentile(boot, [100 * alpha, 100 * (1 - alpha)])
    return CI(lo=_finite(lo), hi=_finite(hi), level=level, over=over)


# ------------------------------------------------------------------------------------ bootstrap


def indices(n: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """(n_boot, n) unit indices drawn with replacement; the same draw can serve several models (paired)."""
    return rng(seed).integers(0, n, size=(n_boot, n))


def stratified_indices(strata: list[np.ndarray], n_boot: int, seed: int = 0) -> list[np.ndarray]:
    """Per stratum (an index array), (n_boot, len) indices resampled within it, one draw per replicate."""
    g = rng(seed)
    return [m[g.integers(0, m.size, size=(n_boot, m.size))] for m in strata]


def stratified_with_picks(strata: list[np.ndarray], n_picks: int, n_boot: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """``stratified_indices`` and, from the same generator after them, (n_boot, 1) picks in [0, n_picks): one
    permutation of a null per replicate, where the null's own spread belongs in the CI (``western.stratified_gap_ci``)."""
    g = rng(seed)
    drawn = [m[g.integers(0, m.size, size=(n_boot, m.size))] for m in strata]
    return drawn, g.integers(0, n_picks, size=(n_boot, 1))


def counts(draws: np.ndarray, n: int) -> np.ndarray:
    """(B, k) drawn indices in [0, n) -> (B, n) how often each index was drawn."""
    b = draws.shape[0]
    out = np.zeros((b, n), dtype=np.int32)
    np.add.at(out, (np.repeat(np.arange(b), draws.shape[1]), draws.ravel()), 1)
    return out


def cluster_weights(clusters: np.ndarray, n_boot: int, g: np.random.Generator) -> np.ndarray:
    """(B, Q) question weights: draw the clusters with replacement; a question counts as often as its cluster."""
    labels, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    drawn = counts(g.integers(0, labels.size, size=(n_boot, labels.size)), labels.size)
    return drawn[:, inverse]


def unit_weights(n: int, n_boot: int, g: np.random.Generator, strata: np.ndarray | None = None) -> np.ndarray:
    """(B, n) unit weights, resampled within each stratum (a label per unit) when given."""
    if strata is None:
        return counts(g.integers(0, n, size=(n_boot, n)), n)
    out = np.zeros((n_boot, n), dtype=np.int32)
    for s in np.unique(strata):
        members = np.flatnonzero(strata == s)
        out += counts(members[g.integers(0, members.size, size=(n_boot, members.size))], n)
    return out


def two_way_weights(clusters: np.ndarray, n_countries: int, n_boot: int, seed: int = 0,
                    strata: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows (B, Q), cols (B, C)): battery clusters and countries drawn together, one draw per replicate."""
    g = rng(seed)
    return cluster_weights(clusters, n_boot, g), unit_weights(n_countries, n_boot, g, strata)


TWO_WAY = "battery clusters of questions and countries, drawn together"


def _finite_values(values) -> np.ndarray:
    arr = np.asarray([np.nan if v is None else v for v in np.ravel(np.asarray(values, dtype=object))], dtype=float)
    return arr[np.isfinite(arr)]


def mean_ci(values, n_boot: int = 2000, seed: int = 0, level: float = LEVEL, over: str = "") -> tuple[float | None, CI]:
    """(mean, CI): the mean of the finite values and its percentile CI, units resampled with replacement
    (``indices``); no CI with fewer than 2 units or no replicates."""
    v = _finite_values(values)
    if v.size == 0:
        return None, CI(level=level, over=over)
    est = float(v.mean())
    if v.size < 2 or n_boot < 1:
        return est, CI(level=level, over=over)
    return est, percentile_ci(v[indices(v.size, n_boot, seed)].mean(axis=1), level, over)  # type: ignore[return-value]  # a 1-d input gives a CI


def stratified_mean_gap_ci(a, b, n_boot: int = 2000, seed: int = 0, level: float = LEVEL, over: str = "") -> CI:
    """Percentile CI of mean(a) - mean(b), each side resampled within itself (``stratified_indices``); no CI with
    fewer than 2 finite units on a side."""
    a, b = _finite_values(a), _finite_values(b)
    if a.size < 2 or b.size < 2 or n_boot < 1:
        return CI(level=level, over=over)
    ia, ib = stratified_indices([np.arange(a.size), np.arange(b.size)], n_boot, seed)
    return percentile_ci(a[ia].mean(axis=1) - b[ib].mean(axis=1), level, over)  # type: ignore[return-value]  # a 1-d input gives a CI


# ---------------------------------------------------------------------------------- permutations


def country_shuffles(n_countries: int, n_perm: int, seed: int = 0) -> np.ndarray:
    """(P, C): one uniform shuffle of the country labels per permutation."""
    return rng(seed).permuted(np.broadcast_to(np.arange(n_countries), (n_perm, n_countries)), axis=1)


def induced(shuffles: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(P, Q, C) column indices: on question q, country c (valid there) takes the answer of the first country
    along the shuffle's cycle from c that q has (the induced permutation of the question's countries);
    countries q lacks map to themselves."""
    p, c = shuffles.shape
    q = valid.shape[0]
    cur = np.broadcast_to(shuffles[:, None, :], (p, q, c)).copy()
    rows = np.arange(q)[None, :, None]
    ok = valid[rows, cur]
    for _ in range(c):
        if ok.all():
            break
        nxt = np.take_along_axis(np.broadcast_to(shuffles[:, None, :], (p, q, c)), cur, axis=-1)
        cur = np.where(ok, cur, nxt)
        ok = valid[rows, cur]
    return np.where(valid[None], cur, np.arange(c)[None, None, :])


def joint_permutations(valid: np.ndarray, n_perm: int, seed: int = 0) -> np.ndarray:
    """(P, Q, C) indices of the joint country-permutation null (see the module docstring)."""
    return induced(country_shuffles(valid.shape[1], n_perm, seed), np.asarray(valid, dtype=bool))


def swaps(n_countries: int, n_perm: int, seed: int = 0) -> np.ndarray:
    """(P, C) bool: for each permutation, the countries whose two runs' answers trade places (each with probability 1/2):
    the randomisation of a comparison between two runs that, under the null, are exchangeable draws of one process."""
    return rng(seed).random((n_perm, n_countries)) < 0.5


def label_permutations(labels: np.ndarray, n_perm: int, seed: int = 0) -> np.ndarray:
    """(P, n): the labels shuffled across units, n_perm times."""
    return rng(seed).permuted(np.broadcast_to(np.asarray(labels), (n_perm, len(labels))), axis=1)


def permutation_p(model_value, null_values: np.ndarray, higher_is_better: bool = True, axis: int = 0):
    """One-sided permutation p: (1 + #null at least as good as the model) / (1 + #null); nan null values dropped."""
    null_values = np.asarray(null_values, dtype=float)
    model_value = np.asarray(model_value, dtype=float)
    m = np.expand_dims(model_value, axis)
    beats = null_values >= m if higher_is_better else null_values <= m
    n = np.isfinite(null_values).sum(axis=axis)
    p = (1 + (beats & np.isfinite(null_values)).sum(axis=axis)) / (1 + n)
    return np.where(np.isfinite(model_value) & (n > 0), p, np.nan)
