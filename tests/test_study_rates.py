"""The study plan's time estimate comes from the measured benchmark rates (culturelens/experiments/study/rates.py)."""
import json
from types import SimpleNamespace

from culturelens.experiments.study.rates import FALLBACK, RESULTS, eval_rate, plan_rates, train_rate

TRAIN = {"runs": [
    {"variant": "sft-baseline-1-thread", "stage": "sft", "train": {}, "torch_threads": 1, "batch_size": 4, "tokens_per_second": 50.0},
    {"variant": "sft-before", "stage": "sft", "train": {}, "lm_head_labelled_positions_only": False, "torch_threads": 2,
     "batch_size": 4, "tokens_per_second": 80.0},
    {"variant": "sft-baseline", "stage": "sft", "train": {}, "lm_head_labelled_positions_only": True, "torch_threads": 2,
     "batch_size": 4, "tokens_per_second": 120.0},
    {"variant": "sft-padding-free", "stage": "sft", "train": {"padding_free": True}, "torch_threads": 2, "batch_size": 4,
     "tokens_per_second": 300.0},
    {"variant": "sft-packing", "stage": "sft", "train": {"packing": True}, "torch_threads": 2, "batch_size": 4, "tokens_per_second": 900.0},
    {"variant": "dpo-baseline", "stage": "dpo", "train": {}, "torch_threads": 2, "batch_size": 4, "tokens_per_second": 90.0},
]}
NOW = {"runs": [  # the benchmark's schema since the LM head scores labelled positions only: "before" runs are flagged
    {"variant": "dpo-before", "stage": "dpo", "train": {}, "torch_threads": 2, "batch_size": 4, "tokens_per_second": 90.0,
     "lm_head_labelled_positions_only": False},
    {"variant": "dpo", "stage": "dpo", "train": {}, "torch_threads": 2, "batch_size": 4, "tokens_per_second": 150.0,
     "lm_head_labelled_positions_only": True},
]}
EVAL = {"runs": [
    {"templates": "persona_first", "dtype": "float32", "prefix_sharing": True, "prompts_per_second": 8.0},
    {"templates": "question_first", "dtype": "float32", "prefix_sharing": True, "prompts_per_second": 17.5},
    {"templates": "question_first", "dtype": "float32", "prefix_sharing": False, "prompts_per_second": 6.5},
]}


def test_the_training_rate_is_the_run_measured_with_the_studys_settings():
    assert train_rate(TRAIN, "sft", SimpleNamespace(padding_free=True, packing=False, per_device_train_batch_size=8))[0] == 300.0
    assert train_rate(TRAIN, "sft", SimpleNamespace(padding_free=False, packing=False, per_device_train_batch_size=8))[0] == 120.0
    assert train_rate(TRAIN, "dpo", SimpleNamespace(per_device_train_batch_size=8))[0] == 90.0  # the old schema's runs fit too
    assert train_rate({"runs": []}, "sft", SimpleNamespace()) is None
    assert train_rate(NOW, "dpo", SimpleNamespace(per_device_train_batch_size=4)) == (150.0, "train_throughput.json run 'dpo'")


def test_the_sft_rate_is_the_one_measured_with_the_studys_prompt_sharing_on_the_studys_rows():
    runs = {"runs": [
        {"variant": "sft-batch-8", "stage": "sft", "train": {"per_device_train_batch_size": 8}, "torch_threads": 2,
         "batch_size": 8, "tokens_per_second": 180.0, "rows": "mixed", "prompt_sharing": "off"},
        {"variant": "sft-shared-batch-8", "stage": "sft", "train": {"per_device_train_batch_size": 8}, "torch_threads": 2,
         "batch_size": 8, "tokens_per_second": 220.0, "rows": "mixed", "prompt_sharing": "batch"},
        {"variant": "sft-study-rows-shared-batch-8", "stage": "sft", "train": {"per_device_train_batch_size": 8},
         "torch_threads": 2, "batch_size": 8, "tokens_per_second": 500.0, "rows": "study", "prompt_sharing": "batch"},
    ]}
    train = SimpleNamespace(per_device_train_batch_size=8)
    assert train_rate(runs, "sft", train, "batch") == (500.0, "train_throughput.json run 'sft-study-rows-shared-batch-8'")
    assert train_rate(runs, "sft", train, "off")[0] == 180.0
    assert train_rate(runs, "sft", train, "grouped")[0] == 500.0  # no grouped run: the study's rows, the nearest setting


def test_the_eval_rate_follows_template_family_dtype_and_prefix_sharing():
    assert eval_rate(EVAL, ["country_last"], "float32", True)[0] == 17.5  # the question comes first in country_last
    assert eval_rate(EVAL, ["persona_system"], "float32", True)[0] == 8.0
    assert eval_rate(EVAL, ["country_last"], "float32", False)[0] == 6.5
    assert eval_rate(EVAL, ["country_last"], "bfloat16", True) is None


def test_stated_rates_win_and_missing_measurements_fall_back(tmp_path):
    (tmp_path / "train_throughput.json").write_text(json.dumps(TRAIN))
    sft = SimpleNamespace(padding_free=True, per_device_train_batch_size=8)
    rates, sources = plan_rates({"dpo_tokens_per_s": 1000.0}, sft, SimpleNamespace(), ["country_last"], "float32", True, tmp_path)
    assert rates == {"sft_tokens_per_s": 300.0, "dpo_tokens_per_s": 1000.0, "eval_prompts_per_s": FALLBACK["eval_prompts_per_s"]}
    assert "sft-padding-free" in sources["sft_tokens_per_s"] and "stated" in sources["dpo_tokens_per_s"]
    assert "fallback" in sources["eval_prompts_per_s"]


def test_the_repositorys_benchmarks_are_found():
    rates, sources = plan_rates({}, SimpleNamespace(), SimpleNamespace(), ["country_last"], "float32", True)
    assert (RESULTS / "train_throughput.json").exists()
    assert all(s.startswith("measured") for s in sources.values()), sources
    assert all(r > 0 for r in rates.values())


def test_plan_flag_prints_the_plan_from_measured_rates_and_stops(tiny_model_dir, tmp_path):
    from culturelens.cli import main

    assert main(["study", "--config", "configs/experiments/training_study.yaml", "--smoke", "--plan", "teacher=null",
                 f"student.name_or_path={tiny_model_dir}", f"output_dir={tmp_path}", "--no-progress"]) == 0
    root = tmp_path / "training_study_smoke"
    plan = json.loads((root / "plan.json").read_text())
    assert all(s.startswith("measured") for s in plan["rate_sources"].values()), plan["rate_sources"]
    by_hand = sum(t["tokens"] / plan["rates"]["dpo_tokens_per_s" if t["arm"].startswith("dpo_") else "sft_tokens_per_s"]
                  for t in plan["trainings"]) + sum(e["prompts"] / plan["rates"]["eval_prompts_per_s"] for e in plan["evals"])
    assert abs(plan["estimated_seconds"] - by_hand) <= 2
    assert not (root / "train").exists() and not (root / "effects.json").exists()
    # --dry-run is the same flag, as on eval, run and claims
    from culturelens.cli import parse_args

    assert parse_args(["study", "--config", "x.yaml", "--dry-run"]).plan is True
