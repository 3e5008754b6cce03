"""Weights & Biases tracking: one small wrapper so every stage logs the same way (group = experiment name)."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from culturelens.core.config import StrictModel
from culturelens.core.errors import DataError, first_line
from culturelens.core.paths import ensure_writable_dir

log = logging.getLogger(__name__)


class WandbConfig(StrictModel):
    """Weights & Biases tracking of this run."""

    enabled: bool = Field(False, description="log this run to Weights & Biases")
    project: str = Field("culturelens", description="W&B project")
    entity: str | None = Field(None, description="W&B entity (user or team); default: your W&B default")
    mode: Literal["online", "offline", "disabled"] | None = None  # default: WANDB_MODE or online
    tags: list[str] = Field([], description="W&B run tags")
    # where wandb writes its run folder (<dir>/wandb/offline-run-…); default: the experiment folder, so the path
    # printed for `wandb sync` is final from the start (never inside a run folder still being written)
    dir: str | None = None
    # seconds an online run may take to start; then culturelens falls back to an offline run (and says so)
    init_timeout_s: float = Field(30, gt=0)


def start_run(cfg: WandbConfig, *, name: str, group: str, job_type: str, config: dict[str, Any], run_dir: Path):
    """Start a W&B run, or return None when tracking is disabled. Its config always holds a `manifest`
    (core/manifest.py): the caller's (with the model, data and seeds) or, if it gave none, the process's.

    An online run that cannot start (no API key, no network, a server error) falls back to an offline run with one
    warning naming the reason and the `wandb sync` command; an offline run that cannot start is a DataError."""
    if not cfg.enabled:
        return None
    import wandb

    mode = cfg.mode or os.environ.get("WANDB_MODE") or "online"
    wandb_dir = Path(cfg.dir) if cfg.dir else run_dir
    ensure_writable_dir(wandb_dir, "wandb.dir")
    if "manifest" not in config:
        from culturelens.core.manifest import collect_manifest

        config = {**config, "manifest": collect_manifest().model_dump(mode="json")}

    def init(run_mode: str):
        return wandb.init(project=cfg.project, entity=cfg.entity, name=name, group=group, job_type=job_type, tags=cfg.tags,
                          config=config, dir=str(wandb_dir), mode=run_mode, reinit="finish_previous",  # type: ignore[arg-type]  # run_mode is online | offline | disabled
                          settings=wandb.Settings(init_timeout=cfg.init_timeout_s, silent=True))

    try:
        return init(mode)
    except Exception as exc:  # wandb raises UsageError, CommError, AuthenticationError, ... : all one story here
        reason = first_line(exc)
        if mode == "offline":
            raise DataError(f"W&B could not start an offline run in {wandb_dir} ({reason}): set wandb.dir to a writable "
                            "folder, or wandb.enabled=false") from None
    log.warning("W&B %s run could not start (%s): tracking offline in %s/wandb instead; upload it later with `wandb sync "
                "<that run folder>`", mode, reason, wandb_dir)
    try:
        return init("offline")
    except Exception as exc:
        raise DataError(f"W&B could not start an offline run in {wandb_dir} either ({first_line(exc)}): "
                        "set wandb.enabled=false") from None


def log_progress(run, *, done: int, total: int, cached: int, seconds: float, fresh: int) -> None:
    """Live progress of a long step (prompts done, prompts/s, cached), so a crashed run leaves how far it got."""
    if run is None:
        return
    run.log({"progress/prompts_done": done, "progress/prompts_total": total, "progress/cached": cached,
             "progress/prompts_per_s": fresh / seconds if seconds > 0 else 0.0, "progress/fraction": done / max(total, 1)})


def fail(run, exc: BaseException) -> None:
    """End a run that crashed (exit code 1, the error in its summary): W&B keeps the record of how far it got."""
    if run is None:
        return
    try:
        run.summary["error"] = first_line(exc)
        finish(run, exit_code=130 if isinstance(exc, KeyboardInterrupt) else 1)
    except Exception as inner:  # the crash is what the user must see, not a second W&B error
        log.warning("W&B run could not be closed after the error (%s)", first_line(inner))


def ci_columns(df):
    """Every column of CIs (``{"lo", "hi"}``, culturelens/core/ci.py) as two number columns <name>_lo, <name>_hi: a W&B
    table cell holds a number, not an object."""
    for col in [c for c in df.columns if any(isinstance(v, dict) and "lo" in v for v in df[c])]:
        cis = [v if isinstance(v, dict) else {} for v in df[col]]
        df = df.drop(columns=col).assign(**{f"{col}_lo": [c.get("lo") for c in cis], f"{col}_hi": [c.get("hi") for c in cis]})
    return df


def log_table(run, key: str, df) -> None:
    import wandb

    run.log({key: wandb.Table(dataframe=ci_columns(df).reset_index(drop=True))})


def log_images(run, paths: list[Path]) -> None:
    import wandb

    run.log({f"figures/{p.stem}": wandb.Image(str(p)) for p in paths if p.suffix == ".png"})


def run_folder(run) -> Path | None:
    """The local folder of a W&B run (…/wandb/offline-run-… or run-…): what `wandb sync` takes."""
    return Path(run.dir).parent if run is not None else None  # run.dir is <run folder>/files


def finish(run, exit_code: int = 0) -> Path | None:
    """Finish the run and return its local run folder (…/wandb/offline-run-… or run-…). W&B's `run.finish()` returns
    once the run's data is written (offline) or synced (online), so the folder is complete when this returns."""
    if run is None:
        return None
    run_path = Path(run.dir).parent  # run.dir is <run folder>/files
    run.finish(exit_code=exit_code)
    return run_path


