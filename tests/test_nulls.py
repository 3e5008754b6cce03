"""Grid statistics, the country-permutation null, the two-way bootstrap and the Western gap beyond the null,
against hand computations and scipy."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from culturelens.core.countries import Country
from culturelens.core.questions import linear_scores
from culturelens.eval.statistics import bootstrap as bs
from culturelens.eval.statistics import engine, metrics, western
from culturelens.eval.statistics import grid as g
from culturelens.eval.statistics import weighted as wt


def frames(model: np.ndarray, human: np.ndarray):
    """model_df / human_df from (Q, C) arrays (nan = missing), countries C00.., questions Q1.."""
    rows_m, rows_h = [], []
    for q in range(model.shape[0]):
        for c in range(model.shape[1]):
            if np.isfinite(model[q, c]):
                rows_m.append({"country": f"C{c:02d}", "qid": f"Q{q + 1}", "score": model[q, c], "mass": 1.0})
            if np.isfinite(human[q, c]):
                rows_h.append({"country": f"C{c:02d}", "qid": f"Q{q + 1}", "n": 100, "mean": human[q, c], "dist": None})
    return pd.DataFrame(rows_m), pd.DataFrame(rows_h)


def countries_of(n, n_western):
    return {f"C{i:02d}": Country(f"C{i:02d}", "XX", i, f"C{i}", ("en",), "Confucian", western=i < n_western) for i in range(n)}


# ------------------------------------------------------------------------------------ grid statistics


def test_the_one_pearson_matches_scipy_row_by_row():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 9)), rng.normal(size=(6, 9))
    x[0, :3] = np.nan
    y[1, 5] = np.nan
    x[2] = 0.4  # constant row -> nan
    x[3, 2:] = np.nan  # two pairs left -> nan
    got = g.question_r(x, y)
    ok = [np.isfinite(a) & np.isfinite(b) for a, b in zip(x, y)]
    want = [stats.pearsonr(a[m], b[m]).statistic if m.sum() >= 3 and np.ptp(a[m]) > 0 else np.nan for a, b, m in zip(x, y, ok)]
    np.testing.assert_allclose(got, want, equal_nan=True, rtol=1e-12)
    np.testing.assert_allclose([metrics.pearson(a, b) for a, b in zip(x, y)], got, equal_nan=True, rtol=0)
    assert math.isnan(got[2]) and math.isnan(got[3])
    # a centred constant row is rounding residue, not signal
    row = np.full((1, 9), 0.1) + np.arange(9) * 1e-17
    assert math.isnan(g.centred_country_r(np.repeat(row, 4, axis=0).T, rng.normal(size=(9, 4)))[0])
    assert math.isnan(g.question_r(g.centre(np.full((1, 7), 0.3), np.ones((1, 7), bool)), rng.normal(size=(1, 7)))[0])


def test_grid_r_matches_metrics_tables():
    rng = np.random.default_rng(1)
    human = rng.uniform(-1, 1, size=(8, 7))
    model = human + rng.normal(scale=0.5, size=human.shape)
    model[2, 3] = np.nan
    mdf, hdf = frames(model, human)
    grid = g.score_grid(mdf, hdf)
    perq = metrics.per_question(mdf, hdf).set_index("qid")["r"]
    perc = metrics.per_country(mdf, hdf).set_index("country")["r"]
    np.testing.assert_allclose(g.question_r(grid.model, grid.human), perq.reindex(grid.qids), rtol=1e-12)
    np.testing.assert_allclose(g.country_r(grid.model, grid.human), perc.reindex(grid.countries), rtol=1e-12)
    assert float(g.pooled_r(grid.model, grid.human)) == pytest.approx(metrics.pooled(mdf, hdf)["r"])


def test_centred_metrics_by_hand():
    human = np.array([[0.2, 0.4, 0.9], [-0.5, 0.1, 0.1], [0.3, -0.3, 0.6], [0.0, 0.5, -0.2]])
    model = np.array([[0.1, 0.1, 0.7], [0.2, 0.2, -0.1], [0.5, 0.0, 0.4], [0.3, 0.6, 0.0]])
    hc = human - human.mean(axis=1, keepdims=True)
    mc = model - model.mean(axis=1, keepdims=True)
    want_r = [stats.pearsonr(mc[:, c], hc[:, c]).statistic for c in range(3)]
    np.testing.assert_allclose(g.centred_country_r(model, human), want_r, rtol=1e-12)
    np.testing.assert_allclose(g.centred_country_mae(model, human), np.abs(mc - hc).mean(axis=0), rtol=1e-12)
    # a missing cell leaves that country out of its question's mean, on both sides
    model[0, 2] = np.nan
    row0 = g.centre(model, np.isfinite(model) & np.isfinite(human))[0]
    np.testing.assert_allclose(row0[:2], [0.0, 0.0])
    assert math.isnan(row0[2])


def test_wasserstein_1_matches_scipy_and_cross_grid():
    rng = np.random.default_rng(2)
    vals = np.array(linear_scores(5))[::-1]  # unsorted support on purpose
    p, q = rng.dirichlet(np.ones(5), size=4), rng.dirichlet(np.ones(5), size=4)
    got = wt.wasserstein_1(p[:, None, :], q[None, :, :], vals)
    for i in range(4):
        for j in range(4):
            assert got[i, j] == pytest.approx(stats.wasserstein_distance(vals, vals, p[i], q[j]))
    mdf = pd.DataFrame([{"country": f"C{i:02d}", "qid": "Q1", "score": float(p[i] @ vals), "probs": list(p[i])} for i in range(4)])
    hdf = pd.DataFrame([{"country": f"C{i:02d}", "qid": "Q1", "mean": float(q[i] @ vals), "dist": list(q[i])} for i in range(4)])
    grid = g.score_grid(mdf, hdf, {"Q1": list(vals)})
    np.testing.assert_allclose(grid.w1[0], got)
    dm = metrics.distribution_metrics(mdf, hdf, {"Q1": list(vals)}).set_index("country")["wasserstein"]
    np.testing.assert_allclose(grid.model_w1[0], dm.reindex(grid.countries))


# ------------------------------------------------------------------------------------------- nulls


def test_permuted_scores_and_w1_follow_the_indices():
    rng = np.random.default_rng(4)
    model, w1 = rng.normal(size=(3, 4)), rng.uniform(size=(3, 4, 4))
    idx = bs.joint_permutations(np.ones((3, 4), bool), n_perm=7, seed=0)
    perm, pw = g.permuted_scores(model, idx), g.permuted_w1(w1, idx)
    for p, q, c in [(0, 0, 0), (3, 1, 2), (6, 2, 3)]:
        assert perm[p, q, c] == model[q, idx[p, q, c]]
        assert pw[p, q, c] == w1[q, idx[p, q, c], c]


def _tests(model, human, n_perm=200, n_boot=300):
    data = engine.GridData([], [], model, human, np.arange(model.shape[0]))
    return engine.metric_tests(data, engine.Draws.make(data.valid, data.clusters, n_perm, n_boot, 0))


def test_the_null_separates_country_knowledge_from_question_pattern():
    """A model that knows only each question's level gets pooled r far above 0 but no more than its null;
    a model that knows the countries beats the null on every metric."""
    rng = np.random.default_rng(5)
    level = rng.uniform(-0.8, 0.8, size=(30, 1))
    human = level + 0.2 * rng.normal(size=(30, 12))
    blind = np.repeat(level, 12, axis=1) + 0.05 * rng.normal(size=(30, 12))
    knows = human + 0.05 * rng.normal(size=human.shape)
    nb, nk = _tests(blind, human), _tests(knows, human)
    assert nb["pooled_r"].model > 0.8
    assert abs(nb["mean_question_r"].null_mean) < 0.05  # 0 by symmetry
    for key in ("pooled_r", "mean_question_r", "mean_country_r", "mean_centred_country_r"):
        assert nb[key].verdict == "no evidence", key
        assert nk[key].ci.lo > 0 and nk[key].p_perm < 0.01, key
    assert nk["mean_centred_mae"].ci.hi < 0 and nk["mean_centred_mae"].p_perm < 0.01


# ------------------------------------------------------------------------------------ Western gap


def test_gap_verdict_rules():
    assert western.gap_verdict((0.1, 0.3), 6, 6) == "western"
    assert western.gap_verdict((-0.3, -0.1), 6, 6) == "non-western"
    assert western.gap_verdict((-0.1, 0.3), 6, 6) == "no evidence"
    assert western.gap_verdict((0.1, 0.3), 4, 30) == "too few countries"
    # errors: skill over the null, so lower error than the null is a positive excess
    np.testing.assert_allclose(western.excess_over(np.array([0.2, 0.5]), np.array([0.4, 0.4]), "skill"), [0.5, -0.25])


def test_gap_beyond_null_by_hand():
    model = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.2, 0.3, 0.1, 0.2, 0.3, 0.4])
    offset = np.tile([0.1, 0.2, 0.3, 0.1, 0.2, 0.3], 2)  # the same excess over the null on both sides
    null = np.stack([model - offset + 0.05, model - offset - 0.05])
    is_w = np.arange(12) < 6
    out = western.gap_beyond_null(model, null, is_w, n_boot=200, seed=0)
    assert out["model_gap"] == pytest.approx(model[:6].mean() - model[6:].mean())
    assert out["null_gap"] == pytest.approx(out["model_gap"])
    assert out["gap"] == pytest.approx(0.0, abs=1e-12)
    assert out["ci"]["lo"] < 0 < out["ci"]["hi"]
    assert out["verdict"] == "no evidence"  # the whole raw gap is explained by the null
    few = western.gap_beyond_null(model[2:], null[:, 2:], is_w[2:], n_boot=200, seed=0)
    assert few["verdict"] == "too few countries" and few["ci"] == {"lo": None, "hi": None} and few["n_western"] == 4
    summary = western.western_gap_summary({"centred_r": few})
    assert summary["verdict"] == "too few countries" and "4 Western" in summary["said"]


def spread_world(seed=0, n_q=25, n_w=12, n_r=14):
    """Human means where Western countries spread more across questions (shared pattern x 1.0 vs x 0.3)."""
    rng = np.random.default_rng(seed)
    pattern = rng.normal(size=(n_q, 1))
    amp = np.r_[np.full(n_w, 1.0), np.full(n_r, 0.3)]
    human = np.tanh(0.5 * pattern * amp + 0.08 * rng.normal(size=(n_q, n_w + n_r)))
    return human, countries_of(n_w + n_r, n_w)


def loo_grid(human):
    n = human.shape[1]
    return (human.sum(axis=1, keepdims=True) - human) / (n - 1)


def test_leave_one_out_is_not_western_beyond_the_null_though_the_old_rule_says_so():
    from culturelens.eval.backends import baselines

    human, countries = spread_world()
    mdf_h = frames(human, human)[1]
    scores = {q: linear_scores(10) for q in mdf_h["qid"].unique()}
    pred = baselines.leave_one_out(mdf_h, scores)
    mdf = pred.assign(mass=1.0)
    grid = g.score_grid(mdf, mdf_h)
    np.testing.assert_allclose(grid.model, loo_grid(human)[:, :], rtol=1e-12)

    old = metrics.western_gap(metrics.per_country(mdf, mdf_h), countries, n_boot=500, seed=0)
    assert old["gap"] > 0.1 and old["ci"]["lo"] > 0  # the old rule: "Western-biased"

    is_w = np.array([countries[c].western for c in grid.countries])
    idx = bs.joint_permutations(grid.valid, 300, seed=0)
    measures = western.western_gap_measures(grid, g.permuted_scores(grid.model, idx), idx, is_w, n_boot=500, seed=0)
    for name in ("centred_r", "centred_mae"):
        assert measures[name]["verdict"] not in ("western", "non-western"), (name, measures[name])
    assert measures["centred_r"]["model_gap"] == pytest.approx(0.0, abs=1e-9)  # centred r = -1 for every country
    summary = western.western_gap_summary(measures)
    assert summary["verdict"] == "no evidence" and summary["verdict_measure"] == "centred_r"
    # raw per-country r: the null removes almost all of the old gap (0.13 -> 0.004), see eval/statistics/western.py
    assert abs(measures["r"]["gap"]) < 0.02 < old["gap"] / 5


def test_a_model_that_knows_western_countries_better_is_called_western():
    human, countries = spread_world(seed=1)
    rng = np.random.default_rng(2)
    noise = np.r_[np.full(12, 0.05), np.full(14, 0.6)]
    model = human + noise * rng.normal(size=human.shape)
    grid = g.ScoreGrid([f"Q{i}" for i in range(human.shape[0])], list(countries), model, human)
    is_w = np.array([c.western for c in countries.values()])
    idx = bs.joint_permutations(grid.valid, 300, seed=0)
    measures = western.western_gap_measures(grid, g.permuted_scores(model, idx), idx, is_w, n_boot=500, seed=0)
    # under the joint null (one shuffle for every question) the per-country centred-r gap's null spreads widely
    # (null gap +0.43 here): its CI covers 0 though the gap is +0.21; r and the centred-MAE skill say "western"
    assert measures["centred_r"]["gap"] > 0.1 and measures["r"]["verdict"] == "western"
    assert measures["centred_mae"]["verdict"] == "western" and measures["centred_mae"]["model_gap"] < 0
    flipped = western.western_gap_measures(grid, g.permuted_scores(model, idx), idx, ~is_w, n_boot=500, seed=0)
    assert flipped["centred_mae"]["verdict"] == "non-western" and flipped["r"]["verdict"] == "non-western"


def test_w1_null_and_gap_with_distributions():
    rng = np.random.default_rng(10)
    vals = linear_scores(4)
    rows_m, rows_h = [], []
    for c in range(12):
        for q in range(8):
            d = rng.dirichlet(np.ones(4))
            p = d if c < 6 else rng.dirichlet(np.ones(4))  # knows the first 6 countries exactly
            rows_h.append({"country": f"C{c:02d}", "qid": f"Q{q}", "mean": float(d @ vals), "dist": list(d)})
            rows_m.append({"country": f"C{c:02d}", "qid": f"Q{q}", "score": float(p @ vals), "probs": list(p), "mass": 1.0})
    grid = g.score_grid(pd.DataFrame(rows_m), pd.DataFrame(rows_h), {f"Q{q}": vals for q in range(8)})
    assert np.allclose(grid.model_w1[:, :6], 0.0)
    from culturelens.eval.statistics.country_knowledge import w1_test

    cl = np.arange(len(grid.qids))
    w1 = w1_test(grid, engine.Draws.make(grid.valid, cl, 200, 300, 0))
    assert w1.better == "lower" and w1.ci.hi < 0 and w1.p_perm < 0.05
    idx = bs.joint_permutations(grid.valid, 200, seed=0)
    is_w = np.arange(12) < 6
    gap = western.western_gap_measures(grid, g.permuted_scores(grid.model, idx), idx, is_w, n_boot=300, seed=0)["w1"]
    assert gap["western_excess"] == pytest.approx(1.0)  # skill 1 - 0/null
    assert gap["verdict"] == "western"


def test_country_knowledge_of_a_run():
    from test_metrics import make_data

    from culturelens.core.questions import DEFAULT_GROUPS
    from culturelens.eval.statistics.country_knowledge import country_knowledge

    model_df, human_df, categories, countries, scores = make_data(n_countries=12, n_questions=15, noise=0.1)
    out = country_knowledge(model_df, human_df, categories, DEFAULT_GROUPS, countries, scores, n_perm=100, n_boot=200, seed=0)
    perq = metrics.per_question(model_df, human_df)
    assert out["nulls"]["mean_question_r"]["model"] == pytest.approx(perq["r"].mean())
    assert out["nulls"]["mean_question_r"]["ci"]["lo"] > 0  # the model tracks the humans country by country
    by_group = out["nulls"]["mean_question_r_by_group"]
    want = metrics.by_group(perq, categories, DEFAULT_GROUPS, n_boot=10).set_index("group")["mean_r"]
    assert {k: v["model"] for k, v in by_group.items()} == pytest.approx(want.to_dict())
    assert set(out["nulls"]["mean_question_r_by_category"]) == set(categories.values())
    assert out["western_gap"]["verdict"] in western.VERDICTS
    assert set(out["western_gap"]["measures"]) == {"centred_r", "r", "centred_mae", "w1"}
    assert out["pooled_two_way"]["n_pairs"] == 12 * 15
    # countries without metadata are left out of the gap only
    few = {c: countries[c] for c in list(countries)[:8]}
    out8 = country_knowledge(model_df, human_df, categories, DEFAULT_GROUPS, few, scores, n_perm=50, n_boot=100, seed=0)
    assert out8["western_gap"]["measures"]["r"]["n_western"] + out8["western_gap"]["measures"]["r"]["n_non_western"] == 8
    assert out8["nulls"]["mean_country_r"]["n_units"] == 12


def test_merge_into_summary_keeps_the_raw_gap_and_labels_pooled():
    from test_metrics import make_data

    from culturelens.core.questions import DEFAULT_GROUPS
    from culturelens.eval.statistics.country_knowledge import country_knowledge, merge_into_summary

    model_df, human_df, categories, countries, scores = make_data(n_countries=12, n_questions=10, noise=0.2)
    summary = metrics.compute_summary(model_df, human_df, categories, DEFAULT_GROUPS, countries, scores, n_boot=100)
    know = country_knowledge(model_df, human_df, categories, DEFAULT_GROUPS, countries, scores, n_perm=50, n_boot=100)
    out = merge_into_summary(summary, know)
    assert out["western_gap"]["raw"]["gap"] == summary["western_gap"]["gap"]
    assert out["western_gap"]["gap"] == know["western_gap"]["gap"]  # the fidelity-slope verdict measure
    assert out["western_gap"]["verdict_measure"] == "fidelity_slope"
    assert out["western_gap"]["verdict"] in western.VERDICTS
    assert out["pooled"]["r"] == pytest.approx(summary["pooled"]["r"])
    assert "ci_pairs" not in out["pooled"]  # one CI per number: the two-way one
    assert out["pooled"]["resampling"] == bs.TWO_WAY
    assert out["nulls"]["mean_question_r"]["model"] == pytest.approx(summary["mean_question_r"])
