"""LoRA SFT and DPO with TRL on tiny models: training runs, adapters load, DPO from SFT uses the SFT
policy as reference, resume continues, W&B offline, bad input."""
import json
import math

import pytest
import torch
from datasets import Dataset

from culturelens.core.errors import ConfigError, DataError, ModelLoadError
from culturelens.core.models import ModelConfig, load_model
from culturelens.train.config import DPORunConfig, SFTRunConfig
from culturelens.train.dpo import run_dpo
from culturelens.train.sft import run_sft

SYSTEM = "You are a typical person living in Germany."


def sft_rows(n=12):
    return [{"messages": [{"role": "system", "content": SYSTEM},
                          {"role": "user", "content": f"Question: is work a duty {i}?\nOptions:\nA. Agree\nB. Disagree"},
                          {"role": "assistant", "content": "Answer: " + "AB"[i % 2]}], "qid": "Q40", "country": "DEU"} for i in range(n)]


def dpo_rows(n=8):
    return [{"prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Question: q{i}?\nOptions:\nA. Agree\nB. Disagree"}],
             "chosen": [{"role": "assistant", "content": "Answer: A"}], "rejected": [{"role": "assistant", "content": "Answer: B"}],
             "qid": "Q40", "country": "DEU"} for i in range(n)]


def save(rows, path):
    Dataset.from_list(rows).save_to_disk(str(path))
    return str(path)


def sft_cfg(tmp_path, model_dir, **kw):
    data = {"experiment": "t", "run_name": "sft", "output_dir": str(tmp_path / "sft"), "model": {"name_or_path": str(model_dir)},
            "dataset": save(sft_rows(), tmp_path / "sft_data"),
            "train": {"max_steps": 3, "per_device_batch_size": 4, "logging_steps": 1, "save_steps": 50, "learning_rate": 1e-2}}
    data.update(kw)
    return SFTRunConfig.model_validate(data)


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory, tiny_model_dir):
    tmp = tmp_path_factory.mktemp("sft")
    return run_sft(sft_cfg(tmp, tiny_model_dir)), tiny_model_dir


def test_sft_trains_and_adapter_changes_the_model(sft_run):
    out, base_dir = sft_run
    facts = json.loads((out / "culturelens_train.json").read_text())
    assert facts["stage"] == "sft" and facts["global_step"] == 3 and facts["train_loss"] == facts["train_loss"]  # finite
    assert facts["tokens_seen"] and facts["tokens_seen"] >= 10 * facts["global_step"]  # non-padding tokens TRL counted
    assert (out / "adapter" / "adapter_model.safetensors").exists() and (out / "adapter" / "culturelens_config.yaml").exists()
    base = load_model(ModelConfig(name_or_path=str(base_dir)))
    tuned = load_model(ModelConfig(name_or_path=str(base_dir), adapter=str(out / "adapter")))
    ids = base.tokenizer("Question: is work a duty?", return_tensors="pt").input_ids
    with torch.inference_mode():
        diff = (base.model(ids).logits - tuned.model(ids).logits).abs().max()
    assert diff > 1e-4 and base.fingerprint != tuned.fingerprint


def test_dpo_from_base(tmp_path, tiny_model_dir):
    cfg = DPORunConfig.model_validate({"experiment": "t", "output_dir": str(tmp_path / "dpo"), "model": {"name_or_path": str(tiny_model_dir)},
                                       "dataset": save(dpo_rows(), tmp_path / "d"), "train": {"max_steps": 2, "per_device_batch_size": 4, "logging_steps": 1}})
    out = run_dpo(cfg)
    facts = json.loads((out / "culturelens_train.json").read_text())
    assert facts["global_step"] == 2 and (out / "adapter" / "adapter_model.safetensors").exists()


