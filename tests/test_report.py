"""write_report writes summary.json, report.md and valid PNG figures."""
import json

import matplotlib.image as mpimg
import numpy as np
import pandas as pd

from culturelens.core.countries import Country
from culturelens.core.questions import DEFAULT_GROUPS, linear_scores
from culturelens.eval.reporting.report import format_table, print_rich_table, write_report
from culturelens.eval.statistics import metrics

CATS = ["Social Values, Norms, Stereotypes", "Perceptions of Corruption", "Perceptions about Science and Technology"]


def synthetic(seed=0):
    rng = np.random.default_rng(seed)
    zones = ["English-speaking", "Confucian", "Latin America"]
    countries = {f"C{i}": Country(f"C{i}", f"C{i}"[:2], i, f"Country {i}", ("en",), zones[i % 3], i < 3) for i in range(8)}
    qids = [f"Q{i}" for i in range(9)]
    sc = linear_scores(3)
    human, model = [], []
    for c in countries:
        for q in qids:
            d = rng.dirichlet(np.ones(3))
            human.append({"country": c, "qid": q, "n": 100, "mean": float(d @ sc), "dist": list(d)})
            p = rng.dirichlet(np.ones(3))
            model.append({"country": c, "qid": q, "score": float(d @ sc) + 0.2 * rng.normal(), "probs": list(p), "mass": 0.9})
    for q in qids:
        model.append({"country": "NONE", "qid": q, "score": rng.normal(), "probs": [1 / 3] * 3, "mass": 0.9})
    model, human = pd.DataFrame(model), pd.DataFrame(human)
    categories = {q: CATS[i % 3] for i, q in enumerate(qids)}
    summary = metrics.compute_summary(model, human, categories, DEFAULT_GROUPS, countries, {q: sc for q in qids}, n_boot=30)
    per_pair = model[model["country"] != "NONE"].merge(human[["country", "qid", "mean"]], on=["country", "qid"])
    return summary, per_pair


def test_write_report(tmp_path):
    summary, per_pair = synthetic()
    summary["run"] = {"model": "tiny", "reference": "synthetic"}
    paths = write_report(tmp_path, summary, title="tiny on synthetic", per_pair=per_pair)
    names = {p.name for p in paths}
    assert {"summary.json", "report.md", "by_category.png", "per_country.png", "scatter.png"} <= names
    assert all(p.exists() for p in paths)
    assert json.loads((tmp_path / "summary.json").read_text())["n_questions"] == 9
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("# tiny on synthetic")
    for cat in CATS:
        assert cat in md
    for section in ("By group", "By cultural zone", "Western", "Pooled", "Distribution", "Nearest countries", "Worst 5", "Best 5"):
        assert section in md
    for name in ("by_category.png", "per_country.png", "scatter.png"):
        f = tmp_path / "figures" / name
        assert f.stat().st_size > 1000
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = mpimg.imread(f)
        assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50


def test_write_report_without_pairs_and_sparse_summary(tmp_path):
    summary, _ = synthetic(1)
    summary["distribution"] = None
    summary["nearest_countries"] = None
    summary["by_zone"] = []
    summary["pooled"]["r"] = None
    paths = write_report(tmp_path, summary, title="sparse")
    assert "scatter.png" not in {p.name for p in paths}
    md = (tmp_path / "report.md").read_text()
    assert "no human answer distributions" in md and "—" in md


def test_format_table_and_rich():
    df = pd.DataFrame({"name": ["a|b", "c"], "r": [0.12345, np.nan], "n": [3, 4], "flag": [True, False]})
    t = format_table(df)
    lines = t.splitlines()
    assert len(lines) == 4 and lines[0].startswith("| name")
    assert "0.123" in t and "—" in t and "a\\|b" in t
    assert all(line.count("|") - line.count("\\|") == 5 for line in lines)
    assert "0.12" in format_table(df, floatfmt=".2f") and "0.123" not in format_table(df, floatfmt=".2f")
    assert "(no data)" in format_table(pd.DataFrame())
    from rich.console import Console

    con = Console(record=True, width=100)
    print_rich_table(df, "title", console=con)
    assert "0.123" in con.export_text()


