"""What every claim reads: the evaluated runs (typed), the question groups, the countries and the split.

`ClaimsContext` is built once after the evals; each claim function takes it and returns a result.
Every number a claim uses is computed from the runs' per-(country, question) scores (`question_r`,
`bias_gaps`), so the same claim can be re-tested on another view of the same runs: `views()` gives
one context per option order and per persona template (scores from that order / template alone),
and a verdict that differs between views is `fragile` (paper_claims.compute_claims).
The Western-gap inputs that claims 2 and 3 share are computed once per context (`bias_gaps`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from culturelens.core.batteries import questionnaire_clusters
from culturelens.core.ci import CI
from culturelens.core.inputs import EvalInputs
from culturelens.core.runfolder import RunFolder, Summary
from culturelens.eval.statistics import engine, metrics
from culturelens.eval.statistics.grid import score_grid
from culturelens.eval.statistics.orders import variant_scores
from culturelens.experiments.claims.bias import BiasGap, bias_gap
from culturelens.experiments.claims.config import ClaimsConfig, ModelEntry, ModelFacts
from culturelens.experiments.claims.results import AdapterDiff, PairedDiff

AVERAGED = "averaged over orders and templates"
CLAIM_ALPHA = 0.025  # one-sided: a fine-tune improves the paper's metric beyond its fine-tuning null
N_PERM_PAIRED = 1000


@dataclass
class ModelRun:
    """One evaluated claims entry: its config entry, run folder, summary and per-(country, question) scores."""

    entry: ModelEntry
    folder: RunFolder
    summary: Summary
    scores: pd.DataFrame
    per_prompt: pd.DataFrame | None = None  # for the per-order / per-template views

    @classmethod
    def read(cls, entry: ModelEntry, folder: RunFolder) -> ModelRun:
        folder.require_complete()
        return cls(entry, folder, folder.summary(), folder.scores(), folder.per_prompt())

    @property
    def facts(self) -> ModelFacts:
        return self.entry.facts


@dataclass
class ClaimsContext:
    cfg: ClaimsConfig
    runs: dict[str, ModelRun]
    inputs: EvalInputs
    groups: dict  # WVS section -> norms / systems / progress
    split: dict[str, list[str]] | None = None
    view: str = AVERAGED
    categories: dict = field(init=False)
    countries: dict = field(init=False)  # alpha3 -> Country
    human: pd.DataFrame = field(init=False)
    bias_q: list[str] = field(init=False)  # the bias questions this run has

    def __post_init__(self):
        self.categories = {q: self.inputs.bank.get(q).category for q in self.inputs.qids}
        self.countries, self.human, self.bias_q = bias_inputs(self.cfg, self.inputs)

    @property
    def n_boot(self) -> int:
        return self.cfg.n_boot

    @property
    def seed(self) -> int:
        return self.cfg.seed

    @property
    def facts(self) -> dict[str, ModelFacts]:
        return {label: r.facts for label, r in self.runs.items()}

    @property
    def models(self) -> list[str]:
        """Every entry that is a model (reference predictors, stage "reference", left out)."""
        return [label for label, f in self.facts.items() if f.stage != "reference"]

    @property
    def base_models(self) -> list[str]:
        """Entries without a culturelens adapter (stage "base")."""
        return [label for label, f in self.facts.items() if f.stage == "base"]

    def one_per_family_size(self) -> tuple[list[str], dict[str, str]]:
        return one_per_family_size(self.facts)

    @cached_property
    def bias_gaps(self) -> dict[str, BiasGap]:
        """Per model: the Western gap beyond the null on the bias questions (claims/bias.py)."""
        return {label: bias_gap(r.scores, self.human, self.countries, self.bias_q, self.n_boot, self.seed)
                for label, r in self.runs.items()}

    @cached_property
    def _question_r(self) -> dict[str, pd.Series]:
        return {label: metrics.per_question(r.scores, self.human).set_index("qid")["r"].astype(float) for label, r in self.runs.items()}

    def question_r(self, label: str) -> pd.Series:
        """Per-question r across countries of one model in this view, indexed by qid."""
        return self._question_r[label]

    def views(self) -> dict[str, ClaimsContext]:
        """One context per option order and per persona template that every run has (see the module docstring)."""
        per_run = {label: variant_scores(r.per_prompt) if r.per_prompt is not None else {} for label, r in self.runs.items()}
        names = set.intersection(*(set(v) for v in per_run.values())) if per_run else set()
        out = {}
        for name in sorted(names):
            runs = {label: dataclasses.replace(r, scores=per_run[label][name]) for label, r in self.runs.items()}
            out[name] = ClaimsContext(cfg=self.cfg, runs=runs, inputs=self.inputs, groups=self.groups, split=self.split, view=name)
        return out

    def paired_diff(self, a: str, b: str) -> PairedDiff:
        """Model a minus model b, mean per-question r on every question both have (as ``adapter_diff``'s "all")."""
        return self._paired(self._paired_grids(a, b), None)

    def adapter_diff(self, a: str, b: str, scope: str, kind: str | None = None) -> AdapterDiff:
        """Model a minus model b, mean per-question r on the questions of `scope`, on one question x country grid:
        CI from the two-way bootstrap (the same replicates for both), verdict from the one-sided permutation p under the
        fine-tuning null (a's change from b with its country link shuffled: ``engine.paired_difference``, null
        "change"; alpha ``CLAIM_ALPHA``).

        scope "all": every question of the run; "heldout": the split's held-out questions (None without a
        split: the comparison is then not testable, never silently moved to all questions)."""
        qa = self.question_r(a)
        grids = self._paired_grids(a, b)
        diffs = {"all": self._paired(grids, None)}
        for name in ("train", "heldout") if self.split else ():
            keys = [q for q in self.split.get(name, []) if q in qa.index]
            diffs[name] = self._paired(grids, keys)
        return AdapterDiff(model=a, vs=b, kind=kind, scope=scope, questions=self.scope_note(scope, qa), **diffs)

    def _paired_grids(self, a: str, b: str):
        """(qids, model a (Q, C), model b (Q, C), human (Q, C), draws) on the pairs both runs and the humans have."""
        ga, gb = score_grid(self.runs[a].scores, self.human), score_grid(self.runs[b].scores, self.human)
        qids = [q for q in ga.qids if q in gb.qids]
        cols = [c for c in ga.countries if c in gb.countries]

        def take(grid, x):
            return x[np.ix_([grid.qids.index(q) for q in qids], [grid.countries.index(c) for c in cols])]

        ma, mb, h = take(ga, ga.model), take(gb, gb.model), take(ga, ga.human)
        valid = np.isfinite(ma) & np.isfinite(mb) & np.isfinite(h)
        ma, mb = np.where(valid, ma, np.nan), np.where(valid, mb, np.nan)
        bank = self.inputs.bank
        cluster = {q: i for i, members in enumerate(questionnaire_clusters(bank, qids)) for q in members} if qids else {}
        draws = engine.Draws.make(valid, np.array([cluster[q] for q in qids]), N_PERM_PAIRED, self.n_boot, self.seed)
        return qids, ma, mb, h, draws

    def _paired(self, grids, keys: list[str] | None) -> PairedDiff:
        qids, ma, mb, h, draws = grids
        rows = np.array([keys is None or q in keys for q in qids], dtype=bool)
        if not rows.any():
            return PairedDiff()
        t = engine.paired_difference(mb, ma, h, draws, rows=rows, alternative="greater", alpha=CLAIM_ALPHA, null="change")
        return PairedDiff(mean_a=t.b, mean_b=t.a, diff=t.diff, ci=t.ci or CI(), n=t.n_questions or 0,
                          p_perm=t.p_perm, null_mean=t.null_mean, mde=t.mde, alpha=CLAIM_ALPHA, null=engine.NULLS["change"])

    def scope_note(self, scope: str, qr: pd.Series) -> str:
        if scope == "all":
            return f"all {int(qr.notna().sum())} questions of the run"
        if not self.split:
            return "held-out questions: unknown (no split_file)"
        n = sum(q in qr.index for q in self.split.get(scope, []))
        return f"the {n} {scope} questions of the split file {self.cfg.split_file} that this run has"


def one_per_family_size(facts: dict[str, ModelFacts]) -> tuple[list[str], dict[str, str]]:
    """Claim 1's models: base models only (no culturelens adapter, no reference predictor), one per family and size
    (the unaligned one first, then config order), so no model counts twice; and why each other entry is left out."""
    used: dict[tuple, str] = {}
    for label in sorted((m for m, f in facts.items() if f.stage == "base"), key=lambda m: facts[m].aligned):  # stable sort
        used.setdefault((facts[label].family, facts[label].params), label)
    chosen = [m for m in facts if m in used.values()]
    left_out = {m: f"a {f.stage} entry" if f.stage != "base" else f"same family and size as {used[(f.family, f.params)]}"
                for m, f in facts.items() if m not in chosen}
    return chosen, left_out


def bias_inputs(cfg: ClaimsConfig, inputs: EvalInputs) -> tuple[dict, pd.DataFrame, list[str]]:
    """Countries by code, the human reference rows, and the bias questions the run has."""
    return {c.alpha3: c for c in inputs.countries}, inputs.reference.df, [q for q in cfg.bias_questions if q in inputs.qids]
