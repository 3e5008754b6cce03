"""The Western gap beyond the country-permutation null, and its verdict.

Why not the raw gap: per-country r across questions rewards getting the shared question pattern
right, and countries whose human scores spread more across questions (on the 55-country ethics
data the Western ones: mean SD 0.49 vs 0.21) get a higher r from *any* predictor that knows the
pattern, including one with no knowledge of any country (``eval/backends/baselines.py``: leave_one_out
gets a raw gap of +0.18 with a CI above 0). So the verdict is about the gap in what the model
scores *beyond its own permutation null*, country by country:

    excess_c = measure_c(model) - mean over permutations of measure_c(permuted model)   (r measures)
    gap      = mean(excess_c over Western c) - mean(excess_c over non-Western c)

i.e. the model's gap minus the null's gap, paired over countries (each country is compared with
its own null). The CI is a percentile bootstrap over countries, Western and non-Western resampled
separately, each replicate against one permutation drawn at random on the same countries
(``bootstrap.stratified_with_picks``). Unlike a metric's model - null (``engine.py``, whose significance
comes from the permutation p), these measures carry their own per-measure verdict from the CI, so the
CI keeps the null's own spread: against the fixed null mean, leave_one_out's centred-r gap (exactly 0)
would read "non-western", because its null gap (+0.06 on the synthetic test set) is itself a draw.
They are descriptions; the verdict is ``western_slope.py``'s.

Four per-country measures are reported: r on centred scores (which carries the verdict), r on raw
scores (the measure of the old rule, now net of the null), MAE on centred scores and W1 on
distributions. For the two errors the excess is the skill 1 - model/null (``excess_over``), so
every excess is higher-is-better and a positive gap favours Western countries.
Why centred r carries the verdict: raw per-country r turns the same amount of country knowledge
into a different change of r depending on how much of the country's variance is the shared
question pattern (near r = 1 it moves little), and that share is what differs between Western and
non-Western countries. leave_one_out shows it: it moves against every country by the same 1/(n-1)
of its own answer (centred r = -1 for every country, a gap of exactly 0), yet on raw r that costs
non-Western countries a little more (a gap beyond the null of +0.004 on the synthetic test set,
with a CI above 0). Centred r and MAE compare only what distinguishes a country from the others.

Verdict (per measure): with fewer than ``MIN_COUNTRIES`` countries on a side, no CI and
``too few countries``; otherwise ``western`` when the CI lies wholly above 0 (Western countries
gain more over the null), ``non-western`` when wholly below 0, else ``no evidence``.
"""
from __future__ import annotations

import numpy as np

from culturelens.core.jsonsafe import json_safe, safe_float
from culturelens.eval.statistics import bootstrap as bs
from culturelens.eval.statistics import grid as g
from culturelens.eval.statistics.sides import side_gap

MIN_COUNTRIES = 5
VERDICTS = ("western", "non-western", "no evidence", "too few countries")
PRIMARY = "centred_r"
MEASURES = {  # name -> (what, how the excess over the null is taken)
    "centred_r": ("per-country r on centred scores, beyond the permutation null", "difference"),
    "r": ("per-country r across questions, beyond the permutation null", "difference"),
    "centred_mae": ("per-country mean absolute error on centred scores, as skill over the permutation null", "skill"),
    "w1": ("per-country mean Wasserstein-1 on answer distributions, as skill over the permutation null", "skill"),
}
EXCESS = {"difference": "model - null", "skill": "1 - model / null (error skill over the null; higher is better)"}


def excess_over(model_units: np.ndarray, null_units: np.ndarray, kind: str) -> np.ndarray:
    """Per country, how much better the model is than the null: model - null for correlations; for errors
    the skill 1 - model/null (scale-free: a country whose answers deviate more has larger errors under
    any predictor, so an error difference would carry the countries' spread back in). Higher is better."""
    model_units = np.asarray(model_units, dtype=float)
    if kind == "difference":
        return model_units - null_units
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(null_units > 0, 1.0 - model_units / null_units, np.nan)