def test_dpo_from_sft_adapter_uses_sft_policy_as_reference(tmp_path, sft_run):
    sft_out, base_dir = sft_run
    cfg = DPORunConfig.model_validate({"experiment": "t", "output_dir": str(tmp_path / "dpo"), "model": {"name_or_path": str(base_dir)},
                                       "dataset": save(dpo_rows(), tmp_path / "d"), "sft_adapter": str(sft_out / "adapter"),
                                       "train": {"max_steps": 2, "per_device_batch_size": 8, "logging_steps": 1, "learning_rate": 1e-6}})
    out = run_dpo(cfg)
    logs = json.loads((out / "culturelens_train.json").read_text())["log_history"]
    first = next(h for h in logs if "loss" in h)
    # at the first step policy == reference (both the SFT adapter): rewards are 0 and the loss is log 2
    assert abs(first["loss"] - 0.6931) < 1e-3
    # the DPO adapter applies to the plain base and differs from the SFT adapter only slightly (tiny lr)
    dpo = load_model(ModelConfig(name_or_path=str(base_dir), adapter=str(out / "adapter")))
    sft = load_model(ModelConfig(name_or_path=str(base_dir), adapter=str(sft_out / "adapter")))
    base = load_model(ModelConfig(name_or_path=str(base_dir)))
    ids = base.tokenizer("Question: q1?", return_tensors="pt").input_ids
    with torch.inference_mode():
        d_sft = (dpo.model(ids).logits - sft.model(ids).logits).abs().max()
        d_base = (dpo.model(ids).logits - base.model(ids).logits).abs().max()
    assert d_sft < d_base


def test_resume_from_last_checkpoint(tmp_path, tiny_model_dir):
    cfg = sft_cfg(tmp_path, tiny_model_dir, train={"max_steps": 2, "save_steps": 1, "per_device_batch_size": 4, "logging_steps": 1})
    run_sft(cfg)
    assert (tmp_path / "sft" / "checkpoint-2").exists()
    cfg2 = sft_cfg(tmp_path, tiny_model_dir, train={"max_steps": 4, "save_steps": 1, "per_device_batch_size": 4, "logging_steps": 1})
    out = run_sft(cfg2)
    facts = json.loads((out / "culturelens_train.json").read_text())
    assert facts["resumed_from"].endswith("checkpoint-2") and facts["global_step"] == 4
    # steps 1-2 come from the checkpoint's state, 3-4 were trained now
    assert [h["step"] for h in facts["log_history"] if "loss" in h] == [1, 2, 3, 4]


