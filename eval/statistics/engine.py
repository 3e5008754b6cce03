"""The statistics engine: every cross-country number of a run on its score grid, next to its null, with one CI.

Input: model and human scores as (Q, C) arrays (nan = missing pair), the battery cluster of each
question, and optional labels (WVS section / group per question; zone and Western flag per country).
One call draws, once per run:
- the joint country permutations of the null (``bootstrap.joint_permutations``): the model's
  answers with the country labels shuffled, one shuffle for every question;
- the two-way bootstrap weights (``bootstrap.two_way_weights``): battery clusters of questions and
  countries drawn together.
Each metric (a function of model, human, question weights, country weights: ``METRICS``) then gives
a ``NullTest``:

    model          the metric on the run
    null_mean      its mean over the permutations (a fixed number)
    p_perm         one-sided permutation p: (1 + #permutations at least as good) / (1 + P)
    model_minus_null, ci   model - null_mean, and the percentile CI of the model's metric over the
                   bootstrap replicates minus that same fixed null mean (the null is not drawn again
                   inside the bootstrap, so the CI is not widened by the null's own spread)
    verdict        "beats the null" when p_perm < alpha, else "no evidence"

Significance comes from the permutation p (exact under any predictor whose answers are
exchangeable across countries: no knowledge, or a country-consistent quirk); the CI describes how
the number would move with another sample of question batteries and countries (conservative for
cell-level noise). Both are calibrated by simulation in ``benchmarks/calibration.py``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict

from culturelens.core.jsonsafe import safe_float
from culturelens.eval.statistics import bootstrap as bs
from culturelens.eval.statistics import weighted as wt

ALPHA = 0.05
BEATS, NO_EVIDENCE = "beats the null", "no evidence"


class NullTest(BaseModel):
    """One metric of a run next to its joint country-permutation null (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    model: float | None = None
    null_mean: float | None = None
    null_range: list[float | None] | None = None  # central 95 % of the permutation values (a range, not a CI)
    p_perm: float | None = None
    q_bh: float | None = None  # Benjamini-Hochberg q-value within its table (``multiple.py``), where one applies
    model_minus_null: float | None = None
    ci: bs.CI | None = None  # CI of model - null
    ci_over: str = bs.TWO_WAY
    better: str = "higher"
    units: str | None = None
    n_units: int | None = None
    verdict: str | None = None
    primary: bool = False


# -------------------------------------------------------------------------------------- metrics
# Each metric: (model (..., Q, C), human (Q, C), wq (..., Q) or None, wc (..., C) or None, rows (Q,) bool) -> (...)


def question_weights(wq, rows):
    """The question weights of a replicate restricted to the rows in use (the rows alone when there are no weights)."""
    rows = np.asarray(rows, dtype=float)
    return rows if wq is None else wq * rows


def _cells(wq, wc):
    if wq is None and wc is None:
        return None
    q = 1.0 if wq is None else np.asarray(wq)[..., :, None]
    c = 1.0 if wc is None else np.asarray(wc)[..., None, :]
    return q * c


def question_r(model, human, wc=None) -> np.ndarray:
    """(..., Q) per question: r across countries of model score vs human mean (the paper's unit)."""
    return wt.pearson(model, human, None if wc is None else np.asarray(wc)[..., None, :], axis=-1)


def country_r(model, human, wq=None) -> np.ndarray:
    """(..., C) per country: r across questions."""
    return wt.pearson(model, human, None if wq is None else np.asarray(wq)[..., :, None], axis=-2)


def mean_question_r(model, human, wq, wc, rows):
    return wt.mean(question_r(model, human, wc), question_weights(wq, rows), axis=-1)


def question_slope(model, human, wc=None) -> np.ndarray:
    """(..., Q) per question: the fidelity slope across countries, the least-squares slope of the model's scores on the
    human means, both centred over the question's countries (1 = reproduces the countries' differences, 0 = none).
    Unlike r, noise in the model's answers leaves it unbiased whatever the human answers' spread across countries."""
    valid = np.isfinite(model) & np.isfinite(human)
    w = None if wc is None else np.asarray(wc)[..., None, :]
    return wt.slope(wt.centre(human, valid, w), wt.centre(model, valid, w), w, axis=-1)


def mean_question_slope(model, human, wq, wc, rows):
    return wt.mean(question_slope(model, human, wc), question_weights(wq, rows), axis=-1)


def mean_country_r(model, human, wq, wc, rows):
    w = question_weights(wq, rows)
    return wt.mean(country_r(model, human, w), wc, axis=-1)


def _centred(model, human, wc, rows):
    valid = np.isfinite(model) & np.isfinite(human) & np.asarray(rows, bool)[:, None]
    return wt.centre(model, valid, None if wc is None else np.asarray(wc)[..., None, :]), \
        wt.centre(human, valid, None if wc is None else np.asarray(wc)[..., None, :])


def mean_centred_country_r(model, human, wq, wc, rows):
    m, h = _centred(model, human, wc, rows)
    return wt.mean(country_r(m, h, question_weights(wq, rows)), wc, axis=-1)


def mean_centred_mae(model, human, wq, wc, rows):
    m, h = _centred(model, human, wc, rows)
    per_country = wt.mean(np.abs(m - h), None if wq is None else np.asarray(question_weights(wq, rows))[..., :, None], axis=-2)
    return wt.mean(per_country, wc, axis=-1)


def pooled_r(model, human, wq, wc, rows):
    w = _cells(question_weights(wq, rows), wc)
    w = np.broadcast_to(np.asarray(rows, float)[:, None], human.shape) if w is None else w
    shape = np.broadcast_shapes(np.shape(model), np.shape(human), np.shape(w))
    flat = shape[:-2] + (shape[-2] * shape[-1],)
    return wt.pearson(np.broadcast_to(model, shape).reshape(flat), np.broadcast_to(human, shape).reshape(flat),
                      np.broadcast_to(w, shape).reshape(flat), axis=-1)


Metric = Callable[..., np.ndarray]
METRICS: dict[str, tuple[Metric, bool, str, str]] = {  # name -> (function, higher is better, units, what)
    "mean_question_r": (mean_question_r, True, "questions", "mean per-question r across countries (the paper's metric)"),
    "pooled_r": (pooled_r, True, "questions and countries", "Pearson r over every (country, question) pair"),
    "mean_country_r": (mean_country_r, True, "countries", "mean per-country r across questions"),
    "mean_centred_country_r": (mean_centred_country_r, True, "countries", "mean per-country r on centred scores"),
    "mean_centred_mae": (mean_centred_mae, False, "countries", "mean per-country MAE on centred scores (lower is better)"),
}


# --------------------------------------------------------------------------------------- engine


@dataclass
class Draws:
    """The random draws of one run: permutation indices (P, Q, C) and bootstrap weights rows (B, Q), cols (B, C)."""

    perm: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    swap: np.ndarray | None = None  # (P, C) bool: per permutation, the countries whose two runs trade answers

    @classmethod
    def make(cls, valid: np.ndarray, clusters: np.ndarray, n_perm: int, n_boot: int, seed: int) -> Draws:
        rows, cols = bs.two_way_weights(clusters, valid.shape[1], n_boot, seed + 1)
        return cls(bs.joint_permutations(valid, n_perm, seed), rows, cols, bs.swaps(valid.shape[1], n_perm, seed + 2))


@dataclass
class GridData:
    """What the engine needs of a run: scores, clusters, labels."""

    qids: list[str]
    countries: list[str]
    model: np.ndarray
    human: np.ndarray
    clusters: np.ndarray  # (Q,) battery cluster label per question
    extra: dict = field(default_factory=dict)

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.model) & np.isfinite(self.human)

    def permuted(self, perm: np.ndarray) -> np.ndarray:
        return np.take_along_axis(np.broadcast_to(self.model, perm.shape), perm, axis=-1)


