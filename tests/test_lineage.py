"""W&B lineage offline: synth's dataset artifact -> train declares it and logs the adapter as a model artifact ->
DPO declares the SFT adapter -> (eval of the adapter declares it). Checked in the runs' own .wandb transaction logs."""
import json

import pytest
import yaml

from culturelens.cli import main
from culturelens.core.tracking import ArtifactRef
from culturelens.core.wandb_log import read_run, run_folders

QUESTIONS = ["Q27", "Q28", "Q29", "Q33", "Q122", "Q123", "Q158", "Q185"]
COUNTRIES = ["DEU", "IRQ", "MEX"]


@pytest.fixture(scope="module")
def lineage_runs(tmp_path_factory, tiny_model_dir):
    tmp = tmp_path_factory.mktemp("lineage")
    mp = pytest.MonkeyPatch()
    mp.setenv("WANDB_MODE", "offline")
    mp.setenv("WANDB_SILENT", "true")
    cfg = {
        "experiment": "lin", "output_dir": str(tmp / "runs"), "stages": ["synth", "sft", "dpo"],
        "wandb": {"enabled": True, "project": "cltest", "dir": str(tmp / "wb")},
        "synth": {"teacher": {"backend": "local", "model": {"name_or_path": str(tiny_model_dir)}, "max_new_tokens": 8},
                  "questions": QUESTIONS, "countries": COUNTRIES, "variants": {"paraphrases": 1, "scenarios": 0}},
        "sft": {"model": {"name_or_path": str(tiny_model_dir)}, "train": {"max_steps": 2, "per_device_batch_size": 4, "logging_steps": 1}},
        "dpo": {"train": {"max_steps": 2, "per_device_batch_size": 4}},
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