def test_wandb_offline(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = sft_cfg(tmp_path, tiny_model_dir, wandb={"enabled": True, "project": "cltest", "dir": str(tmp_path / "wb")})
    run_sft(cfg)
    runs = list((tmp_path / "wb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    from wandb_log import read_run

    run = read_run(runs[0])  # waits for the exit record: W&B's service may still be writing after finish() (under load)
    assert run.exited
    log = next(runs[0].glob("*.wandb")).read_bytes()
    assert b"train/loss" in log and b"culturelens/train_loss" in log and b"lora" in log
    # the reproducibility manifest: in the training facts and in the W&B run's config

    facts = json.loads((tmp_path / "sft" / "culturelens_train.json").read_text())
    manifest = facts["manifest"]
    assert manifest["packages"]["trl"] and manifest["packages"]["torch"] and manifest["python"] and manifest["hardware"]["cpu_count"]
    assert manifest["model"]["fingerprint"] == facts["base_fingerprint"] and manifest["seeds"]["seed"] == 0
    assert len(manifest["data"]["dataset"]) == 64 and manifest["command"]
    config = run.config
    assert config["manifest"]["model"]["fingerprint"] == facts["base_fingerprint"]
    assert config["manifest"]["data"]["dataset"] == manifest["data"]["dataset"]


def test_bad_inputs(tmp_path, tiny_model_dir):
    bad = save([{"text": "x"}], tmp_path / "bad")
    with pytest.raises(DataError, match="no column.*messages"):
        run_sft(sft_cfg(tmp_path, tiny_model_dir, dataset=bad))
    with pytest.raises(DataError, match="chosen"):
        run_dpo(DPORunConfig.model_validate({"model": {"name_or_path": str(tiny_model_dir)}, "dataset": save([{"prompt": "x"}], tmp_path / "b2"),
                                             "output_dir": str(tmp_path / "d")}))
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataError, match="empty"):
        run_sft(sft_cfg(tmp_path, tiny_model_dir, dataset=str(tmp_path / "empty.jsonl")))
    with pytest.raises(ConfigError, match="match nothing.*q_proj"):
        run_sft(sft_cfg(tmp_path, tiny_model_dir, lora={"target_modules": ["query_key_value"]}))
    with pytest.raises(DataError, match="does not exist"):
        run_sft(sft_cfg(tmp_path, tiny_model_dir, dataset=str(tmp_path / "nope")))


def test_adapter_of_another_base_is_rejected(tmp_path, sft_run):
    from tiny_models import make_tiny_model

    sft_out, _ = sft_run
    other = make_tiny_model(tmp_path / "other", hidden=48, seed=3)
    cfg = DPORunConfig.model_validate({"model": {"name_or_path": str(other)}, "dataset": save(dpo_rows(), tmp_path / "d"),
                                       "sft_adapter": str(sft_out / "adapter"), "output_dir": str(tmp_path / "dpo")})
    with pytest.raises(ModelLoadError, match="trained on base"):
        run_dpo(cfg)


def test_supported_transformers_reads_a_float_warmup_as_a_ratio():
    """common_args passes the warmup ratio as `warmup_steps`: only transformers >= 5 reads a float < 1 as a ratio
    (4.x would take it as 0.1 steps, i.e. no warmup), so the package must not allow 4.x."""
    tomllib = pytest.importorskip("tomllib")  # python >= 3.11
    from pathlib import Path

    from packaging.requirements import Requirement

    deps = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(Requirement(d).specifier for d in deps if Requirement(d).name == "transformers")
    assert not spec.contains("4.56.0") and not spec.contains("4.99.0") and spec.contains("5.24.0")


def test_warmup_ratio_gives_a_warmup_in_the_trainer_schedule(tmp_path, tiny_model_dir):
    from transformers import get_scheduler
    from trl import SFTConfig

    from culturelens.train.common import trl_args

    cfg = sft_cfg(tmp_path, tiny_model_dir, train={"max_steps": 20, "warmup_ratio": 0.1, "learning_rate": 1e-2})
    args = SFTConfig(**trl_args(cfg, tmp_path / "out", ["none"], False))
    assert args.get_warmup_steps(20) == 2
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=args.learning_rate)
    sched = get_scheduler(args.lr_scheduler_type, opt, num_warmup_steps=args.get_warmup_steps(20), num_training_steps=20)
    lrs = []
    for _ in range(3):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[0] == 0.0 and 0 < lrs[1] < lrs[2] == pytest.approx(1e-2)


def test_warmup_ratio_of_one_or_more_is_rejected():
    from culturelens.core.config import validate_config

    with pytest.raises(ConfigError, match="train.warmup_ratio"):
        validate_config(SFTRunConfig, {"model": {"name_or_path": "x"}, "dataset": "d", "train": {"warmup_ratio": 1.5}})


def test_trl_fields_pass_through_with_an_eval_split_and_a_folder_of_data_files(tmp_path, tiny_model_dir):
    """`train:` takes TRL's own field names (a scheduler, weight decay, an optimizer); `eval_split` holds out rows whose
    loss is logged; a folder of .jsonl files is read through `datasets.load_dataset`, the code path of hub ids."""
    folder = tmp_path / "data-files"
    folder.mkdir()
    (folder / "part-0.jsonl").write_text("".join(json.dumps({"messages": r["messages"]}) + "\n" for r in sft_rows(16)))
    cfg = sft_cfg(tmp_path, tiny_model_dir, dataset=str(folder), eval_split=0.25,
                  train={"max_steps": 4, "per_device_train_batch_size": 4, "logging_steps": 1, "learning_rate": 1e-2,
                         "lr_scheduler_type": "cosine", "weight_decay": 0.1, "optim": "adamw_torch", "save_steps": 2})
    out = run_sft(cfg)
    facts = json.loads((out / "culturelens_train.json").read_text())
    assert facts["n_rows"] == 12 and facts["eval_loss"] is not None and facts["eval_loss"] == facts["eval_loss"]
    evals = [h for h in facts["log_history"] if "eval_loss" in h]
    assert [h["step"] for h in evals][:2] == [2, 4]  # eval at every checkpoint (eval_steps = save_steps), then at the end
    lrs = [h["learning_rate"] for h in facts["log_history"] if "loss" in h]
    cosine = [1e-2 * 0.5 * (1 + math.cos(math.pi * s / 4)) for s in range(4)]
    assert lrs == pytest.approx(cosine, abs=1e-9)  # the cosine schedule, not the default linear one
    import yaml

    saved = yaml.safe_load((out / "config.yaml").read_text())["train"]
    assert saved["lr_scheduler_type"] == "cosine" and saved["weight_decay"] == 0.1 and saved["optim"] == "adamw_torch"
    assert len(saved) > 100  # the resolved config records every TRL field, defaults included


def test_train_section_is_trls_config(tmp_path):
    """Every field of the installed TRL's SFTConfig / DPOConfig is a key of `train:` (except those culturelens sets),
    the old culturelens names still work, and trl_kwargs builds TRL's own config."""
    import dataclasses

    from trl import DPOConfig, SFTConfig

    from culturelens.core.config import validate_config
    from culturelens.train.trlargs import ALIASES, OWNED

    for run_cls, trl_cls in ((SFTRunConfig, SFTConfig), (DPORunConfig, DPOConfig)):
        section = run_cls.model_fields["train"].annotation
        assert {f.name for f in dataclasses.fields(trl_cls) if f.init} - set(OWNED) - ALIASES == set(section.model_fields)
    old = validate_config(SFTRunConfig, {"model": {"name_or_path": "x"}, "dataset": "d",
                                         "train": {"epochs": 2, "per_device_batch_size": 3, "warmup_ratio": 0.1}})
    assert (old.train.num_train_epochs, old.train.per_device_train_batch_size, old.train.warmup_steps) == (2, 3, 0.1)
    dpo = validate_config(DPORunConfig, {"model": {"name_or_path": "x"}, "dataset": "d", "beta": 0.3,
                                         "train": {"loss_type": ["ipo"], "max_steps": 2}})
    args = DPOConfig(**dpo.train.trl_kwargs(), output_dir=str(tmp_path))
    assert args.beta == 0.3 and args.loss_type == ["ipo"] and args.learning_rate == 5e-5 and args.max_steps == 2


def test_trl_configs_are_built_without_transformers_checkpointing_future_warning(tmp_path):
    """TRL 1.16's configs default gradient_checkpointing=True, which transformers 5.25 deprecates (FutureWarning) when
    activation_checkpointing is unset: the section sets the new name, and an older config's old key moves to it."""
    import warnings

    from trl import DPOConfig, SFTConfig

    from culturelens.core.config import validate_config
    from culturelens.train.common import trl_args
    from culturelens.train.trlargs import ALIASES

    if not ALIASES:
        pytest.skip("this transformers has no activation_checkpointing (nothing deprecated)")
    base = {"model": {"name_or_path": "x"}, "dataset": "d"}
    built = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for run_cls, trl_cls, train in ((SFTRunConfig, SFTConfig, {}), (DPORunConfig, DPOConfig, {}),
                                        (SFTRunConfig, SFTConfig, {"gradient_checkpointing": True})):
            cfg = validate_config(run_cls, {**base, "train": train})
            built.append(trl_cls(**trl_args(cfg, tmp_path, [], False)))
    assert [str(w.message) for w in caught if issubclass(w.category, FutureWarning)] == []
    assert [(a.activation_checkpointing, a.gradient_checkpointing) for a in built] == [(False, False), (False, False), (True, True)]
    with pytest.raises(ConfigError, match="gradient_checkpointing and train.activation_checkpointing"):
        validate_config(SFTRunConfig, {**base, "train": {"gradient_checkpointing": True, "activation_checkpointing": False}})


@pytest.mark.parametrize("path", ["configs/train/sft_smollm2.yaml", "configs/train/dpo_smollm2.yaml"])
def test_shipped_training_configs_validate(path):
    from pathlib import Path

    from culturelens.core.config import load_config

    cls = SFTRunConfig if "sft" in path else DPORunConfig
    cfg = load_config(cls, Path(__file__).resolve().parents[1] / path)
    assert cfg.train.max_steps > 0


def test_adapter_hub_id_code_path_offline(monkeypatch):
    """An owner/name that is no local folder is fetched from the hub (here offline: one clear error)."""
    from culturelens.core.adapters import adapter_folder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="adapter 'someone/no-such-adapter' is not a local folder.*local Hugging Face cache"):
        adapter_folder("someone/no-such-adapter")


