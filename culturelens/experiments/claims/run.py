"""`culturelens claims`: evaluate every entry (cached: a rerun is free), test each claim, write the report."""
from __future__ import annotations

from pathlib import Path

from culturelens.core.config import load_config
from culturelens.core.errors import ConfigError
from culturelens.core.jsonsafe import json_safe
from culturelens.core.paths import ensure_writable_dir
from culturelens.core.runfolder import RunFolder
from culturelens.experiments.claims.claims_file import ClaimsFile
from culturelens.experiments.claims.config import ClaimsConfig, eval_config_for, load_split, missing_adapter
from culturelens.experiments.claims.context import ClaimsContext, ModelRun
from culturelens.experiments.claims.paper_claims import compute_claims


def evaluate_entries(cfg: ClaimsConfig, split_file: str | None, progress: bool) -> tuple[dict[str, ModelRun], dict[str, str], object]:
    """Run the eval of every entry; entries whose adapter is missing are skipped (with the reason) or an error."""
    from culturelens.core.inputs import resolve_inputs
    from culturelens.eval.runner import run_eval

    runs, skipped, inputs = {}, {}, None
    for entry in cfg.models:
        if missing_adapter(entry):
            if cfg.skip_missing_adapters:
                skipped[entry.label] = f"adapter {entry.model.adapter} not found (run the synth + train pipeline first)"
                continue
            raise ConfigError(f"claims entry '{entry.label}': adapter {entry.model.adapter} does not exist")
        ecfg = eval_config_for(cfg, entry, split_file)
        inputs = inputs or resolve_inputs(ecfg)
        runs[entry.label] = ModelRun.read(entry, RunFolder(run_eval(ecfg, progress=progress, overwrite=True)))
    if not runs:
        raise ConfigError("no claims entry could be evaluated: " + "; ".join(skipped.values()))
    return runs, skipped, inputs


def plan_claims(config_path: str, overrides: list[str] | None = None) -> list[str]:
    """`culturelens claims --dry-run`: each entry's eval plan (prompts, cached, estimated probe time) or why it is skipped."""
    from culturelens.eval.plan import format_seconds, plan_eval

    cfg = load_config(ClaimsConfig, config_path, overrides)
    split = load_split(cfg)
    split_file = cfg.split_file if split is not None else None
    lines, total = [f"claims {cfg.experiment} -> {Path(cfg.output_dir) / cfg.experiment}: {len(cfg.models)} model entries"], 0.0
    for entry in cfg.models:
        if missing_adapter(entry):
            lines.append(f"skip {entry.label}: adapter {entry.model.adapter} not found" if cfg.skip_missing_adapters
                         else f"error {entry.label}: adapter {entry.model.adapter} does not exist")
            continue
        plan = plan_eval(eval_config_for(cfg, entry, split_file))
        lines += plan.lines()
        total += plan.estimated_seconds or 0.0
    extra = [name for name, on in (("robustness study", cfg.robustness), ("language study", cfg.languages)) if on]
    lines.append(f"estimated probe time of the evals: ~{format_seconds(total)}"
                 + (f" (plus the {' and '.join(extra)}, not estimated)" if extra else ""))
    return lines


def run_claims(config_path: str, overrides: list[str] | None = None, progress: bool = True) -> Path:
    from culturelens.experiments.claims.report import write_claims_report
    from culturelens.experiments.claims.studies import language_study, robustness_study

    cfg = load_config(ClaimsConfig, config_path, overrides)
    split = load_split(cfg)
    out = Path(cfg.output_dir) / cfg.experiment
    ensure_writable_dir(out, "output_dir")  # paths first: before the evals
    split_file = cfg.split_file if split is not None else None
    runs, skipped, inputs = evaluate_entries(cfg, split_file, progress)
    if cfg.split_file and split is None:
        skipped["split_file"] = f"{cfg.split_file} not found: claims 5 and 6 need it (run the synth + train pipeline first)"
    groups = eval_config_for(cfg, next(iter(runs.values())).entry, split_file).groups
    ctx = ClaimsContext(cfg=cfg, runs=runs, inputs=inputs, groups=groups, split=split)
    claims: dict = {"models": {label: {**r.facts.model_dump(), "run_dir": str(r.folder.path)} for label, r in runs.items()}}
    claims.update(compute_claims(ctx))
    claims["robustness"] = {label: r.summary.robustness for label, r in runs.items()}
    claims["skipped"] = skipped
    if cfg.robustness:
        claims["robustness_study"] = robustness_study(ctx, progress)
    if cfg.languages:
        claims["languages"] = language_study(ctx, progress)
    typed = ClaimsFile.model_validate(json_safe(claims))  # claims.json is this model: unknown keys refused
    write_claims_report(out, typed)
    from culturelens.experiments.claims.tracking import track_claims

    track_claims(cfg, out, typed.as_json(), runs)
    return out
