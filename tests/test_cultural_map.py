"""The Inglehart–Welzel map: coordinates against a hand computation, the figure, and runs without the items."""
from __future__ import annotations

from pathlib import Path
from statistics import mean, stdev

import pandas as pd
import pytest

from culturelens.core.questions import Option, Question, QuestionBank, linear_scores
from culturelens.eval.reporting import cultural_map as cm


def _q(qid: str, k: int) -> Question:
    return Question(qid, "Religious Values", f"question {qid}", tuple(Option(c + 1, str(c + 1), s) for c, s in enumerate(linear_scores(k))))


BANK = QuestionBank([_q("Q164", 10), _q("Q184", 10), _q("Q8", 2), _q("Q14", 2), _q("Q15", 2), _q("Q17", 2),
                     _q("Q182", 10), _q("Q57", 2), _q("Q154", 4), _q("Q155", 4)])
# country -> qid -> mean score; Q154/Q155 get distributions below
MEANS = {
    "XXA": {"Q164": 0.8, "Q184": -0.6, "Q8": 0.2, "Q14": 0.0, "Q15": -0.5, "Q17": -0.4, "Q182": -0.9, "Q57": 0.9},
    "XXB": {"Q164": 0.0, "Q184": 0.2, "Q8": -0.4, "Q14": -0.2, "Q15": 0.1, "Q17": 0.3, "Q182": 0.1, "Q57": 0.5},
    "XXC": {"Q164": -0.8, "Q184": 0.1, "Q8": -0.6, "Q14": -0.5, "Q15": 0.6, "Q17": 0.2, "Q182": 0.7, "Q57": 0.6},
}
POSTMAT = {"XXA": [0.5, 0.1, 0.3, 0.1], "XXB": [0.3, 0.3, 0.2, 0.2], "XXC": [0.1, 0.4, 0.1, 0.4]}  # codes 1..4


def _table(means: dict, postmat: dict | None = None) -> pd.DataFrame:
    rows = [{"country": c, "qid": q, "mean": m, "dist": None} for c, qs in means.items() for q, m in qs.items()]
    for c, dist in (postmat or {}).items():
        for qid in ("Q154", "Q155"):
            rows.append({"country": c, "qid": qid, "mean": None, "dist": dist})
    return pd.DataFrame(rows)


def _z(values: dict[str, float]) -> dict[str, float]:
    mu, sd = mean(values.values()), stdev(values.values())
    return {c: (v - mu) / sd for c, v in values.items()}


def _hand_coordinates(postmat: bool) -> dict[str, tuple[float, float]]:
    m = MEANS
    god = _z({c: -m[c]["Q164"] for c in m})
    abortion = _z({c: m[c]["Q184"] for c in m})
    autonomy = _z({c: -m[c]["Q8"] - m[c]["Q14"] + m[c]["Q15"] + m[c]["Q17"] for c in m})
    homosexuality = _z({c: m[c]["Q182"] for c in m})
    trust = _z({c: -m[c]["Q57"] for c in m})
    self_items = [homosexuality, trust]
    if postmat:
        self_items.append(_z({c: 2 * (POSTMAT[c][1] + POSTMAT[c][3]) for c in m}))
    return {c: (mean([god[c], autonomy[c], abortion[c]]), mean(i[c] for i in self_items)) for c in m}


@pytest.mark.parametrize("postmat", [False, True])
def test_coordinates_match_a_hand_computation(postmat):
    result = cm.cultural_map(_table(MEANS, POSTMAT if postmat else None), {}, BANK)
    expected = _hand_coordinates(postmat)
    assert set(result["items"]) == {"importance of God", "autonomy index", "abortion justifiable", "homosexuality justifiable",
                                    "trust"} | ({"post-materialism"} if postmat else set())
    for c, (x, y) in expected.items():
        assert result["human"].loc[c, "secular"] == pytest.approx(x, abs=1e-12)
        assert result["human"].loc[c, "self_expression"] == pytest.approx(y, abs=1e-12)
    # the most secular / self-expressive country by construction
    assert result["human"]["secular"].idxmax() == "XXC" and result["human"]["self_expression"].idxmax() == "XXC"


def test_model_points_use_the_human_scale_and_no_persona_is_the_star():
    human = _table(MEANS)
    model = _table({"XXA": MEANS["XXB"], "XXB": MEANS["XXB"], cm.NO_PERSONA: MEANS["XXC"]})
    result = cm.cultural_map(human, {"m": model}, BANK)
    pts = result["models"]["m"]
    assert list(pts.index) == ["XXA", "XXB"]  # NONE is not a persona point
    assert pts.loc["XXA"].tolist() == pytest.approx(result["human"].loc["XXB"].tolist())  # answered like XXB: sits on XXB
    assert result["no_persona"]["m"].tolist() == pytest.approx(result["human"].loc["XXC"].tolist())
    js = cm.to_json(result)
    assert js["no_persona"]["m"]["secular"] == pytest.approx(result["human"].loc["XXC", "secular"])


