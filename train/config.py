"""Configs of the training recipes (`culturelens train sft|dpo --config configs/train/*.yaml`)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from culturelens.core.config import PathName, StrictModel
from culturelens.core.models import ModelConfig
from culturelens.core.tracking import WandbConfig


class LoraSettings(StrictModel):
    """The LoRA adapter (peft LoraConfig)."""

    r: int = Field(8, ge=1, description="LoRA rank")
    alpha: int = Field(16, description="LoRA alpha (scaling = alpha / r)")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout")
    target_modules: list[str] | Literal["all-linear"] = Field(["q_proj", "k_proj", "v_proj", "o_proj"],
                                                              description="modules that get LoRA weights, or all-linear")


class TrainSettings(StrictModel):
    """Optimisation settings, passed to TRL's SFTConfig / DPOConfig."""

    epochs: float = Field(1.0, description="passes over the dataset (when max_steps is -1)")
    max_steps: int = Field(-1, description="optimizer steps; -1: run `epochs` epochs")
    learning_rate: float = Field(2e-4, description="peak learning rate")
    per_device_batch_size: int = Field(4, ge=1, description="rows per device per step")
    gradient_accumulation_steps: int = Field(1, ge=1, description="steps whose gradients are summed before an update")
    max_length: int = Field(512, description="longest tokenized row; longer rows are truncated")
    logging_steps: int = Field(5, description="log the loss every this many steps")
    save_steps: int = Field(50, description="write a checkpoint every this many steps (resume starts from the last)")
    save_total_limit: int = Field(2, description="checkpoints kept")
    seed: int = Field(0, description="training seed (data order, LoRA init)")
    bf16: bool = Field(False, description="train in bfloat16 mixed precision (GPUs that support it)")
    gradient_checkpointing: bool = Field(False, description="recompute activations to save memory")
    warmup_ratio: float = Field(0.0, ge=0, lt=1)  # fraction of the training steps; >= 1 would be read as a step count


class SFTRunConfig(StrictModel):
    experiment: PathName = Field("default", description="experiment name: output folder and W&B group")
    run_name: PathName = Field("sft", description="run name: output folder and W&B run name")
    output_dir: str | None = None  # default: runs/train/<experiment>/<run_name>
    model: ModelConfig
    dataset: str  # a `save_to_disk` folder or a .jsonl with a `messages` column
    lora: LoraSettings = LoraSettings()
    train: TrainSettings = TrainSettings()
    merge_adapter: bool = False  # also write <output_dir>/merged (base + adapter merged)
    resume: bool = True  # continue from the last checkpoint-* in output_dir
    wandb: WandbConfig = WandbConfig()


class DPORunConfig(SFTRunConfig):
    run_name: PathName = Field("dpo", description="run name: output folder and W&B run name")
    dataset: str  # prompt / chosen / rejected
    beta: float = Field(0.1, description="DPO beta: how far the policy may move from the reference")
    sft_adapter: str | None = None  # start from this SFT adapter; the SFT policy is then the reference
    precompute_ref_log_probs: bool = Field(False,
                                           description="compute the reference model's log-probs once before training (TRL DPOConfig)")
    train: TrainSettings = TrainSettings(learning_rate=5e-5)
