"""A contrast of two groups of questions, averaged over several models, with one bootstrap draw shared by all of them.

When a claim averages or compares models, the models are measured on the SAME questions and
countries, so their errors are correlated: a question that every model finds hard lowers them all.
Resampling each model's questions independently treats those errors as independent and gives a
CI that shrinks with every model added (enter one model four times and the CI halves). Here each
replicate draws one set of indices and applies it to every model; the CI then reflects how the
effect would move with another sample of questions/countries, which is what the claim is about.

Conventions: per-question values are (M, Q) arrays (model x question, nan where undefined). The draws and the
percentile CI come from ``eval/statistics/bootstrap.py``; JSON-safe outputs.
"""
from __future__ import annotations

import numpy as np

from culturelens.core.jsonsafe import json_safe
from culturelens.eval.statistics import bootstrap as bs
from culturelens.eval.statistics import grid as g


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
    ia, ib = bs.stratified_indices([a, b], n_boot, seed)
    boot = g.nan_mean(v[:, ia], axis=-1) - g.nan_mean(v[:, ib], axis=-1)  # (M, B)
    ci = bs.percentile_ci(g.nan_mean(boot, axis=0), level).as_list()  # type: ignore[union-attr]  # a 1-d input gives a CI
    return json_safe({"effect": effect, "ci": ci, "models_used": used.tolist(), "n_a": int(a.size), "n_b": int(b.size)})
