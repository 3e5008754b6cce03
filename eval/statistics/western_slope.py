"""The Western-bias verdict: does the model reproduce the differences among Western countries better than those
among non-Western countries? A measure that equal noise cannot fool.

Measure
-------
Within each side (Western W, non-Western N) and question q, take each country's human answer
relative to its side's mean, x_qc = h_qc - mean_{c' in side} h_qc', and the model's answer relative
to the model's mean over the same countries, y_qc = m_qc - mean_{c' in side} m_qc'. Per country,
the *fidelity slope* is the least-squares slope of y on x across the questions:

    b_c = sum_q x_qc y_qc / sum_q x_qc^2        (1 = reproduces the country's distinctiveness, 0 = none)

and the Western gap is  gap = mean_{c in W} b_c - mean_{c in N} b_c.

Why a slope and not r (the old centred-r gap): noise in the model's answers lowers r more where the
human answers spread less, and non-Western profiles spread about half as much (ethics items: sd
0.17 vs 0.32), so a predictor with the SAME error for every country got a "western" verdict. Noise
in y leaves the slope unbiased, whatever the spread. What each reference predictor gets:
- ``human_noise`` (same error law everywhere): b_c = 1 + noise on both sides, gap ~ 0;
- ``west_pull:f`` (non-Western answers moved a fraction f toward the Western mean): b_N = 1 - f,
  b_W = 1, gap = f;
- ``leave_one_out`` (every country moved the same 1/(n-1) against its own answer): b = -1/(n-1) on
  both sides, gap = 0 exactly; ``global_mean``: b = 0, gap 0 (slope undefined when y is constant:
  those countries drop out);
- ``country_quirk`` (one offset per country, no knowledge): y is constant per country across
  questions, b_c ~ 0 +- noise, gap ~ 0;
- a per-question shift shared by all countries cancels in y.

Verdict: Welch's t over countries (``ttest.two_sample_t(equal_var=False)``, unequal variances: Western slopes are
more precise because Western answers spread more); ``western`` when the 95 % CI of the gap lies
above 0, ``non-western`` below 0, else ``no evidence``, which states the minimum detectable effect
at this n (80 % power, two-sided 5 %); fewer than ``MIN_COUNTRIES`` countries with a slope on a
side: ``too few countries``. Calibrated in ``benchmarks/calibration.py``.
"""
from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from culturelens.core.ci import CI
from culturelens.eval.statistics import weighted as wt
from culturelens.eval.statistics.ttest import two_sample_t

MIN_COUNTRIES = 5
METHOD = "Welch's t"
VERDICTS = ("western", "non-western", "no evidence", "too few countries")
WHAT = ("Western minus non-Western mean fidelity slope: per country, the slope of the model's answers on the human "
        "answers across questions, both relative to their side's mean (1 = reproduces the country's distinctiveness)")


class WesternSlope(BaseModel):
    """The verdict block of the Western-bias measure (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    measure: str = "fidelity_slope"
    what: str = WHAT
    western_slope: float | None = None
    non_western_slope: float | None = None
    gap: float | None = None
    ci: CI = CI(method=METHOD)
    ci_over: str = "countries (Welch's t, unequal variances)"
    p: float | None = None
    verdict: str = "too few countries"
    mde: float | None = None  # minimum detectable |gap| at this n (80 % power, two-sided 5 %)
    n_western: int = 0
    n_non_western: int = 0
    said: str = ""


def side_slopes(model: np.ndarray, human: np.ndarray, side: np.ndarray) -> np.ndarray:
    """(..., C) fidelity slope per country; ``side`` (C,) bool (True = Western); model may carry batch axes."""
    valid = np.isfinite(model) & np.isfinite(human)
    out = np.full(np.broadcast_shapes(model.shape, human.shape)[:-2] + (human.shape[-1],), np.nan)
    for s in (True, False):
        cols = np.asarray(side) == s
        if cols.sum() < 2:
            continue
        v = valid[..., cols]
        x = wt.centre(human[..., cols], v)
        y = wt.centre(model[..., cols], v)
        out[..., cols] = wt.slope(x, y, axis=-2)
    return out


def verdict_of(lo, hi) -> str:
    return "western" if lo > 0 else "non-western" if hi < 0 else "no evidence"


def western_slope(model: np.ndarray, human: np.ndarray, is_western: np.ndarray) -> WesternSlope:
    """The verdict block for one run's (Q, C) grid."""
    b = side_slopes(model, human, is_western)
    w, n = b[is_western & np.isfinite(b)], b[~is_western & np.isfinite(b)]
    out = WesternSlope(n_western=int(w.size), n_non_western=int(n.size),
                       western_slope=float(w.mean()) if w.size else None, non_western_slope=float(n.mean()) if n.size else None)
    if min(w.size, n.size) < MIN_COUNTRIES:
        out.said = (f"too few countries: {w.size} Western and {n.size} non-Western with a fidelity slope "
                    f"(at least {MIN_COUNTRIES} per side are needed)")
        return out
    diff, lo, hi, p, mde = (float(x) for x in two_sample_t(w, n, equal_var=False))
    out.gap, out.ci, out.p, out.mde, out.verdict = diff, CI(lo=lo, hi=hi, method=METHOD), p, mde, verdict_of(lo, hi)
    out.said = (f"{out.verdict}: fidelity slope Western {w.mean():.3f} vs non-Western {n.mean():.3f}, gap {diff:+.3f} "
                f"95% CI [{lo:+.3f}, {hi:+.3f}] ({w.size} vs {n.size} countries)")
    if out.verdict == "no evidence":
        out.said += f"; minimum detectable gap at this n: {mde:.3f}"
    return out
