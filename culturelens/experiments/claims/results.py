"""Typed results of the claims: one `ClaimResult` subclass per claim, and the rows they are made of.

Every result names its primary endpoint (``ClaimsConfig.primary``, fixed before the run), the one-sided p of that
endpoint, the Holm-adjusted p across the claims of the report, the rule it applies, and where one number sums the
claim up, that effect with its 95% CI. Verdicts: ``supported`` (Holm-adjusted p below alpha), ``no evidence``
(testable, not supported: ``mde`` and ``reason`` state the minimum detectable effect at the run's n), ``not
testable`` (a premise or the entries the comparison needs are missing: ``reason`` says which), ``fragile``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import ConfigDict, computed_field, model_validator
from scipy import stats

from culturelens.core.ci import CI
from culturelens.core.runfolder import Part as Strict  # every key typed, unknown keys refused (as in summary.json)
from culturelens.core.runfolder import RawWesternGap
from culturelens.eval.statistics.multiple import holm
from culturelens.eval.statistics.western_slope import WesternSlope

SUPPORTED, NOT_SUPPORTED, NOT_TESTABLE = "supported", "no evidence", "not testable"
FRAGILE = "fragile"  # supported under one option order / template and not under another: never "supported"
POWER = 0.8  # the minimum detectable effect: detected with this probability at one-sided alpha


def one_sided(p_two: float | None, effect: float | None, direction: int = 1) -> float | None:
    """The one-sided p in the claimed direction from a symmetric two-sided test's p and its effect."""
    if p_two is None or effect is None or not (math.isfinite(p_two) and math.isfinite(effect)):
        return None
    return p_two / 2 if effect * direction > 0 else 1 - p_two / 2


def p_from_ci(effect: float | None, lo: float | None, hi: float | None, alpha: float,
              level: float = 0.95) -> tuple[float | None, float | None]:
    """(one-sided p that the effect is above 0, minimum detectable effect at one-sided ``alpha``) from a bootstrap
    percentile CI, by the normal approximation (se = CI width / (2 z)): no new random numbers, and the p agrees with
    the CI (p < (1 - level) / 2 exactly when the CI lies above 0, up to the CI's asymmetry)."""
    if effect is None or lo is None or hi is None or not all(math.isfinite(x) for x in (effect, lo, hi)) or hi <= lo:
        return None, None
    se = (hi - lo) / (2 * stats.norm.ppf(0.5 + level / 2))
    return float(stats.norm.sf(effect / se)), float((stats.norm.isf(alpha) + stats.norm.ppf(POWER)) * se)


def intersection_p(ps: list[float | None]) -> float | None:
    """An endpoint made of several tests that must ALL reject (every base model, every pair): the intersection-union
    test, whose p is the largest one (exact level, no adjustment needed)."""
    known = [p for p in ps if p is not None]
    return max(known) if known and len(known) == len(ps) else None


def largest(xs: list[float | None]) -> float | None:
    known = [x for x in xs if x is not None]
    return max(known) if known else None


def robust_verdict(by_view: dict[str, str]) -> str:
    """The verdict over views of the same runs (averaged, each order, each template): ``fragile`` when the
    testable views disagree, else the verdict of the first (averaged) view."""
    testable = {v for v in by_view.values() if v in (SUPPORTED, NOT_SUPPORTED)}
    return FRAGILE if len(testable) > 1 else next(iter(by_view.values()))


def verdict_from_ci(lo, hi, direction: int = 1) -> str:
    """"supported" if the CI excludes 0 in the claimed direction, "not supported" if not, "not testable" without a CI."""
    if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)):
        return NOT_TESTABLE
    return SUPPORTED if (lo > 0 if direction > 0 else hi < 0) else NOT_SUPPORTED


class PairedDiff(Strict):
    """mean(a) - mean(b) with its CI. From ``engine.paired_difference`` (adapters vs their base): p_perm under the
    fine-tuning null decides (one-sided, ``alpha``); without a p (``metrics.paired_bootstrap_diff``): the CI decides."""

    mean_a: float | None = None
    mean_b: float | None = None
    diff: float | None = None
    ci: CI = CI()
    n: int = 0
    p_perm: float | None = None
    null_mean: float | None = None
    mde: float | None = None  # minimum detectable difference at this n (80 % power)
    alpha: float | None = None
    null: str | None = None
    q_bh: float | None = None  # Benjamini-Hochberg q-value among the rows of its table (secondary endpoints)

    @property
    def verdict(self) -> str:
        if self.p_perm is not None and self.alpha is not None:
            return SUPPORTED if self.p_perm < self.alpha else NOT_SUPPORTED
        return verdict_from_ci(self.ci.lo, self.ci.hi)


class ClaimResult(Strict):
    verdict: str
    rule: str | None = None
    effect: float | None = None
    effect_name: str | None = None
    ci: CI | None = None
    reason: str | None = None  # why the verdict is what it is (not testable: what is missing; no evidence: the mde)
    verdict_by_view: dict[str, str] = {}  # the verdict on each view (averaged; each option order; each template)
    primary: str | None = None  # the primary endpoint (ClaimsConfig.primary), named before the run
    primary_what: str | None = None
    p: float | None = None  # one-sided p of the primary endpoint (None: not testable)
    p_holm: float | None = None  # Holm-adjusted across the claims of the report
    n_holm: int | None = None  # how many claims' p the adjustment ran over
    alpha: float | None = None  # one-sided family-wise level
    mde: float | None = None  # minimum detectable effect of the primary endpoint at this run's n (80 % power)


