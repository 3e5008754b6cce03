"""Model and human scores as aligned question x country arrays, and the agreement statistics on them.

Conventions (as in ``eval/statistics/metrics.py``)
---------------------------------------
- A ``ScoreGrid`` holds ``model`` and ``human``: arrays of shape (Q, C), row = question, column =
  country, nan where a (country, question) pair is missing on either side. ``valid`` marks the
  pairs present on both sides; every statistic uses only those.
- Every statistic here takes arrays with any number of leading batch axes (..., Q, C), so the same
  function scores the model and each permutation of the null (``permuted_scores``, with the permutations of
  ``eval/statistics/bootstrap.py``) without a Python loop.
- Per-question r: Pearson across countries within a row (the paper's metric).
  Per-country r: Pearson across questions within a column. Pooled r: Pearson over all valid cells.
- Centred scores: each question's cross-country mean subtracted, the human mean from human scores
  and the model's own mean from model scores, both over the countries valid on that question. What
  is left is what distinguishes countries; a predictor that knows only the question gets nothing.
- ``w1`` (optional, shape (Q, C, C)): ``w1[q, i, j]`` = Wasserstein-1 distance on the option scale
  between the model's distribution for country i and the human distribution of country j; the
  diagonal is the model's own W1, off-diagonal entries serve the permutation null.
- Pearson r and W1 are the one implementation of each, in ``weighted.py`` (nan with fewer than 3
  valid pairs or a side constant within ``weighted.CONSTANT_TOL``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from culturelens.core.prompts import NO_COUNTRY
from culturelens.core.reference import as_distribution
from culturelens.eval.statistics import weighted as wt
from culturelens.eval.statistics.metrics import score_pairs


@dataclass(frozen=True)
class ScoreGrid:
    """Aligned model and human scores (see the module docstring)."""

    qids: list[str]
    countries: list[str]
    model: np.ndarray
    human: np.ndarray
    w1: np.ndarray | None = None

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.model) & np.isfinite(self.human)

    def columns(self, keep: np.ndarray) -> ScoreGrid:
        """The grid restricted to the countries where ``keep`` (bool, (C,)) is True."""
        w1 = None if self.w1 is None else self.w1[:, keep][:, :, keep]
        return ScoreGrid(self.qids, [c for c, k in zip(self.countries, keep) if k], self.model[:, keep], self.human[:, keep], w1)

    @property
    def model_w1(self) -> np.ndarray | None:
        """(Q, C): W1 between the model's and the human distribution of the same country."""
        if self.w1 is None:
            return None
        return np.diagonal(self.w1, axis1=1, axis2=2).copy()


def score_grid(model_df: pd.DataFrame, human_df: pd.DataFrame, scores: dict | None = None) -> ScoreGrid:
    """The ScoreGrid of one run (no-persona rows excluded; with ``scores`` and distributions: W1 too)."""
    pairs = score_pairs(model_df, human_df)
    qids = list(dict.fromkeys(pairs["qid"]))
    countries = sorted(pairs["country"].unique())
    model = pairs.pivot(index="qid", columns="country", values="score").reindex(index=qids, columns=countries)
    human = pairs.pivot(index="qid", columns="country", values="mean").reindex(index=qids, columns=countries)
    w1 = w1_cross(model_df, human_df, qids, countries, scores) if scores is not None else None
    return ScoreGrid(qids, countries, model.to_numpy(float), human.to_numpy(float), w1)


# ----------------------------------------------------------------------------------- Wasserstein-1


def _dist_table(df: pd.DataFrame, col: str, qids: list[str], countries: list[str]) -> dict:
    rows = df[(df["country"] != NO_COUNTRY) & df["qid"].isin(qids) & df["country"].isin(countries)]
    rows = rows.drop_duplicates(["country", "qid"])
    return {(c, q): d for c, q, v in zip(rows["country"], rows["qid"], rows[col]) if (d := as_distribution(v)) is not None}


