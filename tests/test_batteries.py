"""The held-out split keeps WVS batteries whole: stems, correlated means, and the filter against held-out texts."""
import itertools
import json
from types import SimpleNamespace

import pytest

from culturelens.core.batteries import battery_clusters, common_stem, stem_links
from culturelens.core.questions import load_bank
from culturelens.core.reference import default_reference
from culturelens.synth.config import SplitSettings
from culturelens.synth.filters import filter_variants
from culturelens.synth.split import split_questions

# The batteries of the WVS wave-7 master questionnaire that the embedded bank draws from (one lead-in and answer
# scale each), written out by hand from the questionnaire: an independent truth for the stem rule.
QUESTIONNAIRE_BATTERIES = [("Q27", "Q32"), ("Q33", "Q41"), ("Q122", "Q129"), ("Q132", "Q138"), ("Q158", "Q162"),
                           ("Q169", "Q170"), ("Q177", "Q195"), ("Q196", "Q198"), ("Q224", "Q233")]
NAMED_PAIRS = [("Q29", "Q31"), ("Q34", "Q33"), ("Q183", "Q182"), ("Q169", "Q170")]


def number(qid):
    return int(qid[1:])


def battery_of(qid):
    return next(i for i, (lo, hi) in enumerate(QUESTIONNAIRE_BATTERIES) if number(lo) <= number(qid) <= number(hi))


def correlated_pairs(reference, qids, threshold=0.9, min_countries=20):
    """Pairs linked by |r| of human means, computed independently with pandas."""
    corr = reference.means().reindex(qids).T.corr(min_periods=min_countries)
    return {(a, b) for a, b in itertools.combinations(qids, 2) if abs(corr.loc[a, b]) >= threshold}


@pytest.fixture(scope="module")
def default_inputs():
    """The project's own 69 questions (the batteries above) of the embedded bank, on the embedded reference without
    the countries that only the answer-shares data adds (the 9 respondent-file countries + the ethics-means ones)."""
    bank, ref = load_bank(), default_reference()
    ref = ref.subset(countries=sorted(set(ref.df.loc[~ref.df["source"].str.startswith("shares"), "country"])))
    in_batteries = {f"Q{n}" for lo, hi in QUESTIONNAIRE_BATTERIES for n in range(number(lo), number(hi) + 1)}
    qids = [q.qid for q in bank if q.qid in set(ref.qids) and q.qid in in_batteries]
    assert len(qids) == 69
    return bank, ref, qids


def test_stem_is_the_shared_leading_text():
    assert common_stem("How justifiable is divorce?", "How justifiable is abortion?") == "How justifiable is"
    bank = load_bank()
    links = {(lk["a"], lk["b"]) for lk in stem_links(bank, 5)}
    assert ("Q182", "Q183") in links and ("Q32", "Q33") not in links  # Q33 starts a 5-point battery
    assert ("Q170", "Q177") not in links and ("Q198", "Q224") not in links


def test_clusters_are_the_questionnaire_batteries(default_inputs):
    bank, ref, qids = default_inputs
    clusters, links = battery_clusters(bank, qids, ref.means(), SplitSettings())
    assert len(clusters) == len(QUESTIONNAIRE_BATTERIES) == 9
    for members in clusters:
        assert len({battery_of(q) for q in members}) == 1, members
    assert {battery_of(members[0]) for members in clusters} == set(range(9))
    assert {lk["kind"] for lk in links} == {"stem", "correlation"}
    # the correlation links (justifiable items over 49-55 countries) agree with pandas
    found = {tuple(sorted((lk["a"], lk["b"]))) for lk in links if lk["kind"] == "correlation"}
    assert found == {tuple(sorted(p)) for p in correlated_pairs(ref, qids)}


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 7])
def test_no_heldout_question_has_a_battery_mate_in_train(default_inputs, seed):
    bank, ref, qids = default_inputs
    clusters, links = battery_clusters(bank, qids, ref.means(), SplitSettings())
    split = split_questions(qids, {q: bank.get(q).category for q in qids}, 0.3, seed, clusters, links)
    train, held = set(split["train"]), set(split["heldout"])
    assert train and held and train | held == set(qids) and not train & held
    for h, t in itertools.product(held, train):
        assert battery_of(h) != battery_of(t), (h, t)  # questionnaire batteries
    for a, b in correlated_pairs(ref, qids):
        assert (a in held) == (b in held), (a, b)  # correlated means (pandas, >= 20 countries)
    for a, b in NAMED_PAIRS:
        assert (a in held) == (b in held), (a, b)
    assert 0.1 <= len(held) / len(qids) <= 0.5
    assert split == split_questions(qids, {q: bank.get(q).category for q in qids}, 0.3, seed, clusters, links)
    recorded = [c["questions"] for c in split["clusters"]]
    assert sorted(map(sorted, recorded)) == sorted(sorted(c) for c in clusters if len(c) > 1)


