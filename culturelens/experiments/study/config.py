"""The training study's config (`culturelens study --config configs/experiments/training_study.yaml`).

Sections ``sft``, ``dpo`` and ``extra_sft`` are the train stage's own config keys (``culturelens train``), passed
through; ``eval`` is the eval stage's; the study fills in what flows between them (datasets, adapters, questions,
countries, split). Every section is validated before anything runs.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from culturelens.core.config import PathName, StrictModel
from culturelens.core.models import ModelConfig
from culturelens.core.teacher import TeacherConfig
from culturelens.core.tracking import WandbConfig
from culturelens.synth.config import FilterSettings
from culturelens.synth.study_split import StudySplitSettings

# Trained arms and what each starts from (None: the base model). Reference predictors (never trained): base, ridge.
ARM_PARENTS: dict[str, str | None] = {"real": None, "shuffled": None, "multilingual": None, "seed_only": None,
                                      "dpo_real": "real", "extra_sft": "real", "dpo_shuffled": "shuffled"}
Arm = Literal["real", "shuffled", "multilingual", "seed_only", "dpo_real", "extra_sft", "dpo_shuffled"]
REFERENCES = ("base", "ridge")


class SplitSection(StudySplitSettings):
    # train on these questions only (they must fall on the train side), e.g. the 19 ethics items, which have
    # hand-written translations for MULTILINGUAL; default: every train-side question (or max_train_questions of them)
    train_questions: list[str] | None = None


class VariantSection(StrictModel):
    paraphrases: int = Field(2, ge=0)  # per train question, shared by every country
    scenarios: int = Field(0, ge=0)  # per (train question, seen country)


class DataSection(StrictModel):
    templates: list[str] = ["country_last"]  # the eval's templates (the study evaluates with the same ones)
    orders: list[Literal["original", "reversed"]] = ["original", "reversed"]
    passes: int = Field(2, ge=2)  # visits of every (question, country) cell of the train block
    repeats: int = Field(1, ge=1)  # rows per (cell, template, order) in each pass
    label_style: Literal["letters", "numbers"] = "letters"
    answer_cue: str = "Answer:"
    seed: int = 0  # synth sampling seed: label order within a cell, row order
    shuffle_seed: int = 1  # the SHUFFLED arm's country permutation


class Endpoint(StrictModel):
    """One claim's primary endpoint, named before the run: ``arm - control`` on ``metric`` over ``questions`` x ``countries``."""

    claim: str
    arm: str
    control: str
    metric: Literal["question_r", "western_pull"] = "question_r"
    questions: Literal["heldout", "train"] = "heldout"
    countries: Literal["seen", "unseen", "all"] = "seen"
    expect: Literal["greater", "less"] = "greater"  # the direction the claim predicts


class EffectsSection(StrictModel):
    n_boot: int = Field(2000, ge=100)
    alpha: float = Field(0.05, gt=0, lt=1)
    power: float = Field(0.8, gt=0, lt=1)  # for the minimum detectable effect
    seed: int = 0
    ridge_lambda: float = Field(1.0, gt=0)


DEFAULT_ENDPOINTS = [
    Endpoint(claim="claim5", arm="real", control="shuffled", metric="question_r", questions="heldout", countries="seen"),
    Endpoint(claim="claim3", arm="multilingual", control="real", metric="western_pull", questions="heldout", countries="all",
             expect="less"),
    Endpoint(claim="claim6", arm="dpo_real", control="extra_sft", metric="question_r", questions="heldout", countries="seen"),
]


class StudyConfig(StrictModel):
    experiment: PathName = "training_study"
    output_dir: str = "runs/study"
    student: ModelConfig
    teacher: TeacherConfig | None = None  # None: no teacher variants (seed wordings only; SEED-ONLY equals REAL)
    reference: str = "default"
    countries_file: str | None = None
    split: SplitSection = SplitSection()
    variants: VariantSection = VariantSection()
    filters: FilterSettings = FilterSettings()
    data: DataSection = DataSection()
    translations_file: str | None = "configs/translations/ethics_native.json"  # MULTILINGUAL's hand-written translations
    arms: list[Arm] = ["real", "shuffled", "multilingual", "dpo_real", "extra_sft", "dpo_shuffled", "seed_only"]
    references: list[Literal["base", "ridge"]] = ["base", "ridge"]
    seeds: list[int] = [0, 1, 2]
    sft: dict = Field(default_factory=dict)  # train stage keys (model, dataset, output_dir are filled in)
    dpo: dict = Field(default_factory=dict)  # DPO after REAL / SHUFFLED (sft_adapter filled in)
    extra_sft: dict = Field(default_factory=dict)  # REAL + matched extra SFT steps; default: sft's keys, dpo's step count
    eval: dict = Field(default_factory=dict)  # eval stage keys (model, questions, countries, split filled in)
    eval_questions: Literal["heldout", "all"] = "all"  # "heldout": skip the train questions at evaluation (CPU time)
    native_eval: bool = False  # also evaluate every arm with the prompts in each country's language where translated
    endpoints: list[Endpoint] = Field(default_factory=lambda: list(DEFAULT_ENDPOINTS))
    effects: EffectsSection = EffectsSection()
    wandb: WandbConfig = WandbConfig()
    # up-front time estimate (the plan); measured rates replace them as trainings finish. Defaults: SmolLM2-135M on
    # 2 CPU cores (benchmarks/results/train_throughput.json, eval_throughput.json)
    rates: dict[str, float] = {"sft_tokens_per_s": 122.0, "dpo_tokens_per_s": 92.0, "eval_prompts_per_s": 8.0}
    smoke: dict = Field(default_factory=dict)  # overrides applied with `--smoke` (a minutes-scale run of the same study)

    @model_validator(mode="after")
    def _parents_present(self) -> StudyConfig:
        for arm in self.arms:
            parent = ARM_PARENTS[arm]
            if parent and parent not in self.arms:
                raise ValueError(f"arm '{arm}' starts from arm '{parent}': add '{parent}' to arms")
        known = set(self.arms) | set(self.references)
        for e in self.endpoints:
            for name in (e.arm, e.control):
                if name not in known:
                    raise ValueError(f"endpoint {e.claim} uses '{name}', which is not among arms/references ({', '.join(sorted(known))})")
        if len(set(self.seeds)) != len(self.seeds) or not self.seeds:
            raise ValueError("seeds must be distinct training seeds, e.g. [0, 1, 2]")
        return self