def test_sft_and_dpo_adapters_get_distinct_default_eval_names(tmp_path, sft_run):
    """Both stages save <out>/adapter; the eval name comes from the training facts (its run name), not the folder."""
    sft_out, base_dir = sft_run
    cfg = DPORunConfig.model_validate({"experiment": "t", "output_dir": str(tmp_path / "dpo"), "model": {"name_or_path": str(base_dir)},
                                       "dataset": save(dpo_rows(), tmp_path / "d"), "train": {"max_steps": 1, "per_device_batch_size": 4}})
    dpo_out = run_dpo(cfg)
    names = {load_model(ModelConfig(name_or_path=str(base_dir), adapter=str(o / "adapter"))).name for o in (sft_out, dpo_out)}
    assert names == {f"{base_dir.name}+sft", f"{base_dir.name}+dpo"}


def test_padding_free_sft_trains_the_same_adapter_as_padded_batches(tmp_path, tiny_model_dir):
    """`train.padding_free` (an option; on CPU padded batches are faster: docs/training.md) is exact: transformers builds a
    block-diagonal causal mask from the position ids, so rows of different lengths flattened into one sequence do not
    attend to each other, and the adapter equals the padded run's."""
    from safetensors.torch import load_file

    rows = [{"messages": [{"role": "user", "content": f"Question {i}?" + " Options: A. Agree B. Disagree" * (1 + i % 4)},
                          {"role": "assistant", "content": "Answer: " + "AB"[i % 2]}]} for i in range(8)]
    data = save(rows, tmp_path / "varied")
    adapters = {}
    for free in (False, True):
        cfg = sft_cfg(tmp_path, tiny_model_dir, dataset=data, output_dir=str(tmp_path / f"free-{free}"), lora={"dropout": 0.0},
                      train={"max_steps": 2, "per_device_train_batch_size": 4, "learning_rate": 1e-2, "padding_free": free,
                                                         "max_length": None})
        adapters[free] = load_file(str(run_sft(cfg) / "adapter" / "adapter_model.safetensors"))
    worst = max(float((adapters[True][k] - adapters[False][k]).abs().max()) for k in adapters[False])
    moved = max(float(adapters[False][k].abs().max()) for k in adapters[False] if "lora_B" in k)
    assert moved > 1e-3 and worst < 1e-5, (worst, moved)


