"""W_WEIGHT: a WVS CSV with the design weight gives weighted shares (checked against pandas), and the metadata says so."""
import numpy as np
import pandas as pd
import pytest

from culturelens.core.questions import Option, Question, linear_scores
from culturelens.core.reference import build_from_wvs_csv, default_reference


class Bank:
    def __init__(self, questions):
        self.qs = {q.qid: q for q in questions}

    def get(self, qid):
        return self.qs[str(qid).strip().upper()]

    def __iter__(self):
        return iter(self.qs.values())


def question(qid, k):
    return Question(qid, "Ethical Values", f"text of {qid}", tuple(Option(c, str(c), s) for c, s in zip(range(1, k + 1), linear_scores(k))))


@pytest.fixture
def bank():
    return Bank([question("Q1", 4), question("Q2", 3)])


def weighted_csv(tmp_path, seed=0, n=60):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "B_COUNTRY_ALPHA": rng.choice(["DEU", "MEX", "IRQ"], n),
        "Q1": rng.choice([1, 2, 3, 4, -1, -2], n),
        "Q2": rng.choice([1, 2, 3, -4], n),
        "W_WEIGHT": rng.uniform(0.2, 3.0, n).round(4),
    })
    path = tmp_path / "wvs_weighted.csv"
    df.to_csv(path, index=False)
    return path, df


def pandas_shares(df, qid, k):
    valid = df[df[qid].between(1, k)]
    table = valid.pivot_table(index="B_COUNTRY_ALPHA", columns=qid, values="W_WEIGHT", aggfunc="sum", fill_value=0.0)
    table = table.reindex(columns=range(1, k + 1), fill_value=0.0)
    return table.div(table.sum(axis=1), axis=0), valid.groupby("B_COUNTRY_ALPHA").size()


def test_weighted_shares_match_pandas(tmp_path, bank):
    path, df = weighted_csv(tmp_path)
    ref, _ = build_from_wvs_csv([path], bank)
    for qid, k in (("Q1", 4), ("Q2", 3)):
        shares, counts = pandas_shares(df, qid, k)
        scores = np.asarray(linear_scores(k))
        for country in shares.index:
            row = ref.get(country, qid)
            assert row["dist"] == pytest.approx(shares.loc[country].tolist(), abs=1e-12)
            assert row["mean"] == pytest.approx(float(shares.loc[country].to_numpy() @ scores), abs=1e-12)
            assert row["n"] == counts.loc[country]  # n stays the number of respondents
    (source,) = ref.meta["sources"]
    assert source["weighted"] is True and "W_WEIGHT" in ref.meta["method"]


def test_weights_change_the_shares(tmp_path, bank):
    path, df = weighted_csv(tmp_path)
    weighted, _ = build_from_wvs_csv([path], bank)
    df.drop(columns="W_WEIGHT").to_csv(tmp_path / "plain.csv", index=False)
    plain, _ = build_from_wvs_csv([tmp_path / "plain.csv"], bank)
    assert plain.meta["sources"][0]["weighted"] is False and "unweighted" in plain.meta["method"]
    diff = max(abs(a - b) for a, b in zip(weighted.df["mean"], plain.df["mean"]))
    assert diff > 1e-3


def test_bad_weights_are_dropped_with_a_warning(tmp_path, bank):
    path = tmp_path / "bad.csv"
    path.write_text("B_COUNTRY_ALPHA,Q1,Q2,W_WEIGHT\nDEU,1,1,2.0\nDEU,2,2,\nDEU,3,3,-1\nDEU,4,1,0.5\n")
    ref, warnings = build_from_wvs_csv([path], bank)
    row = ref.get("DEU", "Q1")
    assert row["n"] == 2 and row["dist"] == pytest.approx([0.8, 0.0, 0.0, 0.2])
    assert any("W_WEIGHT" in w and "2 row(s)" in w for w in warnings)


def test_mixed_weighted_and_unweighted_files_are_flagged(tmp_path, bank):
    path, df = weighted_csv(tmp_path)
    df.drop(columns="W_WEIGHT").to_csv(tmp_path / "plain.csv", index=False)
    ref, warnings = build_from_wvs_csv([path, tmp_path / "plain.csv"], bank)
    (source,) = ref.meta["sources"]
    assert source["weighted"] is False and source["weighted_files"] == [path.name]
    assert any("W_WEIGHT" in w and "plain.csv" in w for w in warnings)


def test_embedded_reference_says_it_is_unweighted():
    sources = default_reference().meta["sources"]
    assert {s["kind"]: s["weighted"] for s in sources} == {"wvs7_respondents": False, "wvs7_shares": None, "country_means": False}
