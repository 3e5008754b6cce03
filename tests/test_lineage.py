"""W&B lineage offline: synth's dataset artifact -> train declares it and logs the adapter as a model artifact ->
DPO declares the SFT adapter -> (eval of the adapter declares it). Checked in the runs' own .wandb transaction logs."""
import json

import pytest
import yaml
from wandb_log import read_run, run_folders

from culturelens.cli import main
from culturelens.core.tracking import ArtifactRef

QUESTIONS = ["Q27", "Q28", "Q29", "Q33", "Q122", "Q123", "Q158", "Q185"]
COUNTRIES = ["DEU", "IRQ", "MEX"]


@pytest.fixture(scope="module")
def lineage_runs(tmp_path_factory, tiny_model_dir):
    tmp = tmp_path_factory.mktemp("lineage")
    mp = pytest.MonkeyPatch()
    mp.setenv("WANDB_MODE", "offline")
    mp.setenv("WANDB_SILENT", "true")
    cfg = {
        "experiment": "lin", "output_dir": str(tmp / "runs"),
        "wandb": {"enabled": True, "project": "cltest", "dir": str(tmp / "wb")},
        "synth": {"teacher": {"backend": "local", "model": {"name_or_path": str(tiny_model_dir)}, "max_new_tokens": 8},
                  "questions": QUESTIONS, "countries": COUNTRIES, "variants": {"paraphrases": 1, "scenarios": 0}},
        "sft": {"model": {"name_or_path": str(tiny_model_dir)}, "train": {"max_steps": 2, "per_device_batch_size": 4, "logging_steps": 1}},
        "dpo": {"train": {"max_steps": 2, "per_device_batch_size": 4}},
        "eval": {"countries": COUNTRIES, "questions": QUESTIONS, "cache_dir": str(tmp / "cache"), "n_boot": 50},
    }
    path = tmp / "pipe.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", str(path), "--no-progress"]) == 0
    mp.undo()
    runs = {read_run(f).job_type + ":" + read_run(f).name: read_run(f) for f in run_folders(tmp / "wb")}
    return tmp, runs


def test_dataset_artifact_is_declared_by_training(lineage_runs):
    tmp, runs = lineage_runs
    synth, sft, dpo = runs["synth:synth-lin"], runs["train:lin/sft"], runs["train:lin/dpo"]
    dataset = synth.artifact("dataset")
    assert dataset.name == "synth-lin" and {"sft.jsonl", "dpo.jsonl", "split.json"} <= set(dataset.files)
    ref = ArtifactRef.model_validate_json((tmp / "runs" / "lin" / "synth" / "artifact.json").read_text())
    assert ref.digest == dataset.digest and ref.offline and ref.run_id == synth.run_id
    # offline W&B refuses use_artifact, so the input is declared in the config: same content digest as the logged record
    for run in (sft, dpo):
        declared = run.config["lineage/dataset"]
        assert declared["name"] == "synth-lin" and declared["digest"] == dataset.digest and declared["type"] == "dataset"


def test_adapters_are_model_artifacts_with_training_facts(lineage_runs):
    tmp, runs = lineage_runs
    sft, dpo = runs["train:lin/sft"], runs["train:lin/dpo"]
    for run, stage in ((sft, "sft"), (dpo, "dpo")):
        model = run.artifact("model")
        assert model.name == f"adapter-lin-{stage}"
        assert model.metadata["stage"] == stage and model.metadata["global_step"] == 2 and model.metadata["n_rows"] > 0
        assert model.metadata["dataset_artifact"]["digest"] == runs["synth:synth-lin"].artifact("dataset").digest
        assert any(f.endswith("adapter_model.safetensors") for f in model.files)
        for facts_file in (tmp / "runs" / "lin" / stage / "culturelens_train.json",
                           tmp / "runs" / "lin" / stage / "adapter" / "culturelens_train.json"):
            facts = json.loads(facts_file.read_text())
            assert facts["wandb_artifact"]["digest"] == model.digest and facts["wandb_artifact"]["type"] == "model"
    # DPO started from the SFT adapter: it declares that model artifact
    assert dpo.config["lineage/sft_model"]["digest"] == sft.artifact("model").digest


def test_training_metric_keys_are_in_the_log(lineage_runs):
    _, runs = lineage_runs
    sft = runs["train:lin/sft"]
    assert "train/loss" in sft.history_keys and "culturelens/train_loss" in sft.summary
    assert sft.group == "lin"


def test_eval_declares_the_adapter_it_scored_and_logs_its_results(lineage_runs):
    tmp, runs = lineage_runs
    for name, stage in (("eval-sft", "sft"), ("eval-dpo", "dpo")):
        ev = runs[f"eval:{name}"]
        assert ev.config["lineage/model"]["digest"] == runs[f"train:lin/{stage}"].artifact("model").digest
        evaluation = ev.artifact("evaluation")
        assert {"summary.json", "scores.jsonl", "config.yaml"} <= set(evaluation.files)
        summary = json.loads((tmp / "runs" / "lin" / name / "summary.json").read_text())
        assert summary["run"]["wandb_artifact"]["digest"] == evaluation.digest
    assert "lineage/model" not in runs["eval:eval-base"].config  # the base model is no artifact of this project
    # stable metric keys, the same in every eval run
    keys = [set(k for k in runs[f"eval:{n}"].summary if k.startswith(("r/", "western_gap", "pooled_r"))) for n in ("eval-base", "eval-sft", "eval-dpo")]
    assert keys[0] == keys[1] == keys[2]
    assert {"pooled_r", "western_gap/gap", "western_gap/western_r", "r/group/norms"} <= keys[0]
    assert any(k.startswith("r/section/") for k in keys[0])


