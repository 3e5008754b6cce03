"""W&B lineage of evaluations: an eval declares the model artifact it scored and logs its results as an artifact;
compare and claims declare the evaluations they read (core/tracking.py explains online vs offline declarations).

  synth ──dataset──▶ train sft ──model──▶ train dpo ──model──▶ eval ──evaluation──▶ compare / claims
"""
from __future__ import annotations

from pathlib import Path

from culturelens.core.models import ModelConfig
from culturelens.core.runfolder import Summary
from culturelens.core.tracking import MERGED_ARTIFACT_KEY, ArtifactRef, declare_input, log_artifact, model_ref

EVAL_FILES = ("config.yaml", "summary.json", "scores.jsonl", "results.parquet")


def scored_model_ref(model: ModelConfig) -> ArtifactRef | None:
    """The model artifact behind a model config: the adapter's (model.adapter), else a merged model folder's."""
    if model.adapter:
        return model_ref(Path(model.adapter).expanduser())
    folder = Path(model.name_or_path).expanduser()
    return model_ref(folder, MERGED_ARTIFACT_KEY) if folder.is_dir() else None


def declare_scored_model(run, model: ModelConfig) -> ArtifactRef | None:
    ref = scored_model_ref(model)
    declare_input(run, ref, "model")
    return ref


def log_evaluation(run, experiment: str, run_dir: Path, summary: dict) -> ArtifactRef | None:
    """The run folder's config, summary and scores as an `evaluation` artifact (metadata: the headline metrics)."""
    meta = {"model": summary["run"]["model"], "fingerprint": summary["run"]["fingerprint"], "pooled_r": summary["pooled"]["r"],
            "western_gap": summary["western_gap"].get("gap"), "n_prompts": summary["run"]["n_prompts"]}
    files = [run_dir / f for f in EVAL_FILES if (run_dir / f).exists()]
    return log_artifact(run, f"eval-{experiment}-{run_dir.name}", "evaluation", files, meta)


def declare_evaluations(run, summaries: dict[str, Summary]) -> None:
    """Declare the evaluation artifact of every compared run (the refs their summary.json remembers)."""
    for label, summary in summaries.items():
        if summary.run.wandb_artifact:
            declare_input(run, summary.run.wandb_artifact, f"eval/{label}")