def holm_verdicts(results: dict[str, ClaimResult], alpha: float) -> None:
    """Holm across the claims of one report (``eval/statistics/multiple.holm``): a claim with a p is ``supported``
    when its adjusted p is below ``alpha``, else ``no evidence`` with the minimum detectable effect stated."""
    keys = [k for k, r in results.items() if r.p is not None and r.verdict != NOT_TESTABLE]
    adjusted = holm([results[k].p for k in keys]) if keys else np.array([])
    for k, adj in zip(keys, adjusted):
        r = results[k]
        r.p_holm, r.n_holm, r.alpha = float(adj), len(keys), alpha
        r.verdict = SUPPORTED if adj < alpha else NOT_SUPPORTED
        if r.verdict == NOT_SUPPORTED:
            said = (f"one-sided p {r.p:.3g}, Holm-adjusted over {len(keys)} claims {adj:.3g} >= alpha {alpha:g}"
                    + (f"; minimum detectable effect at this n: {r.mde:.3f}" if r.mde is not None else ""))
            r.reason = f"{said}; {r.reason}" if r.reason else said


class NormsRow(Strict):
    model: str
    r_norms: float | None = None
    r_systems: float | None = None
    r_progress: float | None = None


class SourceView(Strict):
    """Per-question r per group over one data kind's complete country x question block."""

    kind: str
    countries: list[str]
    n_questions: dict[str, int]
    table: list[NormsRow] = []
    note: str | None = None


class Contrast(Strict):
    """One contrast of question groups (claim 1), averaged over the models claim 1 uses."""

    endpoint: str
    what: str
    effect: float | None = None
    ci: CI = CI()
    p: float | None = None  # one-sided (claim 1: the studentized permutation p of ``group_contrast``)
    mde: float | None = None
    q_bh: float | None = None
    primary: bool = False


class NormsResult(ClaimResult):
    models_used: list[str] = []  # base models, one per family and size
    models_left_out: dict[str, str] = {}  # entry -> why claim 1 does not use it
    contrasts: list[Contrast] = []
    table: list[NormsRow] = []
    n_models: int | None = None
    kind: str | None = None  # the data kind the verdict stands on (e.g. wvs7 respondent data)
    countries: list[str] = []
    n_questions: dict[str, int] = {}
    other_sources: list[SourceView] = []


class Nearest(Strict):
    top5: list[str]
    western_share: float


class ModelGap(WesternSlope):
    """One model's Western gap on the bias questions (``bias.BiasGap.as_dict``): the fidelity-slope verdict block, the raw
    gap of the old rule, the paper's metric on these questions; in claim 2 also the one-sided p and its BH q-value."""

    model_config = ConfigDict(extra="forbid")

    raw: RawWesternGap | None = None
    mean_question_r: float | None = None
    p_one_sided: float | None = None
    q_bh: float | None = None


class WesternBiasResult(ClaimResult):
    questions: list[str]
    n_western: int
    n_countries: int
    gaps: dict[str, ModelGap]  # per model: the fidelity-slope verdict block and the raw old-rule gap
    nearest: dict[str, Nearest]
    western_base_rate: float
    mean_gap_base_models: float | None = None
    n_models_western_beyond_null: int


class CorpusPair(Strict):
    english: str
    multilingual: str
    size_ratio: float
    gap_english: float | None = None  # Western gap beyond the null (verdict measure)
    verdict_english: str | None = None  # the English-centric model's own Western-gap verdict: a gap to reduce?
    gap_multilingual: float | None = None
    gap_reduction: float | None = None
    ci: CI
    p: float | None = None  # one-sided (a reduction), Welch
    mde: float | None = None
    q_bh: float | None = None
    verdict: str | None = None
    reason: str | None = None
    confounds: list[str]


class MultilingualResult(ClaimResult):
    pairs: list[CorpusPair] = []


class FamilyPair(Strict):
    family: str
    aligned: bool
    small: str
    large: str


class FamilySize(PairedDiff, FamilyPair):
    """Largest minus smallest base model of one family (fields: the pair first, then the difference)."""


class ModelSize(Strict):
    model: str
    params: float
    mean_question_r: float | None = None


class SizeResult(ClaimResult):
    within_family: list[FamilySize] = []
    across_models: list[ModelSize] = []
    slope_r_per_decade_across_families: float | None = None


class AdapterDiff(Strict):
    """Model minus the entry it is compared with, mean per-question r: on every question and per split.

    ``scope`` is the question set the verdict stands on ("all" or "heldout"), ``questions`` says it in words;
    a missing scope (no split, no held-out question in the run) is not testable, never moved to all questions."""

    model: str
    vs: str
    kind: str | None = None
    scope: str = "all"
    questions: str | None = None
    all: PairedDiff
    train: PairedDiff | None = None
    heldout: PairedDiff | None = None

    @model_validator(mode="before")
    @classmethod
    def _derived(cls, data: Any) -> Any:
        """``verdict`` and ``reason`` are computed from the rest: claims.json holds them, reading it recomputes them."""
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in ("verdict", "reason")}
        return data

    def scoped(self, scope: str | None = None) -> PairedDiff | None:
        diff = getattr(self, scope or self.scope, None)
        return diff if diff is not None and diff.n > 0 else None

    @computed_field
    @property
    def verdict(self) -> str:
        diff = self.scoped()
        return diff.verdict if diff is not None else NOT_TESTABLE

    @computed_field
    @property
    def reason(self) -> str | None:
        return None if self.scoped() is not None else f"{self.model} vs {self.vs}: no {self.scope} questions ({self.questions})"


class ComparisonsResult(ClaimResult):
    comparisons: list[AdapterDiff] = []