def test_accelerate_config_follows_the_hardware_and_the_training_config():
    from culturelens.core.config import validate_config
    from culturelens.train.launch import accelerate_config

    cfg = validate_config(SFTRunConfig, {"model": {"name_or_path": "x"}, "dataset": "d"})
    cpu = accelerate_config(cfg, gpus=0, cpus=3)
    assert cpu["num_processes"] == 3 and cpu["use_cpu"] and cpu["mixed_precision"] == "no" and cpu["distributed_type"] == "MULTI_GPU"
    bf16 = validate_config(SFTRunConfig, {"model": {"name_or_path": "x"}, "dataset": "d",
                                          "train": {"bf16": True, "gradient_accumulation_steps": 4}})
    gpu = accelerate_config(bf16, "deepspeed", gpus=4, cpus=64)
    assert gpu["num_processes"] == 4 and gpu["mixed_precision"] == "bf16" and not gpu["use_cpu"]
    assert gpu["deepspeed_config"]["gradient_accumulation_steps"] == 4
    with pytest.raises(ConfigError, match="train.bf16 is set but there is no GPU"):
        accelerate_config(bf16, gpus=0, cpus=2)
    with pytest.raises(ConfigError, match="needs GPUs"):
        accelerate_config(cfg, "fsdp", gpus=0, cpus=2)


