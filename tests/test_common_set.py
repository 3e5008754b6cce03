"""One data source and a complete country x question block for group comparisons."""
import pandas as pd

from culturelens.eval.statistics.common_set import common_block, kinds, source_kind


def frame(cells, source="wvs7:x.csv"):
    return pd.DataFrame([{"country": c, "qid": q, "mean": 0.0, "source": source} for c, q in cells])


def test_source_kind():
    assert source_kind("wvs7:Germany.csv") == "wvs7" and source_kind("means:country_question_means.csv") == "means"


def test_common_block_drops_the_country_missing_a_block_of_questions():
    qids = [f"Q{i}" for i in range(10)]
    cells = [(c, q) for c in "ABCD" for q in qids] + [("E", q) for q in qids[:3]]
    block_countries, block_q = common_block(frame(cells), qids, "wvs7")
    assert block_countries == list("ABCD") and block_q == qids  # 4 x 10 beats 5 x 3


def test_common_block_keeps_one_kind_only():
    qids = ["Q1", "Q2", "Q3"]
    df = pd.concat([frame([(c, q) for c in "ABC" for q in qids]), frame([(c, "Q3") for c in "DEFGH"], source="means:m.csv")])
    assert common_block(df, qids, "wvs7") == (list("ABC"), qids)
    assert common_block(df, qids, "means") == (list("DEFGH"), ["Q3"])
    assert kinds(df) == {"wvs7": 9, "means": 5}


def test_common_block_on_the_default_reference():
    from culturelens.core.reference import default_reference

    ref = default_reference()
    countries, qids = common_block(ref.df, ref.qids, "wvs7")
    assert len(countries) * len(qids) >= 8 * 45
    cells = set(zip(ref.df["country"], ref.df["qid"]))
    assert all((c, q) in cells for c in countries for q in qids)
