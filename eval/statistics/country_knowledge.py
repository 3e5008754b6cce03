"""What a run's answers know about countries: every cross-country number next to its null, one CI each.

One entry point, ``country_knowledge``, builds the question x country grid of a run once, makes the
random draws once (``eval/statistics/bootstrap.py``: joint country permutations, two-way bootstrap
weights over battery clusters and countries) and derives from the same draws
(``eval/statistics/engine.py``):
- ``nulls``: each headline metric (the paper's mean per-question r across countries, overall and
  per WVS section and group; pooled r; mean per-country r; centred r and MAE; W1) as model, null
  mean, null range, permutation p, model minus null with its CI, a verdict; per section and group
  also a Benjamini-Hochberg q-value (``eval/statistics/multiple.py``);
- ``western_gap``: the verdict of the fidelity-slope measure (``eval/statistics/western_slope.py``),
  with the per-country measures beyond the null kept as descriptions (``eval/statistics/western.py``);
- ``pooled_two_way``: pooled r with its CI from the same bootstrap;
- ``per_question`` / ``by_zone``: permutation p and BH q per question, per zone.
Conventions as in ``eval/statistics/grid.py``; all outputs are JSON-safe.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from culturelens.core.jsonsafe import json_safe
from culturelens.eval.statistics import bootstrap as bs
from culturelens.eval.statistics import engine, metrics, western
from culturelens.eval.statistics import grid as g
from culturelens.eval.statistics.multiple import bh
from culturelens.eval.statistics.western_slope import western_slope

DEFAULT_N_PERM = 1000
NULL_NOTE = ("joint country-permutation null: one shuffle of the country labels applied to every question (within the "
             "countries each question has); p: one-sided permutation p; CI of model - null: the model's metric over the "
             f"bootstrap replicates ({bs.TWO_WAY}) minus the fixed null mean")
POOLED_NOTE = ("Pearson r over all (country, question) cells: dominated by between-question differences "
               "(what every country shares), not by country knowledge")


def _dump(tests: dict[str, engine.NullTest]) -> dict:
    return {k: v.model_dump() for k, v in tests.items()}


def _with_q(tests: dict[str, engine.NullTest]) -> dict[str, engine.NullTest]:
    q = bh([t.p_perm if t.p_perm is not None else np.nan for t in tests.values()])
    return {k: t.model_copy(update={"q_bh": None if not np.isfinite(qv) else float(qv)}) for (k, t), qv in zip(tests.items(), q)}


def w1_test(grid: g.ScoreGrid, draws: engine.Draws) -> engine.NullTest | None:
    """Mean per-country Wasserstein-1 of the model's option distributions vs the country-permutation null (lower is
    better); None without human distributions."""
    if grid.w1 is None:
        return None
    model_w1, perm_w1 = grid.model_w1, g.permuted_w1(grid.w1, draws.perm)
    ones = np.where(np.isfinite(model_w1), 1.0, np.nan)  # type: ignore[arg-type]  # model_w1 is set whenever w1 is

    def mean_w1(w1, human, wq, wc, rows):
        per_country = engine.wt.mean(w1, np.asarray(engine.question_weights(wq, rows))[..., :, None], axis=-2)
        return engine.wt.mean(per_country, wc, axis=-1)

    return engine.null_test(mean_w1, False, model_w1, ones, perm_w1, draws, units="countries")  # type: ignore[arg-type]


def zone_tests(data: engine.GridData, draws: engine.Draws, zones: list[str | None]) -> list[dict]:
    """Mean per-country r per cultural zone with its CI (two-way bootstrap), the null's mean and permutation p."""
    perm = data.permuted(draws.perm)
    r_model = engine.country_r(data.model, data.human)
    r_null = engine.country_r(perm, data.human)
    r_boot = engine.country_r(data.model, data.human, draws.rows)  # (B, C)
    z = np.array(zones, dtype=object)
    rows = []
    for zone in dict.fromkeys(x for x in zones if x is not None):
        cols = (z == zone).astype(float)
        value = float(engine.wt.mean(r_model, cols))
        null = engine.wt.mean(r_null, cols)
        ci = bs.percentile_ci(engine.wt.mean(r_boot, draws.cols * cols))
        finite = null[np.isfinite(null)]
        rows.append({"zone": zone, "mean_r": value, "ci": ci,
                     "n_countries": int(np.isfinite(r_model[z == zone]).sum()),
                     "null_mean": float(finite.mean()) if finite.size else None, "p_perm": float(bs.permutation_p(value, finite))})
    q = bh([r["p_perm"] for r in rows])
    return [{**r, "q_bh": float(qv) if np.isfinite(qv) else None} for r, qv in zip(rows, q)]


