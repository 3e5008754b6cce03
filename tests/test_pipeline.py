"""`culturelens run`: synth -> SFT -> DPO -> eval (base, SFT, DPO on train and held-out) -> compare, on tiny models and on SmolLM2."""
import json

import pytest
import yaml

from culturelens.cli import main


def test_pipeline_end_to_end(tmp_path, tiny_model_dir):
    cfg = {
        "experiment": "pipe",
        "output_dir": str(tmp_path / "runs"),
        "synth": {"teacher": {"backend": "local", "model": {"name_or_path": str(tiny_model_dir)}, "max_new_tokens": 8},
                  "questions": ["Q27", "Q28", "Q29", "Q33", "Q122", "Q123", "Q158", "Q159", "Q185", "Q182"],
                  "countries": ["DEU", "IRQ", "MEX", "TUR"], "variants": {"paraphrases": 1, "scenarios": 0}},
        "sft": {"model": {"name_or_path": str(tiny_model_dir)}, "train": {"max_steps": 2, "per_device_batch_size": 4}},
        "dpo": {"train": {"max_steps": 2, "per_device_batch_size": 4}},
        "eval": {"countries": ["DEU", "IRQ", "MEX", "TUR"], "questions": ["Q27", "Q28", "Q29", "Q33", "Q122", "Q123", "Q158", "Q159", "Q185", "Q182"],
                 "cache_dir": str(tmp_path / "cache"), "n_boot": 50},
    }
    path = tmp_path / "pipe.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", str(path), "--no-progress"]) == 0
    root = tmp_path / "runs" / "pipe"
    done = json.loads((root / "pipeline.json").read_text())
    assert len(done["eval"]) == 3
    for name in ("eval-base", "eval-sft", "eval-dpo"):
        s = json.loads((root / name / "summary.json").read_text())
        assert set(s["splits"]) == {"train", "heldout"}
    sft_fp = json.loads((root / "eval-sft" / "summary.json").read_text())["run"]["fingerprint"]
    base_fp = json.loads((root / "eval-base" / "summary.json").read_text())["run"]["fingerprint"]
    assert sft_fp != base_fp
    held = json.loads((root / "compare" / "heldout" / "comparison.json").read_text())
    assert held["runs"] == ["eval-base", "eval-sft", "eval-dpo"] and held["split"] == "heldout"
    assert any(d["what"] == "mean per-question r" and d["run"] == "eval-dpo" for d in held["diffs"])
    dpo_facts = json.loads((root / "dpo" / "culturelens_train.json").read_text())
    assert dpo_facts["sft_adapter"].endswith("sft/adapter")


def test_pipeline_rejects_a_bad_section_before_running(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"dpo": {"betaa": 0.1}, "sft": {"model": {"name_or_path": "x"}}}))
    assert main(["run", str(path)]) == 2
    assert "unknown key 'betaa'" in capsys.readouterr().err


@pytest.mark.realmodel
def test_pipeline_on_smollm2(tmp_path):
    """The real thing, CI-sized: SmolLM2-135M-Instruct writes paraphrases and is LoRA-trained (SFT, then DPO from
    the SFT adapter) on 6 questions x 2 countries; base, SFT and DPO are evaluated and compared on both splits."""
    questions = ["Q27", "Q29", "Q122", "Q158", "Q182", "Q185"]
    countries = ["DEU", "IRQ"]
    cfg = {
        "experiment": "pipe-real", "output_dir": str(tmp_path / "runs"),
        "synth": {"teacher": {"backend": "local", "model": {"name_or_path": "smollm2-135m-instruct"}, "max_new_tokens": 32,
                              "temperature": 0.0, "batch_size": 8},
                  "questions": questions, "countries": countries, "variants": {"paraphrases": 1, "scenarios": 0},
                  "split": {"heldout_fraction": 0.34, "seed": 0}},
        "sft": {"model": {"name_or_path": "smollm2-135m-instruct"},
                "train": {"max_steps": 2, "per_device_batch_size": 2, "max_length": 256, "logging_steps": 1}},
        "dpo": {"train": {"max_steps": 1, "per_device_batch_size": 2, "max_length": 256, "logging_steps": 1}},
        "eval": {"countries": countries, "questions": questions, "cache_dir": str(tmp_path / "cache"), "n_boot": 50,
                 "probe": {"templates": ["persona_system", "no_persona"], "prefix_sharing": True}},
    }
    path = tmp_path / "pipe.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", str(path), "--no-progress"]) == 0
    root = tmp_path / "runs" / "pipe-real"
    split = json.loads((root / "synth" / "split.json").read_text())
    assert split["heldout"] and split["train"]
    report = json.loads((root / "synth" / "report.json").read_text())
    # one paraphrase per train question only: held-out questions never reach the teacher
    assert report["teacher"] == "smollm2-135m-instruct" and report["jobs"] == len(split["train"]) and report["sft_rows"] > 0
    sft = json.loads((root / "sft" / "culturelens_train.json").read_text())
    assert sft["global_step"] == 2 and sft["tokens_seen"] > 100
    fps = {json.loads((root / n / "summary.json").read_text())["run"]["fingerprint"] for n in ("eval-base", "eval-sft", "eval-dpo")}
    assert len(fps) == 3  # three different models were probed
    held = json.loads((root / "compare" / "heldout" / "comparison.json").read_text())
    assert held["runs"] == ["eval-base", "eval-sft", "eval-dpo"]
