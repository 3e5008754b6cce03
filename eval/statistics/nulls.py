"""The country-permutation null: what a model's own answers score once their link to countries is broken.

Algorithm
---------
Within each question, shuffle which country each of the model's per-(country, question) answers
belongs to (only among the countries valid on that question), ``n_perm`` times with a seeded
generator. The shuffled model keeps everything about its answers -- their level per question,
their spread, their distribution shape -- except which country got which answer. So for any
metric, the null's value is what the model's answers score without country knowledge, and
model minus null is what country knowledge adds. (For the paper's per-question r the null mean
is 0 by symmetry; for pooled and per-country r it is the between-question part, often most of it.)

For each headline metric the summary gives the model's value, the null's mean, the null's central
95% range (over permutations), a one-sided permutation p-value ((1 + #null >= model) / (1 + n_perm),
#null <= model for lower-is-better metrics), and model minus null with a CI.

What the CI of model minus null is over (the choice made here): the questions and countries are a
sample, and the model's own arrangement of answers is, if it has no country knowledge, just one
more draw from the permutation distribution. So each bootstrap replicate resamples the units and
compares the model's value on them with the value of ONE permutation replicate, drawn at random,
on the same units:
- per-question and per-country metrics (means of unit values): units = questions (per-question r)
  or countries (per-country measures; the Western gap in ``eval/statistics/western.py`` resamples countries
  per side);
- pooled r (not a mean of unit values): questions and countries resampled together
  (``eval/statistics/resample.py``), both pooled r's recomputed on the resampled grid.
The CI thus carries the sampling of questions/countries AND the null's own spread: a model with no
country knowledge covers 0 about 95% of the time. Subtracting only the null's mean (a fixed
number) would make tiny systematic effects of a deterministic country-blind predictor look
significant (``leave_one_out`` moves against each country by 1/(n-1) of its own answer, which
lowers its per-country r a little more where answers spread more). The point estimate is always
model minus the null's mean.
"""
from __future__ import annotations

import numpy as np

from culturelens.core.jsonsafe import json_safe
from culturelens.eval.statistics import grid as g
from culturelens.eval.statistics.metrics import percentile_ci
from culturelens.eval.statistics.resample import pooled_minus_null

NULL_NOTE = ("country-permutation null: within each question the model's answers are shuffled across countries; "
             "CI of model - null: bootstrap over questions (per-question r), countries (per-country measures), "
             "questions and countries together (pooled r), each replicate against one random permutation")


def permutation_indices(valid: np.ndarray, n_perm: int, seed: int = 0) -> np.ndarray:
    """(n_perm, Q, C) column indices: row q of permutation p maps country c to the country whose answer
    it gets; valid columns are permuted among themselves, invalid ones map to themselves."""
    rng = np.random.default_rng(seed)
    n_q, n_c = valid.shape
    idx = np.broadcast_to(np.arange(n_c), (n_perm, n_q, n_c)).copy()
    for q in range(n_q):
        cols = np.flatnonzero(valid[q])
        if cols.size > 1:
            idx[:, q, cols] = rng.permuted(np.broadcast_to(cols, (n_perm, cols.size)), axis=1)
    return idx


