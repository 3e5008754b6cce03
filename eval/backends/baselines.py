"""Reference predictors: answers per (country, question) made from the human data without any country knowledge.

They show what a country-blind predictor scores on every metric, next to a model:
- ``leave_one_out``: country c on question q = the mean over the OTHER countries (of the reference
  given) of their human answer distributions, or of their mean scores where only means exist.
  It knows each question's typical answer and nothing about c (its per-question r across countries
  is exactly -1 by construction: it moves against c's own answer).
- ``global_mean``: every country = the mean over all countries, c included (constant across countries).
- ``uniform``: every option equally likely (constant across countries and close to constant across
  questions).

Conventions: the input is a ``HumanReference`` (or its ``df``) already restricted to the countries
and questions of the run, and ``scores`` maps each qid to its option scale values. The output has
one row per (country, qid) of the reference with ``probs`` (option probabilities in scale order,
None for ``leave_one_out`` / ``global_mean`` on a question where some country has only a mean) and
``score`` (the predicted mean score in [-1, 1]). A question is in *distribution mode* when every
country of the reference that answered it has a distribution; the score is then probs . scale
values (equal to the mean of the other countries' means); otherwise the score is the mean of means.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from culturelens.core.reference import as_distribution

BASELINES = ("leave_one_out", "global_mean", "uniform")
COLUMNS = ["country", "qid", "probs", "score"]


def _human(reference) -> pd.DataFrame:
    df = reference.df if hasattr(reference, "df") else reference
    return df[["country", "qid", "mean", "dist"]].dropna(subset=["mean"]).drop_duplicates(["country", "qid"])


def _question_rows(group: pd.DataFrame, k: int | None) -> tuple[np.ndarray | None, np.ndarray]:
    """(dists (n, k) or None, means (n,)) of one question; dists only when every country has one of size k."""
    dists = [as_distribution(d) for d in group["dist"]]
    means = group["mean"].to_numpy(float)
    if k is not None and all(d is not None and d.size == k for d in dists):
        return np.stack(dists), means
    return None, means


def _rows(group: pd.DataFrame, probs: np.ndarray | None, score: np.ndarray) -> list[dict]:
    return [{"country": c, "qid": q, "probs": None if probs is None else [float(x) for x in probs[i]], "score": float(score[i])}
            for i, (c, q) in enumerate(zip(group["country"], group["qid"]))]


def _by_question(reference, scores: dict, from_dists, from_means, min_countries: int = 1) -> pd.DataFrame:
    """A country-blind rule applied question by question: to the countries' distributions (n, k) when every country
    has one of the question's size, else to their means (n,); nan scores below ``min_countries``."""
    out = []
    for qid, group in _human(reference).groupby("qid", sort=False):
        vals = scores.get(qid)
        dists, means = _question_rows(group, len(vals) if vals is not None else None)
        if len(group) < min_countries:
            out += _rows(group, None, np.full(len(group), np.nan))
        elif dists is not None:
            probs = from_dists(dists)
            out += _rows(group, probs, probs @ np.asarray(vals, float))
        else:
            out += _rows(group, None, from_means(means))
    return pd.DataFrame(out, columns=COLUMNS)


def leave_one_out(reference, scores: dict) -> pd.DataFrame:
    """Per (country, qid): the mean of the other countries' human distributions (or means); nan alone."""
    def others(x):
        return (x.sum(axis=0, keepdims=True) - x) / (len(x) - 1)

    return _by_question(reference, scores, others, lambda m: others(m[:, None])[:, 0], min_countries=2)


def global_mean(reference, scores: dict) -> pd.DataFrame:
    """Per (country, qid): the mean over all countries (c included) of the human distributions (or means)."""
    return _by_question(reference, scores, lambda d: np.repeat(d.mean(axis=0, keepdims=True), len(d), axis=0),
                        lambda m: np.full(len(m), m.mean()))


def uniform(reference, scores: dict) -> pd.DataFrame:
    """Per (country, qid): every option of the question equally likely."""
    out = []
    for qid, group in _human(reference).groupby("qid", sort=False):
        vals = np.asarray(scores[qid], dtype=float)
        probs = np.full((len(group), vals.size), 1.0 / vals.size)
        out += _rows(group, probs, probs @ vals)
    return pd.DataFrame(out, columns=COLUMNS)


def predict(name: str, reference, scores: dict) -> pd.DataFrame:
    """The reference predictor called ``name`` (one of BASELINES)."""
    from culturelens.core.errors import ConfigError

    table = {"leave_one_out": leave_one_out, "global_mean": global_mean, "uniform": uniform}
    if name not in table:
        raise ConfigError(f"unknown baseline '{name}': use baseline:{' | baseline:'.join(BASELINES)}")
    return table[name](reference, scores)


def distribution_with_mean(values, mean: float) -> list[float]:
    """The distribution on the two scale points adjacent to ``mean`` whose expected value is ``mean``
    (how a means-only prediction is given option probabilities; its score is exactly ``mean``)."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    v = values[order]
    mean = float(np.clip(mean, v[0], v[-1]))
    hi = int(np.clip(np.searchsorted(v, mean), 1, v.size - 1))
    lo = hi - 1
    w_hi = (mean - v[lo]) / (v[hi] - v[lo]) if v[hi] > v[lo] else 0.0
    probs = np.zeros(v.size)
    probs[order[lo]], probs[order[hi]] = 1.0 - w_hi, w_hi
    return [float(p) for p in probs]
