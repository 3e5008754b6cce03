"""The study in W&B: one group; a dataset run; one run per arm x seed with its training curve, its adapter, its
evaluation and the study's metrics of that run (so W&B's run table compares arms directly); a summary run with the
effects tables and figures. Lineage: dataset -> adapter (metadata and `lineage/dataset`) -> evaluation (metadata
`adapter`), online as W&B's use_artifact, offline in the runs' config (core/tracking.py). A run already logged is
not logged again on a rerun (a `.logged` marker per run)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from culturelens.core.tracking import declare_input, finish, log_artifact, log_images, log_table, model_ref, start_run
from culturelens.experiments.study.config import ARM_PARENTS, StudyConfig

EVAL_FILES = ("config.yaml", "summary.json", "scores.jsonl")


def _marker(root: Path, name: str) -> Path:
    return root / "wandb" / f"{name}.logged"


def _dataset_run(cfg: StudyConfig, root: Path):
    from culturelens.core.tracking import ArtifactRef

    ref_file = root / "wandb" / "dataset_ref.json"
    if ref_file.exists():
        return ArtifactRef.model_validate_json(ref_file.read_text())
    run = start_run(cfg.wandb, name=f"{cfg.experiment}-data", group=cfg.experiment, job_type="study-data",
                    config={"split": cfg.split.model_dump(mode="json"), "data": cfg.data.model_dump(mode="json")},
                    run_dir=root / "wandb" / "data")
    files = [root / "split.json", root / "data"]
    if (root / "teacher.json").exists():
        files.append(root / "teacher.json")
    ref = log_artifact(run, f"study-{cfg.experiment}-data", "dataset", files, {"experiment": cfg.experiment})
    finish(run)
    if ref is not None:
        ref_file.write_text(ref.model_dump_json(indent=2))
    return ref


def _arm_run(cfg: StudyConfig, root: Path, arm: str, seed: int, eval_dir: Path, data_ref, metrics: dict) -> None:
    from culturelens.experiments.study.layout import train_dir

    name = f"{arm}-s{seed}"
    if _marker(root, name).exists():
        return
    out = train_dir(root, arm, seed) if arm in ARM_PARENTS else None
    facts = json.loads((out / "culturelens_train.json").read_text()) if out else {}
    run = start_run(cfg.wandb, name=name, group=cfg.experiment, job_type="study-arm",
                    config={"arm": arm, "seed": seed, "parent": ARM_PARENTS.get(arm), "student": cfg.student.name_or_path,
                            "stage": facts.get("stage"), "n_rows": facts.get("n_rows"), "global_step": facts.get("global_step")},
                    run_dir=root / "wandb" / name)
    if run is None:
        return
    declare_input(run, data_ref, "dataset")
    adapter_ref = None
    if out:
        parent = ARM_PARENTS.get(arm)
        if parent:
            declare_input(run, model_ref(train_dir(root, parent, seed) / "adapter"), "parent_adapter")
        for h in facts.get("log_history", []):
            if "step" in h:
                run.log({f"train/{k}": v for k, v in h.items() if isinstance(v, (int, float)) and k != "step"}, step=int(h["step"]))
        meta = {k: facts.get(k) for k in ("stage", "n_rows", "global_step", "train_loss", "tokens_seen", "seconds")}
        meta["dataset_artifact"] = data_ref.model_dump(mode="json") if data_ref else None
        adapter_ref = log_artifact(run, f"adapter-{cfg.experiment}-{name}", "model", [out / "adapter"], meta)
    files = [eval_dir / f for f in EVAL_FILES if (eval_dir / f).exists()]
    log_artifact(run, f"eval-{cfg.experiment}-{name}", "evaluation", files,
                 {"arm": arm, "seed": seed, "adapter_artifact": adapter_ref.model_dump(mode="json") if adapter_ref else None, **metrics})
    run.summary.update({f"study/{k}": v for k, v in metrics.items()})
    if facts:
        run.summary.update({"train/final_loss": facts.get("train_loss"), "train/seconds": facts.get("seconds"),
                            "train/tokens_seen": facts.get("tokens_seen")})
    finish(run)
    _marker(root, name).parent.mkdir(parents=True, exist_ok=True)
    _marker(root, name).write_text("logged\n")


def track_study(cfg: StudyConfig, root: Path, runs: dict[str, dict[int, Path]], effects: dict, report: dict) -> None:
    if not cfg.wandb.enabled:
        return
    data_ref = _dataset_run(cfg, root)
    per_run = {(r["arm"], r["seed"]): {k: v for k, v in r.items() if k not in ("arm", "seed")} for r in effects["per_run"]}
    for arm, by_seed in runs.items():
        for seed, folder in by_seed.items():
            _arm_run(cfg, root, arm, seed, Path(folder), data_ref, per_run.get((arm, seed), {}))
    run = start_run(cfg.wandb, name=f"{cfg.experiment}-summary", group=cfg.experiment, job_type="study-summary",
                    config={"arms": cfg.arms, "seeds": cfg.seeds, "endpoints": [e.model_dump() for e in cfg.endpoints]},
                    run_dir=root / "wandb" / "summary")
    if run is None:
        return
    declare_input(run, data_ref, "dataset")
    cols = ["claim", "arm", "control", "metric", "questions", "countries", "estimate", "ci", "p", "p_holm", "mde", "verdict", "fragile"]
    table = pd.DataFrame([{c: r.get(c) for c in cols}
                          for r in effects["primary"] + effects["secondary"]])
    log_table(run, "study/effects", table)
    log_table(run, "study/arms", pd.DataFrame(effects["arms"]))  # CI columns -> <col>_lo, <col>_hi (core/tracking.log_table)
    log_images(run, report["figures"])
    run.summary.update({f"verdict/{r['claim']}": r["verdict"] + (", fragile" if r.get("fragile") else "")
                        for r in effects["primary"]})
    run.summary.update({f"estimate/{r['claim']}": r["estimate"] for r in effects["primary"]})
    finish(run)
