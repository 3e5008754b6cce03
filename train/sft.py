"""LoRA SFT with TRL's SFTTrainer: `culturelens train sft --config configs/train/sft_*.yaml`.

The synth stage writes conversational rows (system persona, user question, assistant answer); they
are split into prompt / completion so the loss falls on the assistant's answer only. Rows that already have
``prompt`` and ``completion`` (the training study's: the exact text the probe scores, then the option letter) are
used as they are. With ``init_adapter`` training continues an existing LoRA adapter (e.g. matched extra SFT steps).
"""
from __future__ import annotations

import time

from culturelens.core.paths import ensure_writable_dir
from culturelens.train.common import (
    check_targets,
    common_args,
    load_dataset_any,
    load_for_training,
    lora_config,
    output_dir,
    setup_tracking,
    train_and_save,
)
from culturelens.train.config import SFTRunConfig
from culturelens.train.datachecks import check_conversations


def to_prompt_completion(row: dict) -> dict:
    messages = row["messages"]
    cut = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return {"prompt": messages[:cut], "completion": messages[cut:]}


def run_sft(cfg: SFTRunConfig):
    from trl import SFTConfig, SFTTrainer

    started = time.time()
    out = output_dir(cfg)
    ensure_writable_dir(out, "output_dir")  # paths first: before the dataset and the model load
    ds = load_dataset_any(cfg.dataset, [])
    if "messages" in ds.column_names or not {"prompt", "completion"} <= set(ds.column_names):
        ds = load_dataset_any(cfg.dataset, ["messages"])
        check_conversations(ds, cfg.dataset)
        ds = ds.map(to_prompt_completion, remove_columns=ds.column_names)
    else:
        ds = ds.remove_columns([c for c in ds.column_names if c not in ("prompt", "completion")])
    base = cfg.model.model_copy(update={"adapter": None})
    if cfg.init_adapter:
        lm, model, tok = load_for_training(base, adapter=cfg.init_adapter, trainable_adapter=True)
        peft_config = None
    else:
        lm, model, tok = load_for_training(base)
        check_targets(model, cfg.lora.target_modules)
        peft_config = lora_config(cfg)
    args = SFTConfig(**common_args(cfg, out, setup_tracking(cfg, out)), completion_only_loss=True)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=peft_config)
    return train_and_save(trainer, cfg, out, lm, "sft", len(ds), started)
