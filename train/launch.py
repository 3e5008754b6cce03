"""An accelerate config for this machine and this training config: `culturelens train accelerate-config`.

The number of processes follows the hardware (one per GPU; on a CPU-only machine one per core, each with one
thread, talking over gloo), and the mixed precision follows the training config (`train.bf16` / `train.fp16`), so the
launcher and the Trainer never disagree. DDP, DeepSpeed ZeRO-2 and FSDP layouts are the ones in configs/accelerate/.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml

Kind = Literal["ddp", "deepspeed", "fsdp"]


def processes_for(gpus: int, cpus: int | None) -> int:
    return gpus if gpus > 0 else max(1, cpus or 1)


def accelerate_config(cfg, kind: Kind = "ddp", gpus: int | None = None, cpus: int | None = None) -> dict:
    """The accelerate config (as a dict) for training config `cfg` on a machine with `gpus` GPUs and `cpus` cores
    (default: this machine's)."""
    import torch

    from culturelens.core.errors import ConfigError

    gpus = torch.cuda.device_count() if gpus is None else gpus
    cpus = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()) if cpus is None else cpus
    precision = "bf16" if cfg.train.bf16 else "fp16" if cfg.train.fp16 else "no"
    if gpus == 0 and kind != "ddp":
        raise ConfigError(f"--kind {kind} needs GPUs and this machine has none: use --kind ddp (gloo on CPU)")
    if gpus == 0 and precision != "no":
        raise ConfigError(f"train.{precision} is set but there is no GPU: set train.{precision}=false for CPU training")
    out: dict = {"compute_environment": "LOCAL_MACHINE", "num_machines": 1, "machine_rank": 0,
                 "num_processes": processes_for(gpus, cpus), "mixed_precision": precision, "main_training_function": "main",
                 "rdzv_backend": "static", "same_network": True, "use_cpu": gpus == 0}
    if kind == "ddp":
        out["distributed_type"] = "MULTI_GPU"  # accelerate's torchrun launcher; on CPU each rank uses gloo
    elif kind == "deepspeed":
        out["distributed_type"] = "DEEPSPEED"
        out["deepspeed_config"] = {"zero_stage": 2, "offload_optimizer_device": "none", "offload_param_device": "none",
                                   "gradient_accumulation_steps": cfg.train.gradient_accumulation_steps, "zero3_init_flag": False}
    else:
        out["distributed_type"] = "FSDP"
        out["fsdp_config"] = {"fsdp_version": 2, "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                              "fsdp_state_dict_type": "SHARDED_STATE_DICT", "fsdp_cpu_ram_efficient_loading": True,
                              "fsdp_activation_checkpointing": False}
    return out


def write_accelerate_config(cfg, out: str | Path, kind: Kind = "ddp") -> Path:
    data = accelerate_config(cfg, kind)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = (f"# written by `culturelens train accelerate-config` for {data['num_processes']} process(es) "
            f"({'CPU, gloo' if data['use_cpu'] else 'GPUs'}); mixed_precision from train.bf16/fp16\n")
    path.write_text(head + yaml.safe_dump(data, sort_keys=False))
    return path


__all__ = ["accelerate_config", "write_accelerate_config"]
