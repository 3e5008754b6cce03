"""Reference predictors as a backend (`model.name_or_path: baseline:<name>`): eval, compare and the done-when check."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from culturelens.cli import main
from culturelens.core.reference import default_reference
from culturelens.eval.backends import baselines
from culturelens.eval.backends.baseline_backend import baseline_name, prediction_table
from culturelens.eval.config import EvalConfig
from culturelens.eval.runner import run_eval

ROOT = Path(__file__).parents[1]
COUNTRIES = ["ARG", "BGD", "BRA", "CHN", "DEU", "IRQ", "JOR", "MEX", "TUR"]
QUESTIONS = ["Q27", "Q29", "Q33", "Q122", "Q132", "Q158", "Q169", "Q224", "Q182", "Q185"]


def cfg_for(tmp_path, name, **extra) -> EvalConfig:
    data = {"experiment": "b", "output_dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache"),
            "model": {"name_or_path": f"baseline:{name}"}, "countries": COUNTRIES, "questions": QUESTIONS, "n_boot": 50, "n_perm": 50}
    data.update(extra)
    return EvalConfig.model_validate(data)


def test_leave_one_out_backend_scores_are_the_other_countries_mean(tmp_path):
    run_dir = run_eval(cfg_for(tmp_path, "leave_one_out"), progress=False)
    scores = pd.read_json(run_dir / "scores.jsonl", lines=True, dtype={"country": str, "qid": str}).set_index(["country", "qid"])
    human = default_reference().subset(countries=COUNTRIES, qids=QUESTIONS).df
    for country, qid in [("DEU", "Q27"), ("TUR", "Q185"), ("BGD", "Q158")]:
        rows = human[human["qid"] == qid]
        want = rows.loc[rows["country"] != country, "mean"].mean()
        assert scores.loc[(country, qid), "score"] == pytest.approx(want, abs=1e-6)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["run"]["model"] == "baseline:leave_one_out" and summary["run"]["model_source"] == "baseline"
    assert summary["nulls"]["mean_question_r"]["model"] == pytest.approx(-1.0)  # exactly -1 by construction
    assert summary["western_gap"]["verdict"] == "too few countries"  # 2 Western countries among the 9
    assert summary["robustness"]["orders"]["score_shift"]["max_abs_shift"] == pytest.approx(0.0)
    md = (run_dir / "report.md").read_text()
    assert "The paper's metric" in md
    # BH q-values beside the section, group, zone and per-question tables; the group r's CI shown once (as model - null)
    assert md.count("q (BH)") >= 4
    by_group = md.split("## By group")[1].split("## By category")[0]
    assert "95% CI" not in by_group and "q (BH)" in by_group
    # the probe cache knows the baseline by its data: a rerun is served from the cache
    again = json.loads((run_eval(cfg_for(tmp_path, "leave_one_out"), progress=False, overwrite=True) / "summary.json").read_text())
    assert again["run"]["n_cached"] == again["run"]["n_prompts"]


def test_every_baseline_runs_and_compares(tmp_path):
    dirs = [run_eval(cfg_for(tmp_path, name), progress=False) for name in baselines.BASELINES]
    assert main(["compare", *map(str, dirs), "--out", str(tmp_path / "cmp")]) == 0
    table = json.loads((tmp_path / "cmp" / "comparison.json").read_text())["table"]
    assert [row["run"] for row in table] == [f"baseline-{name}" for name in baselines.BASELINES]
    assert table[1]["mean_question_r"] is None  # constant across countries: r undefined, never invented


def test_no_persona_prompts_get_the_all_country_mean():
    ref = default_reference().subset(countries=COUNTRIES, qids=["Q185"])
    scale = [i / 4.5 - 1 for i in range(10)]
    table = prediction_table("leave_one_out", ref, {"Q185": scale})
    assert np.dot(table[("NONE", "Q185")], scale) == pytest.approx(ref.df["mean"].mean())
    # means-only data: a two-point distribution with exactly the predicted mean
    deu = ref.df[ref.df["country"] != "DEU"]["mean"].mean()
    assert np.dot(table[("DEU", "Q185")], scale) == pytest.approx(deu) and sum(p > 0 for p in table[("DEU", "Q185")]) <= 2


def test_unknown_baseline_is_a_config_error(tmp_path, capsys):
    with pytest.raises(Exception, match="baseline:leave_one_out"):
        baseline_name("baseline:loo")
    assert main(["eval", "--config", str(ROOT / "configs/eval/ethics55.yaml"), "model.name_or_path=baseline:loo",
                 f"output_dir={tmp_path}", f"cache_dir={tmp_path / 'cache'}"]) == 2
    assert "unknown baseline 'loo'" in capsys.readouterr().err
    for bad, said in (("west_pull:g=1", "bad parameter 'g=1'"), ("west_pull:f=2", "bad value 2 for f"),
                      ("human_noise:sd=x", "bad value 'x' for sd"), ("uniform:sd=1", "takes no parameters")):
        assert main(["eval", "--config", str(ROOT / "configs/eval/ethics55.yaml"), f"model.name_or_path=baseline:{bad}",
                     f"output_dir={tmp_path}", f"cache_dir={tmp_path / 'cache'}"]) == 2
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_ethics55_leave_one_out_is_neither_western_nor_non_western(tmp_path):
    """The issue's done-when: on the 55-country ethics data, a predictor with no country knowledge (raw old-rule gap
    +0.177, CI above 0) gets a Western-gap verdict that is neither `western` nor `non-western`."""
    assert main(["eval", "--config", str(ROOT / "configs/eval/ethics55.yaml"), "model.name_or_path=baseline:leave_one_out",
                 f"output_dir={tmp_path}", f"cache_dir={tmp_path / 'cache'}", "--no-progress"]) == 0
    summary = json.loads(next(tmp_path.glob("ethics55/*/summary.json")).read_text())
    gap = summary["western_gap"]
    assert gap["verdict"] not in ("western", "non-western")
    assert gap["raw"]["gap"] == pytest.approx(0.177, abs=0.005) and gap["raw"]["ci"]["lo"] > 0
    assert gap["n_western"] == 11 and gap["n_non_western"] == 44


def test_compare_common_pairs_the_differences_on_the_shared_grid_with_the_engine(tmp_path):
    from culturelens.eval.statistics import engine
    from culturelens.eval.statistics.grid import score_grid

    a = run_eval(cfg_for(tmp_path, "human_noise:sd=0.3,seed=1"), progress=False)
    b = run_eval(cfg_for(tmp_path, "human_noise:sd=0.3,seed=2", countries=COUNTRIES[:7], questions=QUESTIONS[:8]), progress=False)
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out), "--n-boot", "200"]) == 2  # different sets need --common
    assert main(["compare", str(a), str(b), "--out", str(out), "--n-boot", "200", "--common"]) == 0
    result = json.loads((out / "comparison.json").read_text())
    overall = next(d for d in result["diffs"] if d["what"] == "mean per-question r")
    assert result["paired_on"]["set"] == "shared" and len(result["paired_on"]["countries"]) == 7 and overall["n"] == 8
    # by hand: the engine's paired difference on the shared 8 x 7 grid, baseline human answers
    human = default_reference().subset(countries=COUNTRIES, qids=QUESTIONS).df
    ga = score_grid(pd.read_json(a / "scores.jsonl", lines=True, dtype={"country": str, "qid": str}), human)
    gb = score_grid(pd.read_json(b / "scores.jsonl", lines=True, dtype={"country": str, "qid": str}), human)
    qi = [ga.qids.index(q) for q in ga.qids if q in gb.qids]
    ci = [ga.countries.index(c) for c in ga.countries if c in gb.countries]
    ma, hm = ga.model[np.ix_(qi, ci)], ga.human[np.ix_(qi, ci)]
    mb = gb.model[np.ix_([gb.qids.index(ga.qids[i]) for i in qi], [gb.countries.index(ga.countries[j]) for j in ci])]
    want = engine.mean_question_r(mb, hm, None, None, np.ones(len(qi), bool)) - engine.mean_question_r(ma, hm, None, None, np.ones(len(qi), bool))
    assert overall["diff"] == pytest.approx(float(want))
    assert overall["ci"]["lo"] <= overall["diff"] <= overall["ci"]["hi"] and overall["p_perm"] is not None
    md = (out / "comparison.md").read_text()
    assert "on the shared set: 7 countries x 8 questions" in md and "permutation p" in md


def test_compare_picks_the_swap_null_for_two_models_and_the_change_null_for_a_fine_tune_of_the_baseline(tmp_path):
    """Two independent runs of equal quality (two human_noise seeds) are compared under the swap null: the change null
    would add the second run's noise to the first's and call equal runs different. A fine-tune of the baseline's own
    model keeps the change null."""
    from culturelens.core.manifest import ModelIdentity
    from culturelens.core.runfolder import RunFolder
    from culturelens.eval.compare import paired_null

    a = run_eval(cfg_for(tmp_path, "human_noise:sd=0.3,seed=1"), progress=False)
    b = run_eval(cfg_for(tmp_path, "human_noise:sd=0.3,seed=2"), progress=False)
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out), "--n-boot", "200"]) == 0
    result = json.loads((out / "comparison.json").read_text())
    assert {d["null"] for d in result["diffs"]} == {"swap"}
    assert "`swap`" in (out / "comparison.md").read_text()
    sa, sb = RunFolder(a).summary(), RunFolder(b).summary()
    assert paired_null(sa, sb) == "swap"
    base, tuned = (s.model_copy(update={"manifest": sa.manifest.model_copy(update={"model": m})}) for s, m in (
        (sa, ModelIdentity(name_or_path="smollm2-135m-instruct")),
        (sb, ModelIdentity(name_or_path="smollm2-135m-instruct", adapter="runs/sft/adapter"))))
    assert paired_null(base, tuned) == "change"  # a fine-tune of the baseline's own model
    assert paired_null(tuned, base) == "swap"  # the other way round the change depends on the first run's answers
    other = tuned.model_copy(update={"manifest": tuned.manifest.model_copy(
        update={"model": ModelIdentity(name_or_path="gemma3-270m", adapter="runs/sft/adapter")})})
    assert paired_null(base, other) == "swap"  # an adapter of another model