def permuted_scores(model: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(P, Q, C) model scores with country c on question q given the answer of country idx[p, q, c]."""
    return np.take_along_axis(np.broadcast_to(model, idx.shape), idx, axis=-1)


def permuted_w1(w1: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(P, Q, C) W1 between the model distribution of country idx[p, q, c] and the human one of c."""
    q = np.arange(w1.shape[0])[None, :, None]
    c = np.arange(w1.shape[2])[None, None, :]
    return w1[q, idx, c]


def null_comparison(model_value: float, null_values: np.ndarray, diff_ci: tuple[float, float],
                    higher_is_better: bool = True, level: float = 0.95) -> dict:
    """The model's value next to its null: null mean and range, permutation p-value, model - null and its CI."""
    null_values = np.asarray(null_values, dtype=float)
    null_values = null_values[np.isfinite(null_values)]
    null_mean = float(null_values.mean()) if null_values.size else float("nan")
    beats = null_values >= model_value if higher_is_better else null_values <= model_value
    p = (1 + int(beats.sum())) / (1 + null_values.size) if null_values.size and np.isfinite(model_value) else float("nan")
    return json_safe({
        "model": model_value, "null_mean": null_mean, "null_range": list(percentile_ci(null_values, level)),
        "p_perm": p, "model_minus_null": model_value - null_mean, "ci": list(diff_ci),
        "better": "higher" if higher_is_better else "lower", "n_perm": int(null_values.size),
    })


def unit_excess(model_units: np.ndarray, null_units: np.ndarray) -> np.ndarray:
    """Per unit: model value minus the unit's mean over the permutations (nan where either is nan)."""
    return np.asarray(model_units, dtype=float) - g.nan_mean(null_units, axis=0)


def excess_ci(model_units: np.ndarray, null_units: np.ndarray, n_boot: int = 1000, seed: int = 0,
              level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of mean(model) - mean(null) over units: each replicate resamples the units and takes
    the null from one permutation drawn at random (see the module docstring). model_units (n,), null_units (P, n)."""
    n, n_perm = model_units.size, null_units.shape[0]
    if n < 2 or n_boot < 1 or n_perm < 1:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    units = rng.integers(0, n, size=(n_boot, n))
    draws = rng.integers(0, n_perm, size=(n_boot, 1))
    boot = g.nan_mean(model_units[units], axis=-1) - g.nan_mean(null_units[draws, units], axis=-1)
    return percentile_ci(boot, level)


def _unit_metric(model_units: np.ndarray, null_units: np.ndarray, higher_is_better: bool, n_boot: int, seed: int) -> dict:
    """A metric that is the mean of unit values: null distribution of the mean, CI over units (excess_ci)."""
    both = np.isfinite(unit_excess(model_units, null_units))
    model_value = float(np.mean(model_units[both])) if both.any() else float("nan")
    null_means = g.nan_mean(null_units[:, both], axis=-1) if both.any() else np.array([])
    ci = excess_ci(model_units[both], null_units[:, both], n_boot=n_boot, seed=seed)
    out = null_comparison(model_value, null_means, ci, higher_is_better)
    out["n_units"] = int(both.sum())
    return out


def null_question_r(grid: g.ScoreGrid, perm: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean per-question r across countries (the paper's metric) vs the null; CI over questions."""
    out = _unit_metric(g.question_r(grid.model, grid.human), g.question_r(perm, grid.human), True, n_boot, seed)
    return {**out, "units": "questions"}


def null_country_r(grid: g.ScoreGrid, perm: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean per-country r across questions vs the null; CI over countries."""
    out = _unit_metric(g.country_r(grid.model, grid.human), g.country_r(perm, grid.human), True, n_boot, seed)
    return {**out, "units": "countries"}


def null_centred_country_r(grid: g.ScoreGrid, perm: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean per-country r on centred scores vs the null; CI over countries."""
    model_units = g.centred_country_r(grid.model, grid.human)
    out = _unit_metric(model_units, g.centred_country_r(perm, grid.human), True, n_boot, seed)
    return {**out, "units": "countries"}


def null_centred_mae(grid: g.ScoreGrid, perm: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean per-country MAE on centred scores vs the null (lower is better); CI over countries."""
    model_units = g.centred_country_mae(grid.model, grid.human)
    out = _unit_metric(model_units, g.centred_country_mae(perm, grid.human), False, n_boot, seed)
    return {**out, "units": "countries"}


def null_w1(grid: g.ScoreGrid, idx: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict | None:
    """Mean per-country W1 vs the null (lower is better); CI over countries; None without distributions."""
    if grid.w1 is None:
        return None
    model_units = g.country_w1(grid.model_w1)  # type: ignore[arg-type]  # model_w1 is set whenever w1 is
    out = _unit_metric(model_units, g.country_w1(permuted_w1(grid.w1, idx)), False, n_boot, seed)
    return {**out, "units": "countries"}


def null_pooled_r(grid: g.ScoreGrid, perm: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """Pooled r vs the null; CI of model - null from a two-way bootstrap, both recomputed per replicate."""
    diff = pooled_minus_null(grid.model, grid.human, perm, n_boot=n_boot, seed=seed)
    out = null_comparison(float(g.pooled_r(grid.model, grid.human)), g.pooled_r(perm, grid.human), (diff["ci_lo"], diff["ci_hi"]))
    return {**out, "units": "questions and countries"}


def permutation_null(grid: g.ScoreGrid, n_perm: int = 1000, n_boot: int = 1000, seed: int = 0, idx: np.ndarray | None = None) -> dict:
    """Every headline metric next to its country-permutation null (see the module docstring); ``idx``:
    permutations already drawn with ``permutation_indices(grid.valid, n_perm, seed)``, to reuse them."""
    idx = permutation_indices(grid.valid, n_perm, seed) if idx is None else idx
    n_perm = idx.shape[0]
    perm = permuted_scores(grid.model, idx)
    return json_safe({
        "mean_question_r": null_question_r(grid, perm, n_boot, seed),
        "pooled_r": null_pooled_r(grid, perm, n_boot, seed),
        "mean_country_r": null_country_r(grid, perm, n_boot, seed),
        "mean_centred_country_r": null_centred_country_r(grid, perm, n_boot, seed),
        "mean_centred_mae": null_centred_mae(grid, perm, n_boot, seed),
        "mean_w1": null_w1(grid, idx, n_boot, seed),
        "n_perm": int(n_perm),
        "seed": int(seed),
        "note": NULL_NOTE,
    })


def null_question_r_by(grid: g.ScoreGrid, perm: np.ndarray, label_of: dict, n_boot: int = 1000, seed: int = 0) -> dict:
    """The paper's metric per label (WVS section or group: ``label_of`` maps qid -> label) vs the null;
    CI over the label's questions. Questions without a label are left out."""
    r_model, r_null = g.question_r(grid.model, grid.human), g.question_r(perm, grid.human)
    labels = np.array([label_of.get(q) for q in grid.qids], dtype=object)
    out = {}
    for label in dict.fromkeys(x for x in labels if x is not None):
        rows = labels == label
        out[label] = {**_unit_metric(r_model[rows], r_null[:, rows], True, n_boot, seed), "units": "questions"}
    return json_safe(out)
