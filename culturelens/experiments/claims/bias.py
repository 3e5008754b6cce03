"""The Western-gap inputs of claims 2 and 3 (and the studies): per model, on the bias questions, the gap
beyond the country-permutation null, with the per-country measures and permutations it stands on.

``bias_gap`` builds the question x country grid of one model's scores on the bias questions, draws
the permutations (``eval/statistics/nulls.py``), and keeps, for the verdict measure (``western.PRIMARY``), the
per-country values and their permutation values, so that two models can be compared on the same
resampled countries (``shared_bootstrap.gap_difference_beyond_null``). The raw gap of the old rule
(``metrics.western_gap``) is kept next to it for comparison.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from culturelens.core.jsonsafe import json_safe
from culturelens.core.prompts import NO_COUNTRY
from culturelens.eval.statistics import grid as g
from culturelens.eval.statistics import metrics, nulls, western
from culturelens.eval.statistics.shared_bootstrap import gap_difference_beyond_null

N_PERM = 1000


@dataclass
class BiasGap:
    """One model's Western gap on the bias questions: the summary block, the raw gap, the verdict measure's inputs."""

    block: dict  # western.western_gap_summary: verdict, said, measures
    raw: dict  # metrics.western_gap: the old rule (per-country r, no null)
    countries: list[str]
    units: np.ndarray  # (C,) the verdict measure per country
    null_units: np.ndarray  # (P, C) the same for each permutation
    mean_question_r: float | None  # the paper's metric on these questions (for the 'overall r level' confound)

    @property
    def verdict(self) -> str:
        return self.block["verdict"]

    @property
    def gap(self) -> float | None:
        return self.block["measures"][western.PRIMARY]["gap"]

    @property
    def ci(self) -> list:
        return self.block["measures"][western.PRIMARY]["ci"]

    def as_dict(self) -> dict:
        return json_safe({**self.block, "raw": self.raw, "mean_question_r": self.mean_question_r})


def _primary_units(grid: g.ScoreGrid, perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if western.PRIMARY == "centred_r":
        return g.centred_country_r(grid.model, grid.human), g.centred_country_r(perm, grid.human)
    return g.country_r(grid.model, grid.human), g.country_r(perm, grid.human)


def bias_gap(scores: pd.DataFrame, human: pd.DataFrame, countries: dict, qids: list[str], n_boot: int, seed: int,
             n_perm: int = N_PERM) -> BiasGap:
    """The Western gap beyond the null of one model's scores on the questions ``qids`` (countries with metadata)."""
    s = scores[scores["qid"].isin(qids) & scores["country"].isin(list(countries) + [NO_COUNTRY])]
    h = human[human["qid"].isin(qids)]
    grid = g.score_grid(s, h)
    raw = metrics.western_gap(metrics.per_country(s, h), countries, n_boot=n_boot, seed=seed)
    perq = g.question_r(grid.model, grid.human)
    mean_r = float(np.nanmean(perq)) if np.isfinite(perq).any() else None
    idx = nulls.permutation_indices(grid.valid, n_perm, seed)
    perm = nulls.permuted_scores(grid.model, idx)
    is_western = np.array([bool(countries[c].western) for c in grid.countries], dtype=bool)
    block = western.western_gap_summary(western.western_gap_measures(grid, perm, idx, is_western, n_boot, seed))
    units, null_units = _primary_units(grid, perm)
    return BiasGap(block, raw, grid.countries, units, null_units, mean_r)


def gap_reduction(a: BiasGap, b: BiasGap, countries: dict, n_boot: int, seed: int) -> dict:
    """Gap beyond the null of model a minus that of model b, on the countries both have, resampled together."""
    union = sorted(set(a.countries) | set(b.countries))

    def aligned(gap: BiasGap) -> tuple[np.ndarray, np.ndarray]:
        pos = {c: i for i, c in enumerate(gap.countries)}
        take = np.array([pos.get(c, -1) for c in union])
        units = np.where(take >= 0, gap.units[np.maximum(take, 0)], np.nan)
        null = np.where(take >= 0, gap.null_units[:, np.maximum(take, 0)], np.nan)
        return units, null

    (ua, na), (ub, nb) = aligned(a), aligned(b)
    n_perm = min(na.shape[0], nb.shape[0])
    is_western = np.array([bool(countries[c].western) for c in union], dtype=bool)
    return gap_difference_beyond_null(np.stack([ua, ub]), np.stack([na[:n_perm], nb[:n_perm]]), is_western, n_boot, seed)