def test_run_folder_reads_typed_summary_and_names_corrupt_files(tmp_path):
    import pytest

    from culturelens.core.errors import DataError
    from culturelens.core.runfolder import RunFolder

    summary, _ = synthetic()
    summary["run"] = {"model": "tiny"}
    summary["nulls"] = {"pooled_r": {"null_mean": 0.1}}
    write_report(tmp_path, summary, title="t")
    s = RunFolder(tmp_path).summary()
    assert s.n_questions == 9 and s.run.model == "tiny" and s.nulls.pooled_r.null_mean == 0.1
    # the Summary is built (and validated) when summary.json is written: an unknown key is refused there ...
    with pytest.raises(ValueError, match="future_metric"):
        RunFolder(tmp_path / "w").write_summary({**summary, "future_metric": {"x": 1}})
    # ... and on read, as one line naming the key
    data = json.loads((tmp_path / "summary.json").read_text())
    data["nulls"]["pooled_r"]["future_metric"] = 1
    (tmp_path / "summary.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"bad value at 'nulls.pooled_r.future_metric' \(Extra inputs are not permitted\)") as err:
        RunFolder(tmp_path).summary()
    assert "\n" not in str(err.value)
    assert list(s.question_r().index) == [q["qid"] for q in summary["per_question"]]
    assert s.western_gap.n_western == summary["western_gap"]["n_western"]
    (tmp_path / "summary.json").write_text('{"pooled": ')
    with pytest.raises(DataError, match="summary.json is not valid JSON .*rerun the eval"):
        RunFolder(tmp_path).summary()
    with pytest.raises(DataError, match="not a complete eval run folder"):
        RunFolder(tmp_path).scores()


def test_comparison_json_is_strict_json(tmp_path):
    # a run without a Western gap next to one with it: the overview table holds nan, written as null
    from culturelens.core.runfolder import RunFolder
    from culturelens.eval.compare import compare_runs, write_comparison

    for name, gap in (("a", None), ("b", 0.1)):
        summary, per_pair = synthetic()
        summary["western_gap"]["gap"] = gap
        write_report(tmp_path / name, summary, title=name)
        RunFolder(tmp_path / name).write_per_prompt(per_pair.assign(template="t", order="fwd"))
        (tmp_path / name / "config.yaml").write_text("experiment: default\n")
        RunFolder(tmp_path / name).mark_complete()  # compare reads finished runs only
    result = compare_runs([tmp_path / "a", tmp_path / "b"], n_boot=20)
    write_comparison(result, tmp_path / "cmp")
    text = (tmp_path / "cmp" / "comparison.json").read_text()
    assert "NaN" not in text
    assert json.loads(text)["table"][0]["western_gap"] is None


def test_console_prints_the_western_gap_and_its_ci_once(monkeypatch):
    """The verdict's `said` holds the gap with its CI; the console line prints it once, then the raw gap."""
    from types import SimpleNamespace

    from rich.console import Console

    from culturelens.core.ci import CI
    from culturelens.core.runfolder import RawWesternGap, WesternGap
    from culturelens.eval.reporting import console as console_mod

    said = "no evidence: fidelity slope Western -0.001 vs non-Western -0.000, gap -0.001 95% CI [-0.005, +0.003] (8 vs 16 countries)"
    g = WesternGap(verdict="no evidence", said=said, gap=-0.001, ci=CI(lo=-0.005, hi=0.003), raw=RawWesternGap(gap=-0.063))
    assert g.said_after_verdict(" — ") == said[len("no evidence"):]
    assert WesternGap(verdict="western", said="other words").said_after_verdict(" — ") == " — other words"
    rec = Console(record=True, width=400)
    monkeypatch.setattr(console_mod, "console", rec)
    pooled = SimpleNamespace(r=0.1, ci=CI(lo=0.0, hi=0.2), n_pairs=10)
    console_mod.print_country_knowledge(SimpleNamespace(nulls=None, western_gap=g, pooled=pooled))
    line = next(x for x in rec.export_text().splitlines() if x.startswith("Western gap beyond the null"))
    assert line.count("95% CI [-0.005, +0.003]") == 1 and "raw gap (old rule, no null) -0.063" in line


def test_console_group_and_section_tables_carry_p_and_bh_q(monkeypatch):
    """The console singles out no CI: every group / section row shows its permutation p and its BH q beside the CI."""
    from types import SimpleNamespace

    from rich.console import Console

    from culturelens.core.ci import CI
    from culturelens.core.runfolder import NullComparison
    from culturelens.eval.reporting import console as console_mod

    def row(m, p, q):
        return NullComparison(model=m, null_mean=0.0, model_minus_null=m, ci=CI(lo=m - 0.2, hi=m + 0.2), p_perm=p, q_bh=q, n_units=4)

    nulls = SimpleNamespace(mean_question_r=row(0.01, 0.4, None),
                            mean_question_r_by_group={"progress": row(0.307, 0.021, 0.063), "norms": row(0.025, 0.41, 0.41)},
                            mean_question_r_by_category={"Religious Values": row(0.096, 0.3, 0.74)})
    rec = Console(record=True, width=400)
    monkeypatch.setattr(console_mod, "console", rec)
    console_mod.print_paper_metric(SimpleNamespace(nulls=nulls))
    text = rec.export_text()
    assert "q (BH)" in text and "Benjamini-Hochberg" in text
    progress = next(x for x in text.splitlines() if "progress" in x)
    assert "0.021" in progress and "0.063" in progress
