"""`culturelens run`: synth -> SFT -> DPO -> eval (base, SFT, DPO on train and held-out) -> compare, on tiny models."""
import json

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
