"""Two-way bootstrap over a question x country grid: questions and countries resampled together.

Pooled r correlates every (country, question) cell at once, so its cells are not independent
units: two cells of one question share that question, two cells of one country share that
country. Resampling cells (pairs) as if independent gives too narrow a CI. Here each replicate
draws Q questions and C countries with replacement and keeps every cell of the drawn rows x
columns (a duplicated question appears once per draw). The same index draws can be shared by
several models (``two_way_indices``), so that a comparison between models resamples the same
questions and countries for each of them in every replicate.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from culturelens.core.jsonsafe import json_safe
from culturelens.eval.statistics import grid as g
from culturelens.eval.statistics.metrics import percentile_ci

POOLED_NOTE = ("Pearson r over all (country, question) cells: dominated by between-question differences "
               "(what every country shares), not by country knowledge; CI resamples questions and countries together")


def two_way_indices(n_rows: int, n_cols: int, n_boot: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(rows (n_boot, n_rows), cols (n_boot, n_cols)): one draw of questions and countries per replicate."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_rows, size=(n_boot, n_rows)), rng.integers(0, n_cols, size=(n_boot, n_cols))


def _chunks(rows: np.ndarray, cols: np.ndarray, cells_per_rep: int, max_cells: int = 4_000_000) -> Iterator[slice]:
    size = max(1, max_cells // max(cells_per_rep, 1))
    for start in range(0, rows.shape[0], size):
        yield slice(start, start + size)


def resampled(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """x[..., rows[b], cols[b]] for every replicate b: shape (B, ..., Q, C)."""
    return x[..., rows[:, :, None], cols[:, None, :]] if x.ndim == 2 else np.moveaxis(
        x[..., rows[:, :, None], cols[:, None, :]], -3, 0)


def pooled_two_way(model: np.ndarray, human: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Pooled r with a percentile CI from the two-way bootstrap (questions and countries together)."""
    r = float(g.pooled_r(model, human))
    valid = np.isfinite(model) & np.isfinite(human)
    lo = hi = float("nan")
    if np.isfinite(r) and n_boot >= 1:
        rows, cols = two_way_indices(model.shape[0], model.shape[1], n_boot=n_boot, seed=seed)
        boot = [g.pooled_r(resampled(model, rows[s], cols[s]), resampled(human, rows[s], cols[s]))
                for s in _chunks(rows, cols, model.size)]
        lo, hi = percentile_ci(np.concatenate(boot), level)
    return json_safe({
        "r": r, "ci_lo": lo, "ci_hi": hi, "n_pairs": int(valid.sum()),
        "n_questions": int(valid.any(axis=1).sum()), "n_countries": int(valid.any(axis=0).sum()),
        "resampling": "questions and countries together", "what": POOLED_NOTE,
    })


def pooled_minus_null(model: np.ndarray, human: np.ndarray, perm: np.ndarray, n_boot: int = 1000, seed: int = 0,
                      level: float = 0.95) -> dict:
    """Pooled r of the model minus the mean pooled r of the permuted models ``perm`` (P, Q, C), with a
    two-way bootstrap CI: every replicate resamples questions and countries and compares the model with one
    permutation drawn at random, both recomputed on the same resampled grid (see ``eval/statistics/nulls.py``)."""
    est = float(g.pooled_r(model, human) - g.nan_mean(g.pooled_r(perm, human), axis=-1))
    lo = hi = float("nan")
    if np.isfinite(est) and n_boot >= 1 and perm.shape[0]:
        rows, cols = two_way_indices(model.shape[0], model.shape[1], n_boot=n_boot, seed=seed)
        draws = np.random.default_rng(seed + 1).integers(0, perm.shape[0], size=n_boot)
        boot = []
        for s in _chunks(rows, cols, 3 * model.size):
            h = resampled(human, rows[s], cols[s])
            m = g.pooled_r(resampled(model, rows[s], cols[s]), h)
            null_grids = perm[draws[s][:, None, None], rows[s][:, :, None], cols[s][:, None, :]]
            boot.append(m - g.pooled_r(null_grids, h))
        lo, hi = percentile_ci(np.concatenate(boot), level)
    return json_safe({"diff": est, "ci_lo": lo, "ci_hi": hi})
