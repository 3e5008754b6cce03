"""`culturelens study`: data -> every arm x seed (train, eval; resumable) -> effects -> report -> W&B.

Each training writes into train/<arm>/s<seed> (a finished one has culturelens_train.json and is skipped; an
interrupted one resumes from its last checkpoint); each evaluation into evals/<arm>-s<seed> (a complete run folder is
skipped). So a rerun after a kill continues where it stopped.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from culturelens.core.config import deep_merge, parse_overrides, read_config_file, validate_config
from culturelens.core.errors import ConfigError
from culturelens.core.jsonsafe import write_json
from culturelens.core.paths import ensure_writable_dir
from culturelens.core.runfolder import RunFolder
from culturelens.experiments.study.config import StudyConfig
from culturelens.experiments.study.data import SPLIT_FILE, build_data
from culturelens.experiments.study.layout import (
    dpo_steps,
    eval_dir,
    ordered_arms,
    train_config,
    train_dir,
    trained,
)


def load_study_config(path: str, overrides: list[str] | None, smoke: bool) -> StudyConfig:
    """The config; with ``smoke`` its ``smoke:`` section is merged in first (command-line overrides still win)."""
    p = Path(path)
    data = read_config_file(p)
    if smoke:
        if not data.get("smoke"):
            raise ConfigError(f"{p} has no smoke: section: add one (overrides for a minutes-scale run) or drop --smoke")
        data = deep_merge(data, data["smoke"])
    return validate_config(StudyConfig, deep_merge(data, parse_overrides(overrides)), str(p), overrides)


def train_arm(cfg: StudyConfig, root: Path, arm: str, seed: int) -> Path:
    from culturelens.train.dpo import run_dpo
    from culturelens.train.sft import run_sft

    out = train_dir(root, arm, seed)
    steps = dpo_steps(cfg, root, seed) if arm == "extra_sft" else None
    tcfg = train_config(cfg, root, arm, seed, steps)
    if trained(out, tcfg.dataset):
        return out
    if cfg.train_launcher:
        launch(cfg.train_launcher, "dpo" if arm.startswith("dpo_") else "sft", tcfg, out)
    else:
        (run_dpo if arm.startswith("dpo_") else run_sft)(tcfg)
    return out


def launch(launcher: str, stage: str, tcfg, out: Path) -> None:
    """One training as its own command (e.g. under `accelerate launch` on several GPUs), its config written first."""
    import shlex
    import subprocess
    import sys

    from culturelens.core.config import dump_config

    out.mkdir(parents=True, exist_ok=True)
    path = out / "study_train.yaml"
    dump_config(tcfg, path)
    command = shlex.split(launcher)
    if command and command[0] in ("python", "python3"):
        command[0] = sys.executable
    command += ["-m", "culturelens", "train", stage, "--config", str(path)]
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise ConfigError(f"training {out} failed under `{launcher}` (exit {done.returncode}): see its output above; fix and "
                          "rerun the study (finished arms are kept)")


def eval_config(cfg: StudyConfig, root: Path, name: str, adapter: Path | None, split: dict, native: bool = False):
    from culturelens.eval.config import EvalConfig

    questions = eval_questions(cfg, split)
    probe = {"templates": cfg.data.templates, "orders": cfg.data.orders, "labels": cfg.data.label_style,
             "answer_cue": cfg.data.answer_cue}
    if native:
        probe.update({"language": "native", "translations_file": cfg.translations_file})
    data = deep_merge({"experiment": cfg.experiment, "output_dir": str(root / "evals"), "run_name": name,
                       "reference": cfg.reference, "countries_file": cfg.countries_file,
                       "questions": questions, "countries": split["eval_countries"],
                       "split": {"file": str(root / SPLIT_FILE)}, "probe": probe, "wandb": {"enabled": False}}, cfg.eval)
    data = deep_merge(data, {"model": {**cfg.student.model_dump(), "adapter": str(adapter) if adapter else None}})
    return validate_config(EvalConfig, data, f"study: eval ({name})")


def eval_questions(cfg: StudyConfig, split: dict) -> list[str]:
    return split["heldout"] if cfg.eval_questions == "heldout" else split["train"] + split["heldout"]


def with_eval_countries(cfg: StudyConfig, split: dict) -> dict:
    """The split plus ``eval_countries``: the seen and unseen countries with an answer on some evaluated question."""
    from culturelens.experiments.study.data import study_inputs

    _, reference, _ = study_inputs(cfg)
    df = reference.df
    have = set(df.loc[df["qid"].isin(eval_questions(cfg, split)), "country"])
    return {**split, "eval_countries": [c for c in split["seen"] + split["unseen"] if c in have]}


def evaluate(cfg: StudyConfig, root: Path, name: str, adapter: Path | None, split: dict, progress: bool, native: bool = False) -> Path:
    from culturelens.eval.runner import run_eval

    folder = RunFolder(eval_dir(root, cfg, name))
    if folder.path.exists() and folder.is_complete():
        return folder.path
    return run_eval(eval_config(cfg, root, name, adapter, split, native), progress=progress, overwrite=folder.path.exists())


def run_study(config_path: str, overrides: list[str] | None = None, progress: bool = True, smoke: bool = False,
              plan_only: bool = False) -> Path:
    from culturelens.core.tokenizer import load_tokenizer
    from culturelens.experiments.study.effects import compute_effects, load_grids
    from culturelens.experiments.study.plan import Progress, make_plan, print_plan
    from culturelens.experiments.study.report import write_report
    from culturelens.experiments.study.tracking import track_study

    cfg = load_study_config(config_path, overrides, smoke)
    root = ensure_writable_dir(Path(cfg.output_dir) / cfg.experiment, "output_dir")  # paths first
    for arm in ordered_arms(cfg):  # every section validated before anything runs
        train_config(cfg, root, arm, cfg.seeds[0], 1 if arm == "extra_sft" else None)
    tok = load_tokenizer(cfg.student)
    t0 = time.time()
    facts = build_data(cfg, root, tok, progress)
    split = with_eval_countries(cfg, json.loads((root / SPLIT_FILE).read_text()))
    ecfg = eval_config(cfg, root, "base", None, split)
    plan = make_plan(cfg, root, facts, split, tok, ecfg)
    print_plan(plan)
    write_json(root / "plan.json", plan)
    if plan_only:
        return root
    prog = Progress(plan, root / "timings.json")
    runs: dict[str, dict[int, Path]] = {}
    if "base" in cfg.references:
        runs["base"] = {0: prog.step("eval base", lambda: evaluate(cfg, root, "base", None, split, progress))}
    for seed in cfg.seeds:
        for arm in ordered_arms(cfg):
            out = prog.step(f"train {arm} seed {seed}", lambda a=arm, s=seed: train_arm(cfg, root, a, s), train=True)
            runs.setdefault(arm, {})[seed] = prog.step(
                f"eval {arm} seed {seed}", lambda a=arm, s=seed, o=out: evaluate(cfg, root, f"{a}-s{s}", o / "adapter", split, progress))
            if cfg.native_eval:  # the same adapter asked in each country's language (where translated): arm "<arm>_native"
                runs.setdefault(f"{arm}_native", {})[seed] = prog.step(
                    f"eval {arm} seed {seed} (native)", lambda a=arm, s=seed, o=out: evaluate(
                        cfg, root, f"{a}-s{s}-native", o / "adapter", split, progress, native=True))
    grids = load_grids(cfg, root, runs, split)
    effects = compute_effects(cfg, grids, split)
    effects["seconds"] = round(time.time() - t0, 1)
    effects["data"] = facts
    write_json(root / "effects.json", effects)
    report = write_report(cfg, root, effects)
    track_study(cfg, root, runs, effects, report)
    return root