def country_knowledge(model_df: pd.DataFrame, human_df: pd.DataFrame, categories: dict, groups: dict, countries: dict,
                      scores: dict, n_perm: int = DEFAULT_N_PERM, n_boot: int = 1000, seed: int = 0,
                      clusters: dict[str, int] | None = None) -> dict:
    """{"nulls", "western_gap", "pooled_two_way", "per_question", "by_zone"} for one run (see the module docstring).

    categories: qid -> WVS section; groups: section -> group; countries: alpha3 -> Country (``.western``, ``.zone``);
    clusters: qid -> battery cluster (``culturelens.core.batteries.questionnaire_clusters``; default: one per question)."""
    grid = g.score_grid(model_df, human_df, scores)
    if not grid.qids:
        return {"nulls": None, "western_gap": None, "pooled_two_way": None}
    clusters = clusters or {}
    labels = np.array([clusters.get(q, f"q:{q}") for q in grid.qids], dtype=object)
    cluster_ids = np.unique(labels.astype(str), return_inverse=True)[1]
    data = engine.GridData(grid.qids, grid.countries, grid.model, grid.human, cluster_ids)
    draws = engine.Draws.make(grid.valid, cluster_ids, n_perm, n_boot, seed)
    tests = engine.metric_tests(data, draws)
    tests["mean_question_r"] = tests["mean_question_r"].model_copy(update={"primary": True})
    section = [categories.get(q) for q in grid.qids]
    group = [groups.get(c) if c is not None else None for c in section]
    by_section = _with_q(engine.by_label(data, draws, section))
    by_group = _with_q(engine.by_label(data, draws, group))
    null_block: dict[str, Any] = {name: t.model_dump() for name, t in tests.items()}
    w1 = w1_test(grid, draws)
    null_block["mean_w1"] = w1.model_dump() if w1 is not None else None
    null_block["mean_question_r_by_category"] = _dump({c: by_section[c] for c in sorted(by_section, key=lambda c: (
        metrics.group_order(groups.get(c)), metrics.section_order(c), c))})
    null_block["mean_question_r_by_group"] = _dump({k: by_group[k] for k in sorted(by_group, key=lambda k: (metrics.group_order(k), k))})
    null_block.update({"n_perm": int(draws.perm.shape[0]), "n_boot": int(draws.rows.shape[0]), "seed": int(seed), "note": NULL_NOTE})

    perq = engine.per_question(data, draws)
    q = bh([v["p_perm"] if v["p_perm"] is not None else np.nan for v in perq.values()])
    perq = {k: {**v, "q_bh": float(qv) if np.isfinite(qv) else None} for (k, v), qv in zip(perq.items(), q)}
    zones = zone_tests(data, draws, [countries[c].zone if c in countries else None for c in grid.countries])
    pooled = tests["pooled_r"]
    pooled_ci = (pooled.ci or bs.CI()).shifted(-pooled.null_mean if pooled.null_mean is not None else None)  # the model's r
    pooled_two_way = {"r": pooled.model, "ci": pooled_ci,
                      "n_pairs": int(grid.valid.sum()), "n_questions": int(grid.valid.any(axis=1).sum()),
                      "n_countries": int(grid.valid.any(axis=0).sum()), "resampling": bs.TWO_WAY, "what": POOLED_NOTE}

    known = np.array([c in countries for c in grid.countries])
    wgrid = grid.columns(known) if not known.all() else grid
    is_western = np.array([bool(countries[c].western) for c in wgrid.countries])
    verdict = western_slope(wgrid.model, wgrid.human, is_western)
    widx = bs.joint_permutations(wgrid.valid, n_perm, seed)
    measures = western.western_gap_measures(wgrid, g.permuted_scores(wgrid.model, widx),
                                            widx, is_western, n_boot, seed)
    return json_safe({
        "nulls": null_block,
        "western_gap": {**verdict.model_dump(), "verdict_measure": verdict.measure, "measures": measures,
                        "min_countries_per_side": western.MIN_COUNTRIES},
        "pooled_two_way": pooled_two_way,
        "per_question": perq,
        "by_zone": zones,
    })


def merge_into_summary(summary: dict, knowledge: dict) -> dict:
    """summary.json with the country-knowledge blocks: ``nulls``; ``western_gap`` = the fidelity-slope verdict block
    (``gap``/``ci`` its gap and CI; the descriptive per-country measures under ``measures``; the old raw per-country
    r gap under ``raw``); ``pooled`` = pooled r with the two-way bootstrap CI; ``by_category``/``by_group`` CIs = the
    engine's (the same replicates as model - null, so each number has one CI); ``by_zone`` and ``per_question`` with
    their permutation p and BH q."""
    out = dict(summary)
    if knowledge.get("nulls") is None:
        return out
    raw = dict(summary.get("western_gap") or {})
    block = knowledge["western_gap"]
    out["western_gap"] = {**block, "western_r": raw.get("western_r"), "non_western_r": raw.get("non_western_r"), "raw": raw}
    out["pooled"] = knowledge["pooled_two_way"]
    nulls = knowledge["nulls"]
    out["nulls"] = nulls

    def model_ci(t: dict) -> bs.CI:
        """The CI of the model's own value: the CI of model - null plus the fixed null mean."""
        base = t.get("null_mean")
        return bs.CI.model_validate(t.get("ci") or {}).shifted(-base if base is not None else None)

    for key, table, name in (("by_category", "mean_question_r_by_category", "category"), ("by_group", "mean_question_r_by_group", "group")):
        rows = []
        for row in summary.get(key) or []:
            t = nulls[table].get(row[name]) or {}
            rows.append({**row, "ci": model_ci(t) if t else bs.CI(), "null_mean": t.get("null_mean"), "p_perm": t.get("p_perm"),
                         "q_bh": t.get("q_bh")})
        out[key] = rows
    zones = {z["zone"]: z for z in knowledge.get("by_zone") or []}
    out["by_zone"] = [{**row, **{k: v for k, v in zones.get(row["zone"], {}).items() if k != "zone"}}
                      for row in summary.get("by_zone") or []]
    perq = knowledge.get("per_question") or {}
    out["per_question"] = [{**row, "p_perm": (perq.get(row["qid"]) or {}).get("p_perm"), "q_bh": (perq.get(row["qid"]) or {}).get("q_bh")}
                           for row in summary.get("per_question") or []]
    return json_safe(out)
