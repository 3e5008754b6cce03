"""RESULTS.md is generated (scripts/make_results.py) from benchmark JSON and run folders: dated, with the commit and
machine, every cross-country number of an eval beside its null, bad folders refused with one line."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from culturelens.eval.config import EvalConfig
from culturelens.eval.runner import run_eval

ROOT = Path(__file__).resolve().parents[1]
COUNTRIES = ["DEU", "IRQ", "MEX", "TUR", "ARG"]
QUESTIONS = ["Q27", "Q28", "Q29", "Q33", "Q122", "Q158", "Q169", "Q196"]


@pytest.fixture(scope="module")
def make_results():
    spec = importlib.util.spec_from_file_location("make_results", ROOT / "scripts" / "make_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_model_dir) -> Path:
    tmp = tmp_path_factory.mktemp("results")
    cfg = EvalConfig.model_validate({
        "experiment": "t", "output_dir": str(tmp / "runs"), "cache_dir": str(tmp / "cache"), "run_name": "tiny",
        "model": {"name_or_path": str(tiny_model_dir)}, "countries": COUNTRIES, "questions": QUESTIONS,
        "n_boot": 30, "n_perm": 30, "probe": {"batch_size": 16, "templates": ["persona_system", "no_persona"]}})
    return run_eval(cfg, progress=False)


def test_results_of_a_tiny_run(make_results, tiny_run, tmp_path):
    out = tmp_path / "RESULTS.md"
    assert make_results.main([str(tiny_run), "--out", str(out)]) == 0
    text = out.read_text()
    # dated, with the commit and the machine
    assert re.search(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC at commit `[0-9a-f]{7,}", text)
    assert "logical cores" in text and "load average" in text
    assert f"python scripts/make_results.py {tiny_run}" in text
    # the run's own machine, from its manifest: CPU, cores, load average when it started
    manifest = json.loads((tiny_run / "summary.json").read_text())["manifest"]
    assert f"{manifest['hardware']['cpu_count']} cores" in text and "at the start" in text
    # the run, read through the typed summary: every null comparison is a row with model, null and model - null [CI]
    summary = json.loads((tiny_run / "summary.json").read_text())
    nulls = summary["nulls"]
    headline = [k for k, v in nulls.items() if isinstance(v, dict) and "null_mean" in v]
    assert "mean_question_r" in headline and "pooled_r" in headline
    for key in headline:
        row = next(line for line in text.splitlines() if line.startswith(f"| {key} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        v = nulls[key]
        assert cells[1] == (f"{v['model']:.3f}" if v["model"] is not None else "—"), row
        assert cells[2] == (f"{v['null_mean']:.3f}" if v["null_mean"] is not None else "—"), row
        if v["model_minus_null"] is not None:
            assert cells[3].startswith(f"{v['model_minus_null']:+.3f} ["), row
    for group in nulls["mean_question_r_by_group"]:
        assert f"| mean_question_r [group: {group}] |" in text
    # a cross-country number never stands alone: every row of the eval tables has a null column filled in
    assert "Western gap beyond the null" in text or summary["western_gap"].get("verdict") is None
    # benchmarks: each JSON file has its own section
    for f in (ROOT / "benchmarks" / "results").glob("*.json"):
        assert f"### `{f.name}`" in text


def test_a_folder_of_runs_and_an_unfinished_run(make_results, tiny_run, tmp_path):
    experiment = tiny_run.parent
    unfinished = experiment / "unfinished"
    unfinished.mkdir(exist_ok=True)
    (unfinished / "summary.json").write_text((tiny_run / "summary.json").read_text())
    text = make_results.render([experiment], benchmarks=tmp_path / "none")
    assert f"`{tiny_run}`" in text and "not a finished run" in text and "No benchmark results." in text


def test_bad_folders_are_one_line_errors(make_results, tmp_path, capsys):
    assert make_results.main([str(tmp_path / "missing"), "--out", str(tmp_path / "R.md")]) == 2
    assert make_results.main([str(tmp_path), "--out", str(tmp_path / "R.md")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
    assert not (tmp_path / "R.md").exists()


def test_claims_folder(make_results, tmp_path):
    """A claims.json as `culturelens claims` writes it (typed ClaimResult fields): effect with its CI, the verdict,
    the views, and claim 2's gap beyond the null per model."""
    claims = {
        "1_norms": {"verdict": "no evidence", "primary": "norms_minus_others", "p": 0.2, "p_holm": 0.4, "effect": 0.014, "effect_name": "r(norms) - r(systems, progress)",
                    "ci": [-0.13, 0.16], "verdict_by_view": {"averaged": "not supported", "order=original": "not supported"}},
        "2_western_bias": {"verdict": "fragile", "effect": None, "ci": None, "questions": ["Q177"], "n_western": 5,
                           "n_countries": 20, "nearest": {}, "western_base_rate": 0.2, "n_models_western_beyond_null": 0,
                           "verdict_by_view": {"averaged": "not supported", "order=reversed": "supported"},
                           "gaps": {"m": {"verdict": "no evidence", "gap": -0.089, "ci": {"lo": -0.374, "hi": 0.17}}}},
        "4_size": {"verdict": "not testable with these models", "reason": "no family with two sizes"},
        "5_synthetic": {"verdict": "not supported", "effect": 0.01, "ci": [-0.05, 0.07], "mde": 0.12},
        "skipped": {"sft": "adapter missing"},
    }
    folder = tmp_path / "claims"
    folder.mkdir()
    (folder / "claims.json").write_text(json.dumps(claims))
    text = make_results.render([folder], benchmarks=tmp_path / "none")
    assert "| 1. Norms are judged closer to humans than social systems and progress |" in text
    assert "+0.014 [-0.130, +0.160] (null 0 by symmetry)" in text
    assert "**fragile**" in text and "not supported; supported" in text and "no family with two sizes" in text
    assert "minimum detectable effect 0.120" in text and "`norms_minus_others` (p 0.200, Holm 0.400)" in text
    assert "| m | -0.089 [-0.374, +0.170] | no evidence |" in text and "sft (adapter missing)" in text