def test_a_country_missing_an_item_is_left_out_and_an_item_with_few_countries_is_dropped():
    means = {c: dict(v) for c, v in MEANS.items()}
    means["XXD"] = dict(MEANS["XXA"])
    del means["XXD"]["Q184"]  # XXD lacks abortion: not placed
    means["XXE"] = {"Q182": 0.3}  # one item only
    result = cm.cultural_map(_table(means), {}, BANK)
    assert set(result["human"].index) == {"XXA", "XXB", "XXC"}
    few = {c: {q: v for q, v in qs.items() if q != "Q57" or c == "XXA"} for c, qs in MEANS.items()}  # trust in 1 country
    assert cm.cultural_map(_table(few), {}, BANK) is None  # self-expression is left with one item: no map


def test_without_the_items_there_is_no_map():
    bank = QuestionBank([_q("Q27", 4)])
    table = pd.DataFrame([{"country": c, "qid": "Q27", "mean": v, "dist": None} for c, v in [("XXA", 0.1), ("XXB", 0.2), ("XXC", 0.5)]])
    assert cm.cultural_map(table, {}, bank) is None
    assert cm.cultural_map(_table({"XXA": MEANS["XXA"], "XXB": MEANS["XXB"]}), {}, BANK) is None  # two countries only


def test_figure_is_written(tmp_path):
    model = _table({"XXA": MEANS["XXB"], "XXC": MEANS["XXA"], cm.NO_PERSONA: MEANS["XXB"]})
    result = cm.cultural_map(_table(MEANS), {"tiny model": model}, BANK)
    path = cm.plot_map(result, tmp_path / "figures" / "cultural_map.png")
    assert path.exists() and path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_embedded_bank_codes_match_the_item_signs():
    """The signs assume the WVS-7 codes: checked on the embedded bank's option labels."""
    from culturelens.core.questions import load_bank

    bank = load_bank()
    top = {"Q164": "very important", "Q184": "always justifiable", "Q182": "always justifiable", "Q254": "not at all proud",
           "Q45": "bad", "Q209": "would never", "Q57": "careful", "Q46": "not at all happy", "Q8": "no", "Q14": "no",
           "Q15": "no", "Q17": "no"}
    for qid, label in top.items():
        assert label in bank.get(qid).options[-1].label.lower(), qid


MAP_COUNTRIES = ["DEU", "MEX", "CHN", "USA", "NGA"]
MAP_QUESTIONS = ["Q164", "Q8", "Q14", "Q15", "Q17", "Q184", "Q254", "Q45", "Q182", "Q209", "Q57", "Q46"]


def _eval_cfg(tmp_path, model_dir, questions, **extra):
    from culturelens.eval.config import EvalConfig

    return EvalConfig.model_validate({
        "experiment": "map", "output_dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache"),
        "model": {"name_or_path": str(model_dir)}, "countries": MAP_COUNTRIES, "questions": questions, "n_boot": 20,
        "probe": {"templates": ["country_in_answer", "no_persona"], "batch_size": 8, "prefix_sharing": True}, **extra})


def test_eval_run_with_the_items_draws_the_map_and_logs_it_to_wandb(tmp_path, tiny_model_dir, monkeypatch):
    import json

    from culturelens.eval.runner import run_eval

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    wandb = {"enabled": True, "project": "cltest", "dir": str(tmp_path / "wb")}
    run_dir = run_eval(_eval_cfg(tmp_path, tiny_model_dir, MAP_QUESTIONS, wandb=wandb), progress=False)
    assert (run_dir / "figures" / "cultural_map.png").stat().st_size > 10_000
    s = json.loads((run_dir / "summary.json").read_text())
    cmap = s["cultural_map"]
    assert {r["country"] for r in cmap["human"]} == set(MAP_COUNTRIES)
    (name, points), = cmap["models"].items()
    assert {r["country"] for r in points} == set(MAP_COUNTRIES) and set(cmap["no_persona"][name]) == {"secular", "self_expression"}
    assert len(cmap["items"]) == 9  # every item but post-materialism (not in the embedded bank)
    assert "cultural_map.png" in (run_dir / "report.md").read_text()
    media = Path(s["run"]["wandb_dir"]) / "files" / "media" / "images" / "figures"
    assert any(p.name.startswith("cultural_map") for p in media.glob("*.png"))


def test_compare_draws_every_model_on_one_map(tmp_path, tiny_model_dir, tiny_model_dir_2):
    import json

    from culturelens.eval.compare import compare_runs, write_comparison
    from culturelens.eval.runner import run_eval

    runs = [run_eval(_eval_cfg(tmp_path, d, MAP_QUESTIONS, run_name=name), progress=False)
            for d, name in ((tiny_model_dir, "one"), (tiny_model_dir_2, "two"))]
    out = write_comparison(compare_runs(runs, n_boot=20), tmp_path / "cmp")
    assert (out / "cultural_map.png").stat().st_size > 10_000
    cmap = json.loads((out / "comparison.json").read_text())["cultural_map"]
    assert set(cmap["models"]) == set(cmap["no_persona"]) == {"one", "two"}
    assert cmap["models"]["one"] != cmap["models"]["two"]  # two different random models


def test_eval_run_without_the_items_has_no_map(tmp_path, tiny_model_dir):
    import json

    from culturelens.eval.runner import run_eval

    run_dir = run_eval(_eval_cfg(tmp_path, tiny_model_dir, ["Q27", "Q164", "Q182", "Q57"]), progress=False)
    assert not (run_dir / "figures" / "cultural_map.png").exists()  # one item per dimension is not a map
    assert "cultural_map" not in json.loads((run_dir / "summary.json").read_text())
    assert (run_dir / "figures" / "by_category.png").exists()
