"""The statistics engine: draws, weighted statistics, the joint null, the model - null CI, the fidelity-slope Western
measure, Holm / BH, the parametric reference predictors; checked by hand, against scipy and by small simulations."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from culturelens.core.errors import ConfigError
from culturelens.eval.backends import baselines
from culturelens.eval.statistics import bootstrap as bs
from culturelens.eval.statistics import engine
from culturelens.eval.statistics import weighted as wt
from culturelens.eval.statistics.multiple import bh, holm
from culturelens.eval.statistics.western_slope import side_slopes, western_slope


def test_weighted_pearson_equals_pearson_on_the_resampled_data():
    g = np.random.default_rng(0)
    x, y = g.normal(size=12), g.normal(size=12)
    assert wt.pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic)
    w = np.array([2, 0, 1, 3, 1, 0, 1, 1, 2, 1, 0, 1])
    assert wt.pearson(x, y, w) == pytest.approx(stats.pearsonr(np.repeat(x, w), np.repeat(y, w)).statistic)
    assert np.isnan(wt.pearson(np.ones(5), y[:5]))  # constant side
    assert np.isnan(wt.pearson(x[:2], y[:2]))  # fewer than 3 units
    assert np.isnan(wt.pearson(x + 1e-17 * g.normal(size=12) * 0 + 0.5, np.full(12, 0.3) + 1e-18 * np.arange(12)))


def test_cluster_weights_draw_whole_clusters():
    w = bs.cluster_weights(np.array([0, 0, 1, 2, 2, 2]), 500, bs.rng(0))
    assert (w[:, 0] == w[:, 1]).all() and (w[:, 3] == w[:, 5]).all()
    assert w[:, [0, 2, 3]].sum(axis=1).tolist() == [3] * 500  # three clusters drawn per replicate
    rows, cols = bs.two_way_weights(np.arange(4), 6, 100, seed=1, strata=np.array([1, 1, 0, 0, 0, 0]))
    assert (cols[:, :2].sum(axis=1) == 2).all() and (cols[:, 2:].sum(axis=1) == 4).all() and (rows.sum(axis=1) == 4).all()


def test_joint_permutation_is_one_shuffle_for_every_question_and_a_bijection_on_each_questions_countries():
    valid = np.ones((4, 6), bool)
    valid[1, [0, 3]] = False
    valid[3, 5] = False
    idx = bs.joint_permutations(valid, 300, seed=0)
    full = idx[:, 0, :]
    assert (idx[:, 2, :] == full).all()  # complete questions share the shuffle
    for q in range(4):
        cols = np.flatnonzero(valid[q])
        for p in range(300):
            assert sorted(idx[p, q, cols]) == sorted(cols)  # a permutation of the question's own countries
        assert (idx[:, q, ~valid[q]] == np.flatnonzero(~valid[q])).all()
    # the induced permutation is uniform on the subset: each country of question 1 lands on each slot about equally
    counts = np.stack([(idx[:, 1, 1] == c).mean() for c in np.flatnonzero(valid[1])])
    assert counts == pytest.approx(np.full(4, 0.25), abs=0.08)


def test_permutation_p_by_hand():
    assert bs.permutation_p(0.5, np.array([0.1, 0.6, 0.5, 0.2])) == pytest.approx(3 / 5)
    assert bs.permutation_p(0.5, np.array([0.1, 0.6, 0.5, 0.2]), higher_is_better=False) == pytest.approx(4 / 5)


def _grid(n_q=30, n_c=20, seed=0):
    g = np.random.default_rng(seed)
    human = g.normal(size=(n_q, 1)) * 0.5 + g.normal(size=(n_q, n_c)) * 0.3
    return human, g


def test_model_minus_null_ci_is_the_models_ci_minus_the_fixed_null_mean():
    human, g = _grid()
    model = human + g.normal(scale=0.3, size=human.shape)
    data = engine.GridData([f"Q{i}" for i in range(30)], [f"C{i}" for i in range(20)], model, human, np.arange(30))
    draws = engine.Draws.make(data.valid, data.clusters, 200, 300, seed=0)
    t = engine.metric_tests(data, draws)["mean_question_r"]
    boot = engine.mean_question_r(model, human, draws.rows, draws.cols, np.ones(30, bool))
    lo, hi = np.percentile(boot, [2.5, 97.5])
    assert [t.ci.lo, t.ci.hi] == pytest.approx([lo - t.null_mean, hi - t.null_mean])
    assert t.model_minus_null == pytest.approx(t.model - t.null_mean) and t.verdict == engine.BEATS and t.p_perm < 0.01


def test_a_country_consistent_quirk_stays_inside_the_joint_null():
    rejections = 0
    for s in range(60):
        human, g = _grid(n_q=24, n_c=16, seed=s)
        model = human.mean(axis=1, keepdims=True) + g.normal(scale=0.15, size=(1, 16)) + g.normal(scale=0.05, size=human.shape)
        data = engine.GridData([f"Q{i}" for i in range(24)], [f"C{i}" for i in range(16)], model, human, np.arange(24))
        draws = engine.Draws.make(data.valid, data.clusters, 199, 10, seed=s)
        rejections += engine.metric_tests(data, draws)["mean_question_r"].verdict == engine.BEATS
    assert rejections <= 9  # nominal 5 % of 60 = 3; the per-question null rejected ~27 %


def _west_grid(seed=0, n_q=19, n_w=11, n_n=44):
    g = np.random.default_rng(seed)
    human = np.concatenate([g.normal(size=(n_q, n_w)) * 0.32, g.normal(size=(n_q, n_n)) * 0.17], axis=1) + g.normal(size=(n_q, 1)) * 0.3
    west = np.arange(n_w + n_n) < n_w
    return human, west, g


def test_fidelity_slope_by_hand_and_the_reference_cases():
    human, west, g = _west_grid()
    assert side_slopes(human, human, west) == pytest.approx(np.ones(55))
    loo = (human.sum(axis=1, keepdims=True) - human) / (55 - 1)
    out = western_slope(loo, human, west)
    assert out.gap == pytest.approx(0.0, abs=1e-12) and out.verdict == "no evidence" and out.mde > 0 and "minimum detectable" in out.said
    w_mean = human[:, west].mean(axis=1, keepdims=True)
    pulled = human.copy()
    pulled[:, ~west] = 0.6 * human[:, ~west] + 0.4 * w_mean
    out = western_slope(pulled + g.normal(scale=0.1, size=human.shape), human, west)
    assert out.verdict == "western" and out.gap == pytest.approx(0.4, abs=0.1)
    shift = human + g.normal(size=(19, 1))  # a per-question shift shared by every country cancels
    assert western_slope(shift, human, west).gap == pytest.approx(0.0, abs=1e-9)
    few = western_slope(human[:, 7:], human[:, 7:], west[7:])
    assert few.verdict == "too few countries" and few.gap is None


def test_equal_noise_is_no_evidence_at_the_nominal_rate():
    calls = [western_slope(h + g.normal(scale=0.3, size=h.shape), h, w).verdict for h, w, g in (_west_grid(s) for s in range(100))]
    assert sum(v != "no evidence" for v in calls) <= 12  # nominal 5 %; the centred-r gap said "western" in ~30 %


def test_holm_and_bh_by_hand():
    p = [0.01, 0.04, 0.03, np.nan]
    assert holm(p)[:3] == pytest.approx([0.03, 0.06, 0.06]) and np.isnan(holm(p)[3])
    assert bh(p)[:3] == pytest.approx([0.03, 0.04, 0.04])


def test_parametric_reference_predictors():
    countries = ["A", "B", "C", "D", "E", "F"]
    human = pd.DataFrame([{"country": c, "qid": q, "mean": (i - 2.5) / 4 + j / 10, "dist": None}
                          for i, c in enumerate(countries) for j, q in enumerate(["Q1", "Q2", "Q3"])])
    scores = {q: [-1.0, 1.0] for q in ("Q1", "Q2", "Q3")}
    western = {c: c in ("A", "B") for c in countries}
    zero = baselines.predict("human_noise:sd=0", human, scores, western).set_index(["country", "qid"])["score"]
    assert zero.to_numpy() == pytest.approx(human.set_index(["country", "qid"])["mean"].reindex(zero.index).to_numpy())
    a = baselines.predict("human_noise:sd=0.3,seed=1", human, scores, western)
    assert a.equals(baselines.predict("human_noise:sd=0.3,seed=1", human, scores, western))
    assert not a.equals(baselines.predict("human_noise:sd=0.3,seed=2", human, scores, western))
    full = baselines.predict("west_pull:f=1,sd=0", human, scores, western).set_index(["country", "qid"])["score"]
    w_mean = human[human["country"].isin(["A", "B"])].groupby("qid")["mean"].mean()
    assert full.loc[("E", "Q2")] == pytest.approx(w_mean["Q2"]) and full.loc[("A", "Q2")] == pytest.approx(-2.5 / 4 + 0.1)
    quirk = baselines.predict("country_quirk:sd=0.2,seed=3", human, scores, western).set_index(["country", "qid"])["score"].unstack()
    offsets = quirk.sub(quirk.mean(axis=0), axis=1)
    assert offsets.std(axis=1).max() == pytest.approx(0.0, abs=1e-12)  # one offset per country, every question
    for bad in ("west_pull:g=1", "west_pull:f=2", "human_noise:sd=-1", "human_noise:sd", "uniform:sd=1", "nope"):
        with pytest.raises(ConfigError):
            baselines.parse_spec(bad)
    assert baselines.parse_spec("west_pull:f=0.4,seed=3") == ("west_pull", {"f": 0.4, "sd": 0.1, "seed": 3})


@pytest.mark.parametrize("equal_var", [True, False])
def test_two_sample_t_matches_scipy_and_its_mde_has_the_stated_power(equal_var):
    from culturelens.eval.statistics.ttest import two_sample_t

    g = np.random.default_rng(5)
    a, b = g.normal(0.3, 1.0, size=(50, 3)), g.normal(0.0, 1.0, size=(50, 3))
    diff, lo, hi, p, mde = two_sample_t(a, b, equal_var=equal_var, axis=-1)
    ref = stats.ttest_ind(a, b, axis=-1, equal_var=equal_var)
    np.testing.assert_allclose(p, ref.pvalue, rtol=1e-10)
    ci = ref.confidence_interval(0.95)
    np.testing.assert_allclose(lo, ci.low, rtol=1e-10)
    np.testing.assert_allclose(hi, ci.high, rtol=1e-10)
    if equal_var:  # 3 vs 3, pooled: a true difference of mde / se standard errors is detected 80 % of the time
        se = (hi[0] - lo[0]) / (2 * stats.t.ppf(0.975, 4))
        sims = g.normal(size=(20000, 6))
        sims[:, :3] += mde[0] / se * np.sqrt(2 / 3)  # sd 1: the statistic's se is sqrt(2/3)
        p_sim = stats.ttest_ind(sims[:, :3], sims[:, 3:], axis=-1).pvalue
        assert abs((p_sim < 0.05).mean() - 0.8) < 0.015