def test_a_calibration_rule_prints_one_row_per_condition(make_results, tmp_path):
    rules = {"rules": {
        "paper_metric": {"alpha": 0.05, "nulls": {"no_knowledge": {"rate": 0.03, "n": 400}, "quirk": {"rate": 0.045, "n": 400}},
                         "effects": {"signal 0.1": {"rate": 1.0, "n": 400}}},
        "study": {"alpha": 0.05, "nulls": {"two seeds": {"rate": 0.05, "n": 400}}, "run": {"n_sims": 400}}}}
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(rules))
    lines = make_results.benchmark_section(path)
    header = next(line for line in lines if line.startswith("|  | alpha"))
    assert "no_knowledge" not in header and "run.n_sims" in header  # conditions are rows, not columns
    assert "| paper_metric | nulls | quirk | 0.045 | 400 |" in lines and "| study | nulls | two seeds | 0.05 | 400 |" in lines
    assert "| paper_metric | effects | signal 0.1 | 1 | 400 |" in lines


def test_a_study_folder_prints_its_effects_with_verdicts(make_results, tmp_path):
    study = tmp_path / "runs" / "training_study"
    study.mkdir(parents=True)
    row = {"claim": "claim3", "arm": "multilingual", "control": "real", "metric": "western_pull", "questions": "heldout",
           "countries": "all", "estimate": 0.0026, "ci": {"lo": 0.0009, "hi": 0.0042}, "ci_resampled": {"lo": -0.0069, "hi": 0.0075},
           "p": 0.0122, "p_holm": 0.0366, "mde": 0.0022, "primary": True, "verdict": "contradicted", "fragile": True}
    (study / "effects.json").write_text(json.dumps({"primary": [row], "secondary": [], "n_heldout": 12, "n_clusters_heldout": 6,
                                                    "n_seen": 16, "n_unseen": 8, "over": "seeds x clusters x countries"}))
    (study / "plan.json").write_text("{}")
    evals, claims, studies, _ = make_results.find_folders([tmp_path / "runs"])
    assert studies == [study] and not evals and not claims
    text = make_results.render([tmp_path / "runs"], benchmarks=tmp_path / "none")
    assert "## Training studies" in text and "| claim3 | MULTILINGUAL − REAL | western_pull | heldout × all | +0.003 |" in text
    assert "contradicted, **fragile**" in text
