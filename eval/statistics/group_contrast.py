"""Is a per-question value higher on one group of questions than on another? A studentized permutation test that
swaps the group label across battery clusters.

Units: the battery clusters (``culturelens.core.batteries``: questions of one battery move together across
countries, so they are not independent), each split by group if it straddles two. The effect is the question-weighted
mean of group A minus that of group B; its standard error is cluster-robust (per group, the spread of the clusters'
summed deviations from the group mean, with the K / (K - 1) correction). The null distribution: the group labels of the
units shuffled (``bootstrap.label_permutations``), the same studentized statistic t = effect / se recomputed each time;
p = (1 + #{t_perm >= t}) / (1 + P), one-sided. Studentizing keeps the test at its level when the two groups' values
spread differently (an unstudentized label permutation is conservative when the larger group is the noisier one).
Calibrated for claim 1 in ``benchmarks/calibration.py`` (``claim_1``).
"""
from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats

from culturelens.core.ci import CI, LEVEL
from culturelens.eval.statistics import bootstrap as bs


class GroupContrast(BaseModel):
    """Effect (mean A - mean B), its cluster-robust se, the studentized statistic, the one-sided permutation p."""

    model_config = ConfigDict(extra="forbid")

    effect: float | None = None
    se: float | None = None
    t: float | None = None
    p: float | None = None
    n_units: tuple[int, int] = (0, 0)  # battery clusters (split by group) on side A, side B


def _studentized(sums: np.ndarray, counts: np.ndarray, in_a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(effect, se, t) for each labelling ``in_a`` (P, K) of the units with value sums and counts (K,)."""
    means, variances = [], []
    for side in (in_a, ~in_a):
        n = (side * counts).sum(axis=1)
        m = (side * sums).sum(axis=1) / n
        dev = sums[None, :] - counts[None, :] * m[:, None]
        k = side.sum(axis=1)
        means.append(m)
        variances.append((side * dev ** 2).sum(axis=1) / n ** 2 * k / (k - 1))
    effect, se = means[0] - means[1], np.sqrt(variances[0] + variances[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return effect, se, effect / se


def group_contrast(values: np.ndarray, in_a: np.ndarray, in_b: np.ndarray, clusters: np.ndarray, n_perm: int,
                   seed: int = 0) -> GroupContrast:
    """The test of the module docstring for per-question ``values`` (Q,) (nan: no value), the questions of group A and
    B (bool (Q,)), the battery cluster of each question; undefined (all None) with fewer than 2 units on a side."""
    values, clusters = np.asarray(values, float), np.asarray(clusters)
    ok = np.isfinite(values) & (np.asarray(in_a, bool) | np.asarray(in_b, bool))
    side = np.asarray(in_a, bool)[ok]
    units, idx = np.unique(np.stack([clusters[ok].astype(str), side.astype(str)]), axis=1, return_inverse=True)
    idx = np.ravel(idx)
    sums = np.bincount(idx, weights=values[ok], minlength=units.shape[1])
    counts = np.bincount(idx, minlength=units.shape[1]).astype(float)
    unit_a = units[1] == "True"
    n_a, n_b = int(unit_a.sum()), int((~unit_a).sum())
    if n_a < 2 or n_b < 2:
        return GroupContrast(n_units=(n_a, n_b))
    effect, se, t = (float(x[0]) for x in _studentized(sums, counts, unit_a[None, :]))
    if not (np.isfinite(t) and se > 0):
        return GroupContrast(effect=effect, n_units=(n_a, n_b))
    _, _, t_null = _studentized(sums, counts, bs.label_permutations(unit_a, n_perm, seed))
    return GroupContrast(effect=effect, se=se, t=t, p=float(bs.permutation_p(t, t_null)), n_units=(n_a, n_b))


def normal_ci(effect: float | None, se: float | None, level: float = LEVEL) -> CI:
    """effect +- z se: the CI reported beside a group contrast (its p comes from the permutation, not from this)."""
    if effect is None or se is None:
        return CI(level=level, over="battery clusters (cluster-robust se)", method="normal")
    z = float(stats.norm.ppf(0.5 + level / 2))
    return CI(lo=effect - z * se, hi=effect + z * se, level=level, over="battery clusters (cluster-robust se)", method="normal")
