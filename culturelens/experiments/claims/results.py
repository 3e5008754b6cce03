"""Typed results of the claims: one `ClaimResult` subclass per claim, and the rows they are made of.

Every result has a verdict (see `verdict_from_ci`), the rule it applies, and where one number sums
the claim up, that effect with its 95% CI; `reason` says why a claim is not testable. All models
allow extra keys, so later statistics (nulls, option orders) can add fields without breaking readers.
"""
from __future__ import annotations

import math

from culturelens.core.runfolder import Record, WesternGap

SUPPORTED, NOT_SUPPORTED, NOT_TESTABLE = "supported", "not supported", "not testable with these models"


def verdict_from_ci(lo, hi, direction: int = 1) -> str:
    """"supported" if the CI excludes 0 in the claimed direction, "not supported" if not, "not testable" without a CI."""
    if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)):
        return NOT_TESTABLE
    return SUPPORTED if (lo > 0 if direction > 0 else hi < 0) else NOT_SUPPORTED


class PairedDiff(Record):
    """`metrics.paired_bootstrap_diff`: mean(a) - mean(b) over the units both have, CI by resampling units."""

    mean_a: float | None = None
    mean_b: float | None = None
    diff: float | None = None
    ci_lo: float | None = None
    ci_hi: float | None = None
    n: int = 0

    @property
    def verdict(self) -> str:
        return verdict_from_ci(self.ci_lo, self.ci_hi)


class ClaimResult(Record):
    verdict: str
    rule: str | None = None
    effect: float | None = None
    effect_name: str | None = None
    ci: list[float | None] | None = None
    reason: str | None = None  # why the verdict is what it is when no CI decides it (e.g. not testable)


class NormsRow(Record):
    model: str
    r_norms: float | None = None
    r_systems: float | None = None
    r_progress: float | None = None


class NormsResult(ClaimResult):
    table: list[NormsRow] = []
    n_models: int | None = None


class Nearest(Record):
    top5: list[str]
    western_share: float


class WesternBiasResult(ClaimResult):
    questions: list[str]
    n_western: int
    n_countries: int
    gaps: dict[str, WesternGap]
    nearest: dict[str, Nearest]
    western_base_rate: float
    mean_gap_base_models: float | None = None
    n_models_gap_ci_above_0: int


class CorpusPair(Record):
    english: str
    multilingual: str
    size_ratio: float
    gap_english: float | None = None
    gap_multilingual: float | None = None
    gap_reduction: float | None = None
    ci: list[float | None]
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
    """Model minus the entry it is compared with, mean per-question r: on every question and per split."""

    model: str
    vs: str
    kind: str | None = None
    all: PairedDiff
    train: PairedDiff | None = None
    heldout: PairedDiff | None = None

    def scoped(self, scope: str) -> PairedDiff:
        return getattr(self, scope, None) or self.all


class ComparisonsResult(ClaimResult):
    comparisons: list[AdapterDiff] = []
