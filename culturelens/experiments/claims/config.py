"""The claims config: which models (with their training facts), the shared eval settings, the studies."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from culturelens.core.config import PathName, Seed, StrictModel, deep_merge, validate_config
from culturelens.core.errors import ConfigError
from culturelens.core.models import ModelConfig
from culturelens.core.tracking import WandbConfig
from culturelens.eval.config import EvalConfig

ETHICS_QIDS = [f"Q{i}" for i in range(177, 196)]

# Each claim's possible primary endpoints (the one test its verdict stands on, named in the config before the run;
# Holm across the claims of a report). The others a claim reports are secondary (BH q-values beside their tables).
ENDPOINTS: dict[str, dict[str, str]] = {
    "1_norms": {"norms_minus_others": "mean per-question fidelity slope of norms minus that of systems and progress",
                "norms_minus_systems": "mean per-question fidelity slope of norms minus that of systems",
                "norms_minus_progress": "mean per-question fidelity slope of norms minus that of progress"},
    "2_western_bias": {"fidelity_slope_gap": "Western minus non-Western mean fidelity slope, every base model"},
    "3_multilingual": {"gap_reduction": "fidelity-slope Western gap of the English-centric minus the multilingual base model, "
                                        "every pair within 4x in size"},
    "4_size": {"larger_minus_smaller": "mean per-question r of the largest minus the smallest base model, every family"},
    "5_synthetic": {"sft_minus_base_heldout": "mean per-question r of the SFT adapter minus its base, held-out questions"},
    "6_alignment": {"instruct_vs_base": "mean per-question r of the instruct minus the base model of one family and size, all questions",
                    "dpo_vs_sft": "mean per-question r of the DPO minus the SFT adapter, held-out questions",
                    "dpo_vs_base": "mean per-question r of the DPO adapter minus its base, held-out questions"},
}
KINDS = {"instruct_vs_base": "instruct vs base", "dpo_vs_sft": "DPO vs SFT", "dpo_vs_base": "DPO vs base"}  # claim 6's
DEFAULT_PRIMARY = {"1_norms": "norms_minus_others", "2_western_bias": "fidelity_slope_gap", "3_multilingual": "gap_reduction",
                   "4_size": "larger_minus_smaller", "5_synthetic": "sft_minus_base_heldout", "6_alignment": "instruct_vs_base"}


class ModelFacts(StrictModel):
    """Training facts of a model entry, which the claims compare."""

    family: str = Field(description="model family (claims compare sizes and alignment within a family)")
    params: float  # parameter count
    corpus: Literal["english", "multilingual"] | None = None  # None only for stage "reference"
    aligned: bool  # instruction/preference tuned (by its makers or by a culturelens DPO adapter)
    synthetic: bool = False  # fine-tuned on culturelens synthetic data
    # culturelens adapter stage; "reference": a country-blind predictor (model baseline:<name>), shown next to the
    # models in every table but never counted as a model by a claim
    stage: Literal["base", "sft", "dpo", "reference"] = "base"
    base: str | None = None  # label of the entry this adapter was trained from

    @model_validator(mode="after")
    def _corpus_known(self) -> ModelFacts:
        if self.corpus is None and self.stage != "reference":
            raise ValueError("facts.corpus is required (english or multilingual); only a stage: reference entry may omit it")
        return self


class ModelEntry(StrictModel):
    """One model (or adapter, or reference predictor) in the claims study."""

    label: str = Field(description="the entry's name in every table (also its run folder name)")
    model: ModelConfig
    facts: ModelFacts


class LanguageSettings(StrictModel):
    """English vs each country's main language, on the bias questions (every country has them)."""

    translations_file: str  # from `culturelens translate`, or supplied by the user (configs/translations/)
    templates: list[str] = Field(default_factory=lambda: ["persona_system"], description="persona templates asked in both languages")
    models: list[str] | None = None  # entry labels; default: every entry without an adapter


class RobustnessSettings(StrictModel):
    """Claim 2 under every template x option order, on the bias questions (every country has them)."""

    templates: list[str] = Field(default_factory=lambda: ["persona_system", "persona_inline", "persona_third"],
                                 description="persona templates to re-test under")
    orders: list[str] = Field(default_factory=lambda: ["original", "reversed"], description="option orders to re-test under")
    models: list[str] | None = None  # entry labels; default: every entry without an adapter


