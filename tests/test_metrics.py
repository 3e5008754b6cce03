"""Metrics against direct scipy/numpy computations on synthetic data."""
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from culturelens.core.countries import Country
from culturelens.core.questions import DEFAULT_GROUPS, linear_scores
from culturelens.eval.statistics import bootstrap as bs
from culturelens.eval.statistics import metrics

ZONES = ["English-speaking", "Protestant Europe", "Confucian", "African-Islamic"]
CATS = ["Social Values, Norms, Stereotypes", "Economic Values", "Perceptions about Science and Technology"]


def make_countries(n=12):
    out = {}
    for i in range(n):
        code = f"C{i:02d}"
        out[code] = Country(code, code[:2], i, f"Country {i}", ("en",), ZONES[i % len(ZONES)], western=i < n // 2)
    return out


def make_data(n_countries=12, n_questions=15, noise=0.3, seed=0, k=4, with_none=True):
    """Human means/dists and a model that tracks them with noise."""
    rng = np.random.default_rng(seed)
    countries = make_countries(n_countries)
    qids = [f"Q{i + 1}" for i in range(n_questions)]
    sc = linear_scores(k)
    human, model = [], []
    for c in countries:
        for q in qids:
            dist = rng.dirichlet(np.ones(k))
            mean = float(np.dot(dist, sc))
            probs = rng.dirichlet(np.ones(k))
            human.append({"country": c, "qid": q, "n": 1000, "mean": mean, "dist": list(dist)})
            model.append({"country": c, "qid": q, "score": mean + noise * rng.normal(), "probs": list(probs), "mass": 0.8})
    if with_none:
        for q in qids:
            model.append({"country": "NONE", "qid": q, "score": rng.normal(), "probs": [1 / k] * k, "mass": 0.7})
    categories = {q: CATS[i % len(CATS)] for i, q in enumerate(qids)}
    scores = {q: sc for q in qids}
    return pd.DataFrame(model), pd.DataFrame(human), categories, countries, scores


# ------------------------------------------------------------------------------------ pearson


def test_pearson_matches_scipy_and_edge_cases():
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    y = 0.5 * x + rng.normal(size=50)
    assert metrics.pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic)
    assert math.isnan(metrics.pearson([1, 2], [3, 4]))
    assert math.isnan(metrics.pearson([1, 1, 1, 1], [1, 2, 3, 4]))
    assert metrics.pearson([1, 2, 3, np.nan, 5], [2, 4, 6, 100, 10]) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------- bootstrap


def test_mean_ci_contains_estimate_and_narrows():
    rng = np.random.default_rng(2)
    small = rng.normal(size=20)
    big = rng.normal(size=2000)
    est, ci = bs.mean_ci(small, n_boot=500, seed=0)
    assert est == pytest.approx(small.mean())
    assert ci.lo <= est <= ci.hi
    est2, ci2 = bs.mean_ci(big, n_boot=500, seed=0)
    assert ci2.lo <= est2 <= ci2.hi
    assert (ci2.hi - ci2.lo) < (ci.hi - ci.lo)
    # roughly the normal-theory width for the mean
    assert (ci2.hi - ci2.lo) == pytest.approx(2 * 1.96 * big.std() / np.sqrt(big.size), rel=0.2)
    # the replicates are the means of the units drawn by bootstrap.indices (the one source of draws)
    idx = bs.indices(small.size, 500, seed=0)
    assert [ci.lo, ci.hi] == pytest.approx(list(np.percentile(small[idx].mean(axis=1), [2.5, 97.5])))


def test_mean_ci_nan_safe_and_reproducible():
    est, ci = bs.mean_ci([1.0, np.nan, 3.0, None], n_boot=200, seed=0)
    assert est == 2.0 and 1.0 <= ci.lo <= ci.hi <= 3.0
    est, ci = bs.mean_ci([np.nan, 0.5], n_boot=200)
    assert est == 0.5 and not ci.defined
    est, ci = bs.mean_ci([], n_boot=10)
    assert est is None and not ci.defined
    assert bs.mean_ci(np.arange(10.0), n_boot=100, seed=3) == bs.mean_ci(np.arange(10.0), n_boot=100, seed=3)


# ---------------------------------------------------------------------------- correlation tables


def test_perfect_and_negated_model():
    model, human, *_ = make_data(noise=0.0, with_none=False)
    perq = metrics.per_question(model, human)
    perc = metrics.per_country(model, human)
    assert np.allclose(perq["r"], 1.0) and (perq["n_countries"] == 12).all()
    assert np.allclose(perc["r"], 1.0) and (perc["n_questions"] == 15).all()
    neg = model.assign(score=-model["score"])
    assert np.allclose(metrics.per_question(neg, human)["r"], -1.0)
    assert metrics.pooled(neg, human)["r"] == pytest.approx(-1.0)


