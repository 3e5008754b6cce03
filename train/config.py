"""Configs of the training recipes (`culturelens train sft|dpo --config configs/train/*.yaml`).

`train:` takes any field of TRL's SFTConfig / DPOConfig (train/trlargs.py); the rest of the config says what
to train (model, dataset, LoRA), where to write it and how to track it.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from culturelens.core.config import PathName, StrictModel
from culturelens.core.models import ModelConfig
from culturelens.core.tracking import WandbConfig
from culturelens.train.trlargs import DPOArgs, SFTArgs, move_legacy_key


class LoraSettings(StrictModel):
    """The LoRA adapter (peft LoraConfig)."""

    r: int = Field(8, ge=1, description="LoRA rank")
    alpha: int = Field(16, description="LoRA alpha (scaling = alpha / r)")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout")
    target_modules: list[str] | Literal["all-linear"] = Field(["q_proj", "k_proj", "v_proj", "o_proj"],
                                                              description="modules that get LoRA weights, or all-linear")


class _RunSettings(StrictModel):
    """What SFT and DPO configs share."""

    experiment: PathName = Field("default", description="experiment name: output folder and W&B group")
    run_name: PathName = Field("sft", description="run name: output folder and W&B run name")
    output_dir: str | None = None  # default: runs/train/<experiment>/<run_name>
    model: ModelConfig
    # a `save_to_disk` folder, a .jsonl/.json file, a folder of data files, or a Hugging Face hub dataset id
    # (owner/name), with a `messages` column (DPO: prompt / chosen / rejected)
    dataset: str
    # rows to evaluate on during training (loss on them every eval_steps): a split name of the dataset
    # (e.g. test or validation) or a fraction of the rows held out (seeded by train.seed); none by default
    eval_split: str | float | None = None
    lora: LoraSettings = LoraSettings()
    train: SFTArgs = Field(default_factory=SFTArgs)  # any field of trl.SFTConfig
    merge_adapter: bool = False  # also write <output_dir>/merged (base + adapter merged)
    resume: bool = True  # continue from the last complete checkpoint-* in output_dir
    wandb: WandbConfig = WandbConfig()

    @field_validator("eval_split")
    @classmethod
    def _eval_split(cls, v):
        if isinstance(v, float) and not 0 < v < 1:
            raise ValueError("a fraction of the rows must be in (0, 1): e.g. eval_split=0.1, or a split name such as test")
        if isinstance(v, str) and not v.strip():
            raise ValueError("name a split of the dataset, e.g. eval_split=test, or give a fraction such as 0.1")
        return v

    @model_validator(mode="after")
    def _steps(self):
        if self.train.max_steps == 0:
            raise ValueError("train.max_steps=0 would train nothing (TRL would still take one step): set train.max_steps to a "
                             "positive number of steps, or -1 to train train.num_train_epochs epochs")
        if self.train.max_steps < 0 and self.train.num_train_epochs <= 0:
            raise ValueError("train.num_train_epochs must be > 0 when train.max_steps is -1: set one of them")
        train = self.train
        if getattr(train, "padding_free", False) and not getattr(train, "packing", False) and train.max_length is not None:
            raise ValueError(f"train.padding_free without train.packing cannot truncate rows to train.max_length={train.max_length}: "
                             "set train.max_length=null (rows are used whole) or train.packing=true")
        return self


class SFTRunConfig(_RunSettings):
    # each batch's shared prompt prefixes computed once (train/shared_prompts.py): batch = TRL's batches, the same loss;
    # grouped = batches of rows that share prompts (fewer tokens, another batch mix); off = TRL's padded batches
    prompt_sharing: Literal["off", "batch", "grouped"] = "batch"
    init_adapter: str | None = None  # SFT: continue training this LoRA adapter instead of a new one (e.g. matched extra steps)


class DPORunConfig(_RunSettings):
    run_name: PathName = Field("dpo", description="run name: output folder and W&B run name")
    dataset: str  # prompt / chosen / rejected
    # each pair's prompt (and each batch's shared prompt prefixes) computed once, chosen and rejected as two branches
    # (train/shared_pairs.py): batch = TRL's batches, the same loss and metrics; off = TRL's two padded rows per pair
    prompt_sharing: Literal["off", "batch"] = "batch"
    sft_adapter: str | None = None  # start from this SFT adapter (folder or hub id); the SFT policy is then the reference
    train: DPOArgs = Field(default_factory=DPOArgs)  # any field of trl.DPOConfig (beta, loss_type, ...)

    @model_validator(mode="before")
    @classmethod
    def _top_level_dpo_keys(cls, data: Any) -> Any:
        """`beta` and `precompute_ref_log_probs` were top-level keys before `train:` took any DPOConfig field."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        train = dict(data.get("train") or {})
        moved = [move_legacy_key(data, key, train, key, key, f"train.{key}") for key in ("beta", "precompute_ref_log_probs")]
        if any(moved):
            data["train"] = train
        return data


__all__ = ["DPORunConfig", "LoraSettings", "SFTRunConfig"]