def bar_chart(df, x: str, y: str, title: str):
    """A native W&B bar chart (`wandb.plot.bar`) of the columns x (labels) and y (heights) of a DataFrame."""
    import wandb

    return wandb.plot.bar(wandb.Table(dataframe=df[[x, y]].reset_index(drop=True)), x, y, title=title)


def active_run():
    """The W&B run this process has open (e.g. the one TRL's W&B callback started), or None."""
    import wandb

    return wandb.run


# ---------------------------------------------------------------------------------------------- lineage
#
# A stage that writes something another stage reads (synth -> a dataset, train -> an adapter) logs it as a W&B
# artifact and writes an ArtifactRef next to it (artifact.json, or inside culturelens_train.json); the stage that
# reads it finds the ref there and declares it as its input. Online this is W&B's own lineage (`run.use_artifact`).
# Offline, W&B refuses `use_artifact` ("Cannot use artifact when in offline mode"), so the input is declared in the
# run's config only (`lineage/<role>`: name, type, content digest): the digest equals the digest of the `artifact`
# record of the run that logged it, which is what ties the offline runs together (tests/wandb_log.py reads it back).

ARTIFACT_FILE = "artifact.json"


class ArtifactRef(StrictModel):
    name: str
    type: str  # "dataset" | "model"
    digest: str  # W&B's content digest of the artifact's manifest (the same offline and online)
    project: str
    entity: str | None = None
    version: str | None = None  # "v3" when logged online; unknown for offline runs until `wandb sync`
    run_id: str
    offline: bool

    @property
    def qualified(self) -> str | None:
        """entity/project/name:version, the name W&B resolves (None while the version is unknown)."""
        if not self.version:
            return None
        return f"{self.entity}/{self.project}/{self.name}:{self.version}" if self.entity else f"{self.project}/{self.name}:{self.version}"


def artifact_name(text: str) -> str:
    """A valid W&B artifact name (letters, digits, '-', '_', '.')."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "artifact"


def log_artifact(run, name: str, type_: str, paths: list[Path], metadata: dict) -> ArtifactRef | None:
    """Log files/folders as one artifact of this run; returns its ref (None when tracking is off)."""
    if run is None:
        return None
    import wandb

    art = wandb.Artifact(artifact_name(name), type=type_, metadata=metadata)
    for p in paths:
        if p.is_dir():
            art.add_dir(str(p), name=p.name)
        else:
            art.add_file(str(p))
    logged = run.log_artifact(art)
    version, entity = None, None
    if not run.offline:
        logged.wait()
        version, entity = logged.version, logged.entity
    return ArtifactRef(name=art.name, type=type_, digest=logged.digest, project=run.project, entity=entity, version=version,
                       run_id=run.id, offline=bool(run.offline))


def declare_input(run, ref: ArtifactRef | None, role: str) -> None:
    """Declare an artifact this run reads: `lineage/<role>` in the config, and W&B's use_artifact when online."""
    if run is None or ref is None:
        return
    run.config.update({f"lineage/{role}": ref.model_dump(mode="json")}, allow_val_change=True)
    if run.offline:
        return
    try:
        used = run.use_artifact(ref.qualified or f"{ref.name}:latest", type=ref.type)
    except Exception as exc:  # the producer was offline and not synced yet, or another project
        log.warning("could not declare W&B artifact %s as input (%s); it is recorded in the config as lineage/%s", ref.name, exc, role)
        return
    if used.digest != ref.digest:
        log.warning("W&B artifact %s:latest has another digest than the one this run read (%s)", ref.name, ref.digest)


def save_ref(ref: ArtifactRef | None, folder: Path) -> None:
    if ref is not None:
        (folder / ARTIFACT_FILE).write_text(ref.model_dump_json(indent=2))


TRAIN_FACTS_FILE = "culturelens_train.json"  # written by train into <out>/, <out>/adapter/ and <out>/merged/
ADAPTER_ARTIFACT_KEY, MERGED_ARTIFACT_KEY = "wandb_artifact", "wandb_merged_artifact"


def dataset_ref(path: str | Path) -> ArtifactRef | None:
    """The artifact a dataset came from: artifact.json in the dataset folder or next to it (synth's output folder)."""
    p = Path(path)
    for folder in ([p] if p.is_dir() else []) + [p.parent]:
        if (folder / ARTIFACT_FILE).exists():
            return ArtifactRef.model_validate_json((folder / ARTIFACT_FILE).read_text())
    return None


def model_ref(folder: str | Path, key: str = ADAPTER_ARTIFACT_KEY) -> ArtifactRef | None:
    """The model artifact of a trained folder: its own culturelens_train.json's `key` (an intermediate checkpoint-N
    folder has none, so it is never mistaken for the final adapter)."""
    import json

    facts = Path(folder) / TRAIN_FACTS_FILE
    if not facts.exists():
        return None
    data = json.loads(facts.read_text()).get(key)
    return ArtifactRef.model_validate(data) if data else None