@pytest.mark.parametrize("stage", ["sft", "dpo"])
def test_lm_head_scores_only_labelled_positions_and_trains_the_same_adapter(tmp_path, tiny_model_dir, monkeypatch, stage):
    """`score_labelled_positions_only` (train/common.py): on CPU TRL's fused LM head then projects only the positions
    with a label (the completion), not the prompt's, and the losses and the adapter are those of scoring every position."""
    import trl.trainer.utils as tu
    from safetensors.torch import load_file

    import culturelens.train.dpo as dpo_mod
    import culturelens.train.sft as sft_mod

    original = getattr(tu._use_triton, "culturelens_original", tu._use_triton)
    real_fn = tu._ChunkedLogProbFunction
    scored: list[int] = []

    class Counting:
        @staticmethod
        def apply(hidden, *args):
            scored.append(hidden.shape[0])
            return real_fn.apply(hidden, *args)

    monkeypatch.setattr(tu, "_ChunkedLogProbFunction", Counting)
    mod, run = (sft_mod, run_sft) if stage == "sft" else (dpo_mod, run_dpo)
    results = {}
    for compact in (False, True):
        scored.clear()
        with monkeypatch.context() as m:
            m.setattr(tu, "_use_triton", original)
            if not compact:
                m.setattr(mod, "score_labelled_positions_only", lambda: None)
            common = {"experiment": "t", "output_dir": str(tmp_path / f"{stage}-{compact}"), "model": {"name_or_path": str(tiny_model_dir)},
                      "lora": {"dropout": 0.0}, "train": {"max_steps": 2, "per_device_train_batch_size": 4, "logging_steps": 1,
                                                          "learning_rate": 1e-2}}
            if stage == "sft":
                cfg = SFTRunConfig.model_validate({**common, "dataset": save(sft_rows(8), tmp_path / f"s{compact}")})
            else:
                cfg = DPORunConfig.model_validate({**common, "dataset": save(dpo_rows(8), tmp_path / f"d{compact}")})
            out = run(cfg)
        facts = json.loads((out / "culturelens_train.json").read_text())
        losses = [h["loss"] for h in facts["log_history"] if "loss" in h]
        results[compact] = (losses, load_file(str(out / "adapter" / "adapter_model.safetensors")), sum(scored))
    (full_losses, full, full_rows), (losses, fast, rows) = results[False], results[True]
    assert 0 < rows < full_rows / 3, (rows, full_rows)  # "Answer: X" and the end token, not the prompt
    assert losses == pytest.approx(full_losses, rel=1e-5, abs=1e-6)
    worst = max(float((fast[k] - full[k]).abs().max()) for k in full)
    moved = max(float(full[k].abs().max()) for k in full if "lora_B" in k)
    assert moved > 1e-3 and worst < 1e-5, (worst, moved)


def test_older_keys_move_by_one_rule():
    """Older names of a setting (train.epochs, top-level DPO beta) move to TRL's name; both set is one error naming both."""
    from pydantic import ValidationError

    base = {"model": {"name_or_path": "m"}, "dataset": "d.jsonl", "output_dir": "out"}
    sft = SFTRunConfig.model_validate({**base, "train": {"epochs": 2, "per_device_batch_size": 3}})
    assert sft.train.num_train_epochs == 2 and sft.train.per_device_train_batch_size == 3
    dpo = DPORunConfig.model_validate({**base, "beta": 0.2})
    assert dpo.train.beta == 0.2 and "beta" in dpo.train.model_fields_set
    for data, words in (({**base, "train": {"epochs": 2, "num_train_epochs": 3}}, "train.epochs and train.num_train_epochs"),
                        ({**base, "beta": 0.2, "train": {"beta": 0.3}}, "beta and train.beta")):
        model = DPORunConfig if "beta" in data else SFTRunConfig
        with pytest.raises(ValidationError, match=f"{words} are the same setting: keep"):
            model.model_validate(data)


def test_training_draws_no_checkpointing_deprecation(tmp_path, tiny_model_dir):
    """peft / TRL read the deprecated `is_gradient_checkpointing` on every training: the user sees no FutureWarning."""
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        run_sft(sft_cfg(tmp_path, tiny_model_dir, train={"max_steps": 1, "per_device_batch_size": 4, "save_steps": 50}))
        run_dpo(DPORunConfig.model_validate({
            "experiment": "t", "run_name": "dpo", "output_dir": str(tmp_path / "dpo"), "model": {"name_or_path": str(tiny_model_dir)},
            "dataset": save(dpo_rows(), tmp_path / "dpo_data"), "train": {"max_steps": 1, "per_device_batch_size": 4, "save_steps": 50}}))
    assert not [w for w in seen if "is_gradient_checkpointing" in str(w.message)]
