"""LoRA SFT with TRL's SFTTrainer: `culturelens train sft --config configs/train/sft_*.yaml`.

The synth stage writes conversational rows (system persona, user question, assistant answer); they
are split into prompt / completion so the loss falls on the assistant's answer only.
"""
from __future__ import annotations

import time

from culturelens.core.paths import ensure_writable_dir
from culturelens.train.common import (
    check_targets,
    keep_columns,
    load_dataset_any,
    load_for_training,
    lock_output,
    lora_config,
    output_dir,
    setup_tracking,
    train_and_save,
    trl_args,
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
    lock = lock_output(out)
    try:
        ds, evaluation = load_dataset_any(cfg.dataset, ["messages"], cfg.eval_split, cfg.train.seed)
        for part, name in ((ds, cfg.dataset), (evaluation, f"{cfg.dataset} (eval split)")):
            if part is not None:
                check_conversations(part, name)
        ds, evaluation = (None if d is None else keep_columns(d, ["messages"]).map(to_prompt_completion, remove_columns=["messages"])
                          for d in (ds, evaluation))
        lm, model, tok = load_for_training(cfg.model.model_copy(update={"adapter": None}))
        check_targets(model, cfg.lora.target_modules)
        args = SFTConfig(**trl_args(cfg, out, setup_tracking(cfg, out), evaluation is not None))
        trainer = SFTTrainer(model=model, args=args, train_dataset=ds, eval_dataset=evaluation, processing_class=tok,
                             peft_config=lora_config(cfg))
        return train_and_save(trainer, cfg, out, lm, "sft", len(ds), started)
    finally:
        if lock is not None:
            lock.release()
