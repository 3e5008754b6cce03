"""Per-order view of a run: per-order metrics and the score shift between option orders, by hand."""
import numpy as np
import pandas as pd
import pytest

from culturelens.eval.statistics import metrics, orders


def per_prompt_frame(seed=0, n_c=6, n_q=5):
    rng = np.random.default_rng(seed)
    human, rows = [], []
    for c in range(n_c):
        for q in range(n_q):
            h = float(rng.uniform(-1, 1))
            human.append({"country": f"C{c}", "qid": f"Q{q}", "mean": h, "dist": None})
            for order, bias in (("original", 0.2), ("reversed", -0.2)):
                for template in ("persona_system", "persona_inline"):
                    rows.append({"template": template, "order": order, "country": f"C{c}", "qid": f"Q{q}",
                                 "score": h + bias + 0.1 * rng.normal()})
    for q in range(n_q):
        rows.append({"template": "no_persona", "order": "original", "country": "NONE", "qid": f"Q{q}", "score": 5.0})
    return pd.DataFrame(rows), pd.DataFrame(human)


def test_scores_by_order_average_templates_and_drop_no_persona():
    pp, _ = per_prompt_frame()
    by = orders.scores_by_order(pp)
    assert set(by) == {"original", "reversed"}
    got = by["reversed"].set_index(["country", "qid"])["score"]
    want = pp[(pp.order == "reversed") & (pp.country == "C2") & (pp.qid == "Q3")]["score"].mean()
    assert got[("C2", "Q3")] == pytest.approx(want)
    assert "NONE" not in set(by["original"]["country"])


def test_order_spread_by_hand():
    pp, human = per_prompt_frame()
    out = orders.order_spread(pp, human)
    by = orders.scores_by_order(pp)
    for order in ("original", "reversed"):
        want = metrics.per_question(by[order], human)["r"].mean()
        assert out["by_order"][order]["mean_question_r"] == pytest.approx(want)
    vals = [out["by_order"][o]["mean_question_r"] for o in ("original", "reversed")]
    assert out["mean_question_r_spread"] == pytest.approx(max(vals) - min(vals))
    wide = pd.concat([by[o].set_index(["country", "qid"])["score"] for o in ("original", "reversed")], axis=1)
    shift = (wide.max(axis=1) - wide.min(axis=1))
    assert out["score_shift"]["mean_abs_shift"] == pytest.approx(shift.mean())
    assert out["score_shift"]["mean_abs_shift"] == pytest.approx(0.4, abs=0.1)  # the +-0.2 position bias
    assert out["score_shift"]["n_pairs"] == 30


def test_one_order_has_no_spread():
    pp, human = per_prompt_frame()
    out = orders.order_spread(pp[pp.order == "original"], human)
    assert out["orders"] == ["original"] and out["mean_question_r_spread"] is None
    assert out["score_shift"]["mean_abs_shift"] is None


def test_variant_scores_one_view_per_order_and_per_template():
    pp, _ = per_prompt_frame()
    views = orders.variant_scores(pp)
    assert set(views) == {"order=original", "order=reversed", "template=persona_system", "template=persona_inline"}
    got = views["template=persona_inline"].set_index(["country", "qid"])["score"]
    want = pp[(pp.template == "persona_inline") & (pp.country == "C1") & (pp.qid == "Q2")]["score"].mean()
    assert got[("C1", "Q2")] == pytest.approx(want)
    assert ("NONE", "Q0") in got.index  # no-persona rows stay in every view
    assert "order=reversed" in views and ("NONE", "Q0") in views["order=reversed"].set_index(["country", "qid"]).index
    assert orders.variant_scores(pp[(pp.order == "original") & (pp.template != "persona_inline")]) == {}
