"""Typed results of the claims: one `ClaimResult` subclass per claim, and the rows they are made of.

Every result has a verdict (see `verdict_from_ci`), the rule it applies, and where one number sums
the claim up, that effect with its 95% CI; `reason` says why a claim is not testable. All models
allow extra keys, so later statistics (nulls, option orders) can add fields without breaking readers.
"""
from __future__ import annotations

import math

from pydantic import computed_field

from culturelens.core.runfolder import Record

SUPPORTED, NOT_SUPPORTED, NOT_TESTABLE = "supported", "not supported", "not testable with these models"
FRAGILE = "fragile"  # supported under one option order / template and not under another: never "supported"


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


class PairedDiff(Record):
    """mean(a) - mean(b) with its CI. From ``engine.paired_difference`` (adapters vs their base): p_perm under the
    fine-tuning null decides (one-sided, ``alpha``); without a p (``metrics.paired_bootstrap_diff``): the CI decides."""

    mean_a: float | None = None
    mean_b: float | None = None
    diff: float | None = None
    ci_lo: float | None = None
    ci_hi: float | None = None
    n: int = 0
    p_perm: float | None = None
    null_mean: float | None = None
    mde: float | None = None  # minimum detectable difference at this n (80 % power)
    alpha: float | None = None
    null: str | None = None

    @property
    def verdict(self) -> str:
        if self.p_perm is not None and self.alpha is not None:
            return SUPPORTED if self.p_perm < self.alpha else NOT_SUPPORTED
        return verdict_from_ci(self.ci_lo, self.ci_hi)


class ClaimResult(Record):
    verdict: str
    rule: str | None = None
    effect: float | None = None
    effect_name: str | None = None
    ci: list[float | None] | None = None
    reason: str | None = None  # why the verdict is what it is when no CI decides it (e.g. not testable)
    verdict_by_view: dict[str, str] = {}  # the verdict on each view (averaged; each option order; each template)


class NormsRow(Record):
    model: str
    r_norms: float | None = None
    r_systems: float | None = None
    r_progress: float | None = None


class SourceView(Record):
    """Per-question r per group over one data kind's complete country x question block."""

    kind: str
    countries: list[str]
    n_questions: dict[str, int]
    table: list[NormsRow] = []
    note: str | None = None


class NormsResult(ClaimResult):
    table: list[NormsRow] = []
    n_models: int | None = None
    kind: str | None = None  # the data kind the verdict stands on (e.g. wvs7 respondent data)
    countries: list[str] = []
    n_questions: dict[str, int] = {}
    other_sources: list[SourceView] = []


class Nearest(Record):
    top5: list[str]
    western_share: float


class WesternBiasResult(ClaimResult):
    questions: list[str]
    n_western: int
    n_countries: int
    gaps: dict[str, dict]  # per model: the western_gap block beyond the null (verdict, measures) and the raw old-rule gap
    nearest: dict[str, Nearest]
    western_base_rate: float
    mean_gap_base_models: float | None = None
    n_models_western_beyond_null: int


class CorpusPair(Record):
    english: str
    multilingual: str
    size_ratio: float
    gap_english: float | None = None  # Western gap beyond the null (verdict measure)
    verdict_english: str | None = None  # the English-centric model's own Western-gap verdict: a gap to reduce?
    gap_multilingual: float | None = None
    gap_reduction: float | None = None
    ci: list[float | None]
    verdict: str | None = None
    reason: str | None = None
    confounds: list[str]


class MultilingualResult(ClaimResult):
    pairs: list[CorpusPair] = []


class FamilyPair(Record):
    family: str
    aligned: bool
    small: str
    large: str


class FamilySize(PairedDiff, FamilyPair):
    """Largest minus smallest base model of one family (fields: the pair first, then the difference)."""


class ModelSize(Record):
    model: str
    params: float
    mean_question_r: float | None = None


class SizeResult(ClaimResult):
    within_family: list[FamilySize] = []
    across_models: list[ModelSize] = []
    slope_r_per_decade_across_families: float | None = None


class AdapterDiff(Record):
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
