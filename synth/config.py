"""Config of synthetic data generation (`culturelens synth --config configs/synth/*.yaml`)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from culturelens.core.config import PathName, StrictModel
from culturelens.core.teacher import TeacherConfig
from culturelens.core.tracking import WandbConfig


class SplitSettings(StrictModel):
    heldout_fraction: float = Field(0.3, ge=0, lt=1)
    seed: int = 0
    file: str | None = None  # reuse an existing split.json instead of drawing one
    # whole battery clusters go to one side (core/batteries.py); by_battery=false splits question by question
    by_battery: bool = True
    min_stem_words: int = Field(5, ge=1)  # questionnaire neighbours with the same options and this many leading words in common
    correlation_threshold: float = Field(0.9, gt=0, le=1)  # |r| of human cross-country means that links two questions
    min_countries: int = Field(20, ge=3)  # a correlation link needs this many countries with both questions


class VariantSettings(StrictModel):
    paraphrases: int = Field(2, ge=0)  # per question
    scenarios: int = Field(1, ge=0)  # per (question, country)
    include_seed: bool = True  # the seed wording itself is also a training variant
    native_language: bool = False  # ask the teacher to write scenarios in the country's main language


class FilterSettings(StrictModel):
    min_chars: int = 15
    max_chars: int = 400
    min_similarity: float = 0.2  # to the seed question (lexical cosine, or embedding cosine with embedding_model)
    near_duplicate_jaccard: float = 0.8  # word 3-shingles
    # drop a variant whose similarity to any held-out question is >= this, or >= its similarity to its own seed
    max_heldout_similarity: float = 0.6
    embedding_model: str | None = None  # a local sentence-embedding model folder (mean pooling)


class SFTSettings(StrictModel):
    answer: Literal["sample", "majority"] = "sample"  # sample from the country's human distribution, or its majority answer
    samples_per_prompt: int = Field(1, ge=1)
    seed: int = 0


class DPOSettings(StrictModel):
    min_margin: float = 0.15  # chosen share - rejected share


class SynthConfig(StrictModel):
    experiment: PathName = "default"
    output_dir: str | None = None  # default runs/synth/<experiment>
    teacher: TeacherConfig = TeacherConfig()
    reference: str = "default"
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
    log_artifact: bool = True