def test_per_question_and_country_match_scipy():
    model, human, *_ = make_data(noise=0.3)
    m = model[model["country"] != "NONE"].merge(human, on=["country", "qid"])
    perq = metrics.per_question(model, human).set_index("qid")
    perc = metrics.per_country(model, human).set_index("country")
    for q, g in m.groupby("qid"):
        assert perq.loc[q, "r"] == pytest.approx(stats.pearsonr(g["score"], g["mean"]).statistic)
    for c, g in m.groupby("country"):
        assert perc.loc[c, "r"] == pytest.approx(stats.pearsonr(g["score"], g["mean"]).statistic)
    assert "NONE" not in set(perc.index)
    p = metrics.pooled(model, human)
    assert p["r"] == pytest.approx(stats.pearsonr(m["score"], m["mean"]).statistic)
    assert p["n_pairs"] == len(m) and "ci" not in p  # its CI is the engine's two-way bootstrap


def test_by_category_and_group():
    perq = pd.DataFrame({"qid": ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"], "r": [0.9, 0.7, 0.2, 0.4, -0.1, np.nan], "n_countries": 10})
    cats = {"Q1": CATS[0], "Q2": CATS[0], "Q3": CATS[1], "Q4": CATS[1], "Q5": CATS[2], "Q6": CATS[2]}
    bc = metrics.by_category(perq, cats, DEFAULT_GROUPS, n_boot=200, seed=0).set_index("category")
    assert bc.loc[CATS[0], "mean_r"] == pytest.approx(0.8)
    assert bc.loc[CATS[0], "group"] == "norms"
    assert bc.loc[CATS[0], "ci_lo"] <= 0.8 <= bc.loc[CATS[0], "ci_hi"]
    assert bc.loc[CATS[2], "n_questions"] == 1 and math.isnan(bc.loc[CATS[2], "ci_lo"])
    bg = metrics.by_group(perq, cats, DEFAULT_GROUPS, n_boot=200, seed=0).set_index("group")
    assert list(bg.index) == ["norms", "systems", "progress"]
    assert bg.loc["systems", "mean_r"] == pytest.approx(0.3)
    assert bg.loc["progress", "mean_r"] == pytest.approx(-0.1)


def test_by_zone_and_western_gap():
    countries = make_countries(12)
    rng = np.random.default_rng(4)
    r = [0.8 + 0.05 * rng.normal() if countries[c].western else 0.3 + 0.05 * rng.normal() for c in countries]
    perc = pd.DataFrame({"country": list(countries), "r": r, "n_questions": 20})
    bz = metrics.by_zone(perc, countries, n_boot=200, seed=0)
    assert set(bz["zone"]) == set(ZONES) and bz["n_countries"].sum() == 12
    for _, row in bz.iterrows():
        direct = perc[perc["country"].map(lambda c: countries[c].zone) == row["zone"]]["r"].mean()
        assert row["mean_r"] == pytest.approx(direct)
    gap = metrics.western_gap(perc, countries, n_boot=500, seed=0)
    w = np.mean([x for c, x in zip(countries, r) if countries[c].western])
    nw = np.mean([x for c, x in zip(countries, r) if not countries[c].western])
    assert gap["gap"] == pytest.approx(w - nw) and gap["gap"] > 0.4
    assert gap["ci"]["lo"] > 0 and gap["ci"]["lo"] <= gap["gap"] <= gap["ci"]["hi"]
    assert gap["n_western"] == 6 and gap["n_non_western"] == 6
    # reversed
    gap2 = metrics.western_gap(perc.assign(r=-perc["r"]), countries, n_boot=200)
    assert gap2["gap"] < 0 and gap2["ci"]["hi"] < 0


# ---------------------------------------------------------------------------- distributions


def test_distribution_metrics():
    sc = [-1.0, 0.0, 1.0]
    model = pd.DataFrame([
        {"country": "A", "qid": "Q1", "score": 0.0, "probs": [0.2, 0.3, 0.5], "mass": 1.0},
        {"country": "A", "qid": "Q2", "score": 0.0, "probs": [1.0, 0.0, 0.0], "mass": 1.0},
        {"country": "B", "qid": "Q1", "score": 0.0, "probs": [0.5, 0.5, 0.0], "mass": 1.0},
        {"country": "B", "qid": "Q2", "score": 0.0, "probs": [0.5, 0.5, 0.0], "mass": 1.0},
    ])
    human = pd.DataFrame([
        {"country": "A", "qid": "Q1", "n": 1, "mean": 0.0, "dist": [0.2, 0.3, 0.5]},
        {"country": "A", "qid": "Q2", "n": 1, "mean": 0.0, "dist": [0.0, 0.0, 1.0]},
        {"country": "B", "qid": "Q1", "n": 1, "mean": 0.0, "dist": [0.0, 0.5, 0.5]},
        {"country": "B", "qid": "Q2", "n": 1, "mean": 0.0, "dist": None},
    ])
    dm = metrics.distribution_metrics(model, human, {"Q1": sc, "Q2": sc}).set_index(["country", "qid"])
    assert len(dm) == 3  # the pair without a human distribution is skipped
    assert dm.loc[("A", "Q1"), "one_minus_js_distance"] == pytest.approx(1.0)
    assert dm.loc[("A", "Q1"), "wasserstein"] == pytest.approx(0.0, abs=1e-12)
    # all mass at -1 vs all at +1: disjoint supports, Jensen–Shannon distance 1, W1 = 2 (the maximum)
    assert dm.loc[("A", "Q2"), "one_minus_js_distance"] == pytest.approx(0.0, abs=1e-12)
    assert dm.loc[("A", "Q2"), "wasserstein"] == pytest.approx(2.0)
    # hand computed: CDFs over {-1,0,1}: (.5,1,1) vs (0,.5,1); W1 = .5*1 + .5*1 = 1.0
    assert dm.loc[("B", "Q1"), "wasserstein"] == pytest.approx(1.0)
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5])
    assert dm.loc[("B", "Q1"), "one_minus_js_distance"] == pytest.approx(1 - jensenshannon(p, q, base=2))
    s = metrics.summarise_distribution(dm.reset_index(), n_boot=100)
    assert s["n_pairs"] == 3
    assert s["wasserstein"]["mean"] == pytest.approx(1.0)
    assert metrics.summarise_distribution(dm.iloc[:0]) is None


