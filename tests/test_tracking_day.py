"""Issue 17: W&B names from the final run name, live progress before the probe ends, a per-prompt Table, a killed run
leaves a record, W&B trouble never loses a finished eval; the reproducibility manifest in summary.json and W&B."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from wandb_log import read_run, run_folders

from culturelens.cli import main
from culturelens.core.manifest import Manifest, collect_manifest, input_hashes, sha256_path
from culturelens.core.runfolder import RunFolder
from culturelens.eval.config import EvalConfig
from culturelens.eval.runner import run_eval


def _cfg(tmp_path, model_dir, **extra) -> EvalConfig:
    data = {"experiment": "t", "output_dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache"),
            "model": {"name_or_path": str(model_dir)}, "countries": ["DEU", "TUR", "MEX"], "questions": ["Q27", "Q28"],
            "n_boot": 20, "n_perm": 20, "probe": {"batch_size": 4, "templates": ["persona_system"]}}
    data.update(extra)
    return EvalConfig.model_validate(data)


def test_manifest_records_versions_commit_hardware_command_model_data_seeds(tmp_path, tiny_model_dir):
    run_dir = run_eval(_cfg(tmp_path, tiny_model_dir, seed=7), progress=False)
    summary = RunFolder(run_dir).require_complete().summary()
    m = summary.manifest
    assert isinstance(m, Manifest)
    assert m.culturelens and m.python.count(".") == 2
    assert set(m.packages) >= {"torch", "transformers", "peft", "trl", "datasets", "wandb"} and m.packages["torch"]
    assert m.git.commit is None or len(m.git.commit) == 40
    assert m.hardware.cpu_count and m.hardware.platform and m.command
    assert m.model.name_or_path == str(tiny_model_dir) and m.model.fingerprint == summary.run.fingerprint
    assert m.model.hub_commit is None  # a local folder has no hub commit
    assert m.data["reference"] == input_hashes()["reference"] and len(m.data["question_bank"]) == 64
    assert m.seeds == {"seed": 7}


def test_manifest_of_a_hub_model_reads_its_commit_from_the_hf_cache(tmp_path, monkeypatch):
    commit = "0123456789abcdef0123456789abcdef01234567"
    snap = tmp_path / "hub" / "models--org--m" / "snapshots" / commit
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    (tmp_path / "hub" / "models--org--m" / "refs").mkdir()
    (tmp_path / "hub" / "models--org--m" / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    from culturelens.core.manifest import model_identity
    from culturelens.core.models import ModelConfig

    assert model_identity(ModelConfig(name_or_path="org/m")).hub_commit == commit
    assert model_identity(ModelConfig(name_or_path="org/m", revision=commit.upper())).hub_commit == commit
    assert model_identity(ModelConfig(name_or_path="org/absent")).hub_commit is None


def test_sha256_of_files_and_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("1")
    first = sha256_path(tmp_path / "a")
    (tmp_path / "a" / "x.txt").write_text("2")
    assert sha256_path(tmp_path / "a") != first and sha256_path(tmp_path / "nope") is None
    assert collect_manifest(seeds={"s": 1, "none": None}, data={"d": None}).seeds == {"s": 1}


def _offline(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


def test_wandb_names_table_progress_and_manifest(tmp_path, tiny_model_dir, monkeypatch):
    _offline(monkeypatch)
    cfg = _cfg(tmp_path, tiny_model_dir, run_name="mine", wandb={"enabled": True, "project": "cltest"})
    run_dir = run_eval(cfg, progress=False)
    s = RunFolder(run_dir).require_complete().summary()  # re-marked complete after the W&B facts were added
    # the sync path printed is the final one: W&B writes beside the run folders, never inside the staging folder
    wandb_dir = Path(s.run.wandb_dir)
    assert wandb_dir.is_dir() and wandb_dir.parent == tmp_path / "runs" / "t" / "wandb"
    assert s.run.wandb_artifact.name == "eval-t-mine"  # the final run name, not .mine.tmp-<pid>
    log = read_run(wandb_dir)
    assert log.name == "mine" and log.exited
    assert log.config["manifest"]["model"]["fingerprint"] == s.run.fingerprint
    assert {"progress/prompts_done", "progress/prompts_per_s", "progress/cached"} <= log.history_keys
    assert "per_prompt/_type" in log.history_keys
    table = json.loads(next((wandb_dir / "files" / "media" / "table").glob("per_prompt_*.table.json")).read_text())
    assert len(table["data"]) == s.run.n_prompts and "probs" in table["columns"]
    assert log.artifact("evaluation").name == "eval-t-mine"
    # a rerun with the same name logs the same artifact name (W&B makes it v1 of eval-t-mine)
    again = run_eval(cfg, progress=False, overwrite=True)
    assert RunFolder(again).summary().run.wandb_artifact.name == "eval-t-mine"
    assert not list((tmp_path / "runs" / "t").glob(".*.lock")), "a lock file was left behind"


def test_a_killed_eval_leaves_a_wandb_record(tmp_path, tiny_model_dir):
    # 3 countries x 8 questions x 2 templates, one prompt a second: the probe outlasts W&B's offline write lag under load
    cfg = _cfg(tmp_path, tiny_model_dir, run_name="killed", wandb={"enabled": True, "project": "cltest"},
               questions=["Q27", "Q28", "Q29", "Q30", "Q31", "Q32", "Q33", "Q34"],
               probe={"batch_size": 1, "templates": ["persona_system", "persona_inline"]})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    env = {**os.environ, "CULTURELENS_DEBUG_BATCH_DELAY": "1.0", "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    proc = subprocess.Popen([sys.executable, "-m", "culturelens", "eval", "--config", str(path), "--no-progress"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wb_root = tmp_path / "runs" / "t"
    deadline, log = time.time() + 120, None
    while time.time() < deadline and proc.poll() is None:
        folders = run_folders(wb_root) if (wb_root / "wandb").is_dir() else []
        if folders:
            try:
                log = read_run(folders[0], wait_s=0)
            except Exception:
                log = None
            if log is not None and "progress/prompts_done" in log.history_keys:
                break
        time.sleep(0.3)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-500:]}"
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    proc.wait(timeout=60)
    assert proc.returncode == 130
    log = read_run(run_folders(wb_root)[0], wait_s=20)
    assert log.name == "killed" and "progress/prompts_done" in log.history_keys and log.exited
    assert "KeyboardInterrupt" in log.summary.get("error", "")
    assert not (wb_root / "killed").exists()  # no finished run folder: the rerun resumes from the cache


def test_online_wandb_without_an_api_key_falls_back_to_offline_and_keeps_the_eval(tmp_path, tiny_model_dir, monkeypatch,
                                                                                   caplog):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc key
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wbcfg"))
    cfg = _cfg(tmp_path, tiny_model_dir, run_name="nokey", wandb={"enabled": True, "project": "cltest"})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    assert main(["eval", "--config", str(path), "--no-progress"]) == 0
    warning = [r.getMessage() for r in caplog.records if r.name == "culturelens.core.tracking"]
    assert len(warning) == 1 and "could not start (UsageError" in warning[0] and "wandb sync" in warning[0]
    s = RunFolder(tmp_path / "runs" / "t" / "nokey").require_complete().summary()
    assert "offline-run-" in s.run.wandb_dir


def test_wandb_failure_after_the_eval_keeps_the_finished_run(tmp_path, tiny_model_dir, monkeypatch, caplog):
    _offline(monkeypatch)
    import culturelens.eval.reporting.lineage as lineage

    def broken(*a, **k):
        raise RuntimeError("upload refused")

    monkeypatch.setattr(lineage, "log_evaluation", broken)
    cfg = _cfg(tmp_path, tiny_model_dir, run_name="ok", wandb={"enabled": True, "project": "cltest"})
    run_dir = run_eval(cfg, progress=False)
    assert RunFolder(run_dir).require_complete().summary().pooled is not None
    assert "W&B logging failed (RuntimeError: upload refused)" in caplog.text


def test_unwritable_wandb_dir_is_refused_before_the_model_loads(tmp_path, tiny_model_dir, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg = _cfg(tmp_path, tiny_model_dir, wandb={"enabled": True, "dir": str(blocker / "wb")})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    assert main(["eval", "--config", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "wandb.dir" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cache").exists()  # nothing was probed


@pytest.mark.parametrize("mode", ["weird"])
def test_wandb_mode_is_validated(tmp_path, tiny_model_dir, mode):
    from culturelens.core.config import validate_config
    from culturelens.core.errors import ConfigError

    with pytest.raises(ConfigError, match="wandb.mode"):
        validate_config(EvalConfig, {"model": {"name_or_path": "x"}, "wandb": {"mode": mode}})


def test_online_wandb_without_network_falls_back_after_the_timeout(tmp_path, tiny_model_dir, monkeypatch, caplog):
    """A key but no reachable server (the issue's CommError after 128 s): offline after wandb.init_timeout_s, one
    warning, the eval finished."""
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", "a" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = _cfg(tmp_path, tiny_model_dir, run_name="nonet", wandb={"enabled": True, "project": "cltest", "init_timeout_s": 3})
    t0 = time.time()
    run_dir = run_eval(cfg, progress=False)
    assert time.time() - t0 < 120
    warning = [r.getMessage() for r in caplog.records if r.name == "culturelens.core.tracking"]
    assert len(warning) == 1 and "could not start" in warning[0] and "offline" in warning[0]
    s = RunFolder(run_dir).require_complete().summary()
    assert "offline-run-" in s.run.wandb_dir and read_run(s.run.wandb_dir).exited
