"""Why a number is missing, and which CIs are too thin to trust: one sentence each, for the console, report.md, the
figures and compare.

- r across countries (per question: the paper's metric) needs at least 3 countries, r across questions (per country)
  at least 3 questions; with fewer, the number is not computed and the caveat says why.
- A bootstrap CI that rests on fewer than 5 resampled units (questions, countries) is printed with a warning: with
  so few units it is mostly the spread of those few values, not a confidence interval.
"""
from __future__ import annotations

from culturelens.core.runfolder import Summary

MIN_R_UNITS = 3
MIN_CI_UNITS = 5


def why_r_missing(s: Summary) -> str | None:
    """Why the paper's metric is missing, when it is and the reason is the run's size."""
    if s.n_countries is not None and s.n_countries < MIN_R_UNITS:
        return (f"per-question r (the paper's metric) needs at least {MIN_R_UNITS} countries; this run has {s.n_countries}: "
                "evaluate more countries (e.g. countries=[DEU,TUR,MEX,...])")
    return None


def why_country_r_missing(s: Summary) -> str | None:
    if s.n_questions is not None and s.n_questions < MIN_R_UNITS:
        return (f"per-country r needs at least {MIN_R_UNITS} questions; this run has {s.n_questions}: evaluate more questions")
    return None


def thin_cis(s: Summary) -> list[str]:
    """Every null comparison whose CI rests on fewer than MIN_CI_UNITS units."""
    n = s.nulls
    if n is None:
        return []
    rows = {"mean per-question r - null": n.mean_question_r, "pooled r - null": n.pooled_r,
            "mean per-country r - null": n.mean_country_r, "centred per-country r - null": n.mean_centred_country_r}
    rows.update({f"r - null, group {k}": v for k, v in n.mean_question_r_by_group.items()})
    out = []
    for label, v in rows.items():
        if v is not None and v.ci is not None and v.n_units is not None and v.n_units < MIN_CI_UNITS:
            out.append(thin_ci_warning(label, v.n_units, v.units or "units"))
    return out


def thin_ci_warning(label: str, n: int, units: str) -> str:
    return f"the 95% CI of {label} rests on {n} {units} (< {MIN_CI_UNITS}): unreliable, evaluate more {units}"


def caveats(s: Summary) -> list[str]:
    return [c for c in (why_r_missing(s), why_country_r_missing(s)) if c] + thin_cis(s)