# -------------------------------------------------------------------------------- other analyses


def test_nearest_countries_finds_the_copied_country():
    model, human, *_ = make_data(noise=0.3, with_none=False)
    src = human[human["country"] == "C07"]
    none = pd.DataFrame({"country": "NONE", "qid": src["qid"], "score": src["mean"], "probs": [[0.25] * 4] * len(src), "mass": 1.0})
    near = metrics.nearest_countries(pd.concat([model, none], ignore_index=True), human)
    assert near.iloc[0]["country"] == "C07" and near.iloc[0]["r"] == pytest.approx(1.0)
    assert len(near) == 12 and near["r"].is_monotonic_decreasing
    assert metrics.nearest_countries(model, human).empty


def test_paired_bootstrap_diff():
    rng = np.random.default_rng(5)
    a = pd.Series(rng.normal(size=30), index=[f"Q{i}" for i in range(30)])
    d = metrics.paired_bootstrap_diff(a, a.copy(), n_boot=200, seed=0)
    assert d["diff"] == 0 and d["ci"]["lo"] <= 0 <= d["ci"]["hi"] and d["n"] == 30
    b = a - 0.5 + 0.01 * rng.normal(size=30)
    d = metrics.paired_bootstrap_diff(a, b.iloc[::-1], n_boot=500, seed=0)  # aligned by index, not position
    assert d["diff"] == pytest.approx(0.5, abs=0.01) and d["ci"]["lo"] > 0.45 and d["ci"]["hi"] < 0.55
    # units missing or nan on either side are dropped
    d = metrics.paired_bootstrap_diff(a.iloc[:10], b.where(b.index != "Q0"), n_boot=100)
    assert d["n"] == 9


# ---------------------------------------------------------------------------------------- summary


def test_compute_summary_is_json_serialisable():
    model, human, categories, countries, scores = make_data(noise=0.3)
    # a question without human variance and a country without a Country record
    model = pd.concat([model, pd.DataFrame([{"country": "ZZZ", "qid": "Q1", "score": 0.1, "probs": [0.25] * 4, "mass": 0.5}])])
    s = metrics.compute_summary(model, human, categories, DEFAULT_GROUPS, countries, scores, n_boot=50, seed=0)
    text = json.dumps(s, allow_nan=False)
    assert json.loads(text)["n_questions"] == 15
    for key in ("pooled", "by_category", "by_group", "by_zone", "western_gap", "per_question", "per_country",
                "distribution", "nearest_countries", "mean_mass", "n_countries", "n_questions", "bootstrap"):
        assert key in s
    assert s["n_countries"] == 12
    assert {r["category"] for r in s["by_category"]} == set(CATS)
    assert s["nearest_countries"] is not None and len(s["per_question"]) == 15
    assert s["distribution"]["n_pairs"] == 12 * 15
    s2 = metrics.compute_summary(model[model["country"] != "NONE"], human.assign(dist=None), categories, DEFAULT_GROUPS,
                                 countries, scores, n_boot=20)
    assert s2["nearest_countries"] is None and s2["distribution"] is None
    json.dumps(s2, allow_nan=False)