def null_test(fn: Metric, higher: bool, model: np.ndarray, human: np.ndarray, permuted: np.ndarray, draws: Draws,
              rows: np.ndarray | None = None, units: str | None = None, alpha: float = ALPHA) -> NullTest:
    """``fn`` on the run, on each permutation and on each bootstrap replicate (see the module docstring)."""
    rows = np.ones(human.shape[0], bool) if rows is None else np.asarray(rows, bool)
    value = float(fn(model, human, None, None, rows))
    null = np.asarray(fn(permuted, human, None, None, rows), dtype=float)
    null = null[np.isfinite(null)]
    null_mean = float(null.mean()) if null.size else float("nan")
    boot = np.asarray(fn(model, human, draws.rows, draws.cols, rows), dtype=float)
    ci = bs.percentile_ci(boot).shifted(null_mean)  # type: ignore[union-attr]  # a 1-d input gives a CI
    p = float(bs.permutation_p(value, null, higher)) if null.size else float("nan")
    n_units = int((np.isfinite(human) & np.isfinite(model))[rows].any(axis=1).sum()) if units == "questions" else \
        int((np.isfinite(human) & np.isfinite(model))[rows].any(axis=0).sum())
    return NullTest(
        model=safe_float(value), null_mean=safe_float(null_mean), null_range=bs.percentile_ci(null).as_list(), p_perm=safe_float(p),  # type: ignore[union-attr]  # a 1-d input gives a CI
        model_minus_null=safe_float(value - null_mean), ci=ci, better="higher" if higher else "lower", units=units,
        n_units=n_units, verdict=(BEATS if p < alpha else NO_EVIDENCE) if np.isfinite(p) else None,
    )


def metric_tests(data: GridData, draws: Draws) -> dict[str, NullTest]:
    """Every metric of ``METRICS`` on all questions, next to the null."""
    perm = data.permuted(draws.perm)
    return {name: null_test(fn, higher, data.model, data.human, perm, draws, units=units)
            for name, (fn, higher, units, _) in METRICS.items()}


