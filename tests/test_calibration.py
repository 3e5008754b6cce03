"""Every verdict rule holds its nominal type-I error under its nulls (benchmarks/results/calibration.json, written by
benchmarks/calibration.py) and a reduced simulation of the same rules run here; the Done-when checks of the
Western verdict on the reference predictors (baselines need no model)."""
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import calibration  # noqa: E402

from culturelens.cli import main  # noqa: E402
from culturelens.eval.backends import baselines  # noqa: E402
from culturelens.eval.statistics.western_slope import western_slope  # noqa: E402

CALIBRATION = json.loads((ROOT / "benchmarks/results/calibration.json").read_text())

def test_calibration_json_covers_every_rule():
    assert CALIBRATION["n_sims"] >= 200
    assert set(CALIBRATION["rules"]) >= {"paper_metric", "section", "western", "compare", "finetune", "study"}


# Rules that leave their band in calibration.json, each with the case that does (known, to be fixed in the rule): the
# test is expected to fail for them (strict: it errors once the rule is back in its band, so this list cannot go stale).
# None now: finetune's 0.75 % was its simulation at 199 permutations (level 4 / 200) and chance, not its rule (the swap
# null is exact there: test_the_swap_null_is_exact_for_two_arms_that_each_add_a_country_shift).
OUT_OF_BAND: dict[str, str] = {}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=OUT_OF_BAND[n])) if n in OUT_OF_BAND
                                  else n for n in CALIBRATION["rules"]])
def test_every_rule_in_calibration_json_stays_in_its_band(name):
    rule = CALIBRATION["rules"][name]
    lo, hi = rule["band"]  # one-sided rules too: a rule that never rejects under its null is not calibrated
    assert len(rule["nulls"]) >= 3 and len(rule["effects"]) >= 2, name  # three real nulls: "≤ α" rows do not count
    for null, v in rule["nulls"].items():
        assert lo <= v["rate"] <= hi, f"{name} under {null}: {v['rate']:.3f} outside [{lo}, {hi}]"
    for null, v in rule.get("at_most_alpha", {}).items():
        assert v["rate"] <= hi, f"{name} under {null}: {v['rate']:.3f} above {hi}"
    assert max(v["rate"] for v in rule["effects"].values()) >= 0.8, f"{name}: no effect is detected with power >= 80 %"
    assert calibration.rule_in_band(rule) == CALIBRATION["all_nulls_in_band"][name]


def test_a_reduced_simulation_of_the_rules_agrees():
    main_grid, ethics = calibration.load_grid("configs/eval/default.yaml"), calibration.load_grid("configs/eval/ethics55.yaml")
    n = 60
    quirk = [calibration.paper_rule(s, s.country_quirk(), 99)[0] for s in (calibration.Sim(main_grid, 500 + i) for i in range(n))]
    assert sum(quirk) <= 9  # nominal 3 of 60
    noise = [calibration.western_rule(s, s.human_noise(0.3)) for s in (calibration.Sim(ethics, 700 + i) for i in range(n))]
    assert sum(noise) <= 9
    pull = [calibration.western_rule(s, s.west_pull(0.2)) for s in (calibration.Sim(ethics, 900 + i) for i in range(20))]
    assert sum(pull) >= 18
    shift = []
    for i in range(n):
        s = calibration.Sim(main_grid, 1100 + i)
        a = s.signal(0.3)
        shift.append(calibration.paired_rule(s, a, s.mask(a + s.quirk(0.1)), 99, "two-sided", 0.05, "change"))
    assert sum(shift) <= 9


def test_a_reduced_simulation_of_the_claims_rules_agrees():
    """Claims 1 and 3 applied as the claims apply them (paper_claims.norms_contrast, bias.gap_reduction with the premise)."""
    main_grid, ethics = calibration.load_grid("configs/eval/default.yaml"), calibration.load_grid("configs/eval/ethics55.yaml")
    cases = calibration.claim1_cases(main_grid)
    equal = cases["null:equal signal 0.3 + per-country quirk N(0, 0.1)"]
    quirk = [calibration.claim1_rule(s, equal(s), 999, i) for i, s in ((i, calibration.Sim(main_grid, 300 + i)) for i in range(200))]
    assert 1 <= sum(quirk) <= 11  # the claim's null: nominal one-sided 2.5 %, 5 of 200 (never rejecting is not calibrated)
    planted = cases["effect:signal 0.4 on norms, 0.2 on systems and progress"]
    norms = [calibration.claim1_rule(s, planted(s), 999, i) for i, s in ((i, calibration.Sim(main_grid, 400 + i)) for i in range(10))]
    assert sum(norms) >= 9
    same = [calibration.claim3_rule(s, s.west_pull(0.4), s.west_pull(0.4)) for s in (calibration.Sim(ethics, 600 + i) for i in range(60))]
    assert sum(same) <= 6  # nominal 1.5 of 60
    reduced = [calibration.claim3_rule(s, s.west_pull(0.4), s.human_noise(0.1)) for s in (calibration.Sim(ethics, 800 + i) for i in range(10))]
    assert sum(reduced) >= 9
    no_premise = [calibration.claim3_rule(s, s.human_noise(0.1), s.west_pull(0.4)) for s in (calibration.Sim(ethics, 900 + i) for i in range(10))]
    assert sum(no_premise) == 0  # without a Western gap to reduce there is nothing to test


