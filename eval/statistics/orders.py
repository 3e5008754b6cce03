"""Option order: how much the answers and the paper's metric move when the options are presented reversed.

LLMs favour options by position; presenting each question in both orders and averaging the
per-prompt probabilities over orders cancels a position bias that is the same in both directions
(the correction used in the LLM-survey literature). This module reports what the averaging hides:
per order, the paper's metric and pooled r on that order's answers alone, and per (country,
question) how far the mean score moves between orders. Conventions as in ``eval/statistics/metrics.py``;
``per_prompt`` has one row per prompt with template, order, country, qid and score (score is
linear in the probabilities, so the mean of scores is the score of the mean distribution).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from culturelens.core.jsonsafe import json_safe
from culturelens.core.prompts import NO_COUNTRY
from culturelens.eval.statistics import metrics


def scores_by_order(per_prompt: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per option order: one row per (country, qid) with the score averaged over that order's templates."""
    persona = per_prompt[per_prompt["country"] != NO_COUNTRY]
    return {order: grp.groupby(["country", "qid"], as_index=False, sort=False)["score"].mean()
            for order, grp in persona.groupby("order", sort=False)}


def variant_scores(per_prompt: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The run seen through one option order or one persona template at a time, for verdicts that must not flip:
    ``order=<o>`` averages that order's prompts over templates, ``template=<t>`` that template's over orders
    (only when the run has two or more of them). One row per (country, qid) with score; the no-persona rows
    (country NONE) are kept in every view, averaged over their orders."""
    none = per_prompt[per_prompt["country"] == NO_COUNTRY]
    persona = per_prompt[per_prompt["country"] != NO_COUNTRY]
    views = {}
    for column in ("order", "template"):
        values = list(dict.fromkeys(persona[column]))
        if len(values) < 2:
            continue
        for v in values:
            rows = persona[persona[column] == v]
            extra = none[none["order"] == v] if column == "order" else none
            both = pd.concat([rows, extra if len(extra) else none])
            views[f"{column}={v}"] = both.groupby(["country", "qid"], as_index=False, sort=False)["score"].mean()
    return views


def order_score_shift(by_order: dict[str, pd.DataFrame]) -> dict:
    """Per (country, qid) present in every order: mean and max of (max - min) of the score across orders."""
    if len(by_order) < 2:
        return {"mean_abs_shift": None, "max_abs_shift": None, "n_pairs": 0}
    wide = pd.concat([df.set_index(["country", "qid"])["score"].rename(o) for o, df in by_order.items()], axis=1, join="inner")
    spread = (wide.max(axis=1) - wide.min(axis=1)).to_numpy(float)
    return json_safe({"mean_abs_shift": spread.mean() if spread.size else None,
                        "max_abs_shift": spread.max() if spread.size else None, "n_pairs": int(spread.size)})


def order_spread(per_prompt: pd.DataFrame, human_df: pd.DataFrame) -> dict:
    """The per-order view of a run: mean per-question r and pooled r per order, their range, the score shift."""
    by_order = scores_by_order(per_prompt)
    rows = {}
    for order, df in by_order.items():
        perq = metrics.per_question(df, human_df)
        rows[order] = {"mean_question_r": float(perq["r"].mean()) if perq["r"].notna().any() else None,
                       "pooled_r": metrics.pooled(df, human_df)["r"]}
    vals = [v["mean_question_r"] for v in rows.values() if v["mean_question_r"] is not None]
    return json_safe({
        "orders": list(by_order), "by_order": rows,
        "mean_question_r_range": [min(vals), max(vals)] if vals else None,
        "mean_question_r_spread": float(np.ptp(vals)) if len(vals) >= 2 else None,
        "score_shift": order_score_shift(by_order),
    })
