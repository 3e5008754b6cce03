"""The eval run folder: every file name of a run, the typed `Summary` of summary.json, readers and writers.

One run of `culturelens eval` writes one folder::

    config.yaml             the resolved EvalConfig (rerun with `culturelens eval --config <it>`)
    results.partial.jsonl   per-prompt results while probing (deleted when the run completes)
    results.parquet         per prompt: template, order, language, country, qid, probs, mass, score
    results.jsonl           the same rows as JSON lines
    scores.jsonl            per (country, qid): probabilities averaged over templates and orders, score
    summary.json            every metric (the `Summary` model below)
    report.md, figures/     the human-readable report
    example_prompts.txt     a few rendered prompts
    complete.json           written last: the run finished (sha256 of config.yaml and summary.json)

A run is written in a temporary folder and moved into place when complete (`culturelens.core.runstaging`);
`require_complete` is what compare and claims call before they read a folder.

Everything that reads a run (compare, claims, report, console) goes through `RunFolder`, so a file
name lives here only. `Summary` types the parts those readers use; every model allows extra keys,
so a summary written by a newer culturelens (new metrics, markers) still reads.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from culturelens.core.ci import CI, move_legacy_ci
from culturelens.core.errors import DataError
from culturelens.core.jsonl import open_append
from culturelens.core.jsonsafe import json_safe, write_json
from culturelens.core.legacy import move_legacy_key
from culturelens.core.manifest import Manifest
from culturelens.core.tracking import ArtifactRef

CONFIG = "config.yaml"
PER_PROMPT = "results.parquet"
PER_PROMPT_JSONL = "results.jsonl"
PARTIAL = "results.partial.jsonl"
SCORES = "scores.jsonl"
SUMMARY = "summary.json"
REPORT = "report.md"
FIGURES = "figures"
EXAMPLE_PROMPTS = "example_prompts.txt"
COMPLETE = "complete.json"
PROMPT_SEPARATOR = "\n\n=====\n\n"


# ------------------------------------------------------------------------------ summary.json


class Part(BaseModel):
    """A part of summary.json: every key typed, unknown keys refused (a summary.json with a key this version does not
    know is a DataError naming it, on read; `write_summary` builds and validates the `Summary` before it writes one).
    Every CI is a `CI` (culturelens/core/ci.py); an older summary's ``ci_lo``/``ci_hi`` pair reads as ``ci``."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    @model_validator(mode="before")
    @classmethod
    def _legacy_ci(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("ci_lo" in data or "ci_hi" in data):
            data = dict(data)
            move_legacy_ci(data)
        return data


class MeanCI(Part):
    """A mean r with its CI and, where the statistics engine tested it, its null mean, permutation p and BH q-value."""

    mean_r: float | None = None
    ci: CI | None = None
    null_mean: float | None = None
    p_perm: float | None = None
    q_bh: float | None = None  # Benjamini-Hochberg q-value within its table (eval/statistics/multiple.py)


class CategoryRow(MeanCI):
    category: str
    group: str | None = None
    n_questions: int | None = None


class GroupRow(MeanCI):
    group: str
    n_questions: int | None = None


class ZoneRow(MeanCI):
    zone: str
    n_countries: int | None = None


class QuestionRow(Part):
    qid: str
    r: float | None = None
    n_countries: int | None = None
    category: str | None = None
    group: str | None = None
    p_perm: float | None = None
    q_bh: float | None = None


class CountryRow(Part):
    country: str
    r: float | None = None
    n_questions: int | None = None
    name: str | None = None
    zone: str | None = None
    western: bool | None = None


class NearestRow(Part):
    country: str
    r: float | None = None
    n_questions: int | None = None
    name: str | None = None


class Pooled(Part):
    """Pearson r over all (country, question) pairs; CI from resampling questions and countries together."""

    r: float | None = None
    ci: CI | None = None
    n_pairs: int | None = None
    n_questions: int | None = None
    n_countries: int | None = None
    resampling: str | None = None
    what: str | None = None  # what the number measures (mostly between-question agreement)


class NullComparison(Part):
    """A metric next to its country-permutation null (eval/statistics/engine.py)."""

    model: float | None = None
    null_mean: float | None = None
    null_range: list[float | None] | None = None
    p_perm: float | None = None
    model_minus_null: float | None = None
    ci: CI | None = None  # CI of model - null
    ci_over: str | None = None
    q_bh: float | None = None
    better: str | None = None
    units: str | None = None
    n_units: int | None = None
    verdict: str | None = None
    primary: bool = False


class Nulls(Part):
    """summary.json -> nulls: every headline metric vs the country-permutation null."""

    mean_question_r: NullComparison | None = None
    pooled_r: NullComparison | None = None
    mean_country_r: NullComparison | None = None
    mean_centred_country_r: NullComparison | None = None
    mean_centred_mae: NullComparison | None = None
    mean_w1: NullComparison | None = None
    mean_question_r_by_category: dict[str, NullComparison] = {}
    mean_question_r_by_group: dict[str, NullComparison] = {}
    n_perm: int | None = None
    n_boot: int | None = None
    seed: int | None = None
    note: str | None = None


class GapPart(Part):
    """A part with a Western gap: an older summary's ``gap_ci`` is its ``ci`` (older summaries wrote the verdict gap's
    CI under both names)."""

    @model_validator(mode="before")
    @classmethod
    def _legacy_gap_ci(cls, data: Any) -> Any:
        if isinstance(data, dict) and "gap_ci" in data:
            data = dict(data)
            if "ci" in data and data["ci"] == data["gap_ci"]:
                data.pop("ci")
            move_legacy_key(data, "gap_ci", data, "ci", "western_gap.gap_ci", "western_gap.ci")
        return data


class RawWesternGap(GapPart):
    """The old rule's gap, no null: mean raw per-country r of Western minus non-Western countries, each side's mean
    and the gap with a stratified bootstrap CI over countries (eval/statistics/western.py raw_gap)."""

    western_r: float | None = None
    western_ci: CI | None = None
    non_western_r: float | None = None
    non_western_ci: CI | None = None
    gap: float | None = None
    ci: CI | None = None
    n_western: int | None = None
    n_non_western: int | None = None


class WesternMeasure(Part):
    """One per-country measure's Western minus non-Western excess over the null (eval/statistics/western.py
    gap_beyond_null): a description beside the verdict."""

    what: str | None = None
    model_gap: float | None = None  # the gap in the measure's own units, no null
    null_gap: float | None = None
    excess: str | None = None  # how the excess over the null is taken
    western_excess: float | None = None
    non_western_excess: float | None = None
    gap: float | None = None
    ci: CI | None = None
    verdict: str | None = None
    n_western: int | None = None
    n_non_western: int | None = None


class WesternGap(GapPart):
    """summary.json -> western_gap: the verdict on the gap beyond the permutation null (eval/statistics/western_slope.py).

    ``gap``/``ci``: the verdict measure's Western minus non-Western gap and its CI; ``western_r`` / ``non_western_r``:
    mean raw per-country r per side; ``measures``: the per-country measures beyond the null (descriptions);
    ``raw``: the old rule's gap (no null) for comparison."""

    verdict: str | None = None  # western | non-western | no evidence | too few countries
    verdict_measure: str | None = None
    said: str | None = None
    measure: str | None = None  # the verdict's measure (eval/statistics/western_slope.py)
    what: str | None = None
    western_slope: float | None = None
    non_western_slope: float | None = None
    gap: float | None = None
    ci: CI | None = None
    ci_over: str | None = None
    p: float | None = None
    mde: float | None = None  # minimum detectable |gap| at this n
    min_countries_per_side: int | None = None
    measures: dict[str, WesternMeasure] = {}
    raw: RawWesternGap | None = None
    western_r: float | None = None
    western_ci: CI | None = None  # written by older summaries only (their western_gap was the raw rule's)
    non_western_r: float | None = None
    non_western_ci: CI | None = None
    n_western: int | None = None
    n_non_western: int | None = None

    def said_after_verdict(self, sep: str) -> str:
        """What ``said`` adds to the verdict (the slope per side, the gap with its CI, the MDE): the rest of ``said``
        when it starts with the verdict, else all of it after ``sep``."""
        said = self.said or ""
        return said[len(self.verdict):] if self.verdict and said.startswith(self.verdict) else f"{sep}{said}"


class Estimate(Part):
    mean: float | None = None
    ci: CI | None = None


class Distances(Part):
    n_pairs: int | None = None
    one_minus_js_distance: Estimate = Estimate()  # 1 - Jensen-Shannon distance (base 2): a similarity in [0, 1]
    wasserstein: Estimate = Estimate()


class Variant(Part):
    template: str
    order: str
    mean_question_r: float | None = None
    pooled_r: float | None = None


class OrderMetrics(Part):
    mean_question_r: float | None = None
    pooled_r: float | None = None


class ScoreShift(Part):
    """Per (country, question) in every option order: mean and max of how far the score moves between orders."""

    mean_abs_shift: float | None = None
    max_abs_shift: float | None = None
    n_pairs: int = 0


class OrderSpread(Part):
    """eval/statistics/orders.py order_spread: the metric per option order, its range, the score shift between orders."""

    orders: list[str] = []
    by_order: dict[str, OrderMetrics] = {}
    mean_question_r_range: list[float | None] | None = None  # [min, max] over the orders (a range, not a CI)
    mean_question_r_spread: float | None = None
    score_shift: ScoreShift | None = None


class Robustness(Part):
    variants: list[Variant] = []
    orders: OrderSpread | None = None
    pooled_r_range: list[float | None] | None = None
    score_std_per_question: dict[str, float | None] = {}
    mean_score_std: float | None = None


class Threads(Part):
    """The intra-op threads an hf probe chose over the job (culturelens/core/threads.py)."""

    setting: int | str | None = None  # "auto" or a fixed count
    cap: int | None = None
    history: list[tuple[float, int, float]] = []  # (seconds into the job, threads chosen, others' CPUs busy)


class LmEvalFacts(Part):
    """An imported run (eval/interop/lm_eval_import.py): who lm_eval scored and with which backend."""

    backend: str | None = None
    # lm_eval's own model_args as its results file holds them (external: a "k=v,..." string or a mapping, by version)
    model_args: Any = None
    lm_eval_version: str | None = None
    results_file: str | None = None


class MapPoint(Part):
    country: str
    secular: float
    self_expression: float


class MapCoordinates(Part):
    secular: float
    self_expression: float


class CulturalMap(Part):
    """eval/reporting/cultural_map.py to_json: the Inglehart-Welzel map of a run (items used, per-country coordinates)."""

    items: dict[str, str] = {}  # item -> dimension
    human: list[MapPoint] = []
    models: dict[str, list[MapPoint]] = {}
    no_persona: dict[str, MapCoordinates] = {}


class RunFacts(Part):
    model: str | None = None
    model_source: str | None = None
    fingerprint: str | None = None
    num_parameters: int | None = None
    chat_template: bool | None = None
    n_prompts: int | None = None
    n_cached: int | None = None
    probe_seconds: float | None = None
    prompts_per_second: float | None = None
    total_seconds: float | None = None
    fallback_labels: list[str] = []
    incomplete_prompts: int = 0  # mode="incomplete": not every label log-prob could be read (eval/backends/server_labels.py)
    templates: list[str] = []
    prompt_languages: dict[str, int] = {}
    orders: list[str] = []
    reference: str | None = None
    experiment: str | None = None
    wandb_dir: str | None = None
    wandb_artifact: ArtifactRef | None = None  # the run's `evaluation` artifact, when tracked
    forward_passes: int | None = None  # an hf probe's forwards for the fresh prompts (eval/runner.compute_record)
    tokens_computed: int | None = None
    threads: Threads | None = None  # intra-op threads chosen over the job
    lm_eval: LmEvalFacts | None = None  # an imported run


class Metrics(Part):
    """The metrics of one set of questions (`metrics.compute_summary`): the whole run or one split."""

    pooled: Pooled = Pooled()
    by_category: list[CategoryRow] = []
    by_group: list[GroupRow] = []
    by_zone: list[ZoneRow] = []
    western_gap: WesternGap = WesternGap()
    nulls: Nulls | None = None
    mean_question_r: float | None = None
    mean_country_r: float | None = None
    per_question: list[QuestionRow] = []
    per_country: list[CountryRow] = []
    distribution: Distances | None = None
    nearest_countries: list[NearestRow] | None = None
    mean_mass: float | None = None
    n_countries: int | None = None
    n_questions: int | None = None
    bootstrap: str | None = None
    n_boot: int | None = None
    seed: int | None = None

    def question_r(self) -> pd.Series:
        """Per-question r indexed by qid (nan where r is undefined)."""
        return pd.Series({q.qid: q.r for q in self.per_question}, dtype=float)

    def country_r(self) -> pd.Series:
        """Per-country r indexed by country code (nan where r is undefined)."""
        return pd.Series({c.country: c.r for c in self.per_country}, dtype=float)

    def categories(self) -> dict[str, str | None]:
        return {q.qid: q.category for q in self.per_question}


class Summary(Metrics):
    """summary.json: the metrics over every question, the prompt-robustness spread, the splits, run facts."""

    robustness: Robustness | None = None
    splits: dict[str, Metrics] = {}
    run: RunFacts = RunFacts()
    cultural_map: CulturalMap | None = None
    manifest: Manifest | None = None  # what produced the numbers (core/manifest.py)


def records(rows: Iterable[BaseModel] | None) -> list[dict]:
    """Typed rows back to plain dicts (for DataFrames and tables)."""
    return [r.model_dump() for r in rows or []]


# ------------------------------------------------------------------------------ the folder


class RunFolder:
    """One eval run folder: its file paths, readers (each a clear DataError when missing or corrupt), writers."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def figures_dir(self) -> Path:
        return self.path / FIGURES

    def is_complete(self) -> bool:
        """The run finished (its completion marker is there); `require_complete` also checks it is consistent."""
        return self.file(COMPLETE).is_file()

    def _sha256(self, name: str) -> str | None:
        path = self.file(name)
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None

    def mark_complete(self) -> Path:
        """Write complete.json, the last file of a run: what the finished config.yaml and summary.json hash to."""
        from culturelens import __version__

        marker = {"complete": True, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "culturelens": __version__,
                  "sha256": {name: self._sha256(name) for name in (CONFIG, SUMMARY)}}
        return write_json(self.file(COMPLETE), marker)

    def require_complete(self) -> RunFolder:
        """This folder, if it holds one finished, unmodified run; a DataError naming what is wrong otherwise."""
        self.summary()  # exists and reads (a DataError naming the problem otherwise)
        if not self.is_complete():
            raise DataError(f"'{self.path}' is not a finished eval run (no {COMPLETE}: the run was interrupted, is still "
                            "running, or was written by an older culturelens): rerun the eval into it with --overwrite")
        try:
            hashes = json.loads(self.file(COMPLETE).read_text()).get("sha256", {})
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            hashes = None
        changed = [n for n in (CONFIG, SUMMARY) if hashes is None or hashes.get(n) != self._sha256(n)]
        if changed:
            raise DataError(f"run folder '{self.path}': {', '.join(changed)} changed after the run finished (two runs mixed, "
                            "or edited by hand): rerun the eval into it with --overwrite")
        self._check_facts()
        return self

    def _check_facts(self) -> None:
        """config.yaml and the summary's run facts must describe the same run."""
        cfg, run = self.config(), self.summary().run
        probe = cfg.get("probe") or {}
        pairs = {"reference": (cfg.get("reference"), run.reference), "experiment": (cfg.get("experiment"), run.experiment),
                 "probe.templates": (probe.get("templates"), run.templates), "probe.orders": (probe.get("orders"), run.orders)}
        bad = [k for k, (a, b) in pairs.items() if a is not None and b not in (None, []) and a != b]
        if bad:
            raise DataError(f"run folder '{self.path}': {CONFIG} and {SUMMARY} disagree on {', '.join(bad)} (files of two "
                            "runs mixed): rerun the eval into it with --overwrite")

    # readers -------------------------------------------------------------------------

    def _require(self, name: str) -> Path:
        path = self.file(name)
        if not path.exists():
            if not self.path.is_dir():
                raise DataError(f"run folder '{self.path}' does not exist: pass a folder written by `culturelens eval`")
            raise DataError(f"'{self.path}' is not a complete eval run folder (no {name}): "
                            "pass folders written by `culturelens eval`, or rerun the eval")
        return path

    def summary(self) -> Summary:
        path = self._require(SUMMARY)
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"run folder {self.path}: {SUMMARY} is not valid JSON ({exc}): rerun the eval") from None
        try:
            return Summary.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise DataError(f"run folder {self.path}: {SUMMARY} has a bad value at '{where}' ({err['msg']}): rerun the eval") from None

    def scores(self) -> pd.DataFrame:
        """Per (country, qid): score, probs, mass (probabilities averaged over templates and option orders)."""
        path = self._require(SCORES)
        try:
            return pd.read_json(path, lines=True, dtype={"country": str, "qid": str})
        except ValueError as exc:
            raise DataError(f"run folder {self.path}: {SCORES} is not valid JSON lines ({exc}): rerun the eval") from None

    def per_prompt(self) -> pd.DataFrame:
        """Per prompt: model, template, order, language, country, qid, probs, mass, mode, score, prompt_key."""
        path = self._require(PER_PROMPT)
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a truncated or foreign file
            raise DataError(f"run folder {self.path}: {PER_PROMPT} cannot be read ({type(exc).__name__}: {exc}): rerun the eval") from None

    def config(self) -> dict:
        """The run's resolved eval config as a dict (validate it with `EvalConfig` where the eval stage is known)."""
        path = self._require(CONFIG)
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise DataError(f"run folder {self.path}: {CONFIG} is not valid YAML ({exc}): rerun the eval") from None
        if not isinstance(data, dict):
            raise DataError(f"run folder {self.path}: {CONFIG} is not a mapping: rerun the eval")
        return data

    # writers -------------------------------------------------------------------------

    def create(self) -> RunFolder:
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def write_config(self, cfg: BaseModel) -> Path:
        from culturelens.core.config import dump_config

        dump_config(cfg, self.file(CONFIG))
        return self.file(CONFIG)

    def write_example_prompts(self, texts: Iterable[str]) -> Path:
        self.file(EXAMPLE_PROMPTS).write_text(PROMPT_SEPARATOR.join(texts))
        return self.file(EXAMPLE_PROMPTS)

    def open_partial(self) -> TextIO:
        """The append-only per-prompt log while probing (survives a kill; see `culturelens.core.jsonl`)."""
        return open_append(self.file(PARTIAL))

    def write_per_prompt(self, per_prompt: pd.DataFrame) -> None:
        """Write results.parquet and results.jsonl, then drop the partial log they replace."""
        per_prompt.to_parquet(self.file(PER_PROMPT), index=False)
        per_prompt.to_json(self.file(PER_PROMPT_JSONL), orient="records", lines=True)
        self.file(PARTIAL).unlink(missing_ok=True)

    def write_scores(self, scores: pd.DataFrame) -> Path:
        scores.to_json(self.file(SCORES), orient="records", lines=True)
        return self.file(SCORES)

    def write_summary(self, summary: dict | Summary) -> Path:
        """Write summary.json (strict JSON, nan -> null): the typed `Summary` built from ``summary`` (unknown keys refused)."""
        data = summary.model_dump() if isinstance(summary, Summary) else json_safe(summary)
        try:
            typed = Summary.model_validate(data)
        except ValidationError as exc:
            raise ValueError(f"refusing to write a summary that does not read back: {exc}") from exc
        return write_json(self.file(SUMMARY), json_safe(typed.model_dump(mode="json", exclude_unset=True)))

    def write_report(self, markdown: str) -> Path:
        self.file(REPORT).write_text(markdown)
        return self.file(REPORT)
