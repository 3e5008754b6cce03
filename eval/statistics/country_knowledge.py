"""What a run's answers know about countries: every cross-country number next to its permutation null.

One entry point, ``country_knowledge``, builds the question x country grid of a run once, draws the
country permutations once (``eval/statistics/nulls.py``) and derives from the same draws:
- ``nulls``: each headline metric (the paper's mean per-question r across countries, overall and
  per WVS section and group; pooled r; mean per-country r; centred r and MAE; W1) as model, null
  mean, null range, permutation p and model minus null with its CI;
- ``western_gap``: the gap beyond the null per per-country measure and the verdict
  (``eval/statistics/western.py``);
- ``pooled_two_way``: pooled r with the two-way (questions and countries) bootstrap
  (``eval/statistics/resample.py``), labelled for what it is.
Conventions as in ``eval/statistics/metrics.py`` and ``eval/statistics/grid.py``; all outputs are JSON-safe.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from culturelens.core.jsonsafe import json_safe
from culturelens.eval.statistics import grid as g
from culturelens.eval.statistics import metrics, nulls, western
from culturelens.eval.statistics.resample import pooled_two_way

DEFAULT_N_PERM = 1000


def country_knowledge(model_df: pd.DataFrame, human_df: pd.DataFrame, categories: dict, groups: dict, countries: dict,
                      scores: dict, n_perm: int = DEFAULT_N_PERM, n_boot: int = 1000, seed: int = 0) -> dict:
    """{"nulls", "western_gap", "pooled_two_way"} for one run (see the module docstring).

    categories: qid -> WVS section; groups: section -> group; countries: alpha3 -> Country (``.western``)."""
    grid = g.score_grid(model_df, human_df, scores)
    if not grid.qids:
        return {"nulls": None, "western_gap": None, "pooled_two_way": None}
    idx = nulls.permutation_indices(grid.valid, n_perm, seed)
    perm = nulls.permuted_scores(grid.model, idx)
    null_block = nulls.permutation_null(grid, n_boot=n_boot, seed=seed, idx=idx)
    pooled = pooled_two_way(grid.model, grid.human, n_boot=n_boot, seed=seed)
    section = {q: categories.get(q) for q in grid.qids}
    group = {q: groups.get(c) for q, c in section.items() if c is not None}
    by_section = nulls.null_question_r_by(grid, perm, section, n_boot, seed)
    by_group = nulls.null_question_r_by(grid, perm, group, n_boot, seed)
    null_block["mean_question_r_by_category"] = {c: by_section[c] for c in sorted(by_section, key=lambda c: (
        metrics.group_order(groups.get(c)), metrics.section_order(c), c))}
    null_block["mean_question_r_by_group"] = {k: by_group[k] for k in sorted(by_group, key=lambda k: (metrics.group_order(k), k))}
    known = np.array([c in countries for c in grid.countries])
    if not known.all():  # the Western flag needs country metadata: countries without it are left out of the gap
        grid = grid.columns(known)
        idx = nulls.permutation_indices(grid.valid, n_perm, seed)
        perm = nulls.permuted_scores(grid.model, idx)
    is_western = np.array([bool(countries[c].western) for c in grid.countries])
    measures = western.western_gap_measures(grid, perm, idx, is_western, n_boot, seed)
    return json_safe({
        "nulls": null_block,
        "western_gap": western.western_gap_summary(measures),
        "pooled_two_way": pooled,
    })


def merge_into_summary(summary: dict, knowledge: dict) -> dict:
    """summary.json with the country-knowledge blocks: ``nulls``; ``western_gap`` = the verdict block, its
    ``gap``/``gap_ci`` the verdict measure's gap beyond the null, the old raw gap under ``raw``
    (``western_r`` / ``non_western_r`` stay: the mean raw per-country r per side); ``pooled`` = the two-way
    bootstrap version (the pairs-resampled CI kept as ``ci_pairs``)."""
    out = dict(summary)
    if knowledge.get("nulls") is None:
        return out
    raw = dict(summary.get("western_gap") or {})
    block = knowledge["western_gap"]
    main = block["measures"].get(block["verdict_measure"], {})
    out["western_gap"] = {
        **block, "gap": main.get("gap"), "gap_ci": main.get("ci"), "n_western": main.get("n_western"),
        "n_non_western": main.get("n_non_western"), "western_r": raw.get("western_r"), "non_western_r": raw.get("non_western_r"),
        "raw": raw,
    }
    old = summary.get("pooled") or {}
    out["pooled"] = {**knowledge["pooled_two_way"], "ci_pairs": [old.get("ci_lo"), old.get("ci_hi")]}
    out["nulls"] = knowledge["nulls"]
    return json_safe(out)
