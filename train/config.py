"""Configs of the training recipes (`culturelens train sft|dpo --config configs/train/*.yaml`)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from culturelens.core.config import PathName, StrictModel
from culturelens.core.models import ModelConfig
from culturelens.core.tracking import WandbConfig


class LoraSettings(StrictModel):
    r: int = Field(8, ge=1)
    alpha: int = 16
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = ["q_proj", "k_proj", "v_proj", "o_proj"]


class TrainSettings(StrictModel):
    epochs: float = 1.0
    max_steps: int = -1
    learning_rate: float = 2e-4
    per_device_batch_size: int = Field(4, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_length: int = 512
    logging_steps: int = 5
    save_steps: int = 50
    save_total_limit: int = 2
    seed: int = 0
    bf16: bool = False
    gradient_checkpointing: bool = False
    warmup_ratio: float = Field(0.0, ge=0, lt=1)  # fraction of the training steps; >= 1 would be read as a step count


class SFTRunConfig(StrictModel):
    experiment: PathName = "default"
    run_name: PathName = "sft"
    output_dir: str | None = None  # default: runs/train/<experiment>/<run_name>
    model: ModelConfig
    dataset: str  # a `save_to_disk` folder or a .jsonl with a `messages` column
    lora: LoraSettings = LoraSettings()
    train: TrainSettings = TrainSettings()
    merge_adapter: bool = False  # also write <output_dir>/merged (base + adapter merged)
    init_adapter: str | None = None  # SFT: continue training this LoRA adapter instead of a new one
    resume: bool = True  # continue from the last checkpoint-* in output_dir
    wandb: WandbConfig = WandbConfig()


class DPORunConfig(SFTRunConfig):
    run_name: PathName = "dpo"
    dataset: str  # prompt / chosen / rejected
    beta: float = 0.1
    sft_adapter: str | None = None  # start from this SFT adapter; the SFT policy is then the reference
    precompute_ref_log_probs: bool = False
    train: TrainSettings = TrainSettings(learning_rate=5e-5)
