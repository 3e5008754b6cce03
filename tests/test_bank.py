"""The embedded question bank: every WVS-7 value question of the 12 sections, built by scripts/build_bank.py."""
from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from culturelens.core.questions import DEFAULT_GROUPS, linear_scores, load_bank
from culturelens.core.reference import build_from_wvs_csv

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
META = DATA / "wvs7_metadata"
WORDING = DATA / "wvs7_shares19" / "wvs_questions.json"
SHARES = DATA / "wvs7_shares19" / "proportions_group_by_country.json"
SUBSET = DATA / "wvs7_subset"
needs_data = pytest.mark.skipif(not (META.is_dir() and WORDING.is_file() and SHARES.is_file()),
                                reason="../shared/data (wvs7_metadata, wvs7_shares19) not available")

# The 69 questions written by the project before the bank grew: ids, wording, options, scores, remaps must not move.
PROJECT_QIDS = ([f"Q{i}" for i in range(27, 42)] + [f"Q{i}" for i in range(122, 130)] + [f"Q{i}" for i in range(132, 139)]
                + [f"Q{i}" for i in range(158, 163)] + ["Q169", "Q170", "Q196", "Q197", "Q198"]
                + [f"Q{i}" for i in range(224, 234)] + [f"Q{i}" for i in range(177, 196)])
PROJECT_DIGEST = "12ff7396ea076b264d21019e05182f957bfaf1c59542d772f956098528d5f974"
QUESTIONNAIRE = [f"Q{i}" for i in range(1, 235)] + ["Q234A"] + [f"Q{i}" for i in range(235, 260)]


def _digest(bank, qids) -> str:
    rows = []
    for qid in qids:
        q = bank.get(qid)
        rows.append([q.qid, q.category, q.text, q.short, list(q.aliases), q.direction,
                     [[o.code, o.label, round(o.score, 12)] for o in q.options], sorted(q.remap.items())])
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()


def _generator():
    spec = importlib.util.spec_from_file_location("build_bank", ROOT / "scripts" / "build_bank.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bank_covers_every_value_section():
    bank = load_bank()
    assert 200 <= len(bank) <= 260
    sections = {q.section for q in bank}
    assert len(sections) == 12 and sections <= set(DEFAULT_GROUPS)
    assert {q.group for q in bank} == {"norms", "systems", "progress"}
    excluded = {e["qid"]: e["reason"] for e in bank.meta["excluded"]}
    assert all(reason for reason in excluded.values())
    for qid in QUESTIONNAIRE:  # every id is in the bank or left out with a reason, never both
        assert (qid in bank) != (qid in excluded), qid
    assert {s["file"] for s in bank.meta["sources"]} >= {"wvs7_metadata/codebook.json", "wvs7_shares19/wvs_questions.json"}
    assert bank.meta["per_section"] == {s: sum(q.section == s for q in bank) for s in sections}


def test_options_in_scale_order_and_two_point_items_explicit():
    bank = load_bank()
    for q in bank:
        assert q.codes == sorted(q.codes) and len(set(q.codes)) == len(q.codes) >= 2, q.qid
        assert q.scores == pytest.approx(linear_scores(len(q.codes))), q.qid
        assert q.scale in {"ordinal", "binary", "mentioned"}, q.qid
        assert (len(q.options) == 2) == (q.scale != "ordinal"), q.qid
        assert q.direction, q.qid
    for qid in [f"Q{i}" for i in range(7, 27)]:  # child qualities and neighbours: 1 mentioned -> -1, 2 not -> +1
        q = bank.get(qid)
        assert q.scale == "mentioned" and q.codes == [1, 2] and q.scores == [-1.0, 1.0] and q.remap == {0: 2}
    assert [o.label for o in bank.get("Q56").options] == ["Better off", "About the same", "Worse off"]
    assert bank.get("Q119").remap == {0: 3, 3: 4, 4: 5} and bank.get("Q119").options[2].label == "Hard to say"
    assert bank.get("Q176").options[0].label == "1 - Completely agree"  # the codebook's order, not the wording's
    assert bank.get("Q111").remap == {3: None} and bank.get("Q241").remap == {0: 1}


def test_project_questions_unchanged():
    bank = load_bank()
    assert len(PROJECT_QIDS) == 69
    assert _digest(bank, PROJECT_QIDS) == PROJECT_DIGEST


@needs_data
def test_generator_is_deterministic_and_its_output_is_committed():
    gen = _generator()
    committed = ROOT / "culturelens" / "core" / "data" / "questions.json"
    first = gen.build(META, WORDING, committed)
    second = gen.build(META, WORDING, committed)
    assert first == second
    assert json.loads(committed.read_text(encoding="utf-8")) == first


@needs_data
def test_every_code_in_the_shares_data_is_an_option():
    """Codes present in the 19-country shares file, after the bank's remaps, are the question's options (or declared
    missing: negative, or remapped to None)."""
    bank = load_bank()
    data = json.loads(SHARES.read_text())
    seen = 0
    for country, per_q in data.items():
        for qid, shares in per_q.items():
            if qid not in bank:
                continue
            q = bank.get(qid)
            for code, share in shares.items():
                code = int(code)
                new = q.remap.get(code, code)
                if code < 0 or new is None or share == 0:
                    continue
                assert new in q.codes, (country, qid, code)
                seen += 1
    assert seen > 20000


@pytest.mark.skipif(not SUBSET.is_dir(), reason="../shared/data/wvs7_subset not available")
def test_every_code_in_the_respondent_files_is_an_option():
    bank = load_bank()
    for path in sorted(SUBSET.glob("*.csv")):
        if path.name == "WVQ.csv":
            continue
        df = pd.read_csv(path)
        df = df[df["B_COUNTRY_ALPHA"].notna()]
        for col in df.columns[2:]:
            q = bank.get(col)
            codes = {int(c) for c in df[col].dropna().unique() if c >= 0}
            assert {q.remap.get(c, c) for c in codes} - {None} <= set(q.codes), (path.name, col)


def test_mentioned_items_accept_zero_one_coding(tmp_path):
    """A file coding 'not mentioned' as 0 (as the WVS time-series files do) gives the same shares as 1/2 coding."""
    bank = load_bank()
    a = tmp_path / "a.csv"
    a.write_text("B_COUNTRY_ALPHA,Q7,Q18\nDEU,1,1\nDEU,2,2\nDEU,2,-1\n")
    b = tmp_path / "b.csv"
    b.write_text("B_COUNTRY_ALPHA,Q7,Q18\nDEU,1,1\nDEU,0,0\nDEU,0,-1\n")
    ra, wa = build_from_wvs_csv([a], bank)
    rb, wb = build_from_wvs_csv([b], bank)
    assert not wa and not wb
    for qid in ("Q7", "Q18"):
        assert ra.get("DEU", qid)["dist"] == rb.get("DEU", qid)["dist"]
    assert ra.get("DEU", "Q7")["dist"] == pytest.approx([1 / 3, 2 / 3]) and ra.get("DEU", "Q7")["mean"] == pytest.approx(1 / 3)
