"""Human reference answers: WVS wave-7 respondent CSVs and country-means CSVs -> HumanReference."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from culturelens.cli import build_reference_cli
from culturelens.core.errors import DataError
from culturelens.core.questions import Option, Question, linear_scores
from culturelens.core.reference import (
    WVS_CITATION,
    HumanReference,
    build_from_means_csv,
    build_from_wvs_csv,
    default_reference,
    load_reference,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SUBSET = DATA / "wvs7_subset"
ETHICS = DATA / "wvs7_ethics55" / "country_question_means.csv"
needs_subset = pytest.mark.skipif(not SUBSET.is_dir(), reason="../shared/data/wvs7_subset not available")
needs_ethics = pytest.mark.skipif(not ETHICS.is_file(), reason="../shared/data/wvs7_ethics55 not available")


# ------------------------------------------------------------------------------------------- fixtures


def q(qid, codes, short="", remap=None):
    s = linear_scores(len(codes))
    return Question(qid, "Ethical Values", f"text of {qid}", tuple(Option(c, str(c), x) for c, x in zip(codes, s)),
                    short=short, remap=remap or {})


class MiniBank:
    """Hand-built stand-in for QuestionBank: get(qid) raises DataError, find(text) matches short names."""

    def __init__(self, questions):
        self.qs = {x.qid: x for x in questions}

    def get(self, qid):
        try:
            return self.qs[str(qid).strip().upper()]
        except KeyError:
            raise DataError(f"unknown question id {qid!r}") from None

    def find(self, text):
        t = str(text).strip().lower()
        return next((x for x in self.qs.values() if x.short.lower() == t), None)

    def __iter__(self):
        return iter(self.qs.values())

    def __contains__(self, qid):
        return qid in self.qs


@pytest.fixture
def mini():
    return MiniBank([
        q("Q1", [1, 2, 3, 4], short="trust"),
        q("Q2", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], short="divorce"),
        q("Q3", [0, 1, 2]),
        q("Q4", [1, 2, 3], remap={2: 3, 3: 2, 9: None}),  # codes 2 and 3 swapped, 9 dropped
    ])


@pytest.fixture(scope="module")
def bank():
    from culturelens.core.questions import load_bank

    return load_bank()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def subset_files():
    return sorted(p for p in SUBSET.glob("*.csv") if p.name not in ("WVQ.csv",))


# ------------------------------------------------------------------------------------------- real data


@needs_subset
def test_subset_matches_independent_pandas_computation(bank):
    ref, warnings = build_from_wvs_csv(subset_files(), bank)
    assert ref.has_distributions

    # Independent, straightforward computation: per file, per country and question.
    expected = {}
    for path in subset_files():
        raw = pd.read_csv(path)
        raw = raw[raw["B_COUNTRY_ALPHA"].notna()]
        for col in raw.columns[2:]:
            question = bank.get(col)
            for country, grp in raw.groupby("B_COUNTRY_ALPHA"):
                s = grp[col].astype(float)
                s = s[s >= 0]
                if question.remap:
                    s = s.map(lambda x, remap=question.remap: remap.get(int(x), x) if float(x).is_integer() else x).dropna()
                s = s[s.isin(question.codes)]
                if len(s) == 0:
                    continue
                shares = s.value_counts(normalize=True)
                linear = dict(zip(question.codes, linear_scores(len(question.codes))))
                expected[(country, col)] = (
                    len(s),
                    [float(shares.get(c, 0.0)) for c in question.codes],
                    float(s.map(linear).mean()),
                )

    got = {(r.country, r.qid): r for r in ref.df.itertuples(index=False)}
    assert set(got) == set(expected)
    assert len(got) == 9 * 50 - 18 - 2 - 2  # China lacks 18 questions, Iraq and Jordan lack Q36 and Q226
    for key, (n, dist, mean) in expected.items():
        row = got[key]
        assert row.n == n, key
        assert row.dist == pytest.approx(dist, abs=1e-9), key
        assert math.isclose(sum(row.dist), 1.0, abs_tol=1e-9)
        assert row.mean == pytest.approx(mean, abs=1e-9), key
        assert -1.0 <= row.mean <= 1.0
    assert sorted(ref.countries) == ["ARG", "BGD", "BRA", "CHN", "DEU", "IRQ", "JOR", "MEX", "TUR"]
    assert "no valid answers for Q224 in CHN (all missing or not asked): skipped" in warnings
    assert "no valid answers for Q36 in IRQ (all missing or not asked): skipped" in warnings
    # the trailing 'Avg' summary rows of the files (no country code) are ignored, and said so
    assert any("without a B_COUNTRY_ALPHA value ignored" in w for w in warnings)


@needs_ethics
def test_ethics55_means_equal_the_csv(bank):
    from culturelens.core.countries import resolve_country

    warnings: list[str] = []
    ref = build_from_means_csv(ETHICS, bank, warnings=warnings)
    csv = pd.read_csv(ETHICS)
    assert len(csv) == 1045
    given = csv[csv["wvs_score"].notna()]  # 17 (country, item) pairs were not asked: empty score
    assert len(ref.df) == len(given) == 1045 - 17
    assert len(ref.countries) == 55 and len(ref.qids) == 19
    assert not ref.has_distributions
    assert ref.df["n"].isna().all() and ref.df["dist"].isna().all()
    for country, text, score in given.itertuples(index=False):
        row = ref.get(resolve_country(country).alpha3, bank.find(text).qid)
        assert row["mean"] == pytest.approx(score, abs=1e-12)
    assert len(warnings) == 1 and "17 row(s) with an empty score" in warnings[0]


RESPONDENT_COUNTRIES = ["ARG", "BGD", "BRA", "CHN", "DEU", "IRQ", "JOR", "MEX", "TUR"]
ETHICS_QIDS = [f"Q{i}" for i in range(177, 196)]


def test_embedded_default():
    """The embedded default holds the 9-country respondent subset, the 55-country ethics means (shares take the
    place of means where a country has both) and the shares of 19 countries (tests/test_shares_reference.py)."""
    ref = default_reference()
    respondents = ref.df[ref.df["source"].str.startswith("wvs7:")]  # the explicit 9-country subset
    with_dist = respondents[respondents["dist"].notna()]
    ethics = ref.df[ref.df["qid"].isin(ETHICS_QIDS)]
    means_only = ref.df[ref.df["dist"].isna()]
    assert with_dist["country"].nunique() == 9 and sorted(with_dist["country"].unique()) == RESPONDENT_COUNTRIES
    assert ethics["country"].nunique() >= 55
    assert means_only["country"].nunique() + ethics.loc[ethics["dist"].notna(), "country"].nunique() >= 55
    assert means_only["qid"].nunique() == 19 and set(means_only["qid"]) == set(ETHICS_QIDS)
    assert with_dist["qid"].nunique() == 50
    assert ref.meta["citation"] == WVS_CITATION and "doi:10.14281/18241.24" in ref.meta["citation"]
    assert {s["kind"] for s in ref.meta["sources"]} == {"wvs7_respondents", "wvs7_shares", "country_means"}
    assert (with_dist["n"] > 0).all() and means_only["n"].isna().all()
    assert ref.df["mean"].between(-1, 1).all()
    for d in with_dist["dist"]:
        assert sum(d) == pytest.approx(1.0, abs=1e-5)
    assert load_reference(None).df.shape == ref.df.shape and load_reference("default").df.shape == ref.df.shape


@needs_subset
def test_embedded_default_is_the_subset_build(bank):
    built, _ = build_from_wvs_csv(subset_files(), bank)
    ref = default_reference().subset(countries=built.countries, qids=built.qids)  # the respondent subset
    emb = ref.df[ref.df["dist"].notna()].set_index(["country", "qid"])
    new = built.df.set_index(["country", "qid"])
    assert set(emb.index) == set(new.index)
    assert np.allclose(emb.loc[new.index, "mean"], new["mean"], atol=1e-6)
    assert (emb.loc[new.index, "n"].to_numpy() == new["n"].to_numpy()).all()


# ------------------------------------------------------------------------------------------- synthetic files


def test_official_like_file_semicolons_extra_columns(tmp_path, mini):
    header = '\ufeff"version";"doi";"B_COUNTRY";"B_COUNTRY_ALPHA";"A_YEAR";"q1";"Q2";"Q3";"Q4";"W_WEIGHT";"Q999"'
    rows = [
        '"5-0-0";"doi";276;"DEU";2018;1;10;0;1;1.2;7',
        '"5-0-0";"doi";276;"DEU";2018;4;-1;2;2;0.8;7',
        '"5-0-0";"doi";276;"DEU";2018;-2;5;1;3;1.0;7',
        '"5-0-0";"doi";32;"ARG";2017;2;1;-4;9;1.0;7',
        '"5-0-0";"doi";32;"ARG";2017;2;10;2;1;1.0;7',
    ]
    p = write(tmp_path / "WVS_Cross-National_Wave_7_csv_v5_0.csv", "\n".join([header, *rows]) + "\n")
    ref, warnings = build_from_wvs_csv([p], mini)
    assert ref.countries == ["ARG", "DEU"] and ref.qids == ["Q1", "Q2", "Q3", "Q4"]
    deu1 = ref.get("DEU", "Q1")
    # the file has W_WEIGHT: shares are weighted (1.2 on code 1, 0.8 on code 4), n counts respondents
    assert deu1["n"] == 2 and deu1["dist"] == pytest.approx([0.6, 0, 0, 0.4]) and deu1["mean"] == pytest.approx(-0.2)
    assert ref.meta["sources"][0]["weighted"] is True
    arg2 = ref.get("ARG", "Q2")
    assert arg2["n"] == 2 and arg2["mean"] == pytest.approx(0.0)
    assert ref.get("ARG", "Q3")["n"] == 1  # -4 (not asked) dropped
    # Q4 remap: raw 2 -> 3, raw 3 -> 2, raw 9 dropped
    assert ref.get("DEU", "Q4")["dist"] == pytest.approx([1.2 / 3, 1.0 / 3, 0.8 / 3])
    assert ref.get("ARG", "Q4")["dist"] == [1.0, 0.0, 0.0] and ref.get("ARG", "Q4")["n"] == 1
    assert ref.get("Germany", "Q1")["n"] == 2  # names resolve too
    assert not warnings


def test_bom_first_column_and_gzip(tmp_path, mini):
    import gzip

    text = "\ufeffB_COUNTRY_ALPHA,Q1\r\nDEU,1\r\nDEU,3\r\n"
    p = tmp_path / "bom.csv"
    p.write_bytes(text.encode("utf-8"))
    assert build_from_wvs_csv([p], mini)[0].get("DEU", "Q1")["n"] == 2
    gz = tmp_path / "w.csv.gz"
    gz.write_bytes(gzip.compress(text.encode("utf-8")))
    assert build_from_wvs_csv([gz], mini)[0].get("DEU", "Q1")["dist"] == [0.5, 0, 0.5, 0]


def test_remap_order_and_codes_outside_options(tmp_path, mini):
    p = write(tmp_path / "DEU.csv", "B_COUNTRY_ALPHA,Q4,Q1\nDEU,2,1\nDEU,2,7\nDEU,3,0\nDEU,1,2.5\n")
    ref, warnings = build_from_wvs_csv([p], mini)
    row = ref.get("DEU", "Q4")
    assert row["dist"] == pytest.approx([0.25, 0.25, 0.5]) and row["mean"] == pytest.approx(0.25)
    assert ref.get("DEU", "Q1")["n"] == 1
    (w,) = [w for w in warnings if "Q1" in w]
    assert "3 answer(s) with codes outside the options (1, 2, 3, 4) dropped" in w and "0, 2.5, 7" in w


def test_all_missing_question_for_a_country_is_skipped(tmp_path, mini):
    p = write(tmp_path / "x.csv", "B_COUNTRY,B_COUNTRY_ALPHA,Q1,Q3\n276,DEU,-4,1\n276,DEU,-4,2\n32,ARG,1,-1\n")
    ref, warnings = build_from_wvs_csv([p], mini)
    assert ("DEU", "Q1") not in set(zip(ref.df.country, ref.df.qid))
    assert "no valid answers for Q1 in DEU (all missing or not asked): skipped" in warnings
    assert "no valid answers for Q3 in ARG (all missing or not asked): skipped" in warnings
    assert len(ref) == 2


def test_questions_and_countries_filters(tmp_path, mini):
    p = write(tmp_path / "x.csv", "B_COUNTRY_ALPHA,Q1,Q2,Q3\nDEU,1,1,1\nARG,2,2,2\nMEX,3,3,0\n")
    ref, warnings = build_from_wvs_csv([p], mini, questions=["q3", "Q1"], countries=["Germany", "arg", "USA"])
    assert ref.countries == ["ARG", "DEU"] and ref.qids == ["Q1", "Q3"]
    assert any("USA" in w for w in warnings)
    ref, _ = build_from_wvs_csv([p], mini, min_n=2)
    assert len(ref) == 0


def test_country_in_several_files_is_pooled(tmp_path, mini):
    a = write(tmp_path / "a.csv", "B_COUNTRY_ALPHA,Q1\nDEU,1\nDEU,1\n")
    b = write(tmp_path / "b.csv", "B_COUNTRY_ALPHA;Q1\nDEU;4\nARG;2\n")
    ref, warnings = build_from_wvs_csv([a, b], mini)
    assert ref.get("DEU", "Q1")["n"] == 3 and ref.get("DEU", "Q1")["dist"] == pytest.approx([2 / 3, 0, 0, 1 / 3])
    assert any("DEU appears in several files" in w for w in warnings)


def test_not_a_wvs_file(tmp_path, mini):
    p = write(tmp_path / "survey.csv", "country,Q1\nDEU,1\n")
    with pytest.raises(DataError, match=r"survey.csv has no B_COUNTRY_ALPHA column: this is not a WVS wave-7 CSV"):
        build_from_wvs_csv([p], mini)


def test_file_without_requested_questions(tmp_path, mini):
    p = write(tmp_path / "x.csv", "B_COUNTRY_ALPHA,Q1\nDEU,1\n")
    with pytest.raises(DataError, match=r"x.csv has none of the requested questions: Q2, Q3"):
        build_from_wvs_csv([p], mini, questions=["Q2", "Q3"])
    p2 = write(tmp_path / "y.csv", "B_COUNTRY_ALPHA,Z1\nDEU,1\n")
    with pytest.raises(DataError, match="y.csv has no column of a question-bank question"):
        build_from_wvs_csv([p2], mini)


def test_unknown_qid(tmp_path, mini):
    p = write(tmp_path / "x.csv", "B_COUNTRY_ALPHA,Q1\nDEU,1\n")
    with pytest.raises(DataError, match="Q777"):
        build_from_wvs_csv([p], mini, questions=["Q1", "Q777"])


def test_missing_file(tmp_path, mini):
    with pytest.raises(DataError, match="not found"):
        build_from_wvs_csv([tmp_path / "nope.csv"], mini)
    with pytest.raises(DataError, match="not found"):
        load_reference(str(tmp_path / "nope.json"))


# ------------------------------------------------------------------------------------------- means CSVs


def test_means_csv_layouts(tmp_path, mini):
    p = write(tmp_path / "m.csv", 'country,question,wvs_score\nGermany,divorce,0.5\nArgentina,"trust",-0.25\nDEU,trust,0.1\n')
    ref = build_from_means_csv(p, mini)
    assert ref.get("DEU", "Q2")["mean"] == 0.5 and ref.get("DEU", "Q2")["n"] is None
    assert ref.get("ARG", "Q1")["dist"] is None and len(ref) == 3
    p2 = write(tmp_path / "m2.csv", "country,qid,mean\nGermany,Q2,0.5\n")
    assert build_from_means_csv(p2, mini).get("DEU", "Q2")["mean"] == 0.5


def test_means_csv_bad_inputs(tmp_path, mini):
    p = write(tmp_path / "a.csv", "country,question\nGermany,divorce\n")
    with pytest.raises(DataError, match=r"no 'wvs_score' column.*country, question \(or qid\), wvs_score \(or mean\)"):
        build_from_means_csv(p, mini)
    p = write(tmp_path / "b.csv", "nation,question,wvs_score\nGermany,divorce,0.5\n")
    with pytest.raises(DataError, match="no 'country' column"):
        build_from_means_csv(p, mini)
    p = write(tmp_path / "c.csv", "country,question,wvs_score\nAtlantis,divorce,0.5\nGermany,divorce,0.1\nNarnia,trust,0\n")
    with pytest.raises(DataError, match="unknown countries: Atlantis, Narnia"):
        build_from_means_csv(p, mini)
    p = write(tmp_path / "d.csv", "country,question,wvs_score\nGermany,astrology,0.5\nGermany,divorce,0.1\n")
    with pytest.raises(DataError, match="not found in the question bank: 'astrology'"):
        build_from_means_csv(p, mini)
    p = write(tmp_path / "e.csv", "country,question,wvs_score\nGermany,divorce,7.5\n")
    with pytest.raises(DataError, match=r"must be on \[-1, 1\]"):
        build_from_means_csv(p, mini)


# ------------------------------------------------------------------------------------------- the object


def _small(mini, tmp_path):
    p = write(tmp_path / "w.csv", "B_COUNTRY_ALPHA,Q1,Q3\nDEU,1,0\nDEU,2,2\nARG,4,1\n")
    return build_from_wvs_csv([p], mini)[0]


def test_save_load_roundtrip_and_views(tmp_path, mini):
    ref = _small(mini, tmp_path)
    out = ref.save(tmp_path / "out" / "ref.json")
    data = json.loads(out.read_text())
    assert data["meta"]["citation"] == WVS_CITATION
    assert data["meta"]["sources"][0]["kind"] == "wvs7_respondents"
    assert "w.csv" in data["meta"]["sources"][0]["files"] and "built_with" in data["meta"]
    assert set(data["rows"][0]) == {"country", "qid", "n", "mean", "dist", "source"}
    back = HumanReference.load(out)
    assert back.countries == ref.countries and back.qids == ref.qids
    assert np.allclose(back.df["mean"], ref.df["mean"], atol=1e-6)
    assert list(back.df["n"]) == list(ref.df["n"])
    m = ref.means()
    assert list(m.index) == ["Q1", "Q3"] and list(m.columns) == ["ARG", "DEU"]
    assert m.loc["Q1", "ARG"] == pytest.approx(1.0) and m.loc["Q1", "DEU"] == pytest.approx(-2 / 3)
    sub = ref.subset(countries=["DEU"], qids=["Q3"])
    assert len(sub) == 1 and sub.get("DEU", "Q3")["dist"] == [0.5, 0.0, 0.5]
    with pytest.raises(DataError):
        ref.get("ARG", "Q2")
    assert load_reference(str(out)).df.shape == ref.df.shape


def test_merge_keeps_self_on_conflict(tmp_path, mini):
    ref = _small(mini, tmp_path)
    p = write(tmp_path / "m.csv", "country,qid,mean\nDEU,Q1,0.9\nMEX,Q1,0.3\n")
    means = build_from_means_csv(p, mini)
    merged = ref.merge(means)
    assert merged.get("DEU", "Q1")["mean"] == pytest.approx(-2 / 3) and merged.get("DEU", "Q1")["n"] == 2
    assert merged.get("MEX", "Q1")["mean"] == 0.3 and len(merged) == len(ref) + 1
    assert [s["kind"] for s in merged.meta["sources"]] == ["wvs7_respondents", "country_means"]
    assert means.merge(ref).get("DEU", "Q1")["mean"] == 0.9


def test_load_reference_dispatch(tmp_path, mini, monkeypatch):
    folder = tmp_path / "wvs"
    folder.mkdir()
    write(folder / "Germany.csv", "B_COUNTRY_ALPHA,Q1\nDEU,1\n")
    write(folder / "Argentina.csv", "B_COUNTRY_ALPHA,Q1\nARG,4\n")
    write(folder / "WVQ.csv", "topic,q_id,q_content,option\nx,1,y,z\n")  # not respondent data: ignored
    assert load_reference(str(folder), bank=mini).countries == ["ARG", "DEU"]
    assert load_reference(str(folder / "Germany.csv"), bank=mini).countries == ["DEU"]
    means = write(tmp_path / "means.csv", "country,question,wvs_score\nGermany,divorce,0.5\n")
    assert load_reference(str(means), bank=mini).get("DEU", "Q2")["mean"] == 0.5
    with pytest.raises(DataError, match="neither a WVS wave-7 CSV"):
        load_reference(str(folder / "WVQ.csv"), bank=mini)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no CSV with a B_COUNTRY_ALPHA column"):
        load_reference(str(empty), bank=mini)


def test_build_reference_cli(tmp_path, mini, monkeypatch, capsys):
    import culturelens.core.reference.loading as reference

    monkeypatch.setattr(reference, "_default_bank", lambda bank=None: mini)
    w = write(tmp_path / "w.csv", "B_COUNTRY_ALPHA,Q1,Q3\nDEU,1,0\nDEU,-4,-4\nARG,4,-1\n")
    m = write(tmp_path / "m.csv", "country,question,wvs_score\nGermany,trust,0.9\nMexico,trust,0.3\nMexico,divorce,\n")
    out = tmp_path / "ref.json"
    build_reference_cli([str(w)], [str(m)], str(out), None, None, allow_mismatch=True)  # DEU/Q1 differs on purpose
    text = capsys.readouterr().out
    assert "3 countries (2 with answer distributions), 2 questions, 4 rows" in text
    assert "2 warning(s)" in text and "no valid answers for Q3 in ARG" in text
    ref = HumanReference.load(out)
    assert ref.get("DEU", "Q1")["n"] == 1 and ref.get("MEX", "Q1")["n"] is None
    build_reference_cli([str(w)], [str(m)], str(out), ["Q1"], ["Mexico"])
    assert HumanReference.load(out).countries == ["MEX"]
    with pytest.raises(DataError, match="nothing to build from"):
        build_reference_cli([], [], str(out), None, None)