def test_compare_is_a_run_with_tables_a_native_bar_chart_and_the_evaluations_as_inputs(lineage_runs):
    _, runs = lineage_runs
    for split in ("all", "train", "heldout"):
        cmp = runs[f"compare:compare-{split}"]
        assert cmp.group == "lin" and cmp.config["runs"] == ["eval-base", "eval-sft", "eval-dpo"]
        for name in ("eval-base", "eval-sft", "eval-dpo"):
            assert cmp.config[f"lineage/eval/{name}"]["digest"] == runs[f"eval:{name}"].artifact("evaluation").digest
        chart = cmp.config["_wandb/visualize/charts/r_by_section"]["panel_config"]
        assert chart["panelDefId"] == "wandb/bar/v0" and chart["fieldSettings"] == {"label": "label", "value": "mean_r"}
        assert "_wandb/visualize/charts/diff_by_section/eval-dpo" in cmp.config
        tables = {k.split("/_type")[0] for k in cmp.history_keys if k.endswith("/_type")}
        assert {"compare/overview", "compare/by_section", "compare/diffs", "charts/r_by_section_table", "figures/by_section"} <= tables
        assert "eval-sft/pooled_r" in cmp.summary and "diff/eval-sft/mean per-question r" in cmp.summary


def test_one_lineage_from_dataset_to_comparison(lineage_runs):
    """Follow the digests: dataset -> sft adapter -> dpo adapter -> eval of the dpo adapter -> compare."""
    _, runs = lineage_runs
    dataset = runs["synth:synth-lin"].artifact("dataset").digest
    sft, dpo, ev, cmp = runs["train:lin/sft"], runs["train:lin/dpo"], runs["eval:eval-dpo"], runs["compare:compare-heldout"]
    assert sft.config["lineage/dataset"]["digest"] == dataset
    assert dpo.config["lineage/sft_model"]["digest"] == sft.artifact("model").digest
    assert ev.config["lineage/model"]["digest"] == dpo.artifact("model").digest
    assert cmp.config["lineage/eval/eval-dpo"]["digest"] == ev.artifact("evaluation").digest


def test_claims_log_a_run_of_their_own(tmp_path, tiny_model_dir, tiny_model_dir_2, monkeypatch):
    from wandb_log import read_run, run_folders

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    countries = ["DEU", "ARG", "USA", "IRQ", "TUR", "MEX"]
    questions = ["Q27", "Q122", "Q158", "Q177", "Q182", "Q185", "Q187"]
    cfg = {"experiment": "cl", "output_dir": str(tmp_path / "runs"), "n_boot": 50, "bias_questions": ["Q177", "Q182", "Q185", "Q187"],
           "eval": {"countries": countries, "questions": questions, "cache_dir": str(tmp_path / "cache"),
                    "wandb": {"enabled": True, "project": "cltest", "dir": str(tmp_path / "wb")}},
           "models": [{"label": "a", "model": {"name_or_path": str(tiny_model_dir)}, "facts": {"family": "t", "params": 1e5, "corpus": "english", "aligned": True}},
                      {"label": "b", "model": {"name_or_path": str(tiny_model_dir_2)}, "facts": {"family": "t", "params": 2e5, "corpus": "multilingual", "aligned": False}}]}
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["claims", "--config", str(path), "--no-progress"]) == 0
    logs = [read_run(f) for f in run_folders(tmp_path / "wb")]
    runs = {r.job_type: r for r in logs if r.job_type == "claims"}
    assert "claims" in runs, [(r.job_type, r.name) for r in logs]
    claims = runs["claims"]
    assert claims.name == "claims-cl" and set(claims.config) >= {"lineage/eval/a", "lineage/eval/b"}
    assert claims.config["_wandb/visualize/charts/r_by_section"]["panel_config"]["panelDefId"] == "wandb/bar/v0"
    tables = {k.split("/_type")[0] for k in claims.history_keys if k.endswith("/_type")}
    assert {"claims/verdicts", "claims/1_norms", "claims/2_western_gap", "figures/by_section", "figures/claims"} <= tables
    assert claims.summary["verdict/2_western_bias"] in ("supported", "no evidence", "not testable")


def test_compare_command_logs_a_wandb_run(lineage_runs, monkeypatch):
    tmp, runs = lineage_runs
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    evals = [str(tmp / "runs" / "lin" / n) for n in ("eval-base", "eval-dpo")]
    assert main(["compare", *evals, "--out", str(tmp / "cmp"), "--n-boot", "20", "--wandb", "--wandb-dir", str(tmp / "wb-cli")]) == 0
    (cmp,) = [read_run(f) for f in run_folders(tmp / "wb-cli")]
    assert cmp.job_type == "compare" and cmp.name == "compare-cmp" and cmp.group == "lin"
    assert cmp.config["lineage/eval/eval-dpo"]["digest"] == runs["eval:eval-dpo"].artifact("evaluation").digest
    assert cmp.config["_wandb/visualize/charts/r_by_section"]["panel_config"]["panelDefId"] == "wandb/bar/v0"
    assert (tmp / "cmp" / "figures" / "by_section.png").stat().st_size > 1000