def stratified_gap_ci(model_units: np.ndarray, null_units: np.ndarray, is_western: np.ndarray, kind: str = "difference",
                      n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of the Western minus non-Western excess over the null: each replicate resamples Western
    and non-Western countries separately and takes the null from one permutation drawn at random.
    model_units (C,), null_units (P, C), is_western (C,) bool."""
    west, rest = np.flatnonzero(is_western), np.flatnonzero(~is_western)
    if west.size < 2 or rest.size < 2 or n_boot < 1 or null_units.shape[0] < 1:
        return float("nan"), float("nan")
    (w, r), draws = bs.stratified_with_picks([west, rest], null_units.shape[0], n_boot, seed)
    ex_w = excess_over(model_units[w], null_units[draws, w], kind)
    ex_r = excess_over(model_units[r], null_units[draws, r], kind)
    ci = bs.percentile_ci(g.nan_mean(ex_w, axis=-1) - g.nan_mean(ex_r, axis=-1), level)
    return (float("nan") if ci.lo is None else ci.lo, float("nan") if ci.hi is None else ci.hi)  # type: ignore[union-attr]  # a 1-d input gives a CI


def gap_verdict(ci: tuple[float, float], n_west: int, n_rest: int) -> str:
    """One of VERDICTS from the CI of the Western minus non-Western excess (higher = better for the West)."""
    if min(n_west, n_rest) < MIN_COUNTRIES:
        return "too few countries"
    lo, hi = ci
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "no evidence"
    return "western" if lo > 0 else "non-western" if hi < 0 else "no evidence"


def gap_beyond_null(model_units: np.ndarray, null_units: np.ndarray, is_western: np.ndarray, kind: str = "difference",
                    n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Western minus non-Western of the per-country excess over the null, with its CI and verdict.

    model_units: (C,) the measure per country; null_units: (P, C) the same for each permutation;
    is_western: (C,) bool; kind: "difference" or "skill" (``excess_over``). Countries where the
    measure is nan are left out. model_gap / null_gap are the raw gaps in the measure's own units."""
    model_units = np.asarray(model_units, dtype=float)
    null_mean = g.nan_mean(null_units, axis=0)
    excess = excess_over(model_units, null_mean, kind)
    ok = np.isfinite(excess)
    w, r = ok & is_western, ok & ~is_western
    n_w, n_r = int(w.sum()), int(r.sum())

    ci = (float("nan"), float("nan"))
    if min(n_w, n_r) >= MIN_COUNTRIES:
        ci = stratified_gap_ci(model_units[ok], null_units[:, ok], is_western[ok], kind, n_boot, seed, level)
    return json_safe({
        "model_gap": side_gap(model_units, w, r), "null_gap": side_gap(null_mean, w, r), "excess": EXCESS[kind],
        "western_excess": float(excess[w].mean()) if n_w else None, "non_western_excess": float(excess[r].mean()) if n_r else None,
        "gap": side_gap(excess, w, r), "ci": bs.CI(lo=safe_float(ci[0]), hi=safe_float(ci[1])),
        "verdict": gap_verdict(ci, n_w, n_r), "n_western": n_w, "n_non_western": n_r,
    })


def western_gap_measures(grid: g.ScoreGrid, perm: np.ndarray, idx: np.ndarray, is_western: np.ndarray,
                         n_boot: int = 1000, seed: int = 0) -> dict:
    """gap_beyond_null for each of MEASURES (w1 only where distributions exist) on one grid and null."""
    units = {
        "centred_r": (g.centred_country_r(grid.model, grid.human), g.centred_country_r(perm, grid.human)),
        "r": (g.country_r(grid.model, grid.human), g.country_r(perm, grid.human)),
        "centred_mae": (g.centred_country_mae(grid.model, grid.human), g.centred_country_mae(perm, grid.human)),
    }
    if grid.w1 is not None:
        units["w1"] = (g.country_w1(grid.model_w1), g.country_w1(g.permuted_w1(grid.w1, idx)))  # type: ignore[arg-type]  # model_w1 is set whenever w1 is
    out = {}
    for name, (model_units, null_units) in units.items():
        what, kind = MEASURES[name]
        out[name] = {"what": what, **gap_beyond_null(model_units, null_units, is_western, kind, n_boot, seed)}
    return out


def western_gap_summary(measures: dict) -> dict:
    """The ``western_gap`` block: the verdict of the PRIMARY measure, said plainly, and every measure."""
    main = measures[PRIMARY]
    if main["verdict"] == "too few countries":
        said = (f"too few countries: {main['n_western']} Western and {main['n_non_western']} non-Western with a defined measure "
                f"(at least {MIN_COUNTRIES} per side are needed for a CI)")
    else:
        said = (f"{main['verdict']} on {MEASURES[PRIMARY][0]} ({main['n_western']} Western vs {main['n_non_western']} "
                "non-Western countries)")
    agree = len({m["verdict"] for m in measures.values()}) == 1
    return json_safe({"verdict": main["verdict"], "verdict_measure": PRIMARY, "said": said, "measures_agree": agree,
                        "min_countries_per_side": MIN_COUNTRIES, "measures": measures})
