"""LoRA DPO with TRL's DPOTrainer: `culturelens train dpo --config configs/train/dpo_*.yaml`.

From the base model, a new LoRA adapter is trained and the reference is the base (adapter disabled).
From an SFT adapter (`sft_adapter`), that adapter is loaded trainable and TRL keeps a frozen copy
of it as the reference adapter, so the SFT policy is the reference and the saved DPO adapter still
applies to the plain base model.
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
from culturelens.train.config import DPORunConfig


def run_dpo(cfg: DPORunConfig):
    from trl import DPOConfig, DPOTrainer

    started = time.time()
    out = output_dir(cfg)
    ensure_writable_dir(out, "output_dir")  # paths first: before the dataset and the model load
    ds = load_dataset_any(cfg.dataset, ["prompt", "chosen", "rejected"])
    keep = ["prompt", "chosen", "rejected"]
    ds = ds.remove_columns([c for c in ds.column_names if c not in keep])
    if cfg.sft_adapter:
        lm, model, tok = load_for_training(cfg.model.model_copy(update={"adapter": None}), adapter=cfg.sft_adapter, trainable_adapter=True)
        peft_config = None
    else:
        lm, model, tok = load_for_training(cfg.model.model_copy(update={"adapter": None}))
        check_targets(model, cfg.lora.target_modules)
        peft_config = lora_config(cfg)
    args = DPOConfig(**common_args(cfg, out, setup_tracking(cfg, out)), beta=cfg.beta,
                     precompute_ref_log_probs=cfg.precompute_ref_log_probs)
    trainer = DPOTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=peft_config)
    return train_and_save(trainer, cfg, out, lm, "dpo", len(ds), started)
