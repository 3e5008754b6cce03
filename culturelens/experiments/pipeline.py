"""`culturelens run CONFIG`: synth -> LoRA SFT -> DPO (from the SFT adapter) -> eval base/SFT/DPO -> compare.

Each section of the pipeline config is the config of one stage (the same keys as the stage's own
YAML); the pipeline fills in what flows between stages: the synthetic datasets, the SFT adapter
that DPO starts from, the adapters and the held-out split that the evaluations use. Every stage
resumes (generation, training checkpoints and the probe cache), so a rerun continues where it stopped.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from culturelens.core.config import PathName, StrictModel, deep_merge, load_config, validate_config
from culturelens.core.jsonsafe import write_json
from culturelens.core.paths import ensure_writable_dir

Stage = Literal["synth", "sft", "dpo", "eval", "compare"]


class PipelineConfig(StrictModel):
    experiment: PathName = Field("synthetic_sft_dpo", description="experiment name: every stage writes under output_dir/<experiment>/")
    output_dir: str = Field("runs", description="root folder of the pipeline's runs")
    stages: list[Stage] = Field(["synth", "sft", "dpo", "eval", "compare"], description="stages to run, in this order")
    synth: dict = Field(default_factory=dict, description="SynthConfig keys of the synth stage")
    sft: dict = Field(default_factory=dict, description="SFTRunConfig keys of the SFT stage (its model is the student)")
    dpo: dict = Field(default_factory=dict, description="DPORunConfig keys of the DPO stage (starts from the SFT adapter)")
    eval: dict = Field(default_factory=dict)  # shared eval settings; the model comes from sft.model
    wandb: dict = Field(default_factory=dict)  # applied to every stage


def _adapter_dir(path: Path) -> Path:
    return path / "adapter" if (path / "adapter").exists() else path


@dataclass
class PipelineParts:
    """Every stage's validated config of a pipeline run (validated up front: a typo in the DPO section must not wait
    for synth + SFT to finish)."""

    cfg: PipelineConfig
    root: Path
    synth: Any
    sft: Any
    dpo: Any
    eval_cfg: Callable[[str, str | None], Any]


def build_pipeline(config_path: str, overrides: list[str] | None = None) -> PipelineParts:
    from culturelens.eval.config import EvalConfig
    from culturelens.synth.config import SynthConfig
    from culturelens.train.config import DPORunConfig, SFTRunConfig

    cfg = load_config(PipelineConfig, config_path, overrides)
    root = ensure_writable_dir(Path(cfg.output_dir) / cfg.experiment, "output_dir")  # paths first
    common = {"experiment": cfg.experiment}
    wb = {"wandb": cfg.wandb} if cfg.wandb else {}
    synth_data = deep_merge({**common, "output_dir": str(root / "synth"), **wb}, cfg.synth)
    synth_cfg = validate_config(SynthConfig, synth_data, f"{config_path}: synth")
    data_dir = Path(synth_cfg.output_dir)
    sft_cfg = validate_config(
        SFTRunConfig,
        deep_merge({**common, "run_name": "sft", "output_dir": str(root / "sft"), "dataset": str(data_dir / "sft"), **wb}, cfg.sft),
        f"{config_path}: sft",
    )
    dpo_cfg = validate_config(
        DPORunConfig,
        deep_merge(
            {**common, "run_name": "dpo", "model": sft_cfg.model.model_dump(), "output_dir": str(root / "dpo"),
             "dataset": str(data_dir / "dpo"), "sft_adapter": str(Path(sft_cfg.output_dir) / "adapter"), **wb},
            cfg.dpo,
        ),
        f"{config_path}: dpo",
    )
    base_model = sft_cfg.model.model_dump()
    split_file = str(data_dir / "split.json")

    def eval_cfg(name: str, adapter: str | None) -> EvalConfig:
        data = deep_merge({**common, "output_dir": cfg.output_dir, "run_name": name, "split": {"file": split_file}, **wb}, cfg.eval)
        return validate_config(EvalConfig, deep_merge(data, {"model": {**base_model, "adapter": adapter}}), f"{config_path}: eval ({name})")

    eval_cfg("eval-base", None)  # validate now
    return PipelineParts(cfg, root, synth_cfg, sft_cfg, dpo_cfg, eval_cfg)


def plan_pipeline(config_path: str, overrides: list[str] | None = None) -> list[str]:
    """`culturelens run --dry-run`: the stages that would run, the trainings, and each eval's plan (prompts, cached,
    estimated probe time; the SFT/DPO evals are counted like the base eval, their adapters do not exist yet)."""
    from culturelens.eval.plan import format_seconds, plan_eval

    parts = build_pipeline(config_path, overrides)
    stages = parts.cfg.stages
    lines = [f"pipeline {parts.cfg.experiment} -> {parts.root}; stages: {', '.join(stages)}"]
    if "synth" in stages:
        lines.append(f"synth: teacher {parts.synth.teacher.model_dump(exclude_none=True)} -> {parts.synth.output_dir}")
    for name in ("sft", "dpo"):
        if name in stages:
            tc = getattr(parts, name)
            train = tc.train.model_dump() if hasattr(tc.train, "model_dump") else dict(tc.train)
            steps = train.get("max_steps") if (train.get("max_steps") or -1) > 0 else f"{train.get('num_train_epochs')} epoch(s)"
            lines.append(f"training {name}: {tc.model.name_or_path} on {tc.dataset}, {steps} -> {tc.output_dir} "
                         "(training time not estimated: see benchmarks/results/train_throughput.json)")
    total = 0.0
    if "eval" in stages:
        base_cfg = parts.eval_cfg("eval-base", None)
        if base_cfg.split.file and not Path(base_cfg.split.file).exists():  # synth writes it
            base_cfg = base_cfg.model_copy(update={"split": type(base_cfg.split)()})
        base = plan_eval(base_cfg)
        lines += base.lines()
        total += base.estimated_seconds or 0.0
        for name in ("eval-sft", "eval-dpo"):
            lines.append(f"eval {name}: the same {base.n_prompts} prompts on the {name[5:].upper()} adapter (none cached: "
                         "the adapter is trained first)")
            total += base.n_prompts / base.prompts_per_second if base.prompts_per_second else 0.0
        lines.append(f"estimated probe time of the evals: ~{format_seconds(total)}")
    if "compare" in stages:
        lines.append(f"compare: the evals side by side -> {parts.root / 'compare'}")
    return lines


def run_pipeline(config_path: str, overrides: list[str] | None = None, progress: bool = True) -> dict:
    from culturelens.synth.run import run_synth
    from culturelens.train.dpo import run_dpo
    from culturelens.train.sft import run_sft

    parts = build_pipeline(config_path, overrides)
    cfg, root, synth_cfg, sft_cfg, dpo_cfg, eval_cfg = parts.cfg, parts.root, parts.synth, parts.sft, parts.dpo, parts.eval_cfg
    done: dict = {"root": str(root)}
    if "synth" in cfg.stages:
        done["synth"] = str(run_synth(synth_cfg))
    if "sft" in cfg.stages:
        done["sft"] = str(run_sft(sft_cfg))
    if "dpo" in cfg.stages:
        done["dpo"] = str(run_dpo(dpo_cfg))
    run_dirs = eval_stage(eval_cfg, Path(sft_cfg.output_dir), Path(dpo_cfg.output_dir), progress) if "eval" in cfg.stages else []
    if "eval" in cfg.stages:
        done["eval"] = [str(d) for d in run_dirs]
    if "compare" in cfg.stages and run_dirs:
        done["compare"] = str(compare_stage(cfg, root / "compare", run_dirs))
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / "pipeline.json", done)
    return done


def eval_stage(eval_cfg, sft_dir: Path, dpo_dir: Path, progress: bool) -> list[Path]:
    """Eval of the base model and of each adapter that exists (base, SFT, DPO); returns their run folders."""
    from culturelens.eval.reporting.console import print_summary
    from culturelens.eval.runner import run_eval

    run_dirs = []
    for name, adapter in (("eval-base", None), ("eval-sft", sft_dir), ("eval-dpo", dpo_dir)):
        if adapter is not None:
            adapter = _adapter_dir(adapter)
            if not adapter.exists():
                continue
        # a rerun of the pipeline replaces its own eval-* run folders (the probe cache makes it cheap)
        run_dir = run_eval(eval_cfg(name, str(adapter) if adapter else None), progress=progress, overwrite=True)
        print_summary(run_dir)
        run_dirs.append(run_dir)
    return run_dirs


def compare_stage(cfg: PipelineConfig, out: Path, run_dirs: list[Path]) -> Path:
    """Side-by-side comparison of the evals on all, train and held-out questions (`compare/{all,train,heldout}`)."""
    from culturelens.eval.compare import compare_runs, write_comparison
    from culturelens.eval.reporting.console import print_comparison

    for split in (None, "train", "heldout"):
        result = compare_runs(run_dirs, split=split)
        write_comparison(result, out / (split or "all"))
        print_comparison(result)
        track_pipeline_comparison(cfg, result, out / (split or "all"), run_dirs)
    return out


def track_pipeline_comparison(cfg: PipelineConfig, result: dict, out: Path, run_dirs: list[Path]) -> None:
    """With the pipeline's wandb section enabled, each comparison (all / train / held-out questions) is a W&B run."""
    from culturelens.core.tracking import WandbConfig
    from culturelens.eval.reporting.compare_tracking import track_comparison

    wb = WandbConfig.model_validate(cfg.wandb) if cfg.wandb else WandbConfig()
    if wb.enabled:
        track_comparison(result, out, wb, run_dirs, name=f"compare-{result['split']}", group=cfg.experiment)
