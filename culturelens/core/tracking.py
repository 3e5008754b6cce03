"""Weights & Biases tracking: one small wrapper so every stage logs the same way (group = experiment name)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from culturelens.core.config import StrictModel


class WandbConfig(StrictModel):
    enabled: bool = False
    project: str = "culturelens"
    entity: str | None = None
    mode: str | None = None  # "online" | "offline" | "disabled"; default: WANDB_MODE or online
    tags: list[str] = []
    dir: str | None = None  # where wandb writes its run folder (default: the run's output folder)


def start_run(cfg: WandbConfig, *, name: str, group: str, job_type: str, config: dict[str, Any], run_dir: Path):
    """Start a W&B run, or return None when tracking is disabled."""
    if not cfg.enabled:
        return None
    import wandb

    mode = cfg.mode or os.environ.get("WANDB_MODE") or "online"
    wandb_dir = Path(cfg.dir) if cfg.dir else run_dir
    wandb_dir.mkdir(parents=True, exist_ok=True)
    return wandb.init(
        project=cfg.project,
        entity=cfg.entity,
        name=name,
        group=group,
        job_type=job_type,
        tags=cfg.tags,
        config=config,
        dir=str(wandb_dir),
        mode=mode,
        reinit="finish_previous",
    )


def log_table(run, key: str, df) -> None:
    import wandb

    run.log({key: wandb.Table(dataframe=df.reset_index(drop=True))})


def log_images(run, paths: list[Path]) -> None:
    import wandb

    run.log({f"figures/{p.stem}": wandb.Image(str(p)) for p in paths if p.suffix == ".png"})


def finish(run) -> Path | None:
    """Finish the run and return its local run folder (…/wandb/offline-run-… or run-…)."""
    if run is None:
        return None
    run_path = Path(run.dir).parent  # run.dir is <run folder>/files
    run.finish()
    return run_path
