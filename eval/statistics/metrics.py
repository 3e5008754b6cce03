"""Agreement between model and human answers: correlations, bootstrap CIs, distribution distances.

Conventions
-----------
- ``model_df``: one row per (country, qid) with ``score`` (model mean score in [-1, 1]), ``probs``
  (option probabilities in scale order) and ``mass``; country "NONE" is the no-persona prompt.
- ``human_df``: one row per (country, qid) with ``n``, ``mean`` and ``dist`` (option shares or None).
- Per-question r: Pearson across countries (model score vs human mean) for one question.
- Per-country r: Pearson across questions for one country.
- Pooled r: Pearson over all (country, question) pairs.
- CIs are percentile bootstraps drawn by ``eval/statistics/bootstrap.py`` (the only source of random numbers): over
  questions for category/group means, over countries for zone means and the Western gap (stratified: each side
  resampled separately); summary.json replaces the category/group/zone/pooled CIs with the engine's two-way ones
  (``country_knowledge.merge_into_summary``).
All dict outputs are JSON-safe (Python floats/ints, nan -> None).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from culturelens.core.jsonsafe import json_safe, safe_float
from culturelens.core.prompts import NO_COUNTRY
from culturelens.core.reference import as_distribution
from culturelens.eval.statistics import bootstrap as bs
from culturelens.eval.statistics import weighted as wt
from culturelens.eval.statistics.sides import raw_gap

GROUP_ORDER = ("norms", "systems", "progress")
BOOTSTRAP_NOTE = ("section, group, zone, pooled r and every model - null: battery clusters of questions and countries "
                  "drawn together (the statistics engine); distribution distances: (country, question) pairs; the raw Western "
                  "r gap: countries within each side")


# ----------------------------------------------------------------------------------------- helpers


_f = safe_float  # short local names used throughout this module


def _records(df: pd.DataFrame) -> list[dict]:
    return json_safe(df.to_dict(orient="records"))


def _ci_records(df: pd.DataFrame) -> list[dict]:
    """Rows of a table with ``ci_lo``/``ci_hi`` columns as summary.json rows: the two bounds as one ``ci``."""
    return [{**{k: v for k, v in row.items() if k not in ("ci_lo", "ci_hi")}, "ci": {"lo": row["ci_lo"], "hi": row["ci_hi"]}}
            for row in _records(df)]


def _clean(values) -> np.ndarray:
    arr = np.asarray(pd.to_numeric(pd.Series(values, dtype=object), errors="coerce"), dtype=float)
    return arr[np.isfinite(arr)]


def _mean_ci(values, n_boot: int, seed: int, level: float = bs.LEVEL) -> tuple[float, float, float]:
    """(mean, lo, hi) of the values (nan where undefined): ``bootstrap.mean_ci`` over the units."""
    est, ci = bs.mean_ci(_clean(values), n_boot=n_boot, seed=seed, level=level)
    return _nan(est), _nan(ci.lo), _nan(ci.hi)


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def aggregate(per_prompt: pd.DataFrame, bank) -> pd.DataFrame:
    """One row per (country, qid): option probabilities averaged over templates and option orders, and the score
    (their expectation over the question's scale values, `bank.get(qid).scores`)."""
    rows = []
    for (country, qid), grp in per_prompt.groupby(["country", "qid"], sort=False):
        k = len(grp["probs"].iloc[0])
        probs = [sum(p[i] for p in grp["probs"]) / len(grp) for i in range(k)]
        score = sum(p * s for p, s in zip(probs, bank.get(qid).scores))
        rows.append({"country": country, "qid": qid, "score": score, "probs": probs, "mass": grp["mass"].mean()})
    return pd.DataFrame(rows)


def score_pairs(model_df: pd.DataFrame, human_df: pd.DataFrame, persona_only: bool = True) -> pd.DataFrame:
    """Model score and human mean per (country, qid) present in both (duplicate model rows averaged)."""
    m = model_df
    if persona_only:
        m = m[m["country"] != NO_COUNTRY]
    m = m.groupby(["country", "qid"], as_index=False, sort=False)["score"].mean()
    h = human_df[["country", "qid", "mean"]].drop_duplicates(["country", "qid"])
    out = m.merge(h, on=["country", "qid"], how="inner")
    out["score"] = pd.to_numeric(out["score"], errors="coerce").astype(float)
    out["mean"] = pd.to_numeric(out["mean"], errors="coerce").astype(float)
    return out.dropna(subset=["score", "mean"]).reset_index(drop=True)


# ------------------------------------------------------------------------------------ core stats


def pearson(x, y) -> float:
    """Pearson r of two vectors over their finite pairs: the one Pearson of the statistics (``weighted.pearson``: nan with
    fewer than 3 pairs or a side constant within ``weighted.CONSTANT_TOL``)."""
    return float(wt.pearson(np.asarray(x, dtype=float), np.asarray(y, dtype=float)))


# ---------------------------------------------------------------------------- correlation tables


def _correlate_by(model_df: pd.DataFrame, human_df: pd.DataFrame, key: str, n_col: str) -> pd.DataFrame:
    """Pearson r of model score vs human mean within each group of `key` (no-persona rows excluded)."""
    pairs = score_pairs(model_df, human_df)
    rows = [{key: k, "r": pearson(g["score"], g["mean"]), n_col: int(len(g))} for k, g in pairs.groupby(key, sort=False)]
    return pd.DataFrame(rows, columns=[key, "r", n_col])


def per_question(model_df: pd.DataFrame, human_df: pd.DataFrame) -> pd.DataFrame:
    """Per question: Pearson r across countries of model score vs human mean."""
    return _correlate_by(model_df, human_df, "qid", "n_countries")


def per_country(model_df: pd.DataFrame, human_df: pd.DataFrame) -> pd.DataFrame:
    """Per country: Pearson r across questions of model score vs human mean."""
    return _correlate_by(model_df, human_df, "country", "n_questions")


def section_order(cat: str) -> int:
    """Sort key of a WVS section: its place in the questionnaire (unknown sections last)."""
    from culturelens.core.questions import WVS_SECTIONS

    return WVS_SECTIONS.index(cat) if cat in WVS_SECTIONS else len(WVS_SECTIONS)


def group_order(group) -> int:
    """Sort key of a question group: norms, systems, progress (others last)."""
    return GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER)


