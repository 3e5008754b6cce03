"""LoRA SFT with TRL's SFTTrainer: `culturelens train sft --config configs/train/sft_*.yaml`.

The synth stage writes conversational rows (system persona, user question, assistant answer); they
are split into prompt / completion so the loss falls on the assistant's answer only. Rows that already have
``prompt`` and ``completion`` (the training study's: the exact text the probe scores, then the option letter) are
used as they are. With ``init_adapter`` training continues an existing LoRA adapter (e.g. matched extra SFT steps).
"""
from __future__ import annotations

import time

from culturelens.core.paths import ensure_writable_dir
from culturelens.core.upstream_warnings import upstream_deprecations_silenced
from culturelens.train.common import (
    keep_columns,
    load_dataset_any,
    load_policy,
    lock_output,
    output_dir,
    score_labelled_positions_only,
    setup_tracking,
    train_and_save,
    training_manifest,
    trl_args,
)
from culturelens.train.config import SFTRunConfig
from culturelens.train.datachecks import check_conversations


def to_prompt_completion(row: dict) -> dict:
    messages = row["messages"]
    cut = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return {"prompt": messages[:cut], "completion": messages[cut:]}


def run_sft(cfg: SFTRunConfig):
    from trl import SFTConfig

    from culturelens.train.shared_prompts import SharedPromptSFTTrainer

    started = time.time()
    out = output_dir(cfg)
    ensure_writable_dir(out, "output_dir")  # paths first: before the dataset and the model load
    lock = lock_output(out)
    try:
        ds, evaluation = load_dataset_any(cfg.dataset, [], cfg.eval_split, cfg.train.seed)
        ds, evaluation = (None if d is None else as_prompt_completion(d, name) for d, name in
                          ((ds, cfg.dataset), (evaluation, f"{cfg.dataset} (eval split)")))
        # continue an existing adapter (its LoRA settings), e.g. matched extra SFT steps, or a new LoRA
        lm, model, tok, peft_config = load_policy(cfg, cfg.init_adapter)
        manifest = training_manifest(cfg, lm)
        score_labelled_positions_only()  # the LM head only where the loss is (same loss, ~30 % less CPU)
        args = SFTConfig(**trl_args(cfg, out, setup_tracking(cfg, out, manifest), evaluation is not None))
        with upstream_deprecations_silenced():
            trainer = SharedPromptSFTTrainer(model=model, args=args, train_dataset=ds, eval_dataset=evaluation,
                                             processing_class=tok, peft_config=peft_config, mode=cfg.prompt_sharing)
            return train_and_save(trainer, cfg, out, lm, "sft", len(ds), started, manifest)
    finally:
        if lock is not None:
            lock.release()


def as_prompt_completion(ds, name: str):
    """Rows with text ``prompt`` and ``completion`` (the training study's) as they are; conversations (``messages``)
    checked and split into prompt / completion."""
    from culturelens.core.errors import DataError

    if "messages" not in ds.column_names and {"prompt", "completion"} <= set(ds.column_names):
        return keep_columns(ds, ["prompt", "completion"])
    if "messages" not in ds.column_names:
        raise DataError(f"dataset '{name}' has no column messages (nor prompt and completion) (it has: {', '.join(ds.column_names)}); "
                        "SFT needs conversations in `messages` or text `prompt` + `completion`")
    check_conversations(ds, name)
    return keep_columns(ds, ["messages"]).map(to_prompt_completion, remove_columns=["messages"])
