"""claims.json as one typed model: built (and validated, unknown keys refused) where claims.json is written, and the
model every reader of claims.json reads it through (``ClaimsFile.read``).

The claims (``results.py``) under their keys ``1_norms`` ... ``6_alignment``; the entries' facts; each entry's
prompt-robustness spread from its eval; the studies (claim 2 under each template and option order; English vs native
prompts). Every CI is a ``culturelens.core.ci.CI``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from culturelens.core.ci import CI
from culturelens.core.errors import DataError
from culturelens.core.legacy import move_legacy_key
from culturelens.core.runfolder import Robustness
from culturelens.experiments.claims.config import ModelFacts
from culturelens.experiments.claims.results import (
    ClaimResult,
    ComparisonsResult,
    ModelGap,
    MultilingualResult,
    NormsResult,
    PairedDiff,
    SizeResult,
    Strict,
    WesternBiasResult,
)

CLAIMS_JSON = "claims.json"


class EntryFacts(ModelFacts):
    """An evaluated entry: its facts (the config's) and its eval run folder."""

    run_dir: str


class RobustnessVariant(Strict):
    """Claim 2 under one template x option order: the fidelity-slope gap, its CI, Welch p and BH q-value among every
    row of the table, the verdict; the raw old-rule gap; the paper's metric on the bias questions."""

    template: str
    order: str
    gap: float | None = None
    ci: CI = CI()
    p: float | None = None
    q_bh: float | None = None
    verdict_claim2: str
    raw_gap: float | None = None
    raw_gap_ci: CI | None = None
    mean_question_r: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """An older claims.json wrote the gap's CI as ``gap_ci`` (the one legacy-key rule)."""
        if isinstance(data, dict) and "gap_ci" in data:
            data = dict(data)
            move_legacy_key(data, "gap_ci", data, "ci", "gap_ci", "ci")
        return data


class RobustnessModel(Strict):
    variants: list[RobustnessVariant] = []
    claim2_flips: bool
    run_dir: str
    gap_range: list[float] | None = None  # [min, max] of the variants' gaps (a range, not a CI)
    score_std_per_question: dict[str, float | None] = {}
    mean_score_std: float | None = None


class RobustnessStudy(Strict):
    questions: list[str]
    models: dict[str, RobustnessModel] = {}


class GapChange(Strict):
    """Gap of one run minus that of another, country by country (``bias.gap_reduction``: Welch's t)."""

    diff: float | None = None
    ci: CI = CI()
    p: float | None = None
    mde: float | None = None
    q_bh: float | None = None  # Benjamini-Hochberg among the rows of its table
    n_western: int = 0
    n_non_western: int = 0
    gap_0: float | None = None
    gap_1: float | None = None
    verdict: str | None = None


class TranslatedCountry(Strict):
    country: str
    language: str
    western: bool
    r_en: float | None = None
    r_native: float | None = None


class LanguageModel(Strict):
    gap_en: ModelGap
    gap_native: ModelGap
    gap_change: GapChange
    translated_countries: list[str] = []
    r_translated: PairedDiff
    per_country: list[TranslatedCountry] = []
    run_dirs: dict[str, str] = {}


class LanguageStudy(Strict):
    translations_file: str
    source: str = ""
    templates: list[str] = []
    questions: list[str] = []
    models: dict[str, LanguageModel] = {}


class ClaimsFile(Strict):
    """claims.json."""

    models: dict[str, EntryFacts] = {}
    norms: NormsResult | None = Field(None, alias="1_norms")
    western_bias: WesternBiasResult | None = Field(None, alias="2_western_bias")
    multilingual: MultilingualResult | None = Field(None, alias="3_multilingual")
    size: SizeResult | None = Field(None, alias="4_size")
    synthetic: ComparisonsResult | None = Field(None, alias="5_synthetic")
    alignment: ComparisonsResult | None = Field(None, alias="6_alignment")
    robustness: dict[str, Robustness | None] = {}
    skipped: dict[str, str] = {}
    robustness_study: RobustnessStudy | None = None
    languages: LanguageStudy | None = None

    def claims(self) -> dict[str, ClaimResult]:
        """The claims present, by their key in claims.json."""
        return {info.alias: getattr(self, name) for name, info in type(self).model_fields.items()
                if info.alias and getattr(self, name) is not None}

    def as_json(self) -> dict:
        """claims.json's content (keys as written)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    @classmethod
    def read(cls, folder: str | Path) -> ClaimsFile:
        """claims.json of a claims folder, typed; a DataError naming the problem when it is missing or does not read."""
        path = Path(folder) / CLAIMS_JSON
        if not path.is_file():
            raise DataError(f"'{folder}' has no {CLAIMS_JSON}: pass a folder written by `culturelens claims`")
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path} is not valid JSON ({exc}): rerun `culturelens claims`") from None
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise DataError(f"{path} has a bad value at '{where}' ({err['msg']}): rerun `culturelens claims`") from None
