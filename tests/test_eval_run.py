"""`culturelens eval` end to end on a tiny model and the embedded reference: outputs, resume, errors, W&B, compare."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from culturelens.cli import main
from culturelens.eval.backends.cache import ProbeCache
from culturelens.eval.config import EvalConfig
from culturelens.eval.runner import run_eval

COUNTRIES = ["DEU", "IRQ", "MEX", "TUR", "CHN"]
QUESTIONS = ["Q27", "Q28", "Q29", "Q33", "Q122", "Q132", "Q158", "Q169", "Q196", "Q224", "Q185"]


def cfg_for(tmp_path, model_dir, **extra) -> EvalConfig:
    data = {
        "experiment": "t",
        "output_dir": str(tmp_path / "runs"),
        "cache_dir": str(tmp_path / "cache"),
        "model": {"name_or_path": str(model_dir)},
        "countries": COUNTRIES,
        "questions": QUESTIONS,
        "n_boot": 50,
        "probe": {"batch_size": 8},
    }
    data.update(extra)
    return EvalConfig.model_validate(data)


def test_run_writes_every_output(tmp_path, tiny_model_dir):
    run_dir = run_eval(cfg_for(tmp_path, tiny_model_dir), progress=False)
    for name in ("config.yaml", "results.parquet", "results.jsonl", "scores.jsonl", "summary.json", "report.md", "example_prompts.txt"):
        assert (run_dir / name).exists(), name
    for fig in ("by_category.png", "per_country.png", "scatter.png"):
        assert (run_dir / "figures" / fig).stat().st_size > 1000
    per_prompt = pd.read_parquet(run_dir / "results.parquet")
    # (2 persona templates x every (country, question) pair the reference has + 11 no-persona prompts) x 2 option orders
    from culturelens.core.reference import default_reference

    ref = default_reference().subset(countries=COUNTRIES, qids=QUESTIONS)
    assert len(ref.df) < 5 * 11  # CHN was not asked some of these: those pairs are skipped, not invented
    assert len(per_prompt) == 2 * (2 * len(ref.df) + 11)
    assert set(per_prompt["order"]) == {"original", "reversed"}  # the default: both orders, averaged
    assert set(per_prompt["country"]) == set(COUNTRIES) | {"NONE"}
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["n_countries"] == 5 and s["n_questions"] == 11
    assert {r["category"] for r in s["by_category"]} >= {"Social Values, Norms, Stereotypes", "Perceptions of Migration"}
    assert s["run"]["n_cached"] == 0 and s["run"]["fingerprint"]
    assert s["distribution"] is not None  # the 9-country reference has distributions
    assert s["nearest_countries"]
    # mean score = sum p_k s_k on the human scale
    row = per_prompt.iloc[0]
    from culturelens.core.questions import load_bank

    scores = load_bank().get(row["qid"]).scores
    assert row["score"] == pytest.approx(sum(p * s for p, s in zip(row["probs"], scores)))


def test_rerun_is_served_from_cache(tmp_path, tiny_model_dir):
    cfg = cfg_for(tmp_path, tiny_model_dir)
    first = json.loads((run_eval(cfg, progress=False) / "summary.json").read_text())
    second = json.loads((run_eval(cfg, progress=False, overwrite=True) / "summary.json").read_text())
    assert second["run"]["n_cached"] == second["run"]["n_prompts"]
    assert second["pooled"] == first["pooled"]


def test_kill_minus_9_resumes(tmp_path, tiny_model_dir):
    """A killed run keeps its finished batches: the rerun only scores what is missing."""
    cfg_path = tmp_path / "c.yaml"
    cfg = cfg_for(tmp_path, tiny_model_dir, probe={"batch_size": 2})
    import yaml

    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    env = {**os.environ, "CULTURELENS_DEBUG_BATCH_DELAY": "0.3"}
    proc = subprocess.Popen([sys.executable, "-m", "culturelens", "eval", "--config", str(cfg_path), "--no-progress"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = tmp_path / "cache" / "probe_cache.sqlite"
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and proc.poll() is None:
        if cache.exists():
            try:
                done = ProbeCache(tmp_path / "cache").count()
            except Exception:
                done = 0
            if done >= 10:
                break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = ProbeCache(tmp_path / "cache").count()
    assert kept >= 10
    s = json.loads((run_eval(cfg, progress=False) / "summary.json").read_text())
    assert s["run"]["n_cached"] == kept < s["run"]["n_prompts"]


def test_wandb_offline_run_directory(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = cfg_for(tmp_path, tiny_model_dir, wandb={"enabled": True, "project": "cltest", "dir": str(tmp_path / "wb")})
    run_dir = run_eval(cfg, progress=False)
    s = json.loads((run_dir / "summary.json").read_text())
    wandb_dir = Path(s["run"]["wandb_dir"])
    assert wandb_dir.exists() and wandb_dir.name.startswith("offline-run-")
    assert list(wandb_dir.glob("*.wandb")), "no offline run file"
    media = wandb_dir / "files" / "media"
    assert {p.name.split("_")[0] for p in (media / "table").glob("*.table.json")} >= {"by", "per"}
    assert len(list((media / "images" / "figures").glob("*.png"))) == 3
    table = json.loads(next((media / "table").glob("by_category_*.table.json")).read_text())
    assert "mean_r" in table["columns"] and len(table["data"]) >= 5
    # config and summary live in the run's transaction log (protobuf records; keys are stored as text), complete once
    # its exit record is written (W&B's service may still be writing after finish() under load: read_run waits for it)
    from wandb_log import read_run

    assert read_run(wandb_dir).exited
    log = next(wandb_dir.glob("*.wandb")).read_bytes()
    for key in (b"persona_system", b"pooled_r", b"r/category/Social Values, Norms, Stereotypes", b"western_gap"):
        assert key in log, key


def test_compare_runs(tmp_path, tiny_model_dir, tiny_model_dir_2):
    a = run_eval(cfg_for(tmp_path, tiny_model_dir, run_name="a"), progress=False)
    b = run_eval(cfg_for(tmp_path, tiny_model_dir_2, run_name="b"), progress=False)
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out), "--n-boot", "50"]) == 0
    result = json.loads((out / "comparison.json").read_text())
    assert result["runs"] == ["a", "b"]
    diffs = [d for d in result["diffs"] if d["what"] == "mean per-question r"]
    assert len(diffs) == 1 and diffs[0]["n"] == 11
    assert diffs[0]["ci"]["lo"] <= diffs[0]["diff"] <= diffs[0]["ci"]["hi"]
    assert "Difference vs baseline" in (out / "comparison.md").read_text()


# ----------------------------------------------------------------------------------- bad input


def run_cli(args, capsys):
    code = main(args)
    err = capsys.readouterr().err
    return code, err


def write_cfg(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize(
    "override, message",
    [
        ("countries=[DEU,XYZ]", "XYZ"),
        ("questions=[Q27,Q999]", "Q999"),
        ("model.name_or_path=/no/such/model", "/no/such/model"),
        ("probe.batch_sise=3", "unknown key 'probe.batch_sise'"),
        ("countries=[SVK]", "no human answers for SVK"),  # USA has answer shares since issue 9
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, tiny_model_dir, capsys, override, message):
    cfg = write_cfg(tmp_path, f"model:\n  name_or_path: {tiny_model_dir}\nquestions: [Q27, Q28, Q29]\noutput_dir: {tmp_path}/runs\ncache_dir: {tmp_path}/cache\n")
    code, err = run_cli(["eval", "--config", cfg, override, "--no-progress"], capsys)
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_model_folder_that_cannot_be_loaded(tmp_path, capsys):
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    cfg = write_cfg(tmp_path, f"model:\n  name_or_path: {bad}\nquestions: [Q27]\noutput_dir: {tmp_path}/runs\n")
    code, err = run_cli(["eval", "--config", cfg], capsys)
    assert code == 2 and str(bad) in err and "Traceback" not in err


def test_reference_from_wvs_csv_without_country_column(tmp_path, tiny_model_dir, capsys):
    csv = tmp_path / "bad.csv"
    csv.write_text("B_COUNTRY,Q27\n276,1\n")
    cfg = write_cfg(tmp_path, f"model:\n  name_or_path: {tiny_model_dir}\nreference: {csv}\noutput_dir: {tmp_path}/runs\n")
    code, err = run_cli(["eval", "--config", cfg], capsys)
    assert code == 2 and "B_COUNTRY_ALPHA" in err
