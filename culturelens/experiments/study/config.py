"""The training study's config (`culturelens study --config configs/experiments/training_study.yaml`).

Sections ``sft``, ``dpo`` and ``extra_sft`` are the train stage's own config keys (``culturelens train``), passed
through; ``eval`` is the eval stage's; the study fills in what flows between them (datasets, adapters, questions,
countries, split). Every section is validated before anything runs.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from culturelens.core.config import PathName, Seed, StrictModel
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
    orders: list[Literal["original", "reversed"]] = ["original", "reversed"]  # option orders (both, as the eval)
    passes: int = Field(2, ge=2)  # visits of every (question, country) cell of the train block
    repeats: int = Field(1, ge=1)  # rows per (cell, template, order) in each pass
    label_style: Literal["letters", "numbers"] = "letters"  # option labels (as the eval's probe.labels)
    answer_cue: str = "Answer:"  # text the answer starts with (as the eval's probe.answer_cue)
    seed: Seed = 0  # synth sampling seed: label order within a cell, row order (training seed s uses seed * 1000 + s)
    # base of the SHUFFLED arm's country permutations: training seed s draws its own, from core.seeded.derived(shuffle_seed, s)
    shuffle_seed: Seed = 1


class Endpoint(StrictModel):
    """One claim's primary endpoint, named before the run: ``arm - control`` on ``metric`` over ``questions`` x ``countries``."""

    claim: str  # the claim's name in the report (claim3, claim5, claim6)
    arm: str  # the arm (or reference: base, ridge) whose effect is tested
    control: str  # what it is compared with (estimate = arm - control)
    # mean r across countries per question, or the Western gap of the fidelity slope
    metric: Literal["question_r", "western_pull"] = "question_r"
    questions: Literal["heldout", "train"] = "heldout"  # the question block (held-out batteries or the train questions)
    countries: Literal["seen", "unseen", "all"] = "seen"  # the country block (seen in training, unseen, or both)
    expect: Literal["greater", "less"] = "greater"  # the direction the claim predicts


class EffectsSection(StrictModel):
    n_boot: int = Field(2000, ge=100)  # bootstrap replicates (seeds x battery clusters x countries drawn together)
    alpha: float = Field(0.05, gt=0, lt=1)  # family-wise level of the Holm-adjusted primary endpoints
    power: float = Field(0.8, gt=0, lt=1)  # for the minimum detectable effect
    seed: Seed = 0  # seed of the bootstrap draws
    ridge_lambda: float = Field(1.0, gt=0)  # ridge penalty of the 'country position' reference predictor


DEFAULT_ENDPOINTS = [
    Endpoint(claim="claim5", arm="real", control="shuffled", metric="question_r", questions="heldout", countries="seen"),
    Endpoint(claim="claim3", arm="multilingual", control="real", metric="western_pull", questions="heldout", countries="all",
             expect="less"),
    Endpoint(claim="claim6", arm="dpo_real", control="extra_sft", metric="question_r", questions="heldout", countries="seen"),
]


class StudyConfig(StrictModel):
    experiment: PathName = "training_study"  # the study's folder name (<output_dir>/<experiment>) and W&B group
    output_dir: str = "runs/study"  # where the study folder is written
    student: ModelConfig  # the model every arm fine-tunes (HF id, folder or embedded name)
    teacher: TeacherConfig | None = None  # None: no teacher variants (seed wordings only; SEED-ONLY equals REAL)
    reference: str = "default"  # the human reference (battery clusters are computed on all of it)
    countries_file: str | None = None  # own country table (CSV): adds or replaces rows
    split: SplitSection = SplitSection()  # the 2 x 2 hold-out (question clusters x seen / unseen countries)
    variants: VariantSection = VariantSection()  # the teacher's wordings of each train question
    filters: FilterSettings = FilterSettings()  # quality filters of the teacher's outputs (as in synth)
    data: DataSection = DataSection()  # the training rows (templates, orders, passes, labels)
    translations_file: str | None = "configs/translations/ethics_native.json"  # MULTILINGUAL's hand-written translations
    # trained arms: real, shuffled (the fine-tuning null), multilingual, seed_only, dpo_real, extra_sft (REAL + the DPO
    # arm's number of SFT steps), dpo_shuffled
    arms: list[Arm] = ["real", "shuffled", "multilingual", "dpo_real", "extra_sft", "dpo_shuffled", "seed_only"]
    # predictors beside the arms: the untrained student, ridge regression on each country's position
    references: list[Literal["base", "ridge"]] = ["base", "ridge"]
    seeds: list[Seed] = [0, 1, 2]  # training seeds of every arm (each also seeds its rows' order and SHUFFLED's permutation)
    sft: dict = Field(default_factory=dict)  # train stage keys (model, dataset, output_dir are filled in)
    dpo: dict = Field(default_factory=dict)  # DPO after REAL / SHUFFLED (sft_adapter filled in)
    extra_sft: dict = Field(default_factory=dict)  # REAL + matched extra SFT steps; default: sft's keys, dpo's step count
    # run each training as `<train_launcher> -m culturelens train sft|dpo --config <its config>` (e.g. "accelerate launch
    # --config_file configs/accelerate/multi_gpu.yaml" for several GPUs); unset: in this process
    train_launcher: str | None = None
    eval: dict = Field(default_factory=dict)  # eval stage keys (model, questions, countries, split filled in)
    # "heldout": skip the train questions at evaluation (CPU time)
    eval_questions: Literal["heldout", "all"] = "all"
    native_eval: bool = False  # also evaluate every arm with the prompts in each country's language where translated
    # one primary endpoint per claim, named before the run
    endpoints: list[Endpoint] = Field(default_factory=lambda: list(DEFAULT_ENDPOINTS))
    effects: EffectsSection = EffectsSection()  # the effects' resampling and decision rule
    wandb: WandbConfig = WandbConfig()  # one group; a run per arm x seed and a summary run
    # rates of the plan's time estimate, overriding the measured ones: by default each rate is read from the
    # repository's benchmarks (benchmarks/results/train_throughput.json, eval_throughput.json; see
    # culturelens/experiments/study/rates.py); keys sft_tokens_per_s, dpo_tokens_per_s, eval_prompts_per_s
    rates: dict[Literal["sft_tokens_per_s", "dpo_tokens_per_s", "eval_prompts_per_s"], float] = {}
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
