"""Issue 17, CLI: `config show`, `--dry-run` of eval / run / claims (prompts, cached, trainings, estimated time), every
stage command takes --config the same way, a stage's --help lists its config sections."""
import pytest
import yaml

from culturelens.cli import main


def _eval_yaml(tmp_path, model, **extra):
    data = {"experiment": "t", "output_dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache"),
            "model": {"name_or_path": str(model)}, "countries": ["DEU", "IRQ", "MEX"], "questions": ["Q27", "Q28"],
            "n_boot": 10, "n_perm": 10, "probe": {"templates": ["persona_system"], "batch_size": 8}}
    data.update(extra)
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_config_show_prints_defaults_and_overrides(tmp_path, capsys):
    path = _eval_yaml(tmp_path, "some/model")
    assert main(["config", "show", "--config", str(path), "probe.batch_size=3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# eval config (EvalConfig)")
    shown = yaml.safe_load(out)
    assert shown["probe"]["batch_size"] == 3 and shown["n_perm"] == 10 and shown["probe"]["answer_cue"] == "Answer:"
    assert shown["wandb"]["enabled"] is False  # a default the file never mentioned


def test_config_show_of_a_bad_config_is_one_line(tmp_path, capsys):
    path = _eval_yaml(tmp_path, "m")
    assert main(["config", "show", "--kind", "eval", "--config", str(path), "probe.templates=[]"]) == 2
    err = capsys.readouterr().err
    assert "override 'probe.templates=[]'" in err and len(err.strip().splitlines()) == 1


def test_eval_dry_run_counts_prompts_and_cached(tmp_path, capsys, tiny_model_dir):
    path = _eval_yaml(tmp_path, tiny_model_dir)
    assert main(["eval", "--config", str(path), "--dry-run", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "prompts: 12 (0 cached, 12 to score)" in out  # 3 countries x 2 questions x 2 orders
    assert "estimated probe time" in out and not (tmp_path / "runs" / "t").exists()
    assert main(["eval", "--config", str(path), "--no-progress", "run_name=done"]) == 0
    capsys.readouterr()
    assert main(["eval", "--config", str(path), "--dry-run", "questions=[Q27,Q28,Q29]"]) == 0
    out = capsys.readouterr().out
    assert "prompts: 18 (12 cached, 6 to score)" in out and "measured in" in out  # the rate of the finished run


def test_eval_dry_run_says_why_r_cannot_be_computed(tmp_path, capsys, tiny_model_dir):
    path = _eval_yaml(tmp_path, tiny_model_dir, countries=["DEU", "TUR"])
    assert main(["eval", "--config", str(path), "--dry-run"]) == 0
    assert "needs at least 3" in capsys.readouterr().out


def test_run_dry_run_lists_trainings_and_evals(tmp_path, capsys, tiny_model_dir):
    cfg = {"experiment": "pipe", "output_dir": str(tmp_path / "runs"),
           "synth": {"teacher": {"backend": "local", "model": {"name_or_path": str(tiny_model_dir)}}},
           "sft": {"model": {"name_or_path": str(tiny_model_dir)}, "train": {"max_steps": 2}},
           "dpo": {"train": {"max_steps": 3}},
           "eval": {"countries": ["DEU", "IRQ", "MEX"], "questions": ["Q27"], "cache_dir": str(tmp_path / "cache"),
                    "probe": {"templates": ["persona_system"]}}}
    path = tmp_path / "pipe.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", "--config", str(path), "--dry-run"]) == 0  # --config like every stage (the positional still works)
    out = capsys.readouterr().out
    assert "training sft:" in out and "training dpo:" in out and "prompts: 6 (0 cached, 6 to score)" in out
    assert "eval eval-dpo: the same 6 prompts" in out and "estimated probe time of the evals" in out
    assert not (tmp_path / "runs" / "pipe" / "sft").exists()


def test_claims_dry_run(tmp_path, capsys, tiny_model_dir):
    facts = {"family": "tiny", "params": 1e6, "corpus": "english", "aligned": False}
    cfg = {"experiment": "c", "output_dir": str(tmp_path / "runs"),
           "eval": {"countries": ["DEU", "IRQ", "MEX"], "questions": ["Q27"], "cache_dir": str(tmp_path / "cache"),
                    "probe": {"templates": ["persona_system"]}},
           "models": [{"label": "base", "model": {"name_or_path": str(tiny_model_dir)}, "facts": facts},
                      {"label": "tuned", "model": {"name_or_path": str(tiny_model_dir), "adapter": str(tmp_path / "none")},
                       "facts": {**facts, "stage": "sft", "base": "base"}}]}
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["claims", "--config", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "skip tuned: adapter" in out and "prompts: 6 (0 cached, 6 to score)" in out


@pytest.mark.parametrize("argv, section", [(["eval"], "probe: ProbeConfig"), (["claims"], "models:"),
                                           (["train", "sft"], "train:"), (["synth"], "teacher:"), (["run"], "stages:")])
def test_stage_help_lists_its_config_sections(capsys, argv, section):
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    out = capsys.readouterr().out
    assert "config sections" in out and section in out and "--config" in out
