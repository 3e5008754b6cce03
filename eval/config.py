"""Configuration of an evaluation run (`culturelens eval --config configs/eval/*.yaml`)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from culturelens.core.config import PathName, Seed, StrictModel
from culturelens.core.models import ModelConfig
from culturelens.core.questions import DEFAULT_GROUPS
from culturelens.core.tracking import WandbConfig

TemplateName = Literal["persona_system", "persona_inline", "persona_third", "question_first", "question_first_third",
                       "question_first_citizen", "country_last", "country_in_answer", "no_persona"]


class ProbeConfig(StrictModel):
    """How prompts are built and scored: templates, option orders, labels, batching and the backend."""

    # Prompt templates (culturelens/core/prompts.py); no_persona asks for the model's own view, once per question.
    # question_first*: the question block comes before the persona, so prefix sharing computes it once per question.
    # country_last, country_in_answer: the country is the last thing before the answer (the fastest sweeps).
    templates: list[TemplateName] = [
        "persona_system",
        "persona_inline",
        "no_persona",
    ]
    # Option orders: "original" = WVS code order, "reversed" = the same options presented backwards. Per-prompt
    # probabilities are averaged over orders (cancels a position bias that is the same both ways); the per-order
    # spread is reported (summary.json -> robustness -> orders).
    orders: list[Literal["original", "reversed"]] = ["original", "reversed"]
    labels: Literal["letters", "numbers"] = Field("letters", description="option labels: letters (A, B, ...) or numbers (1, 2, ...)")
    # Text the answer starts with (after the chat template's assistant turn, or after the plain prompt).
    answer_cue: str = "Answer:"
    batch_size: int = Field(16, ge=1, description="prompts per forward pass (hf, no prefix sharing; with it: tokens_per_forward)")
    # Compute every shared prompt prefix once: the prompts' token trie (chat header, question block, persona) is packed
    # into forward passes with a tree attention mask (eval/backends/prefix.py; exact, ~1e-6 in fp32).
    prefix_sharing: bool = False
    # With prefix_sharing: trie tokens per forward pass (several questions' prompts in one pass; attention is computed
    # per segment of the pack, so a bigger pack costs no extra attention). docs/performance.md.
    tokens_per_forward: int = Field(1024, ge=8)
    # Intra-op threads of the hf backend: "auto" = the CPUs this process may use (affinity, cgroup quota,
    # OMP_NUM_THREADS), fewer while other processes keep some of them busy; or a fixed number (core/threads.py).
    threads: Literal["auto"] | Annotated[int, Field(ge=1)] = "auto"
    # With prefix_sharing: packs computed at once, each on one intra-op thread (> 1: `threads` is not applied; no
    # synchronisation between cores at every operator, but no backing off under contention). docs/performance.md.
    pack_workers: int = Field(1, ge=1)
    # "hf": transformers forward passes here; "vllm": an OpenAI-compatible server (see eval/backends/vllm_backend.py)
    backend: Literal["hf", "vllm"] = "hf"
    server_url: str = Field("http://localhost:8000/v1", description="vllm: base URL of the OpenAI-compatible server")
    server_concurrency: int = Field(16, ge=1, description="vllm: requests in flight at once")
    server_timeout_s: float = Field(60, gt=0)  # total deadline of one request (connect + the whole answer)
    server_retries: int = Field(3, ge=0)  # more tries after a failed request (each logged as a warning)
    # vllm: pin the probe cache's key for the served model (used as is). Unset: the model name + revision + what
    # the server reports at GET /models. Change the pin whenever the server's weights change.
    fingerprint: str | None = None
    language: Literal["en", "native"] = "en"  # "native": each country's main language (needs translations_file)
    translations_file: str | None = Field(None, description="prompt translations for language: native "
                                          "(from `culturelens translate`, or your own)")

    @field_validator("templates", "orders")
    @classmethod
    def _listed_once(cls, values: list[str]) -> list[str]:
        if not values:
            raise ValueError("is empty: list at least one (e.g. persona_system for templates, original for orders)")
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ValueError(f"lists {', '.join(twice)} more than once (each prompt would be scored twice): list each once")
        return values

    @field_validator("templates")
    @classmethod
    def _asks_a_country(cls, values: list[str]) -> list[str]:
        if values == ["no_persona"]:
            raise ValueError("no_persona alone asks no country, so nothing would be measured per country: add a persona "
                             "template, e.g. templates=[persona_system,no_persona]")
        return values

    @model_validator(mode="after")
    def _native_needs_translations(self) -> ProbeConfig:
        if self.language == "native" and not self.translations_file:
            raise ValueError("probe.language=native needs probe.translations_file (write one with `culturelens translate`)")
        return self


class SplitConfig(StrictModel):
    """The train / held-out question split of a synth run, to report both sides."""

    # A JSON file {"train": [qids], "heldout": [qids]} written by `culturelens synth`; reports both splits.
    file: str | None = None


class EvalConfig(StrictModel):
    experiment: str = Field("default", description="experiment name: the run goes to output_dir/<experiment>/<run_name>; W&B group")
    run_name: PathName | None = None  # one folder name inside output_dir/<experiment>; default: the model's name
    output_dir: str = Field("runs", description="root folder of the run folders")
    model: ModelConfig
    reference: str = "default"  # "default" (embedded), a reference .json, a WVS CSV/folder, or a means CSV
    questions: list[str] | None = None  # question ids; default: every question the reference has
    questions_file: str | None = None  # extra questions: a bank .json or a WorldValuesBench metadata folder
    countries_file: str | None = None  # own country table (CSV, columns of `culturelens data countries`): adds or replaces rows
    countries: list[str] | None = None  # ISO codes or names; default: every country in the reference
    probe: ProbeConfig = ProbeConfig()
    groups: dict[str, str] = Field(dict(DEFAULT_GROUPS),
                                   description="WVS section -> group (norms / systems / progress) for the per-group tables")
    western: Literal["rich_west", "zones"] = Field("rich_west", description="which countries count as Western: rich_west "
                                                   "(the country table's flag) or zones (Inglehart-Welzel zones)")
    split: SplitConfig = SplitConfig()
    n_boot: int = Field(1000, ge=10, description="bootstrap replicates of every CI")
    n_perm: int = Field(1000, ge=10)  # country permutations of the null (summary.json -> nulls, western_gap)
    seed: Seed = Field(0, description="seed of the bootstraps and permutations")
    cache_dir: str | None = None  # probe cache (default: $CULTURELENS_CACHE/probe or ~/.cache/culturelens/probe)
    wandb: WandbConfig = WandbConfig()