def by_label(data: GridData, draws: Draws, label_of: list[str | None]) -> dict[str, NullTest]:
    """The paper's metric per label (section, group) of the questions, next to the null; labels in first-seen order."""
    perm = data.permuted(draws.perm)
    labels = np.array(label_of, dtype=object)
    out = {}
    for label in dict.fromkeys(x for x in label_of if x is not None):
        out[label] = null_test(mean_question_r, True, data.model, data.human, perm, draws, rows=labels == label, units="questions")
    return out


def per_question(data: GridData, draws: Draws) -> dict[str, dict]:
    """Per question: r across countries, its permutation p (one-sided) under the joint null."""
    r = question_r(data.model, data.human)
    null = question_r(data.permuted(draws.perm), data.human)
    p = bs.permutation_p(r, null, True, axis=0)
    return {q: {"r": safe_float(r[i]), "p_perm": safe_float(p[i])} for i, q in enumerate(data.qids)}


NULLS = {
    "change": "B's change from A with its country link shuffled (one joint country permutation of B - A): exact when the "
              "change carries no country knowledge and does not depend on A (a fine-tune vs its base)",
    "swap": "A's and B's answers trade places country by country (each country with probability 1/2): exact when A and B "
            "are exchangeable draws of one process under the null (two arms from one base, e.g. REAL vs SHUFFLED)",
}


class PairedTest(BaseModel):
    """Model B minus model A on the same grid (a fine-tune vs its base, two arms, two runs in compare), next to its null
    (``NULLS``)."""

    model_config = ConfigDict(extra="forbid")

    metric: str = "mean_question_r"
    a: float | None = None
    b: float | None = None
    diff: float | None = None  # metric(B) - metric(A)
    ci: bs.CI | None = None  # CI of diff (the same bootstrap replicates for both models)
    ci_over: str = bs.TWO_WAY
    null_mean: float | None = None  # mean of metric(A + shuffled change) - metric(A)
    p_perm: float | None = None
    alternative: str = "two-sided"
    null: str = "change"
    verdict: str | None = None  # "B better", "B worse" (two-sided), "no evidence"
    mde: float | None = None  # minimum detectable difference at this n: 2.8 x the permutation sd (80 % power, 5 %)
    n_questions: int | None = None
    n_countries: int | None = None


def paired_p(value, null: np.ndarray, alternative: str, axis: int = 0):
    """Permutation p of ``value`` against ``null`` (nan dropped): 'greater', 'less' or 'two-sided' (twice the smaller tail)."""
    up = bs.permutation_p(value, null, True, axis=axis)
    down = bs.permutation_p(value, null, False, axis=axis)
    if alternative == "greater":
        return up
    if alternative == "less":
        return down
    return np.minimum(1.0, 2 * np.minimum(up, down))


def paired_difference(a: np.ndarray, b: np.ndarray, human: np.ndarray, draws: Draws, rows: np.ndarray | None = None,
                      alternative: str = "two-sided", alpha: float = ALPHA, fn: Metric = mean_question_r,
                      null: str = "change") -> PairedTest:
    """metric(B) - metric(A) with its two-way bootstrap CI and the permutation p under ``null`` (one of ``NULLS``)."""
    rows = np.ones(human.shape[0], bool) if rows is None else np.asarray(rows, bool)
    va, vb = float(fn(a, human, None, None, rows)), float(fn(b, human, None, None, rows))
    diff = vb - va
    null_kind = null
    if null == "swap":
        swap = draws.swap[:, None, :]  # type: ignore[index]  # the swap draws exist whenever a swap null is asked for
        null_draws = np.asarray(fn(np.where(swap, a, b), human, None, None, rows), dtype=float) - \
            np.asarray(fn(np.where(swap, b, a), human, None, None, rows), dtype=float)
    else:
        change = b - a
        shuffled = a + np.take_along_axis(np.broadcast_to(change, draws.perm.shape), draws.perm, axis=-1)
        null_draws = np.asarray(fn(shuffled, human, None, None, rows), dtype=float) - va
    null_draws = null_draws[np.isfinite(null_draws)]
    boot = np.asarray(fn(b, human, draws.rows, draws.cols, rows), dtype=float) - \
        np.asarray(fn(a, human, draws.rows, draws.cols, rows), dtype=float)
    p = float(paired_p(diff, null_draws, alternative)) if null_draws.size else float("nan")
    verdict = None
    if np.isfinite(p):
        verdict = NO_EVIDENCE if p >= alpha else ("B better" if diff > float(np.mean(null_draws)) else "B worse")
    valid = np.isfinite(a) & np.isfinite(b) & np.isfinite(human)
    return PairedTest(a=safe_float(va), b=safe_float(vb), diff=safe_float(diff), ci=bs.percentile_ci(boot),  # type: ignore[arg-type]  # a 1-d input gives a CI
                      null_mean=safe_float(null_draws.mean()) if null_draws.size else None, p_perm=safe_float(p), alternative=alternative,
                      null=null_kind, verdict=verdict,
                      mde=safe_float(2.8 * null_draws.std()) if null_draws.size > 1 else None,
                      n_questions=int(valid[rows].any(axis=1).sum()), n_countries=int(valid[rows].any(axis=0).sum()))
