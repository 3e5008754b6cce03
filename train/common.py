"""What SFT and DPO share: loading the model for training, checking data and LoRA targets, W&B, saving."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from culturelens.core.config import dump_config
from culturelens.core.errors import ConfigError, DataError, first_line
from culturelens.core.models import ModelConfig, load_model
from culturelens.train.datachecks import check_json_file


def output_dir(cfg) -> Path:
    return Path(cfg.output_dir or Path("runs") / "train" / cfg.experiment / cfg.run_name)


def load_dataset_any(path: str, required: list[str]):
    """A `datasets.Dataset` from a save_to_disk folder or a .jsonl/.json file, with the required columns."""
    from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

    p = Path(path)
    if not p.exists():
        raise DataError(f"dataset '{p}' does not exist: run `culturelens synth` first or point `dataset` at a folder or .jsonl")
    if p.is_dir():
        try:
            ds = load_from_disk(str(p))
        except (FileNotFoundError, ValueError, OSError) as exc:
            raise DataError(f"dataset folder '{p}' is not a saved dataset ({first_line(exc, limit=100, with_type=False)}): point `dataset` "
                            "at a folder written by `culturelens synth` (e.g. <synth out>/sft) or at a .jsonl") from None
        if isinstance(ds, DatasetDict):
            ds = ds["train"]
    elif p.stat().st_size == 0:
        raise DataError(f"dataset '{p}' is empty: loosen the synth filters or add seed questions/countries")
    else:
        check_json_file(p)
        ds = load_dataset("json", data_files=str(p), split="train")
    assert isinstance(ds, Dataset)
    missing = [c for c in required if c not in ds.column_names]
    if missing:
        raise DataError(f"dataset '{p}' has no column(s) {', '.join(missing)} (it has: {', '.join(ds.column_names)}); "
                        f"this stage needs {', '.join(required)}")
    if len(ds) == 0:
        raise DataError(f"dataset '{p}' is empty: loosen the synth filters or add seed questions/countries")
    return ds


def linear_module_names(model) -> list[str]:
    return sorted({name.split(".")[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)})


def check_targets(model, targets) -> None:
    if targets == "all-linear":
        return
    names = set(linear_module_names(model))
    missing = [t for t in targets if t not in names]
    if len(missing) == len(targets):
        raise ConfigError(f"LoRA target modules {targets} match nothing in this model; its linear modules are: {', '.join(sorted(names))}")
    if missing:
        raise ConfigError(f"LoRA target modules {missing} match nothing in this model; its linear modules are: {', '.join(sorted(names))}")


def load_for_training(model_cfg: ModelConfig, adapter: str | None = None, trainable_adapter: bool = False):
    """Base model (fp32 unless configured) + tokenizer; with `adapter`, the LoRA adapter is loaded (and checked
    against the base by culturelens.core.models) and made trainable when `trainable_adapter`."""
    cfg = model_cfg.model_copy(update={"adapter": adapter})
    lm = load_model(cfg)
    model, tok = lm.model, lm.tokenizer
    tok.padding_side = "right"
    if adapter and trainable_adapter:
        for name, p in model.named_parameters():
            p.requires_grad = "lora_" in name
    model.train()
    return lm, model, tok


def setup_tracking(cfg, out: Path) -> list[str]:
    """Start the W&B run ourselves (project, group = experiment, dir, mode from the config): the Trainer's
    W&B callback then logs into it. Environment variables alone are not enough once wandb was set up in the process."""
    if not cfg.wandb.enabled:
        return ["none"]
    from culturelens.core.tracking import dataset_ref, declare_input, model_ref, start_run

    run = start_run(cfg.wandb, name=f"{cfg.experiment}/{cfg.run_name}", group=cfg.experiment, job_type="train",
                    config={"culturelens": cfg.model_dump(mode="json")}, run_dir=out)
    declare_input(run, dataset_ref(cfg.dataset), "dataset")  # the synth artifact the dataset folder came from
    if getattr(cfg, "sft_adapter", None):
        declare_input(run, model_ref(cfg.sft_adapter), "sft_model")
    return ["wandb"]


def last_checkpoint(out: Path, resume: bool) -> str | None:
    if not resume or not out.exists():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(out))


def common_args(cfg, out: Path, report_to: list[str]) -> dict:
    t = cfg.train
    return dict(
        output_dir=str(out),
        run_name=f"{cfg.experiment}/{cfg.run_name}",
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        learning_rate=t.learning_rate,
        per_device_train_batch_size=t.per_device_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        logging_steps=t.logging_steps,
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        seed=t.seed,
        bf16=t.bf16,
        gradient_checkpointing=t.gradient_checkpointing,
        warmup_steps=t.warmup_ratio,  # transformers >= 5 (pinned): a float in [0, 1) is a fraction of the total steps
        report_to=report_to,
        max_length=t.max_length,
        use_cpu=not torch.cuda.is_available(),
        save_only_model=False,
        dataloader_num_workers=0,
    )


def lora_config(cfg):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=cfg.lora.target_modules, task_type="CAUSAL_LM")


def train_and_save(trainer, cfg, out: Path, lm, stage: str, n_rows: int, started: float) -> Path:
    """Train (resuming from the last checkpoint in `out` when cfg.resume), then save with `finish`."""
    resume = last_checkpoint(out, cfg.resume)
    if resume:
        import logging

        logging.getLogger(__name__).warning("resuming %s from %s", stage, resume)
    result = trainer.train(resume_from_checkpoint=resume)
    return finish(trainer, cfg, out, lm, stage, n_rows, started, result, resume)


def finish(trainer, cfg, out: Path, lm, stage: str, n_rows: int, started: float, train_result, resumed_from: str | None = None) -> Path:
    """Save the adapter (only the trained one), its config and facts; rank 0 writes the files."""
    adapter_dir = out / "adapter"
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        model = trainer.accelerator.unwrap_model(trainer.model)
        model.save_pretrained(str(adapter_dir), selected_adapters=["default"])
        trainer.processing_class.save_pretrained(str(adapter_dir))
        dump_config(cfg, out / "config.yaml")
        dump_config(cfg, adapter_dir / "culturelens_config.yaml")
        logs = [h for h in trainer.state.log_history if "loss" in h]
        facts = {
            "stage": stage,
            "base_model": cfg.model.name_or_path,
            "base_fingerprint": lm.fingerprint,
            "sft_adapter": getattr(cfg, "sft_adapter", None),
            "dataset": cfg.dataset,
            "n_rows": n_rows,
            "global_step": trainer.state.global_step,
            "resumed_from": resumed_from,
            "train_loss": train_result.training_loss,
            "first_logged_loss": logs[0]["loss"] if logs else None,
            "last_logged_loss": logs[-1]["loss"] if logs else None,
            # TRL logs the cumulative non-padding tokens as num_tokens (counted since this run's start or resume)
            "tokens_seen": trainer.state.num_input_tokens_seen or next(
                (h["num_tokens"] for h in reversed(trainer.state.log_history) if "num_tokens" in h), None),
            "seconds": time.time() - started,
            "metrics": train_result.metrics,
            "log_history": trainer.state.log_history,
        }
        if cfg.merge_adapter:
            merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
            merged.save_pretrained(str(out / "merged"))
            trainer.processing_class.save_pretrained(str(out / "merged"))
        write_facts(facts, out)
        if cfg.wandb.enabled:
            log_model_artifacts(cfg, out, adapter_dir, facts)
    if cfg.wandb.enabled:
        from culturelens.core.tracking import active_run
        from culturelens.core.tracking import finish as finish_run

        if (run := active_run()) is not None:
            run.summary.update({"culturelens/train_loss": train_result.training_loss, "culturelens/stage": stage})
            finish_run(run)
    return out


METADATA_KEYS = ("stage", "base_model", "base_fingerprint", "sft_adapter", "dataset", "n_rows", "global_step", "resumed_from",
                 "train_loss", "first_logged_loss", "last_logged_loss", "tokens_seen", "seconds")


def write_facts(facts: dict, out: Path) -> None:
    """<out>/culturelens_train.json (all facts) and the same file in the adapter (and merged) folder: a copied adapter
    keeps its facts and its W&B artifact, which `eval` of that folder declares."""
    from culturelens.core.tracking import TRAIN_FACTS_FILE

    text = json.dumps(facts, indent=2, default=str)
    for folder in (out, out / "adapter", out / "merged"):
        if folder.is_dir():
            (folder / TRAIN_FACTS_FILE).write_text(text)


def log_model_artifacts(cfg, out: Path, adapter_dir: Path, facts: dict) -> None:
    """The adapter (and the merged model when written) as W&B `model` artifacts with the training facts as metadata;
    their refs are added to culturelens_train.json, where `eval` of the adapter finds them."""
    from culturelens.core.tracking import ADAPTER_ARTIFACT_KEY, MERGED_ARTIFACT_KEY, active_run, dataset_ref, log_artifact

    run = active_run()
    if run is None:
        return
    meta = {k: facts.get(k) for k in METADATA_KEYS}
    meta["lora"] = cfg.lora.model_dump(mode="json")
    data = dataset_ref(cfg.dataset)
    meta["dataset_artifact"] = data.model_dump(mode="json") if data else None
    name = f"{cfg.experiment}-{cfg.run_name}"
    facts[ADAPTER_ARTIFACT_KEY] = log_artifact(run, f"adapter-{name}", "model", [adapter_dir], meta).model_dump(mode="json")
    if (out / "merged").exists() and cfg.merge_adapter:
        ref = log_artifact(run, f"merged-{name}", "model", [out / "merged"], {**meta, "merged": True})
        facts[MERGED_ARTIFACT_KEY] = ref.model_dump(mode="json")
    write_facts(facts, out)