def test_split_by_battery_is_stratified_where_clusters_allow(default_inputs):
    bank, ref, qids = default_inputs
    clusters, links = battery_clusters(bank, qids, ref.means(), SplitSettings())
    cats = {q: bank.get(q).category for q in qids}
    splits = [split_questions(qids, cats, 0.3, seed, clusters, links) for seed in range(6)]
    assert len({tuple(s["heldout"]) for s in splits}) > 1
    for split in splits:
        for cat in set(cats.values()):
            sides = {c["side"] for c in split["clusters"] if cats[c["questions"][0]] == cat}
            if len([c for c in clusters if cats[c[0]] == cat]) >= 2:
                assert sides == {"train", "heldout"}, (cat, split["seed"])


def test_correlation_links_need_enough_countries(default_inputs):
    bank, ref, qids = default_inputs
    few = SplitSettings(min_countries=3)
    clusters, links = battery_clusters(bank, qids, ref.means(), few)
    # over the 9 respondent countries, the traditional/secular dimension chains most batteries together
    assert max(len(c) for c in clusters) > 40
    assert any(lk["kind"] == "correlation" and lk["countries"] < 9 for lk in links)


def test_outputs_close_to_a_heldout_question_are_dropped():
    """Q27 (parents proud) trained; Q169/Q170 (religion battery, same lead-in) and Q182 held out."""
    bank = load_bank()
    seeds = {"Q27": bank.get("Q27").text}
    held = {q: bank.get(q).text for q in ("Q169", "Q170", "Q182")}
    s = SimpleNamespace(min_chars=15, max_chars=400, min_similarity=0.2, near_duplicate_jaccard=0.8, max_heldout_similarity=0.6)
    recs = [
        {"qid": "Q27", "kind": "paraphrase", "prompt": "Rewrite",
         "text": 'Do you agree or disagree: "Making my parents proud has been one of my main goals in life."'},
        {"qid": "Q27", "kind": "paraphrase", "prompt": "Rewrite",  # the teacher drifted to a held-out question
         "text": 'How much do you agree or disagree with this statement? "Whenever science and religion conflict, religion is right."'},
        {"qid": "Q27", "kind": "scenario", "prompt": "Write",
         "text": 'Maria wants her parents to be proud. How much do you agree or disagree with this statement? '
                 '"The only acceptable religion is my religion."'},
    ]
    kept, report = filter_variants(recs, seeds, s, heldout=held)
    assert [r["text"] for r in kept] == [recs[0]["text"]]
    assert report["similar_to_heldout"] == 2 and report["similar_to_heldout_by_question"] == {"Q169": 1, "Q170": 1}
    kept_without, _ = filter_variants(recs, seeds, s)
    assert len(kept_without) == 3  # checked only against their own seed, they would all pass


def test_split_file_records_clusters(tmp_path, monkeypatch):
    from culturelens.synth.config import SynthConfig
    from culturelens.synth.run import run_synth

    class Echo:
        name = "echo"

        def generate(self, prompts):
            return [m[-1]["content"].split("Question: ", 1)[1] + " Please think." for m in prompts]

    monkeypatch.setattr("culturelens.synth.run.make_teacher", lambda cfg: Echo())
    cfg = SynthConfig.model_validate({
        "output_dir": str(tmp_path / "s"), "questions": ["Q27", "Q28", "Q29", "Q31", "Q33", "Q34", "Q182", "Q183", "Q185", "Q196", "Q197"],
        "countries": ["DEU", "MEX"], "teacher": {"backend": "local", "model": {"name_or_path": "unused"}},
        "variants": {"paraphrases": 1, "scenarios": 0}, "split": {"heldout_fraction": 0.3, "seed": 0}})
    out = run_synth(cfg, progress=False)
    split = json.loads((out / "split.json").read_text())
    assert {tuple(c["questions"]) for c in split["clusters"]} == {("Q27", "Q28", "Q29", "Q31"), ("Q33", "Q34"),
                                                                   ("Q182", "Q183", "Q185"), ("Q196", "Q197")}
    report = json.loads((out / "report.json").read_text())
    assert report["split"]["clusters"] == 4 and "similar_to_heldout" in report["filters"]


def test_one_battery_cannot_be_split(tmp_path):
    from culturelens.core.errors import DataError
    from culturelens.synth.config import SynthConfig
    from culturelens.synth.run import run_synth

    cfg = SynthConfig.model_validate({"output_dir": str(tmp_path / "s"), "questions": ["Q182", "Q183", "Q185"],
                                      "countries": ["DEU"], "teacher": {"backend": "local", "model": {"name_or_path": "unused"}}})
    with pytest.raises(DataError, match="one battery cluster"):
        run_synth(cfg, progress=False)
