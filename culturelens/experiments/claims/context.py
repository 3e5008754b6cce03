"""What every claim reads: the evaluated runs (typed), the question groups, the countries and the split.

`ClaimsContext` is built once after the evals; each claim function takes it and returns a result.
The Western-gap inputs that claims 2 and 3 share are computed once (`bias_gaps`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from culturelens.core.inputs import EvalInputs
from culturelens.core.runfolder import RunFolder, Summary
from culturelens.eval import metrics
from culturelens.experiments.claims.config import ClaimsConfig, ModelEntry, ModelFacts
from culturelens.experiments.claims.results import AdapterDiff, PairedDiff


@dataclass
class ModelRun:
    """One evaluated claims entry: its config entry, run folder, summary and per-(country, question) scores."""

    entry: ModelEntry
    folder: RunFolder
    summary: Summary
    scores: pd.DataFrame

    @classmethod
    def read(cls, entry: ModelEntry, folder: RunFolder) -> ModelRun:
        folder.require_complete()
        return cls(entry, folder, folder.summary(), folder.scores())

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
    def base_models(self) -> list[str]:
        """Entries without a culturelens adapter (stage "base")."""
        return [label for label, f in self.facts.items() if f.stage == "base"]

    @cached_property
    def bias_gaps(self) -> dict[str, tuple[dict, pd.Series]]:
        """Per model: the Western gap on the bias questions and the per-country r it stands on."""
        return {label: gap_on(r.scores, self.human, self.countries, self.bias_q, self.n_boot, self.seed) for label, r in self.runs.items()}

    def adapter_diff(self, a: str, b: str, split: dict | None, kind: str | None = None) -> AdapterDiff:
        """Model a minus model b, mean per-question r, paired bootstrap: every question and, with a split, each side."""
        qa, qb = self.runs[a].summary.question_r(), self.runs[b].summary.question_r()
        diffs = {"all": self._paired(qa, qb)}
        for name in ("train", "heldout") if split else ():
            keys = [q for q in split.get(name, []) if q in qa.index]
            diffs[name] = self._paired(qa.reindex(keys), qb.reindex(keys))
        return AdapterDiff(model=a, vs=b, kind=kind, **diffs)

    def _paired(self, a: pd.Series, b: pd.Series) -> PairedDiff:
        return PairedDiff(**metrics.paired_bootstrap_diff(a, b, n_boot=self.n_boot, seed=self.seed))


def bias_inputs(cfg: ClaimsConfig, inputs: EvalInputs) -> tuple[dict, pd.DataFrame, list[str]]:
    """Countries by code, the human reference rows, and the bias questions the run has."""
    return {c.alpha3: c for c in inputs.countries}, inputs.reference.df, [q for q in cfg.bias_questions if q in inputs.qids]


def gap_on(scores: pd.DataFrame, human: pd.DataFrame, countries: dict, qids: list[str], n_boot: int, seed: int) -> tuple[dict, pd.Series]:
    """The Western gap (metrics.western_gap) and per-country r, on the questions `qids` only."""
    s = scores[scores["qid"].isin(qids)]
    h = human[human["qid"].isin(qids)]
    perc = metrics.per_country(s, h)
    return metrics.western_gap(perc, countries, n_boot=n_boot, seed=seed), perc.set_index("country")["r"]


def paired_gap_diff(a: pd.Series, b: pd.Series, countries: dict, n_boot: int, seed: int) -> dict:
    """(gap_a - gap_b) with countries resampled (stratified by Western flag) and paired across the two models."""
    idx = a.dropna().index.intersection(b.dropna().index)
    west = np.array([bool(countries[c].western) for c in idx])
    av, bv = a.reindex(idx).to_numpy(), b.reindex(idx).to_numpy()
    if west.sum() < 2 or (~west).sum() < 2:
        return {"diff": None, "ci": [None, None], "n": len(idx)}

    def gap(x, w_idx, n_idx):
        return x[w_idx].mean() - x[n_idx].mean()

    wi, ni = np.where(west)[0], np.where(~west)[0]
    point = gap(av, wi, ni) - gap(bv, wi, ni)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        w, n = rng.choice(wi, len(wi)), rng.choice(ni, len(ni))
        boots.append(gap(av, w, n) - gap(bv, w, n))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"diff": float(point), "ci": [float(lo), float(hi)], "n": int(len(idx))}
