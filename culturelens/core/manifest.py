"""The reproducibility manifest: what produced a number, recorded next to it.

Every result culturelens writes carries one `Manifest` (summary.json -> manifest, the training facts, the config of
every W&B run): the culturelens version and git commit (with a dirty flag), Python and the versions of the packages
that shape a number, the platform and hardware, the command line, the model's hub commit and content fingerprint,
the sha256 of the data read (reference, question bank, datasets) and the seeds.

    from culturelens.core.manifest import collect_manifest, model_identity, sha256_text
    manifest = collect_manifest(model=model_identity(cfg.model, fingerprint=backend.fingerprint),
                                data={"reference": sha256_text(...)}, seeds={"seed": cfg.seed})
    summary["manifest"] = manifest.model_dump(mode="json")
    wandb config: {"manifest": manifest.model_dump(mode="json")}

Collecting never fails a run: a fact that cannot be read (no git, no GPU query) is recorded as None.
"""
from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import time
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

PACKAGES = ("torch", "transformers", "peft", "trl", "datasets", "wandb", "accelerate", "numpy", "scipy", "pandas")
REPO_ROOT = Path(__file__).resolve().parents[2]


class ModelIdentity(BaseModel):
    """Which weights were used: the name given, the hub commit (hub models), a content fingerprint (every model)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name_or_path: str
    revision: str | None = None  # as asked (branch, tag or commit)
    hub_commit: str | None = None  # the commit the hub revision resolved to (None for local folders)
    adapter: str | None = None
    adapter_hub_commit: str | None = None
    fingerprint: str | None = None  # culturelens' content fingerprint of the weights + tokenizer (+ adapter)


class GitState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    commit: str | None = None
    dirty: bool | None = None  # uncommitted changes to tracked files when the run started


class Hardware(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: str
    machine: str
    cpu: str | None = None
    cpu_count: int | None = None
    gpus: list[str] = []
    torch_threads: int | None = None
    load_average: list[float] | None = None  # 1, 5 and 15-minute load average when the run started (wall times need it)


class Manifest(BaseModel):
    """summary.json -> manifest (and the training facts, and every W&B run's config under `manifest`)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    culturelens: str
    git: GitState = GitState()
    python: str
    packages: dict[str, str | None] = {}
    hardware: Hardware
    command: list[str] = []
    started_at: str
    model: ModelIdentity | None = None
    models: dict[str, ModelIdentity] = {}  # several models (a teacher and a student, claims' model list)
    data: dict[str, str] = {}  # sha256 of each data input: reference, question bank, dataset files...
    seeds: dict[str, int] = {}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))


def sha256_path(path: str | Path) -> str | None:
    """sha256 of a file, or of a folder's files (relative names and contents, sorted); None if it does not exist."""
    p = Path(path).expanduser()
    if p.is_file():
        h = hashlib.sha256()
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    if p.is_dir():
        h = hashlib.sha256()
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            h.update(str(f.relative_to(p)).encode() + b"\0" + (sha256_path(f) or "").encode() + b"\n")
        return h.hexdigest()
    return None


@lru_cache(maxsize=1)
def git_state() -> GitState:
    """The commit of the culturelens checkout and whether tracked files changed (None outside a git checkout)."""
    if not (REPO_ROOT / ".git").exists():
        return GitState()

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return GitState(commit=commit, dirty=None if status is None else bool(status))


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _cpu_name() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def hardware() -> Hardware:
    gpus: list[str] = []
    threads = None
    if "torch" in sys.modules:  # never import torch only to describe the machine
        torch = sys.modules["torch"]
        try:
            threads = torch.get_num_threads()
            if torch.cuda.is_available():
                gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        except Exception:  # a broken CUDA setup must not fail the run it describes
            gpus = []
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not available on this platform
        load = None
    return Hardware(platform=platform.platform(), machine=platform.machine(), cpu=_cpu_name(), cpu_count=os.cpu_count(),
                    gpus=gpus, torch_threads=threads, load_average=load)


def _hub_commit(repo: str, revision: str | None) -> str | None:
    """The commit a hub repo id + revision resolves to in the local HF cache (no network); None if not cached."""
    if revision and len(revision) == 40 and all(c in "0123456789abcdef" for c in revision.lower()):
        return revision.lower()
    if Path(repo).expanduser().exists():
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(repo, "config.json", revision=revision)
    except Exception:  # not a repo id, or a broken cache: the commit is unknown
        return None
    if isinstance(hit, str) and "/snapshots/" in hit:
        return hit.split("/snapshots/", 1)[1].split("/", 1)[0]
    return None


def model_identity(model: Any, fingerprint: str | None = None) -> ModelIdentity:
    """A ModelConfig (name_or_path, revision, adapter) as a `ModelIdentity`."""
    name, revision, adapter = model.name_or_path, getattr(model, "revision", None), getattr(model, "adapter", None)
    return ModelIdentity(name_or_path=name, revision=revision, hub_commit=_hub_commit(name, revision), adapter=adapter,
                         adapter_hub_commit=_hub_commit(adapter, None) if adapter else None, fingerprint=fingerprint)


def collect_manifest(*, model: ModelIdentity | None = None, models: dict[str, ModelIdentity] | None = None,
                     data: dict[str, str | None] | None = None, seeds: dict[str, int | None] | None = None,
                     command: list[str] | None = None) -> Manifest:
    """The manifest of the process running now (see the module docstring)."""
    from culturelens import __version__

    return Manifest(
        culturelens=__version__, git=git_state(), python=platform.python_version(), packages=package_versions(),
        hardware=hardware(), command=list(sys.argv if command is None else command),
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), model=model, models=models or {},
        data={k: v for k, v in (data or {}).items() if v}, seeds={k: int(v) for k, v in (seeds or {}).items() if v is not None},
    )


def input_hashes(reference: str | None = "default", questions_file: str | None = None,
                 countries_file: str | None = None) -> dict[str, str | None]:
    """sha256 of the data an eval-like run reads: the reference (the embedded default's file, or the user's file or
    folder), the question bank (embedded, plus questions_file) and a countries file."""
    from importlib import resources

    data_dir = Path(str(resources.files("culturelens.core") / "data"))
    ref = data_dir / "reference_default.json" if reference in (None, "default") else Path(reference)
    bank = sha256_path(data_dir / "questions.json")
    if questions_file:
        bank = sha256_text(f"{bank}+{sha256_path(questions_file)}")
    return {"reference": sha256_path(ref), "question_bank": bank,
            "countries_file": sha256_path(countries_file) if countries_file else None}