class ClaimsConfig(StrictModel):
    experiment: PathName = Field("claims", description="experiment name: the runs and claims.md go to output_dir/<experiment>/")
    output_dir: str = Field("runs", description="root folder of the runs")
    eval: dict = Field(default_factory=dict)  # EvalConfig keys shared by every model (not `model`)
    models: list[ModelEntry]
    bias_questions: list[str] = ETHICS_QIDS  # questions every country has, for the Western-bias claims
    split_file: str | None = None  # held-out questions (from `culturelens synth`) for claims 5 and 6
    languages: LanguageSettings | None = None  # also ask in each country's main language and report the change
    robustness: RobustnessSettings | None = None  # re-test the Western gap under each template and option order
    skip_missing_adapters: bool = Field(True, description="skip (and report) entries whose adapter folder does not exist; false: an error")
    primary: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_PRIMARY),
        description="per claim (1_norms ... 6_alignment), the ONE primary endpoint its verdict stands on, named before the run "
                    "(choices: docs/comparing-and-claims.md); claims left out get the default. Holm across the claims of a report")
    alpha: float = Field(0.025, gt=0, lt=0.5, description="one-sided family-wise level of the claims' primary endpoints (Holm)")
    n_boot: int = Field(2000, ge=10, description="bootstrap replicates of every CI")
    seed: Seed = Field(0, description="seed of the bootstraps and permutations")
    wandb: WandbConfig = WandbConfig()  # the claims run itself (default: eval.wandb, the evaluations' settings)

    @model_validator(mode="after")
    def _primary_named(self) -> ClaimsConfig:
        for claim, endpoint in self.primary.items():
            if claim not in ENDPOINTS:
                raise ValueError(f"primary: unknown claim '{claim}' (claims: {', '.join(ENDPOINTS)})")
            if endpoint not in ENDPOINTS[claim]:
                raise ValueError(f"primary.{claim}: unknown endpoint '{endpoint}' (choices: {', '.join(ENDPOINTS[claim])})")
        self.primary = {**DEFAULT_PRIMARY, **self.primary}
        return self


def eval_config_for(cfg: ClaimsConfig, entry: ModelEntry, split_file: str | None = None) -> EvalConfig:
    """The eval config of one entry: the shared eval keys, the entry's model, and the split when there is one."""
    data = deep_merge({"experiment": cfg.experiment, "output_dir": cfg.output_dir, "n_boot": cfg.n_boot, "seed": cfg.seed}, cfg.eval)
    data = deep_merge(data, {"model": entry.model.model_dump(), "run_name": entry.label})
    if split_file:
        data = deep_merge(data, {"split": {"file": split_file}})
    return validate_config(EvalConfig, data, f"claims entry '{entry.label}'")


def missing_adapter(entry: ModelEntry) -> bool:
    return bool(entry.model.adapter) and not Path(entry.model.adapter).exists()


def load_split(cfg: ClaimsConfig) -> dict[str, list[str]] | None:
    """The held-out split of claims 5 and 6, or None when the config names none.

    A named split file that does not exist is an error when an adapter entry that needs it will be
    evaluated; when every adapter entry is itself missing (and skipped), claims 5 and 6 are not
    testable anyway and `run_claims` reports the missing file next to the skipped adapters.
    """
    if not cfg.split_file:
        return None
    path = Path(cfg.split_file)
    if not path.exists():
        needs = [e.label for e in cfg.models
                 if e.facts.stage in ("sft", "dpo") and not (missing_adapter(e) and cfg.skip_missing_adapters)]
        if needs:
            raise ConfigError(f"split_file '{cfg.split_file}' does not exist (entries {needs} need it): write it with "
                              "`culturelens synth` / `culturelens run` (synth/split.json) or set split_file to an existing file")
        return None
    try:
        split = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"split_file '{cfg.split_file}' is not valid JSON ({exc}): write it again with `culturelens synth`") from None
    if not isinstance(split, dict) or not any(isinstance(split.get(k), list) for k in ("train", "heldout")):
        raise ConfigError(f"split_file '{cfg.split_file}' has no 'train'/'heldout' question lists: write it with `culturelens synth`")
    return split
