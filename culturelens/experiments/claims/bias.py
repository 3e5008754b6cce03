"""The Western-gap inputs of claims 2 and 3 (and the studies): per model, on the bias questions, the fidelity-slope
Western gap (``eval/statistics/western_slope.py``) with the per-country slopes it stands on.

``bias_gap`` builds the question x country grid of one model's scores on the bias questions and keeps the verdict
block and each country's fidelity slope, so that two models can be compared country by country
(``gap_reduction``: Welch's t on the per-country differences of slopes, Western vs non-Western). The raw gap of the
old rule (``metrics.western_gap``: per-country r, no null) is kept next to it for comparison.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from culturelens.core.ci import CI
from culturelens.core.jsonsafe import json_safe
from culturelens.core.prompts import NO_COUNTRY
from culturelens.eval.statistics import grid as g
from culturelens.eval.statistics import metrics
from culturelens.eval.statistics.ttest import two_sample_t
from culturelens.eval.statistics.western_slope import METHOD, MIN_COUNTRIES, side_slopes, verdict_of, western_slope

N_PERM = 1000  # kept for callers that pass n_perm: the slope verdict needs no permutations


@dataclass
class BiasGap:
    """One model's Western gap on the bias questions: the verdict block, the raw gap, the per-country slopes."""

    block: dict  # WesternSlope: verdict, said, gap, ci, mde
    raw: dict  # metrics.western_gap: the old rule (per-country r, no null)
    countries: list[str]
    units: np.ndarray  # (C,) fidelity slope per country
    is_western: np.ndarray  # (C,) bool
    mean_question_r: float | None  # the paper's metric on these questions (for the 'overall r level' confound)

    @property
    def verdict(self) -> str:
        return self.block["verdict"]

    @property
    def gap(self) -> float | None:
        return self.block["gap"]

    @property
    def ci(self) -> CI:
        return CI.model_validate(self.block["ci"])

    def as_dict(self) -> dict:
        return json_safe({**self.block, "raw": self.raw, "mean_question_r": self.mean_question_r})


def bias_gap(scores: pd.DataFrame, human: pd.DataFrame, countries: dict, qids: list[str], n_boot: int, seed: int,
             n_perm: int = N_PERM) -> BiasGap:
    """The fidelity-slope Western gap of one model's scores on the questions ``qids`` (countries with metadata)."""
    s = scores[scores["qid"].isin(qids) & scores["country"].isin(list(countries) + [NO_COUNTRY])]
    h = human[human["qid"].isin(qids)]
    grid = g.score_grid(s, h)
    raw = metrics.western_gap(metrics.per_country(s, h), countries, n_boot=n_boot, seed=seed)
    perq = g.question_r(grid.model, grid.human)
    mean_r = float(np.nanmean(perq)) if np.isfinite(perq).any() else None
    is_western = np.array([bool(countries[c].western) for c in grid.countries], dtype=bool)
    block = western_slope(grid.model, grid.human, is_western).model_dump()
    return BiasGap(block, raw, grid.countries, side_slopes(grid.model, grid.human, is_western), is_western, mean_r)


def gap_reduction(a: BiasGap, b: BiasGap, countries: dict, n_boot: int = 0, seed: int = 0) -> dict:
    """Gap of model a minus gap of model b on the countries both have a slope for: Welch's t on the per-country
    differences of slopes, Western vs non-Western (each country compared with itself)."""
    pos_b = {c: i for i, c in enumerate(b.countries)}
    both = [(i, pos_b[c]) for i, c in enumerate(a.countries) if c in pos_b]
    d = np.array([a.units[i] - b.units[j] for i, j in both], dtype=float)
    west = np.array([a.is_western[i] for i, _ in both], dtype=bool)
    ok = np.isfinite(d)
    w, r = d[ok & west], d[ok & ~west]
    out = {"diff": None, "ci": CI(), "p": None, "mde": None, "n_western": int(w.size), "n_non_western": int(r.size),
           "gap_0": a.gap, "gap_1": b.gap, "verdict": "too few countries"}
    if min(w.size, r.size) >= MIN_COUNTRIES:
        diff, lo, hi, p, mde = (float(x) for x in two_sample_t(w, r, equal_var=False))
        out.update(diff=diff, ci=CI(lo=lo, hi=hi, method=METHOD), p=p, mde=mde, verdict=verdict_of(lo, hi))
    return json_safe(out)