def test_the_swap_null_is_exact_for_two_arms_that_each_add_a_country_shift():
    """The finetune rule's case that once read 0.75 %: the rank of metric(B) - metric(A) among the swap draws is uniform
    (two arms of one base, each + its own country-consistent shift, are exchangeable country by country), so the rule's
    level is set by its permutation count alone: (1 + floor(alpha (P + 1) - eps)) / (P + 1) at strict p < alpha."""
    from scipy import stats

    from culturelens.eval.statistics import engine

    grid, n_perm = calibration.load_grid("configs/eval/default.yaml"), 19
    ranks = []
    for i in range(400):
        s = calibration.Sim(grid, 90_000 + i)
        a = s.signal(0.3)
        t = engine.paired_difference(s.mask(a + s.quirk(0.1)), s.mask(a + s.quirk(0.1)), s.h, calibration.draws_for(s, n_perm),
                                     alternative="greater", null="swap")
        ranks.append(round(t.p_perm * (n_perm + 1)) - 1)  # swap draws at least as large as the observed difference
    counts = np.bincount(ranks, minlength=n_perm + 1)
    assert stats.chisquare(counts).pvalue > 0.01, counts


def _ethics_inputs():
    from culturelens.core.config import load_config
    from culturelens.core.inputs import resolve_inputs
    from culturelens.eval.config import EvalConfig

    return resolve_inputs(load_config(EvalConfig, ROOT / "configs/eval/ethics55.yaml", []))


def _verdict(inputs, spec: str) -> str:
    scores = {q: list(inputs.bank.get(q).scores) for q in inputs.qids}
    western = {c.alpha3: bool(c.western) for c in inputs.countries}
    pred = baselines.predict(spec, inputs.reference, scores, western)
    human = inputs.reference.df
    countries = sorted(set(human["country"]) & set(western))
    m = pred.pivot(index="qid", columns="country", values="score").reindex(index=inputs.qids, columns=countries).to_numpy(float)
    h = human.pivot_table(index="qid", columns="country", values="mean").reindex(index=inputs.qids, columns=countries).to_numpy(float)
    return western_slope(m, h, np.array([western[c] for c in countries])).verdict


def test_done_when_western_verdicts_of_the_reference_predictors():
    """The verdict the CLI computes (the same function on the same predictions) for 20 seeds of each predictor."""
    inputs = _ethics_inputs()
    noise = Counter(_verdict(inputs, f"human_noise:sd=0.3,seed={s}") for s in range(1, 21))
    pull = Counter(_verdict(inputs, f"west_pull:f=0.4,seed={s}") for s in range(1, 21))
    assert noise["western"] + noise["non-western"] <= 2, noise
    assert pull["western"] >= 16, pull
    assert _verdict(inputs, "leave_one_out") == "no evidence"


@pytest.mark.parametrize("spec,expected", [("human_noise:sd=0.3,seed=1", "no evidence"), ("west_pull:f=0.4,seed=1", "western"),
                                           ("leave_one_out", "no evidence")])
def test_done_when_from_the_cli(tmp_path, spec, expected):
    assert main(["eval", "--config", str(ROOT / "configs/eval/ethics55.yaml"), f"model.name_or_path=baseline:{spec}",
                 f"output_dir={tmp_path}", f"cache_dir={tmp_path / 'cache'}", "n_boot=100", "n_perm=100", "--no-progress"]) == 0
    summary = json.loads(next(tmp_path.glob("ethics55/*/summary.json")).read_text())
    assert summary["western_gap"]["verdict"] == expected
    if expected == "no evidence":
        assert summary["western_gap"]["mde"] > 0 and "minimum detectable" in summary["western_gap"]["said"]


@pytest.mark.slow
def test_done_when_twenty_seeds_through_the_cli(tmp_path):
    counts = {}
    for spec in ("human_noise:sd=0.3", "west_pull:f=0.4"):
        verdicts = []
        for s in range(1, 21):
            out = tmp_path / f"{spec}-{s}"
            assert main(["eval", "--config", str(ROOT / "configs/eval/ethics55.yaml"), f"model.name_or_path=baseline:{spec},seed={s}",
                         f"output_dir={out}", f"cache_dir={tmp_path / 'cache'}", "--no-progress"]) == 0
            verdicts.append(json.loads(next(out.glob("ethics55/*/summary.json")).read_text())["western_gap"]["verdict"])
        counts[spec] = Counter(verdicts)
    print(counts)
    assert counts["human_noise:sd=0.3"]["western"] + counts["human_noise:sd=0.3"]["non-western"] <= 2
    assert counts["west_pull:f=0.4"]["western"] >= 16
