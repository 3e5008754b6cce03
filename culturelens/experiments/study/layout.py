"""Where a study's arms live and how they are trained: arm order, training and eval folders, training configs.

Shared by the study's run, plan and tracking modules (none of them imports another for these)."""
from __future__ import annotations

import json
import math
from pathlib import Path

from culturelens.core.config import deep_merge, validate_config
from culturelens.core.errors import ConfigError
from culturelens.core.manifest import sha256_path
from culturelens.experiments.study.config import ARM_PARENTS, StudyConfig
from culturelens.experiments.study.data import arm_data_dir

TRAIN_FACTS = "culturelens_train.json"


def ordered_arms(cfg: StudyConfig) -> list[str]:
    """Arms with every parent before its children (REAL before DPO after REAL)."""
    return sorted(cfg.arms, key=lambda a: ARM_PARENTS[a] is not None)


def train_dir(root: Path, arm: str, seed: int) -> Path:
    return root / "train" / arm / f"s{seed}"


def batch_size(tcfg) -> int:
    t = tcfg.train
    size = t.per_device_train_batch_size
    return int(size) * int(getattr(t, "gradient_accumulation_steps", 1) or 1)


def train_config(cfg: StudyConfig, root: Path, arm: str, seed: int, dpo_steps: int | None = None):
    """The train stage's config of one arm x seed (validated; the study fills in model, dataset, output, seed)."""
    from culturelens.train.config import DPORunConfig, SFTRunConfig

    data = arm_data_dir(root, seed)
    parent = ARM_PARENTS[arm]
    common = {"experiment": cfg.experiment, "run_name": f"{arm}-s{seed}", "output_dir": str(train_dir(root, arm, seed)),
              "model": cfg.student.model_dump(), "train": {"seed": seed},
              "wandb": {"enabled": False}}  # the study logs one W&B run per arm x seed itself (tracking.py)
    if arm.startswith("dpo_"):
        rows = "dpo_real" if arm == "dpo_real" else "dpo_shuffled"
        section = deep_merge({**common, "dataset": str(data / f"{rows}.jsonl"),
                              "sft_adapter": str(train_dir(root, parent, seed) / "adapter")}, cfg.dpo)
        return validate_config(DPORunConfig, deep_merge(section, {"train": {"seed": seed}}), f"study: dpo ({arm})")
    if arm == "extra_sft":  # REAL's rows, REAL's adapter, the DPO arm's steps and batch
        section = deep_merge(deep_merge({**common, "dataset": str(data / "real.jsonl"),
                                         "init_adapter": str(train_dir(root, "real", seed) / "adapter")}, cfg.sft), cfg.extra_sft)
        if dpo_steps is not None:
            section = deep_merge(section, {"train": {"max_steps": dpo_steps}})
        return validate_config(SFTRunConfig, deep_merge(section, {"train": {"seed": seed}}), "study: extra_sft")
    section = deep_merge({**common, "dataset": str(data / f"{arm}.jsonl")}, cfg.sft)
    return validate_config(SFTRunConfig, deep_merge(section, {"train": {"seed": seed}}), f"study: sft ({arm})")


def dpo_steps(cfg: StudyConfig, root: Path, seed: int) -> int:
    """Optimizer steps of DPO after REAL (what the matched extra SFT trains for)."""
    dcfg = train_config(cfg, root, "dpo_real", seed)
    if dcfg.train.max_steps and dcfg.train.max_steps > 0:
        return int(dcfg.train.max_steps)
    rows = sum(1 for _ in open(dcfg.dataset, encoding="utf-8"))
    return math.ceil(rows / batch_size(dcfg)) * math.ceil(dcfg.train.num_train_epochs)


def trained(path: Path, dataset: str | Path) -> bool:
    """Whether the training in ``path`` finished; one that finished on other rows than ``dataset`` holds now (its
    recorded sha256 differs: the study's data settings or seeds changed since) is an error, never reused."""
    if not ((path / TRAIN_FACTS).exists() and (path / "adapter").is_dir()):
        return False
    recorded = json.loads((path / TRAIN_FACTS).read_text()).get("manifest", {}).get("data", {}).get("dataset")
    if recorded is not None and recorded != sha256_path(dataset):
        raise ConfigError(f"{path} was trained on other rows than {dataset} holds now (the study's data settings changed "
                          "since): delete that study's train/ and evals/ folders, or give the study another experiment name")
    return True


def eval_dir(root: Path, cfg: StudyConfig, name: str) -> Path:
    return root / "evals" / cfg.experiment / name
