"""`culturelens study --smoke` end to end on the tiny test model (issue 16, item 5): every arm x seed trained and
evaluated, effects with CIs and Holm, the report and figures, one W&B run per arm x seed with its training curve and
its evaluation, lineage, a summary run; a rerun after losing a training and an evaluation redoes only those."""
import json
import shutil

import pytest
from wandb_log import read_run, run_folders

from culturelens.cli import main

CONFIG = "configs/experiments/training_study.yaml"


@pytest.fixture(scope="module")
def study(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    args = ["study", "--config", CONFIG, "--smoke", f"student.name_or_path={tiny_model_dir}", "teacher=null",
            f"output_dir={out}", "--no-progress"]
    assert main(args) == 0
    return out / "training_study_smoke", args


def test_smoke_study_writes_effects_report_and_runs(study):
    root, _ = study
    effects = json.loads((root / "effects.json").read_text())
    claims = [r["claim"] for r in effects["primary"]]
    assert claims == ["claim5", "claim3", "claim6"]
    for r in effects["primary"]:
        assert r["estimate"] is not None and r["ci"]["lo"] <= r["estimate"] <= r["ci"]["hi"] and r["p_holm"] >= r["p"]
        assert r["verdict"] in ("supported", "contradicted") or r["verdict"].startswith("no evidence (minimum detectable effect")
    arms = {r["arm"] for r in effects["arms"]}
    assert {"base", "ridge", "real", "shuffled", "multilingual", "dpo_real", "extra_sft", "dpo_shuffled", "seed_only"} <= arms
    seed_only = next(r for r in effects["secondary"] if r["arm"] == "seed_only" and r["countries"] == "seen")
    assert seed_only["estimate"] == 0.0  # no teacher: SEED-ONLY's rows are REAL's, and so are its adapters
    report = (root / "report.md").read_text()
    assert "## Effects (estimates first)" in report and "heldout × unseen" in report and "## Training data" in report
    assert (root / "figures" / "effects.png").stat().st_size > 1000 and (root / "figures" / "arms.png").exists()
    plan = json.loads((root / "plan.json").read_text())
    assert plan["n_trainings"] == 14 and plan["estimated_seconds"] > 0
    extra = json.loads((root / "train" / "extra_sft" / "s0" / "culturelens_train.json").read_text())
    dpo = json.loads((root / "train" / "dpo_real" / "s0" / "culturelens_train.json").read_text())
    assert extra["global_step"] == dpo["global_step"]  # matched extra SFT steps


def test_one_wandb_run_per_arm_and_seed_with_curves_evaluation_and_lineage(study):
    root, _ = study
    logs = [read_run(f) for f in run_folders(root / "wandb" / "real-s0" / "wandb")]
    assert len(logs) == 1
    run = logs[0]
    assert run.group == "training_study_smoke" and run.job_type == "study-arm"
    assert any(k.startswith("train/") for k in run.history_keys)
    assert "study/question_r/heldout/seen" in run.summary
    assert {a.type for a in run.logged} == {"model", "evaluation"}
    data_digest = run.config["lineage/dataset"]["digest"]
    (summary,) = [read_run(f) for f in run_folders(root / "wandb" / "summary" / "wandb")]
    assert summary.config["lineage/dataset"]["digest"] == data_digest
    assert "verdict/claim5" in summary.summary
    (dpo,) = [read_run(f) for f in run_folders(root / "wandb" / "dpo_real-s1" / "wandb")]
    adapter = next(a for a in run.logged if a.type == "model")
    dpo_parent = json.loads((root / "train" / "real" / "s1" / "culturelens_train.json").read_text())
    assert "lineage/parent_adapter" in dpo.config or dpo_parent  # the parent adapter is declared when it was logged
    assert adapter.metadata["dataset_artifact"]["digest"] == data_digest


def test_rerun_redoes_only_what_is_missing(study):
    root, args = study
    shutil.rmtree(root / "train" / "shuffled" / "s1")
    shutil.rmtree(root / "evals" / "training_study_smoke" / "multilingual-s0")
    before = (root / "train" / "real" / "s0" / "culturelens_train.json").stat().st_mtime
    assert main(args) == 0
    assert (root / "train" / "shuffled" / "s1" / "adapter").is_dir()
    assert (root / "evals" / "training_study_smoke" / "multilingual-s0" / "complete.json").exists()
    assert (root / "train" / "real" / "s0" / "culturelens_train.json").stat().st_mtime == before


def test_each_seed_has_its_own_shuffled_permutation_and_resume_keys_on_it(study, tmp_path, capsys):
    """data/s<seed>/ holds that seed's rows under its data key (its own SHUFFLED permutation); a rerun whose rows
    changed (another data.shuffle_seed) refuses the SHUFFLED trainings made on the old rows and keeps REAL's."""
    from culturelens.experiments.study.layout import train_dir, trained

    root, args = study
    facts = json.loads((root / "data" / "facts.json").read_text())
    seeds = facts["seeds"]
    assert len(seeds) >= 2 and len({json.dumps(v["permutation"], sort_keys=True) for v in seeds.values()}) == len(seeds)
    assert len({v["key"]["shuffle_seed"] for v in seeds.values()}) == len(seeds)
    copy = tmp_path / root.name
    shutil.copytree(root, copy)
    moved = [a if not a.startswith("output_dir=") else f"output_dir={tmp_path}" for a in args]
    assert main(moved + ["data.shuffle_seed=9"]) == 2
    assert "train/shuffled/s0 was trained on other rows" in capsys.readouterr().err
    again = json.loads((copy / "data" / "facts.json").read_text())["seeds"]
    assert all(again[s]["permutation"] != seeds[s]["permutation"] for s in seeds)
    assert (copy / "data" / "s0" / "real.jsonl").read_text() == (root / "data" / "s0" / "real.jsonl").read_text()
    assert trained(train_dir(copy, "real", 0), copy / "data" / "s0" / "real.jsonl")


def test_a_training_under_a_launcher_runs_as_its_own_command(tmp_path, tiny_model_dir):
    """train_launcher (e.g. `accelerate launch ...` on GPUs): the study writes the training's config and runs
    `culturelens train sft` under it; here the launcher is plain `python`."""
    from culturelens.experiments.study.run import launch
    from culturelens.train.config import SFTRunConfig

    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"prompt": f"Question {i}? Answer:", "completion": " A"}) + "\n" for i in range(8)))
    out = tmp_path / "train"
    cfg = SFTRunConfig.model_validate({"model": {"name_or_path": str(tiny_model_dir)}, "dataset": str(rows), "output_dir": str(out),
                                       "train": {"max_steps": 1, "per_device_train_batch_size": 4}})
    launch("python", "sft", cfg, out)
    assert (out / "study_train.yaml").exists() and (out / "adapter").is_dir()
    assert json.loads((out / "culturelens_train.json").read_text())["global_step"] == 1


def test_a_verdict_whose_resampled_ci_covers_zero_is_fragile():
    from culturelens.experiments.study.effects import fragile, verdict
    row = {"estimate": 0.003, "p_holm": 0.01, "mde": 0.002, "ci_resampled": {"lo": -0.007, "hi": 0.007}}
    row["verdict"] = verdict(row, "less", 0.05)
    assert row["verdict"] == "contradicted" and fragile(row)
    assert not fragile({**row, "ci_resampled": {"lo": 0.001, "hi": 0.007}})  # generalises over clusters and countries
    weak = {**row, "p_holm": 0.2}
    weak["verdict"] = verdict(weak, "less", 0.05)
    assert weak["verdict"].startswith("no evidence") and not fragile(weak)  # a qualifier of verdicts only
