"""Reference predictors (leave_one_out, global_mean, uniform) against hand computations, and the issue's
measurement of leave_one_out on the 55-country ethics data."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from culturelens.core.errors import ConfigError
from culturelens.eval.backends import baselines
from culturelens.eval.statistics import metrics

VALS = [-1.0, 0.0, 1.0]


def human():
    d = {"A": [0.2, 0.3, 0.5], "B": [0.6, 0.2, 0.2], "C": [0.1, 0.1, 0.8]}
    rows = [{"country": c, "qid": "Q1", "mean": float(np.dot(p, VALS)), "dist": p} for c, p in d.items()]
    rows += [{"country": c, "qid": "Q2", "mean": m, "dist": None} for c, m in zip("ABC", [0.3, -0.6, 0.0])]
    return pd.DataFrame(rows)


def test_leave_one_out_by_hand():
    out = baselines.leave_one_out(human(), {"Q1": VALS, "Q2": VALS}).set_index(["country", "qid"])
    assert out.loc[("A", "Q1"), "probs"] == pytest.approx([0.35, 0.15, 0.5])  # mean of B and C
    assert out.loc[("A", "Q1"), "score"] == pytest.approx(0.15)
    assert out.loc[("C", "Q1"), "probs"] == pytest.approx([0.4, 0.25, 0.35])
    # means only: mean of the other countries' means, no probabilities
    assert out.loc[("A", "Q2"), "score"] == pytest.approx(-0.3)
    assert out.loc[("B", "Q2"), "score"] == pytest.approx(0.15)
    assert out.loc[("B", "Q2"), "probs"] is None
    # the score in distribution mode is the mean of the other countries' means
    h = human().set_index(["country", "qid"])["mean"]
    assert out.loc[("B", "Q1"), "score"] == pytest.approx((h[("A", "Q1")] + h[("C", "Q1")]) / 2)


def test_leave_one_out_per_question_r_is_minus_one():
    rng = np.random.default_rng(0)
    rows = [{"country": f"C{c}", "qid": f"Q{q}", "mean": float(rng.uniform(-1, 1)), "dist": None} for c in range(8) for q in range(5)]
    hdf = pd.DataFrame(rows)
    pred = baselines.leave_one_out(hdf, {}).assign(mass=1.0)
    assert metrics.per_question(pred, hdf)["r"].to_numpy() == pytest.approx(-1.0)


def test_global_mean_and_uniform_by_hand():
    gm = baselines.global_mean(human(), {"Q1": VALS, "Q2": VALS}).set_index(["country", "qid"])
    assert gm.loc[("B", "Q1"), "probs"] == pytest.approx([0.3, 0.2, 0.5])
    assert gm.loc[("A", "Q1"), "score"] == pytest.approx(0.2)
    assert gm.loc[("C", "Q2"), "score"] == pytest.approx(-0.1)
    un = baselines.uniform(human(), {"Q1": VALS, "Q2": [-1.0, -0.5, 1.0]}).set_index(["country", "qid"])
    assert un.loc[("A", "Q1"), "probs"] == pytest.approx([1 / 3] * 3)
    assert un.loc[("A", "Q2"), "score"] == pytest.approx(-0.5 / 3)
    assert len(un) == 6


def test_predict_names_and_errors():
    assert len(baselines.predict("uniform", human(), {"Q1": VALS, "Q2": VALS})) == 6
    with pytest.raises(ConfigError, match="baseline:leave_one_out"):
        baselines.predict("loo", human(), {})


def test_distribution_with_mean():
    vals = [1.0, 0.5, 0.0, -0.5, -1.0]  # descending, as some WVS scales are
    for mean in (-1.0, -0.3, 0.0, 0.25, 0.9, 1.0):
        p = baselines.distribution_with_mean(vals, mean)
        assert sum(p) == pytest.approx(1.0) and min(p) >= 0
        assert np.dot(p, vals) == pytest.approx(mean)
        assert sum(x > 0 for x in p) <= 2


def test_leave_one_out_on_ethics55_old_rule_gap_is_the_issues_measurement():
    """The issue's measurement: leave_one_out on the 55-country ethics means gets a raw (old-rule) Western gap
    of about +0.177 with a CI above 0 -- a country-blind predictor the old rule would call Western-biased."""
    from culturelens.core.countries import load_countries
    from culturelens.core.reference import default_reference

    qids = [f"Q{i}" for i in range(177, 196)]
    import yaml  # the 55 countries of the ethics-means data, as configs/eval/ethics55.yaml lists them

    ethics55 = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs/eval/ethics55.yaml").read_text())["countries"]
    ref = default_reference().subset(countries=ethics55, qids=qids)
    assert len(ref.countries) == 55
    pred = baselines.leave_one_out(ref, {}).assign(mass=1.0)
    table = load_countries()
    countries = {c: table[c] for c in ref.countries}
    old = metrics.western_gap(metrics.per_country(pred, ref.df), countries, n_boot=1000, seed=0)
    assert old["n_western"] == 11 and old["n_non_western"] == 44
    assert old["gap"] == pytest.approx(0.177, abs=0.005)
    assert old["ci"]["lo"] > 0.05
