"""A W&B run for `culturelens claims`: the verdicts and the claims' tables, r per WVS section per model as a native
W&B bar chart and a figure, the claims figure, and the evaluations it read as inputs (lineage)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from culturelens.core.tracking import WandbConfig, finish, log_images, log_table, start_run
from culturelens.eval.reporting.compare_tracking import section_bar, section_figure
from culturelens.eval.reporting.lineage import declare_evaluations
from culturelens.experiments.claims.paper_claims import CLAIMS


def claims_wandb(cfg) -> WandbConfig:
    """The claims run's W&B settings: `wandb` of the claims config, else the shared eval section's."""
    if cfg.wandb.enabled:
        return cfg.wandb
    return WandbConfig.model_validate(cfg.eval.get("wandb") or {})


def sections_of(runs: dict) -> pd.DataFrame:
    rows = [{"run": label, "section": c.category, "mean_r": c.mean_r} for label, r in runs.items() for c in r.summary.by_category]
    return pd.DataFrame(rows, columns=["run", "section", "mean_r"])


def track_claims(cfg, out: Path, claims: dict, runs: dict) -> Path | None:
    """`runs`: label -> claims.context.ModelRun; `claims`: the claims.json content."""
    from culturelens.core.manifest import collect_manifest

    summaries = {label: r.summary for label, r in runs.items()}
    manifest = collect_manifest(models={k: s.manifest.model for k, s in summaries.items() if s.manifest and s.manifest.model},
                                seeds={"seed": getattr(cfg, "seed", None)})
    run = start_run(claims_wandb(cfg), name=f"claims-{cfg.experiment}", group=cfg.experiment, job_type="claims",
                    config={"models": list(runs), "bias_questions": cfg.bias_questions, "n_boot": cfg.n_boot,
                            "manifest": manifest.model_dump(mode="json")}, run_dir=out)
    if run is None:
        return None
    declare_evaluations(run, {label: r.summary for label, r in runs.items()})
    verdicts = [{"claim": key, "verdict": claims[key]["verdict"], "primary": claims[key].get("primary"), "p": claims[key].get("p"),
                 "p_holm": claims[key].get("p_holm")} for key in CLAIMS if key in claims]
    log_table(run, "claims/verdicts", pd.DataFrame(verdicts))
    log_table(run, "claims/1_norms", pd.DataFrame(claims["1_norms"]["table"]))
    gaps = [{"model": m, **{k: g.get(k) for k in ("western_r", "non_western_r", "gap")}}
            for m, g in claims["2_western_bias"]["gaps"].items()]
    log_table(run, "claims/2_western_gap", pd.DataFrame(gaps))
    sections = sections_of(runs)
    run.log({"charts/r_by_section": section_bar(sections, "r per WVS section per model")})
    figures = [section_figure(sections, list(runs), out / "figures" / "by_section.png")]
    log_images(run, figures + sorted((out / "figures").glob("claims*.png")))
    run.summary.update({f"verdict/{v['claim']}": v["verdict"] for v in verdicts})
    run.summary.update({f"{g['model']}/western_gap": g["gap"] for g in gaps})
    return finish(run)
