"""Answer-share files ({country: {qid: {code: share}}}), merging sources by precedence, the consistency report."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from culturelens.cli import main
from culturelens.core.errors import DataError
from culturelens.core.questions import load_bank
from culturelens.core.reference import HumanReference, build_from_shares_json, build_reference, default_reference
from culturelens.core.reference.summary import summarize

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARES = DATA / "wvs7_shares19" / "proportions_group_by_country.json"
SUBSET = DATA / "wvs7_subset"
ETHICS = DATA / "wvs7_ethics55" / "country_question_means.csv"
needs_data = pytest.mark.skipif(not (SHARES.is_file() and SUBSET.is_dir() and ETHICS.is_file()),
                                reason="../shared/data not available")
SHARE_COUNTRIES = ["AUS", "BOL", "BRA", "CAN", "CHN", "DEU", "ETH", "GBR", "IND", "KEN", "MEX", "NGA", "NLD", "NZL",
                   "RUS", "THA", "UKR", "USA", "ZWE"]


def respondent_files() -> list[Path]:
    return [p for p in sorted(SUBSET.glob("*.csv")) if p.name != "WVQ.csv"]


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def expected_from_pandas(data: dict, bank) -> dict:
    """Independent computation: per (country, qid) a pandas Series of shares indexed by code."""
    out = {}
    for country, per_q in data.items():
        for qid, shares in per_q.items():
            if qid not in bank:
                continue
            q = bank.get(qid)
            s = pd.Series({int(k): float(v) for k, v in shares.items()})
            s = s[s.index >= 0]
            s.index = [q.remap.get(c, c) for c in s.index]
            s = s[[c is not None and c in q.codes for c in s.index]]
            s = s.groupby(level=0).sum()
            if s.sum() <= 0:
                continue
            r = s.reindex(q.codes, fill_value=0.0) / s.sum()
            out[(country, qid)] = (r.tolist(), float((r * pd.Series(q.scores, index=q.codes)).sum()))
    return out


# ------------------------------------------------------------------------------------------- real data


@needs_data
def test_shares_match_independent_pandas_computation():
    bank = load_bank()
    data = json.loads(SHARES.read_text())
    warnings: list[str] = []
    ref = build_from_shares_json(SHARES, bank, warnings=warnings)
    expected = expected_from_pandas(data, bank)
    got = {(r.country, r.qid): r for r in ref.df.itertuples(index=False)}
    assert set(got) == set(expected)
    assert sorted(ref.countries) == SHARE_COUNTRIES and len(ref.qids) == len(bank)
    for key, (dist, mean) in expected.items():
        assert got[key].dist == pytest.approx(dist, abs=1e-12), key
        assert got[key].mean == pytest.approx(mean, abs=1e-12), key
        assert pd.isna(got[key].n)
    assert any("12 question(s) the bank leaves out skipped" in w for w in warnings)
    assert any("no valid answer mass for 53 (country, question) pair(s)" in w for w in warnings)
    assert ref.meta["sources"][0]["skipped_no_valid_mass"] == 53


@needs_data
def test_respondents_and_shares_agree_and_respondents_win():
    ref, _ = build_reference(wvs_csv=respondent_files(), shares_json=[SHARES], means_csv=[ETHICS])
    report = {tuple(c["sources"]): c for c in ref.meta["consistency"]["comparisons"]}
    both = report[("wvs7_respondents", "wvs7_shares")]
    assert both["countries"] == ["BRA", "CHN", "DEU", "MEX"] and both["pairs"] == 182
    assert both["max_abs_diff_share"] <= 0.0032 and both["max_abs_diff_mean"] <= 0.0032
    ethics = report[("wvs7_shares", "country_means")]
    assert ethics["pairs"] == 323 and ethics["max_abs_diff_mean"] <= 0.0032 and ethics["max_abs_diff_share"] is None
    assert ref.meta["precedence"] == ["wvs7_respondents", "wvs7_shares", "country_means"]
    assert ref.get("BRA", "Q27")["source"] == "wvs7:Brazil.csv" and ref.get("BRA", "Q27")["n"] > 0
    assert ref.get("USA", "Q27")["source"].startswith("shares:") and ref.get("USA", "Q27")["n"] is None
    assert ref.get("DEU", "Q177")["source"].startswith("shares:")  # shares beat means
    assert ref.get("ARG", "Q177")["source"].startswith("means:") and ref.get("ARG", "Q177")["dist"] is None
    assert len(ref.distribution_countries()) == 24


@needs_data
def test_embedded_default_is_the_three_source_build():
    built, _ = build_reference(wvs_csv=respondent_files(), shares_json=[SHARES], means_csv=[ETHICS])
    emb = default_reference()
    assert len(emb) == len(built)
    a = emb.df.set_index(["country", "qid"]).sort_index()
    b = built.df.set_index(["country", "qid"]).sort_index()
    assert a.index.equals(b.index) and (a["source"] == b["source"]).all()
    assert np.allclose(a["mean"], b["mean"], atol=1e-6)
    assert emb.meta["consistency"]["comparisons"][0]["max_abs_diff_share"] <= 0.0032
    s = summarize(emb)
    assert s["countries"]["with_distributions"] == 24 and s["questions"]["total"] >= 200 and len(s["sections"]) == 12
    assert set(s["rows_per_source"]) == {"wvs7_respondents", "wvs7_shares", "country_means"}


# ------------------------------------------------------------------------------------------- synthetic files


def test_precedence_respondents_over_shares_over_means(tmp_path):
    bank = load_bank()
    w = tmp_path / "w.csv"
    w.write_text("B_COUNTRY_ALPHA,Q1\nDEU,1\nDEU,1\n")
    s = write_json(tmp_path / "s.json", {"DEU": {"Q1": {"4": 0.9}}, "MEX": {"Q1": {"2": 0.5, "-1": 0.1}}})
    m = tmp_path / "m.csv"
    m.write_text("country,qid,mean\nDEU,Q1,0.0\nMEX,Q1,0.9\nARG,Q1,0.25\n")
    with pytest.raises(DataError, match="sources disagree beyond 0.01.*DEU/Q1.*--allow-mismatch"):
        build_reference(wvs_csv=[w], shares_json=[s], means_csv=[m], bank=bank)
    ref, _ = build_reference(wvs_csv=[w], shares_json=[s], means_csv=[m], bank=bank, allow_mismatch=True)
    assert ref.get("DEU", "Q1")["mean"] == -1.0 and ref.get("DEU", "Q1")["n"] == 2  # respondents win
    assert ref.get("MEX", "Q1")["dist"] == [0.0, 1.0, 0.0, 0.0] and ref.get("MEX", "Q1")["n"] is None  # shares
    assert ref.get("ARG", "Q1")["mean"] == 0.25  # means where nothing else covers
    comparisons = ref.meta["consistency"]["comparisons"]
    assert [c["sources"] for c in comparisons] == [["wvs7_respondents", "wvs7_shares"],
                                                    ["wvs7_respondents", "country_means"],
                                                    ["wvs7_shares", "country_means"]]
    assert comparisons[0]["max_abs_diff_share"] == pytest.approx(1.0) and comparisons[0]["max_abs_diff_mean"] == 2.0
    assert all(c["above_tolerance"] for c in comparisons)
    saved = HumanReference.load(ref.save(tmp_path / "ref.json"))
    assert saved.meta["consistency"]["comparisons"][0]["worst_share"] == "DEU/Q1"


def test_renormalise_remap_and_n(tmp_path):
    bank = load_bank()
    p = write_json(tmp_path / "s.json", {
        "Germany": {"Q119": {"0": 0.2, "1": 0.2, "4": 0.4, "-1": 0.1},  # remap 0 -> 3, 4 -> 5
                    "Q111": {"1": 0.3, "2": 0.3, "3": 0.3},  # 3 ('other answer') remapped to None: missing
                    "Q1": {"shares": {"1": 0.5, "2": 0.5}, "n": 1200}},
    })
    ref = build_from_shares_json(p, bank)
    assert ref.get("DEU", "Q119")["dist"] == pytest.approx([0.25, 0.0, 0.25, 0.0, 0.5])
    assert ref.get("DEU", "Q111")["dist"] == pytest.approx([0.5, 0.5]) and ref.get("DEU", "Q111")["mean"] == 0.0
    assert ref.get("DEU", "Q1")["n"] == 1200 and ref.get("DEU", "Q119")["n"] is None


def test_codes_outside_options_are_dropped_and_counted(tmp_path):
    bank = load_bank()
    p = write_json(tmp_path / "s.json", {"DEU": {"Q1": {"1": 0.5, "7": 0.1, "9": 0.1}}, "MEX": {"Q1": {"2": 0.6, "7": 0.2}}})
    warnings: list[str] = []
    ref = build_from_shares_json(p, bank, warnings=warnings)
    assert ref.get("DEU", "Q1")["dist"] == [1.0, 0.0, 0.0, 0.0]
    assert warnings == ["s.json: Q1: 3 share(s) with codes outside the options (1, 2, 3, 4) dropped: codes 7, 9 "
                        "(at most 0.2000 of a country's respondents)"]
    assert ref.meta["sources"][0]["dropped_code_shares"] == 3


def test_question_without_valid_mass_is_skipped_and_reported(tmp_path):
    bank = load_bank()
    p = write_json(tmp_path / "s.json", {"CHN": {"Q224": {"-4": 1.0}, "Q1": {"1": 1.0}}, "DEU": {"Q224": {}}})
    warnings: list[str] = []
    ref = build_from_shares_json(p, bank, warnings=warnings)
    assert len(ref) == 1 and ref.get("CHN", "Q1")["mean"] == -1.0
    assert warnings == ["s.json: no valid answer mass for 2 (country, question) pair(s), skipped: CHN/Q224, DEU/Q224"]


@pytest.mark.parametrize("data, match", [
    ({"Atlantis": {"Q1": {"1": 1.0}}}, r"unknown country key\(s\) 'Atlantis'"),
    ({"DEU": {"Q999": {"1": 1.0}, "Q1": {"1": 1.0}}}, r"unknown question id\(s\) 'Q999'"),
    ({"DEU": {"Q1": {"1": 0.7, "2": 0.4}}}, r"DEU/Q1: shares sum to 1.1000 > 1.001"),
    ({"DEU": {"Q1": {"1": "lots"}}}, r"codes and shares must be numbers"),
    ({"DEU": {"Q1": {"1": -0.2}}}, r"shares >= 0"),
    ({"DEU": {"Q1": [0.5, 0.5]}}, r"expected \{code: share\}"),
    ({"DEU": {"Q1": {"shares": {"1": 1.0}, "n": 2.5}}}, r"n must be a whole number"),
    ({"DEU": "Q1"}, r"not a shares file"),
    ({"DEU": {"Q1": {"1": 1.0}}, "Germany": {"Q2": {"1": 1.0}}}, r"several keys name the same country \(DEU\)"),
])
def test_bad_shares_files(tmp_path, data, match):
    p = write_json(tmp_path / "s.json", data)
    with pytest.raises(DataError, match=match):
        build_from_shares_json(p, load_bank())


def test_excluded_question_is_skipped_with_a_warning(tmp_path):
    p = write_json(tmp_path / "s.json", {"DEU": {"Q152": {"1": 1.0}, "Q1": {"1": 1.0}}})
    warnings: list[str] = []
    ref = build_from_shares_json(p, load_bank(), warnings=warnings)
    assert ref.qids == ["Q1"] and "1 question(s) the bank leaves out skipped (Q152)" in warnings[0]


def test_load_reference_reads_a_shares_file(tmp_path):
    from culturelens.core.reference import load_reference

    p = write_json(tmp_path / "s.json", {"DEU": {"Q1": {"1": 0.45, "2": 0.45, "-1": 0.1}}})
    ref = load_reference(str(p))
    assert ref.get("DEU", "Q1")["dist"] == pytest.approx([0.5, 0.5, 0.0, 0.0])
    saved = ref.save(tmp_path / "ref.json")
    assert load_reference(str(saved)).get("DEU", "Q1")["source"] == "shares:s.json"  # a reference .json stays one


def test_not_json(tmp_path):
    p = tmp_path / "s.json"
    p.write_text("{not json")
    with pytest.raises(DataError, match="is not valid JSON"):
        build_from_shares_json(p, load_bank())
    with pytest.raises(DataError, match="shares file not found"):
        build_from_shares_json(tmp_path / "missing.json", load_bank())


# ------------------------------------------------------------------------------------------- CLI


def test_cli_build_reference_and_summary(tmp_path, capsys):
    a = write_json(tmp_path / "a.json", {"DEU": {"Q1": {"1": 0.5, "2": 0.5}}})
    b = write_json(tmp_path / "b.json", {"MEX": {"Q1": {"1": 0.25, "2": 0.75}}, "DEU": {"Q1": {"1": 0.505, "2": 0.495}}})
    out = tmp_path / "ref.json"
    assert main(["data", "build-reference", "--shares-json", str(a), "--shares-json", str(b), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 countries (2 with answer distributions), 1 questions, 2 rows" in text
    ref = HumanReference.load(out)
    assert ref.get("DEU", "Q1")["dist"] == [0.5, 0.5, 0.0, 0.0]  # the first file wins within one source
    assert main(["data", "summary", "--reference", str(out), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["countries"]["with_distributions_list"] == ["DEU", "MEX"] and s["rows_per_source"] == {"wvs7_shares": 2}
    assert main(["data", "summary"]) == 0
    text = capsys.readouterr().out
    assert "countries:" in text and "rows per source:" in text and "Perceptions of Migration" in text


def test_cli_errors_exit_nonzero(tmp_path, capsys):
    bad = write_json(tmp_path / "bad.json", {"Atlantis": {"Q1": {"1": 1.0}}})
    assert main(["data", "build-reference", "--shares-json", str(bad), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Atlantis" in err[0]
    w = tmp_path / "w.csv"
    w.write_text("B_COUNTRY_ALPHA,Q1\nDEU,1\n")
    s = write_json(tmp_path / "s.json", {"DEU": {"Q1": {"4": 1.0}}})
    args = ["data", "build-reference", "--wvs-csv", str(w), "--shares-json", str(s), "--out", str(tmp_path / "r.json")]
    assert main(args) == 2 and "--allow-mismatch" in capsys.readouterr().err
    assert main(args + ["--allow-mismatch"]) == 0
    assert "above the tolerance, allowed" in capsys.readouterr().out
