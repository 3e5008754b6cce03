"""Bootstraps shared across models: one draw per replicate for every model, by hand."""
import numpy as np
import pytest

from culturelens.eval.statistics import bootstrap as bs
from culturelens.eval.statistics import shared_bootstrap as sb


def test_group_contrast_by_hand_and_one_draw_for_all_models():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 10))
    in_a = np.arange(10) < 4
    out = sb.group_contrast(values, in_a, ~in_a, n_boot=300, seed=1)
    want = np.mean([v[:4].mean() - v[4:].mean() for v in values])
    assert out["effect"] == pytest.approx(want)
    ia, ib = bs.stratified_indices([np.arange(4), np.arange(4, 10)], 300, seed=1)
    boot = [np.mean([v[i].mean() - v[j].mean() for v in values]) for i, j in zip(ia, ib)]
    assert out["ci"] == pytest.approx(list(np.percentile(boot, [2.5, 97.5])))


def test_entering_a_model_four_times_does_not_shrink_the_ci():
    rng = np.random.default_rng(2)
    one = rng.normal(size=(1, 20))
    in_a = np.arange(20) < 8
    single = sb.group_contrast(one, in_a, ~in_a, n_boot=500, seed=0)
    quad = sb.group_contrast(np.repeat(one, 4, axis=0), in_a, ~in_a, n_boot=500, seed=0)
    assert quad["ci"] == pytest.approx(single["ci"])
    assert quad["effect"] == pytest.approx(single["effect"])


def test_group_contrast_leaves_out_models_without_two_values_a_side():
    values = np.array([[0.1, 0.2, 0.3, 0.4], [np.nan, 0.2, 0.3, 0.4]])
    out = sb.group_contrast(values, np.array([True, True, False, False]), np.array([False, False, True, True]), n_boot=50)
    assert out["models_used"] == [True, False]
    assert out["effect"] == pytest.approx(0.15 - 0.35)
