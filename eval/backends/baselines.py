"""Reference predictors: answers per (country, question) made from the human data without any country knowledge.

They show what a country-blind predictor scores on every metric, next to a model:
- ``leave_one_out``: country c on question q = the mean over the OTHER countries (of the reference
  given) of their human answer distributions, or of their mean scores where only means exist.
  It knows each question's typical answer and nothing about c (its per-question r across countries
  is exactly -1 by construction: it moves against c's own answer).
- ``global_mean``: every country = the mean over all countries, c included (constant across countries).
- ``uniform``: every option equally likely (constant across countries and close to constant across
  questions).

Reference predictors WITH a known property, for calibration from the CLI (parameters in the name,
``baseline:NAME:key=value,...``; draws seeded, from ``eval/statistics/bootstrap.py``). Each gives a
mean score per (country, question) (probabilities: the two-point distribution with that mean), clipped
to the question's scale:
- ``human_noise:sd=0.3,seed=0``: each country's human mean plus iid N(0, sd) noise per (country,
  question): the same error law for every country. Expected: beats the null on the paper's metric
  (strongly for sd <= 0.3), Western verdict ``no evidence`` (a false ``western``/``non-western`` at the
  nominal 5 %).
- ``west_pull:f=0.3,sd=0.1,seed=0``: as human_noise, then every non-Western country's answer moved a
  fraction f toward the mean of the Western countries' human answers. Expected: Western verdict
  ``western`` (fidelity-slope gap ~ f; detected almost always for f >= 0.2 on the ethics55 set).
- ``country_quirk:sd=0.15,noise=0,seed=0``: country-blind (the cross-country mean of each question) plus
  one N(0, sd) offset per country applied to every question (plus iid N(0, noise) per cell). Expected:
  ``no evidence`` everywhere: the joint country-permutation null keeps the quirk, so the paper's metric is
  at its null (p uniform) and the Western gap ~ 0.

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

BASELINES = ("leave_one_out", "global_mean", "uniform", "human_noise", "west_pull", "country_quirk")
PARAMS: dict[str, dict[str, float]] = {  # name -> parameter defaults (only these baselines take parameters)
    "human_noise": {"sd": 0.3, "seed": 0},
    "west_pull": {"f": 0.3, "sd": 0.1, "seed": 0},
    "country_quirk": {"sd": 0.15, "noise": 0.0, "seed": 0},
}
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


def parse_spec(spec: str) -> tuple[str, dict[str, float]]:
    """'west_pull:f=0.4,seed=3' -> ('west_pull', {'f': 0.4, 'sd': 0.1, 'seed': 3}) (defaults filled in);
    ConfigError (one line, naming the fix) for an unknown name, key or value."""
    from culturelens.core.errors import ConfigError

    name, _, rest = spec.partition(":")
    if name not in BASELINES:
        raise ConfigError(f"unknown baseline '{name}': use baseline:{' | baseline:'.join(BASELINES)}")
    defaults = PARAMS.get(name, {})
    if rest and not defaults:
        raise ConfigError(f"baseline:{name} takes no parameters (got '{rest}'): use baseline:{name}")
    params = dict(defaults)
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if key not in defaults or not eq:
            raise ConfigError(f"bad parameter '{item}' for baseline:{name}: use key=value with keys {', '.join(defaults)}")
        try:
            params[key] = int(value) if key == "seed" else float(value)
        except ValueError:
            raise ConfigError(f"bad value '{value}' for {key} in baseline:{name}: give a number") from None
        if key != "seed" and not (params[key] >= 0 and np.isfinite(params[key])) or (key == "f" and params[key] > 1):
            raise ConfigError(f"bad value {value} for {key} in baseline:{name}: use a number >= 0" + (" and <= 1" if key == "f" else ""))
    return name, params


def _noisy(reference, scores: dict, western: dict | None, params: dict, pull: float = 0.0, blind: bool = False) -> pd.DataFrame:
    """The parametric predictors on the (country, qid) grid of the reference (see the module docstring)."""
    from culturelens.core.seeded import normal

    human = _human(reference)
    grid = human.pivot(index="qid", columns="country", values="mean")
    h = grid.to_numpy(float)
    seed = int(params.get("seed", 0))
    if blind:
        with np.errstate(all="ignore"):
            pred = np.nanmean(h, axis=1, keepdims=True) + normal((1, h.shape[1]), seed, params["sd"])
        pred = pred + normal(h.shape, seed + 1, params.get("noise", 0.0))
    else:
        pred = h + normal(h.shape, seed, params["sd"])
    if pull:
        is_w = np.array([bool((western or {}).get(c, False)) for c in grid.columns])
        if not is_w.any():
            from culturelens.core.errors import ConfigError

            raise ConfigError("baseline:west_pull needs Western countries in the run: add some to `countries`")
        with np.errstate(all="ignore"):
            w_mean = np.nanmean(h[:, is_w], axis=1, keepdims=True)
        pred[:, ~is_w] = (1 - pull) * pred[:, ~is_w] + pull * w_mean
    lo = {q: min(scores[q]) if q in scores else -1.0 for q in grid.index}
    hi = {q: max(scores[q]) if q in scores else 1.0 for q in grid.index}
    pred = np.clip(pred, [[lo[q]] for q in grid.index], [[hi[q]] for q in grid.index])
    frame = pd.DataFrame(pred, index=grid.index, columns=grid.columns).stack().rename("score").reset_index()
    keep = human.set_index(["country", "qid"]).index
    frame = frame.set_index(["country", "qid"]).reindex(keep).reset_index()
    return frame.assign(probs=None)[COLUMNS]


def predict(name: str, reference, scores: dict, western: dict | None = None) -> pd.DataFrame:
    """The reference predictor ``name`` (one of BASELINES, parameters as 'NAME:key=value,...'); ``western``
    (alpha3 -> bool) is needed by west_pull."""
    name, params = parse_spec(name)
    if name == "human_noise":
        return _noisy(reference, scores, western, params)
    if name == "west_pull":
        return _noisy(reference, scores, western, params, pull=params["f"])
    if name == "country_quirk":
        return _noisy(reference, scores, western, params, blind=True)
    table = {"leave_one_out": leave_one_out, "global_mean": global_mean, "uniform": uniform}
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