def w1_cross(model_df: pd.DataFrame, human_df: pd.DataFrame, qids: list[str], countries: list[str], scores: dict) -> np.ndarray | None:
    """(Q, C, C) W1(model distribution of country i, human distribution of country j) per question;
    nan where either distribution is missing or their option counts differ; None without any pair."""
    if "probs" not in model_df.columns or "dist" not in human_df.columns:
        return None
    model = _dist_table(model_df, "probs", qids, countries)
    human = _dist_table(human_df, "dist", qids, countries)
    out = np.full((len(qids), len(countries), len(countries)), np.nan)
    for qi, q in enumerate(qids):
        vals = scores.get(q)
        if vals is None:
            continue
        k = len(vals)
        m = [model.get((c, q)) for c in countries]
        h = [human.get((c, q)) for c in countries]
        mi = [i for i, d in enumerate(m) if d is not None and d.size == k]
        hj = [j for j, d in enumerate(h) if d is not None and d.size == k]
        if not mi or not hj:
            continue
        pm = np.stack([m[i] for i in mi])[:, None, :]  # type: ignore[misc]  # the indices mi / hj select the non-None entries
        ph = np.stack([h[j] for j in hj])[None, :, :]  # type: ignore[misc]
        out[qi][np.ix_(mi, hj)] = wt.wasserstein_1(pm, ph, vals)
    return out if np.isfinite(out).any() else None


# ------------------------------------------------------------------------------------- statistics


def question_r(model: np.ndarray, human: np.ndarray) -> np.ndarray:
    """(..., Q): per question, Pearson r across countries of model score vs human mean."""
    return wt.pearson(model, human, axis=-1)


def country_r(model: np.ndarray, human: np.ndarray) -> np.ndarray:
    """(..., C): per country, Pearson r across questions of model score vs human mean."""
    return wt.pearson(model, human, axis=-2)


def pooled_r(model: np.ndarray, human: np.ndarray) -> np.ndarray:
    """(...): Pearson r over every valid (country, question) cell."""
    shape = np.broadcast_shapes(model.shape, human.shape)
    flat = shape[:-2] + (shape[-2] * shape[-1],)
    return wt.pearson(np.broadcast_to(model, shape).reshape(flat), np.broadcast_to(human, shape).reshape(flat), axis=-1)


def centre(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """x minus each question's mean over the valid countries of that question (nan outside ``valid``)."""
    xs = np.where(valid, x, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return xs - np.nanmean(xs, axis=-1, keepdims=True)


def centred_country_r(model: np.ndarray, human: np.ndarray) -> np.ndarray:
    """(..., C): per country, Pearson r across questions of centred model vs centred human scores."""
    valid = np.isfinite(model) & np.isfinite(human)
    return country_r(centre(model, valid), centre(human, valid))


def centred_country_mae(model: np.ndarray, human: np.ndarray) -> np.ndarray:
    """(..., C): per country, mean absolute error across questions between centred scores (lower is better)."""
    valid = np.isfinite(model) & np.isfinite(human)
    err = np.abs(centre(model, valid) - centre(human, valid))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(err, axis=-2)


def country_w1(w1: np.ndarray) -> np.ndarray:
    """(..., C): per country, mean W1 across the questions with both distributions (lower is better)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(w1, axis=-2)


def nan_mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean over the finite entries along ``axis`` (nan when there are none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.where(np.isfinite(x), x, np.nan), axis=axis)


def permuted_scores(model: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(P, Q, C) model scores with country c on question q given the answer of country idx[p, q, c]
    (``idx``: the null's permutation indices, ``bootstrap.joint_permutations``)."""
    return np.take_along_axis(np.broadcast_to(model, idx.shape), idx, axis=-1)


def permuted_w1(w1: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(P, Q, C) W1 between the model distribution of country idx[p, q, c] and the human one of c
    (``w1``: the (Q, C_model, C_human) cross table of ``w1_cross``)."""
    q = np.arange(w1.shape[0])[None, :, None]
    c = np.arange(w1.shape[2])[None, None, :]
    return w1[q, idx, c]
