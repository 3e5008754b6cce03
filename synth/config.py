"""Config of synthetic data generation (`culturelens synth --config configs/synth/*.yaml`)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from culturelens.core.config import PathName, Seed, StrictModel
from culturelens.core.teacher import TeacherConfig
from culturelens.core.tracking import WandbConfig


class SplitSettings(StrictModel):
    """Train / held-out split of the seed questions, drawn before any generation."""

    heldout_fraction: float = Field(0.3, ge=0, lt=1, description="share of seed questions held out (never sent to the teacher)")
    seed: Seed = Field(0, description="seed of the split")
    file: str | None = None  # reuse an existing split.json instead of drawing one
    # whole battery clusters go to one side (core/batteries.py); by_battery=false splits question by question
    by_battery: bool = True
    min_stem_words: int = Field(5, ge=1)  # questionnaire neighbours with the same options and this many leading words in common
    correlation_threshold: float = Field(0.9, gt=0, le=1)  # |r| of human cross-country means that links two questions
    min_countries: int = Field(20, ge=3)  # a correlation link needs this many countries with both questions


class VariantSettings(StrictModel):
    """How many variants the teacher writes per seed question."""

    paraphrases: int = Field(2, ge=0)  # per question
    scenarios: int = Field(1, ge=0)  # per (question, country)
    include_seed: bool = True  # the seed wording itself is also a training variant
    native_language: bool = False  # ask the teacher to write scenarios in the country's main language


class FilterSettings(StrictModel):
    """Quality filters every variant must pass (each drop is counted in report.json)."""

    min_chars: int = Field(15, ge=0, description="drop variants shorter than this")
    max_chars: int = Field(400, ge=1, description="drop variants longer than this")
    min_similarity: float = Field(0.2, ge=-1, le=1)  # to the seed question (lexical cosine, or embedding cosine with embedding_model)
    near_duplicate_jaccard: float = Field(0.8, ge=0, le=1)  # word 3-shingles
    # drop a variant whose similarity to any held-out question is >= this, or >= its similarity to its own seed
    max_heldout_similarity: float = Field(0.6, ge=-1, le=1)
    embedding_model: str | None = None  # a local sentence-embedding model folder (mean pooling)

    @model_validator(mode="after")
    def _lengths(self) -> FilterSettings:
        if self.max_chars <= self.min_chars:
            raise ValueError(f"filters.max_chars ({self.max_chars}) must be above filters.min_chars ({self.min_chars}): "
                             "every variant would be dropped")
        return self


class SFTSettings(StrictModel):
    """How SFT rows get their answers from the human reference."""

    answer: Literal["sample", "majority"] = "sample"  # sample from the country's human distribution, or its majority answer
    samples_per_prompt: int = Field(1, ge=1, description="SFT rows per (variant, country): answers drawn from the distribution")
    seed: Seed = Field(0, description="seed of the answer sampling")


class DPOSettings(StrictModel):
    """How DPO pairs are chosen from the human reference."""

    min_margin: float = 0.15  # chosen share - rejected share


class SynthConfig(StrictModel):
    experiment: PathName = Field("default", description="experiment name: output folder and W&B group")
    output_dir: str | None = None  # default runs/synth/<experiment>
    teacher: TeacherConfig = TeacherConfig()
    reference: str = Field("default",
                           description="human reference the labels come from: default (embedded) or a reference file, as in eval")
    questions_file: str | None = None  # extend the bank (WorldValuesBench-layout metadata), as in eval
    countries_file: str | None = None  # own country table (CSV, columns of `culturelens data countries`): adds or replaces rows
    questions: list[str] | None = None  # seed questions; default: every bank question the reference has for these countries
    countries: list[str] | None = None  # default: every country of the reference
    split: SplitSettings = SplitSettings()
    variants: VariantSettings = VariantSettings()
    filters: FilterSettings = FilterSettings()
    sft: SFTSettings = SFTSettings()
    dpo: DPOSettings = DPOSettings()
    wandb: WandbConfig = WandbConfig()
    log_artifact: bool = Field(True, description="with W&B enabled, log the datasets as a `dataset` artifact")
