"""The training study's split never leaks: checked independently of the code that draws it (issue 16, item 1)."""
import itertools

import numpy as np
import pytest

from culturelens.core.batteries import WVS7_BATTERIES
from culturelens.core.countries import load_countries
from culturelens.core.questions import load_bank
from culturelens.core.reference import load_reference
from culturelens.synth.study_split import StudySplitSettings, draw_study_split


@pytest.fixture(scope="module")
def inputs():
    return load_bank(), load_reference("default"), load_countries()


def max_abs_r(means, a: str, b: str, min_countries: int = 15) -> float:
    x, y = means.loc[a].to_numpy(float), means.loc[b].to_numpy(float)
    both = ~np.isnan(x) & ~np.isnan(y)
    if both.sum() < min_countries or x[both].std() == 0 or y[both].std() == 0:
        return 0.0
    return abs(float(np.corrcoef(x[both], y[both])[0, 1]))


@pytest.mark.parametrize("settings", [StudySplitSettings(), StudySplitSettings(seed=3, max_train_questions=20, max_heldout_questions=8)])
def test_no_heldout_question_correlates_with_or_shares_a_battery_with_a_train_question(inputs, settings):
    bank, ref, table = inputs
    split = draw_study_split(bank, ref, table, settings)
    train, held = split["train"], split["heldout"]
    assert train and held and not set(train) & set(held)
    means = ref.means()  # the FULL reference: all its countries
    worst = max((max_abs_r(means, h, t), h, t) for h, t in itertools.product(held, train))
    assert worst[0] < 0.8, f"held-out {worst[1]} has |r| = {worst[0]:.3f} with train {worst[2]}"
    for battery in WVS7_BATTERIES:
        assert not (set(battery) & set(held) and set(battery) & set(train)), f"battery {battery[0]}..{battery[-1]} on both sides"
    ordered = sorted(bank, key=lambda q: (int(''.join(filter(str.isdigit, q.qid))), q.qid))
    for a, b in zip(ordered, ordered[1:]):  # questionnaire neighbours with one stem of >= 5 words and the same options
        same = [o.label for o in a.options] == [o.label for o in b.options]
        stem = 0
        for wa, wb in zip(a.text.split(), b.text.split()):
            if wa != wb:
                break
            stem += 1
        if same and stem >= 5:
            assert not ({a.qid, b.qid} <= set(train) | set(held) and ((a.qid in held) != (b.qid in held))), (a.qid, b.qid)


def test_questions_have_distributions_in_18_of_24_countries_and_countries_are_stratified(inputs):
    bank, ref, table = inputs
    split = draw_study_split(bank, ref, table, StudySplitSettings())
    dist_countries = ref.distribution_countries()
    assert len(dist_countries) == 24
    have = ref.df[ref.df["dist"].notna()]
    for q in split["train"] + split["heldout"]:
        assert have[have["qid"] == q]["country"].nunique() >= 18, q
    assert sorted(split["seen"] + split["unseen"]) == dist_countries
    for flag in (True, False):
        assert any(table[c].western == flag for c in split["unseen"])
        assert any(table[c].western == flag for c in split["seen"])
    assert split["links"]["correlation"] > 0  # links form on the full reference (they never did on 9 countries)
