"""Bootstraps shared by several models: one draw of questions (and countries) per replicate for all of them.

When a claim averages or compares models, the models are measured on the SAME questions and
countries, so their errors are correlated: a question that every model finds hard lowers them all.
Resampling each model's questions independently treats those errors as independent and gives a
CI that shrinks with every model added (enter one model four times and the CI halves). Here each
replicate draws one set of indices and applies it to every model; the CI then reflects how the
effect would move with another sample of questions/countries, which is what the claim is about.

Conventions: per-question values are (M, Q) arrays (model x question, nan where undefined), per-
country values (M, C); nulls are (M, P, C) (permutation replicates, ``eval/statistics/nulls.py``). CIs are
percentile CIs; JSON-safe outputs as in ``eval/statistics/metrics.py``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from culturelens.core.jsonsafe import json_safe
from culturelens.eval.statistics import grid as g
from culturelens.eval.statistics.metrics import percentile_ci
from culturelens.eval.statistics.western import MIN_COUNTRIES, excess_over, gap_verdict


def shared_indices(n: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """(n_boot, n) unit indices drawn with replacement: replicate b uses row b for every model."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def stratified_indices(members: list[np.ndarray], n_boot: int, seed: int = 0) -> list[np.ndarray]:
    """For each stratum (an index array), (n_boot, len) indices resampled within it; one draw per replicate."""
    rng = np.random.default_rng(seed)
    return [m[rng.integers(0, m.size, size=(n_boot, m.size))] for m in members]


def group_contrast(values: np.ndarray, in_a: np.ndarray, in_b: np.ndarray, n_boot: int = 1000, seed: int = 0,
                   level: float = 0.95) -> dict:
    """mean over models of [mean(values in A) - mean(values in B)], e.g. r(norms) - r(systems, progress).

    values (M, Q); in_a / in_b (Q,) bool. Each replicate resamples A's and B's questions separately
    (stratified) and uses that draw for every model. Models with fewer than 2 finite values on a
    side are left out (listed in ``models_used`` as False)."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    ok_a, ok_b = np.isfinite(values) & in_a, np.isfinite(values) & in_b
    used = (ok_a.sum(axis=1) >= 2) & (ok_b.sum(axis=1) >= 2)
    a, b = np.flatnonzero(in_a), np.flatnonzero(in_b)
    if not used.any() or a.size < 2 or b.size < 2:
        return json_safe({"effect": None, "ci": [None, None], "models_used": used.tolist(), "n_a": int(a.size), "n_b": int(b.size)})
    v = values[used]
    effect = float(np.mean(g.nan_mean(v[:, a], axis=-1) - g.nan_mean(v[:, b], axis=-1)))
    ia, ib = stratified_indices([a, b], n_boot, seed)
    boot = g.nan_mean(v[:, ia], axis=-1) - g.nan_mean(v[:, ib], axis=-1)  # (M, B)
    lo, hi = percentile_ci(g.nan_mean(boot, axis=0), level)
    return json_safe({"effect": effect, "ci": [lo, hi], "models_used": used.tolist(), "n_a": int(a.size), "n_b": int(b.size)})


def paired_mean_diff(a: np.ndarray, b: np.ndarray, idx: np.ndarray, level: float = 0.95) -> dict:
    """mean(a) - mean(b) over units finite in both, CI from the shared draws ``idx`` (B, n) (``shared_indices``)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    d = np.where(both, a - b, np.nan)
    if both.sum() == 0:
        return json_safe({"diff": None, "ci": [None, None], "n": 0})
    lo, hi = percentile_ci(g.nan_mean(d[idx], axis=-1), level) if both.sum() >= 2 else (float("nan"), float("nan"))
    return json_safe({"diff": float(np.nanmean(d)), "ci": [lo, hi], "n": int(both.sum())})


def gap_difference_beyond_null(units: np.ndarray, nulls: np.ndarray, is_western: np.ndarray, n_boot: int = 1000,
                               seed: int = 0, kind: str = "difference", level: float = 0.95) -> dict:
    """Western gap beyond the null of model 0 minus that of model 1, on the countries both have.

    units (2, C) per-country measure; nulls (2, P, C); is_western (C,). Each replicate resamples the
    Western and the non-Western countries once for both models (stratified) and draws one permutation
    per model, as ``western.stratified_gap_ci``. Verdict: ``gap_verdict`` of the difference's CI."""
    units, nulls = np.asarray(units, dtype=float), np.asarray(nulls, dtype=float)
    mean_null = g.nan_mean(nulls, axis=1)  # (2, C)
    ok = np.isfinite(excess_over(units, mean_null, kind)).all(axis=0)
    w, r = np.flatnonzero(ok & is_western), np.flatnonzero(ok & ~is_western)
    out: dict[str, Any] = {"diff": None, "ci": [None, None], "n_western": int(w.size), "n_non_western": int(r.size)}
    if w.size and r.size:
        ex = excess_over(units, mean_null, kind)
        gaps = ex[:, w].mean(axis=1) - ex[:, r].mean(axis=1)
        out["diff"], out["gap_0"], out["gap_1"] = float(gaps[0] - gaps[1]), float(gaps[0]), float(gaps[1])
    ci = (float("nan"), float("nan"))
    if min(w.size, r.size) >= MIN_COUNTRIES and n_boot >= 1:
        rng = np.random.default_rng(seed)
        bw, br = w[rng.integers(0, w.size, size=(n_boot, w.size))], r[rng.integers(0, r.size, size=(n_boot, r.size))]
        draws = rng.integers(0, nulls.shape[1], size=(2, n_boot, 1))
        gap = []
        for m in range(2):
            ew = excess_over(units[m][bw], nulls[m][draws[m], bw], kind)
            er = excess_over(units[m][br], nulls[m][draws[m], br], kind)
            gap.append(g.nan_mean(ew, axis=-1) - g.nan_mean(er, axis=-1))
        ci = percentile_ci(gap[0] - gap[1], level)
    out["ci"] = list(ci)
    out["verdict"] = gap_verdict(ci, int(w.size), int(r.size))
    return json_safe(out)