def by_category(perq: pd.DataFrame, categories: dict, groups: dict, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Mean per-question r per WVS section, with a bootstrap CI over the section's questions."""
    cols = ["category", "group", "mean_r", "ci_lo", "ci_hi", "n_questions"]
    df = perq.assign(category=perq["qid"].map(categories)).dropna(subset=["category"])
    rows = []
    for cat, g in df.groupby("category", sort=False):
        est, lo, hi = _mean_ci(g["r"], n_boot, seed)
        rows.append({"category": cat, "group": groups.get(cat), "mean_r": est, "ci_lo": lo, "ci_hi": hi,
                     "n_questions": int(np.isfinite(g["r"].astype(float)).sum())})
    rows.sort(key=lambda r: (group_order(r["group"]), section_order(r["category"]), r["category"]))
    return pd.DataFrame(rows, columns=cols)


def _mean_r_per(df: pd.DataFrame, key: str, n_col: str, n_boot: int, seed: int) -> list[dict]:
    """Mean r per value of ``key`` with its bootstrap CI over the rows (questions or countries) of that value."""
    rows = []
    for name, g in df.dropna(subset=[key]).groupby(key, sort=False):
        est, lo, hi = _mean_ci(g["r"], n_boot, seed)
        rows.append({key: name, "mean_r": est, "ci_lo": lo, "ci_hi": hi, n_col: int(np.isfinite(g["r"].astype(float)).sum())})
    return rows


def by_group(perq: pd.DataFrame, categories: dict, groups: dict, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Mean per-question r per group (norms/systems/progress), bootstrap CI over the group's questions."""
    cols = ["group", "mean_r", "ci_lo", "ci_hi", "n_questions"]
    grp = perq["qid"].map(categories).map(lambda c: groups.get(c) if isinstance(c, str) else None)
    rows = _mean_r_per(perq.assign(group=grp), "group", "n_questions", n_boot, seed)
    rows.sort(key=lambda r: (group_order(r["group"]), r["group"]))
    return pd.DataFrame(rows, columns=cols)


def by_zone(perc: pd.DataFrame, countries: dict, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Mean per-country r per Inglehart-Welzel cultural zone, bootstrap CI over the zone's countries."""
    from culturelens.core.countries import ZONES

    cols = ["zone", "mean_r", "ci_lo", "ci_hi", "n_countries"]
    zone = perc["country"].map(lambda c: countries[c].zone if c in countries else None)
    rows = _mean_r_per(perc.assign(zone=zone), "zone", "n_countries", n_boot, seed)
    rows.sort(key=lambda r: (ZONES.index(r["zone"]) if r["zone"] in ZONES else len(ZONES), r["zone"]))
    return pd.DataFrame(rows, columns=cols)


def western_gap(perc: pd.DataFrame, countries: dict, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """The raw Western gap (no null) of the per-country r table: ``sides.raw_gap`` over the known countries."""
    known = perc[perc["country"].isin(list(countries))]
    is_w = known["country"].map(lambda c: bool(countries[c].western)).to_numpy(dtype=bool)
    r = pd.to_numeric(known["r"], errors="coerce").to_numpy(dtype=float)
    return raw_gap(r, is_w, n_boot, seed, level)


def pooled(model_df: pd.DataFrame, human_df: pd.DataFrame) -> dict:
    """Pearson r over all (country, question) pairs (no-persona rows excluded); its CI is the engine's two-way
    bootstrap (``country_knowledge``: cells are not independent units, so no CI over pairs here)."""
    pairs = score_pairs(model_df, human_df)
    return json_safe({"r": pearson(pairs["score"], pairs["mean"]), "n_pairs": int(len(pairs))})


# ------------------------------------------------------------------------------ distributions


def distribution_metrics(model_df: pd.DataFrame, human_df: pd.DataFrame, scores: dict) -> pd.DataFrame:
    """Per (country, qid) with a human distribution: 1 - Jensen-Shannon distance (scipy's jensenshannon, base 2:
    the square root of the JS divergence, in [0, 1]; 1 - distance is a similarity, 1 = identical) and Wasserstein-1 on
    the option scale values (in [0, 2]). Pairs whose option counts disagree are skipped."""
    from culturelens.core.questions import linear_scores

    cols = ["country", "qid", "one_minus_js_distance", "wasserstein"]
    if "dist" not in human_df.columns or "probs" not in model_df.columns:
        return pd.DataFrame(columns=cols)
    m = model_df[model_df["country"] != NO_COUNTRY][["country", "qid", "probs"]].drop_duplicates(["country", "qid"])
    h = human_df[["country", "qid", "dist"]].drop_duplicates(["country", "qid"])
    rows = []
    for country, qid, probs, dist in m.merge(h, on=["country", "qid"]).itertuples(index=False):
        p, q = as_distribution(probs), as_distribution(dist)
        if p is None or q is None or p.size != q.size:
            continue
        vals = np.asarray(scores.get(qid) or linear_scores(p.size), dtype=float)
        if vals.size != p.size:
            continue
        rows.append({
            "country": country, "qid": qid,
            "one_minus_js_distance": 1.0 - float(jensenshannon(p, q, base=2)),
            "wasserstein": float(wt.wasserstein_1(p, q, vals)),
        })
    return pd.DataFrame(rows, columns=cols)


def summarise_distribution(dm: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> dict | None:
    """Mean and bootstrap CI (over pairs) of 1 - Jensen-Shannon distance and Wasserstein-1; None without pairs."""
    if dm is None or dm.empty:
        return None
    out: dict = {"n_pairs": int(len(dm))}
    for col in ("one_minus_js_distance", "wasserstein"):
        est, lo, hi = _mean_ci(dm[col], n_boot, seed)
        out[col] = {"mean": est, "ci": {"lo": lo, "hi": hi}}
    return json_safe(out)


# ------------------------------------------------------------------------------- other analyses


def nearest_countries(model_df: pd.DataFrame, human_df: pd.DataFrame) -> pd.DataFrame:
    """Correlate the no-persona model scores across questions with each country's human means.

    Returns every country sorted by r descending (nan last); callers take the head they show.
    """
    cols = ["country", "r", "n_questions"]
    none = model_df[model_df["country"] == NO_COUNTRY]
    if none.empty:
        return pd.DataFrame(columns=cols)
    s = none.groupby("qid")["score"].mean()
    h = human_df[["country", "qid", "mean"]].copy()
    h["score"] = h["qid"].map(s)
    h = h.dropna(subset=["score", "mean"])
    rows = [
        {"country": c, "r": pearson(g["score"], g["mean"]), "n_questions": int(len(g))}
        for c, g in h.groupby("country", sort=False)
    ]
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values("r", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def paired_bootstrap_diff(a: pd.Series, b: pd.Series, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """mean(a) - mean(b) over units present (finite) in both, CI by resampling units jointly."""
    a = pd.to_numeric(pd.Series(a), errors="coerce").astype(float)
    b = pd.to_numeric(pd.Series(b), errors="coerce").astype(float)
    a = a[~a.index.duplicated()]
    b = b[~b.index.duplicated()]
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
    n = int(len(both))
    if n == 0:
        return json_safe({"mean_a": None, "mean_b": None, "diff": None, "ci": {"lo": None, "hi": None}, "n": 0})
    av, bv = both["a"].to_numpy(), both["b"].to_numpy()
    d = av - bv
    _, lo, hi = _mean_ci(d, n_boot, seed, level)
    return json_safe({"mean_a": av.mean(), "mean_b": bv.mean(), "diff": d.mean(), "ci": {"lo": lo, "hi": hi}, "n": n})


# ---------------------------------------------------------------------------------------- summary


def compute_summary(
    model_df: pd.DataFrame,
    human_df: pd.DataFrame,
    categories: dict,
    groups: dict,
    countries: dict,
    scores: dict,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict:
    """Every metric of one run as a JSON-serialisable dict (see module docstring)."""
    perq = per_question(model_df, human_df)
    perc = per_country(model_df, human_df)
    dm = distribution_metrics(model_df, human_df, scores)
    near = nearest_countries(model_df, human_df)
    pairs = score_pairs(model_df, human_df)

    perq_out = perq.assign(
        category=perq["qid"].map(lambda q: categories.get(q)),
        group=perq["qid"].map(lambda q: groups.get(categories.get(q)) if categories.get(q) else None),
    ).sort_values("r", ascending=False, na_position="last", kind="stable")
    perc_out = perc.assign(
        name=perc["country"].map(lambda c: countries[c].name if c in countries else None),
        zone=perc["country"].map(lambda c: countries[c].zone if c in countries else None),
        western=perc["country"].map(lambda c: bool(countries[c].western) if c in countries else None),
    ).sort_values("r", ascending=False, na_position="last", kind="stable")
    if not near.empty:
        near = near.assign(name=near["country"].map(lambda c: countries[c].name if c in countries else None))

    mass = pd.to_numeric(model_df["mass"], errors="coerce") if "mass" in model_df.columns else pd.Series(dtype=float)
    summary = {
        "pooled": pooled(model_df, human_df),
        "by_category": _ci_records(by_category(perq, categories, groups, n_boot=n_boot, seed=seed)),
        "by_group": _ci_records(by_group(perq, categories, groups, n_boot=n_boot, seed=seed)),
        "by_zone": _ci_records(by_zone(perc, countries, n_boot=n_boot, seed=seed)),
        "western_gap": western_gap(perc, countries, n_boot=n_boot, seed=seed),
        "mean_question_r": _f(perq["r"].mean()) if len(perq) else None,
        "mean_country_r": _f(perc["r"].mean()) if len(perc) else None,
        "per_question": _records(perq_out),
        "per_country": _records(perc_out),
        "distribution": summarise_distribution(dm, n_boot=n_boot, seed=seed),
        "nearest_countries": _records(near) if not near.empty else None,
        "mean_mass": _f(mass.mean()) if len(mass) else None,
        "n_countries": int(pairs["country"].nunique()),
        "n_questions": int(pairs["qid"].nunique()),
        "bootstrap": BOOTSTRAP_NOTE,
        "n_boot": int(n_boot),
        "seed": int(seed),
    }
    return json_safe(summary)
