"""Loading causal LMs for probing: Hugging Face ids, local folders, .gguf files and embedded models, plus LoRA adapters.

`load_model(ModelConfig(...))` returns a `LoadedModel` (eval-mode model, left-padding tokenizer, a content
fingerprint for the result cache, whether to use the chat template, where it came from). Every user error becomes
a one-line `ModelLoadError` naming the path and the fix. LoRA adapters are checked and applied by `core.adapters`.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from culturelens.core.errors import ModelLoadError, first_line
from culturelens.core.hub import hub_offline, hub_reachable, is_hub_id

log = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
FINGERPRINT_SAMPLES = 256


class ModelConfig(BaseModel):
    """The model to load: a hub id, a local folder, a GGUF file or an embedded model, optionally with a LoRA adapter."""

    model_config = ConfigDict(extra="forbid")

    # Hugging Face hub id, local model folder, path to a .gguf file, or an embedded model name (culturelens.core.zoo).
    name_or_path: str
    adapter: str | None = None  # a peft LoRA adapter folder
    gguf_file: str | None = None  # a .gguf file name inside the folder / hub repo `name_or_path`
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = Field(
        "float32", description="weights dtype: float32 for reported numbers, bfloat16 for fast sweeps")
    device: str = "cpu"  # cpu, cuda, cuda:0, auto (cuda if available)
    revision: str | None = None  # hub branch / tag / commit
    trust_remote_code: bool = Field(False, description="allow the hub repo's own model code (transformers trust_remote_code)")
    chat: Literal["auto", True, False] = "auto"  # use the chat template (auto: if the tokenizer has one)
    label: str | None = None  # display name in reports


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    name: str
    fingerprint: str  # 16 hex chars, content based
    is_chat: bool
    source: str  # hub | local | gguf | embedded
    num_parameters: int  # base model parameters (LoRA excluded)


def _embedded_names() -> str:
    from culturelens.core import zoo

    return ", ".join(zoo.list_models())


def _fix_hint() -> str:
    return f"pass a Hugging Face id, a local model folder, a .gguf file or an embedded model name ({_embedded_names()})"


def torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "auto": "auto"}[name]


def resolve_device(device: str) -> str:
    import torch

    dev = (device or "cpu").strip().lower()
    if dev == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if dev.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelLoadError(f"device '{device}' requested but CUDA is not available (torch {torch.__version__}): set model.device to "
                                 "cpu or auto")
        return dev
    if dev == "mps" or dev == "cpu":
        return dev
    raise ModelLoadError(f"unknown device '{device}': use cpu, cuda, cuda:N or auto")


# ------------------------------------------------------------------------------------- resolution


@dataclass
class ModelSource:
    kind: str  # hub | local | gguf | embedded
    path: str  # folder or hub id passed to from_pretrained
    gguf_file: str | None
    name: str  # derived display name
    embedded: str | None = None


def resolve_source(cfg: ModelConfig, progress: bool = True) -> ModelSource:
    from culturelens.core import zoo

    raw = cfg.name_or_path.strip()
    if not raw:
        raise ModelLoadError(f"model.name_or_path is empty: {_fix_hint()}")

    if raw in zoo.REGISTRY:
        if cfg.gguf_file:
            raise ModelLoadError(f"gguf_file is not used with the embedded model '{raw}': remove model.gguf_file")
        folder = zoo.pull(raw, progress=progress)
        return ModelSource("embedded", str(folder), None, raw, embedded=raw)

    path = Path(raw).expanduser()
    if raw.lower().endswith(".gguf"):
        if cfg.gguf_file:
            raise ModelLoadError(f"model path '{raw}' is already a .gguf file: remove model.gguf_file")
        if not path.is_file():
            raise ModelLoadError(f"GGUF file '{raw}' does not exist: check the path, or {_fix_hint()}")
        return ModelSource("gguf", str(path.resolve().parent), path.name, path.stem)

    if path.exists():
        path = path.resolve()
        if path.is_file():
            raise ModelLoadError(f"model path '{raw}' is a file, not a model folder: pass the folder that holds config.json (or a .gguf "
                                 "file)")
        if cfg.gguf_file:
            if not (path / cfg.gguf_file).is_file():
                ggufs = sorted(p.name for p in path.glob("*.gguf"))
                raise ModelLoadError(f"GGUF file '{cfg.gguf_file}' is not in '{raw}': set model.gguf_file to one of "
                                     f"{ggufs or 'its .gguf files (none found)'}")
            return ModelSource("gguf", str(path), cfg.gguf_file, Path(cfg.gguf_file).stem)
        if not (path / "config.json").is_file():
            if (path / "adapter_config.json").is_file():
                raise ModelLoadError(f"'{raw}' is a LoRA adapter folder, not a model: pass it as model.adapter and its base model as "
                                     "model.name_or_path")
            ggufs = sorted(p.name for p in path.glob("*.gguf"))
            if ggufs:
                raise ModelLoadError(f"'{raw}' has no config.json but holds {ggufs}: pass the .gguf file path, or set model.gguf_file")
            raise ModelLoadError(f"'{raw}' is not a model folder (no config.json): pass the folder written by save_pretrained, or "
                                 f"{_fix_hint()}")
        if not any((path / f).is_file() for f in WEIGHT_FILES) and not list(path.glob("*.safetensors")):
            raise ModelLoadError(f"model folder '{raw}' has a config.json but no weights (model.safetensors / pytorch_model.bin): copy "
                                 "the weights into it or pass another folder")
        return ModelSource("local", str(path), None, path.name)

    if not is_hub_id(raw):
        raise ModelLoadError(f"model path '{raw}' does not exist: {_fix_hint()}")
    return ModelSource("gguf" if cfg.gguf_file else "hub", raw, cfg.gguf_file, raw)


# ------------------------------------------------------------------------------------------ loading


def _from_pretrained(src: ModelSource, cfg: ModelConfig, device: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    common: dict[str, Any] = {"trust_remote_code": cfg.trust_remote_code}
    if _is_remote(src):
        common["revision"] = cfg.revision
        # Offline (or the hub does not resolve): only the local Hugging Face cache, without minutes of retries.
        common["local_files_only"] = hub_offline() or not hub_reachable()
    else:
        common["local_files_only"] = True
    if src.gguf_file:
        common["gguf_file"] = src.gguf_file

    model_kwargs = dict(common, dtype=torch_dtype(cfg.dtype) if not (src.gguf_file and cfg.dtype == "auto") else torch_dtype("float32"))
    if device != "cpu" and not src.gguf_file:
        model_kwargs["device_map"] = device
    tok = AutoTokenizer.from_pretrained(src.path, **common)
    model = AutoModelForCausalLM.from_pretrained(src.path, **model_kwargs)
    return model, tok


def _is_remote(src: ModelSource) -> bool:
    return src.kind == "hub" or (src.kind == "gguf" and not Path(src.path).is_dir())


def _load_error(src: ModelSource, cfg: ModelConfig, e: Exception) -> ModelLoadError:
    why = first_line(e)
    shown = cfg.name_or_path
    if _is_remote(src):
        if hub_offline():
            return ModelLoadError(
                f"model '{shown}' is not in the local Hugging Face cache and HF_HUB_OFFLINE is set ({why}): "
                f"download it first (unset HF_HUB_OFFLINE, or `huggingface-cli download {shown}`), or pass a local folder / .gguf file / "
                f"embedded model name ({_embedded_names()})"
            )
        if not hub_reachable():
            return ModelLoadError(
                f"model path '{shown}' does not exist, and as a Hugging Face id it is not in the local cache while the hub is unreachable "
                "(no network): "
                f"{_fix_hint()}"
            )
        return ModelLoadError(
            f"could not load model '{shown}' from the Hugging Face hub ({why}): check the id, the network and your token "
            f"(gated models need `huggingface-cli login`), or {_fix_hint()}"
        )
    if src.gguf_file:
        return ModelLoadError(
            f"could not load GGUF file '{Path(src.path) / src.gguf_file}' ({why}): check that it is a complete, uncorrupted "
            f"GGUF of an architecture transformers supports (pip install -U transformers gguf)"
        )
    return ModelLoadError(
        f"could not load model folder '{src.path}' ({why}): check that it was written by save_pretrained and is not corrupt "
        f"(re-save or re-download it){'; set trust_remote_code: true for custom architectures' if not cfg.trust_remote_code else ''}"
    )


def prepare_tokenizer(tok) -> None:
    tok.padding_side = "left"
    if tok.pad_token is None:
        for cand in (tok.eos_token, tok.unk_token, tok.bos_token):
            if cand is not None:
                tok.pad_token = cand
                break
        else:
            tok.pad_token = tok.convert_ids_to_tokens(0)


def _base_names(cfg: ModelConfig, src: ModelSource) -> set[str]:
    """Every name the base model goes by: as given, its folder or hub id, its display name (and an embedded model's
    own name and hub id)."""
    names = {cfg.name_or_path, src.path, src.name}
    if src.embedded:
        from culturelens.core import zoo

        names |= {src.embedded, zoo.facts(src.embedded).hub_id}
    return names


def load_model(cfg: ModelConfig, progress: bool = True) -> LoadedModel:
    """Load the model described by `cfg` for scoring (eval mode, no gradients needed)."""
    device = resolve_device(cfg.device)
    src = resolve_source(cfg, progress=progress)
    try:
        model, tok = _from_pretrained(src, cfg, device)
    except ModelLoadError:
        raise
    except Exception as e:  # OSError, ValueError, safetensors / gguf / hub errors ...
        raise _load_error(src, cfg, e) from e

    if src.gguf_file:
        from culturelens.core.zoo import strip_quantizer

        strip_quantizer(model)
    _place(model, device)
    prepare_tokenizer(tok)
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tok.pad_token_id
    if getattr(model, "generation_config", None) is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id

    num_parameters = sum(p.numel() for p in model.parameters())
    hasher = _fingerprint_base(model, tok)

    name = cfg.label or src.name
    if cfg.adapter:
        from culturelens.core.adapters import apply_adapter

        model, adapter_state = apply_adapter(model, cfg.adapter, cfg.name_or_path, _base_names(cfg, src), src.path)
        _update_tensors(hasher, "adapter", adapter_state.items())
        if not cfg.label:
            from culturelens.core.adapters import adapter_name

            name = f"{src.name}+{adapter_name(cfg.adapter)}"
        _place(model, device)
    model.eval()

    if cfg.chat == "auto":
        is_chat = bool(tok.chat_template)
    elif cfg.chat:
        if not tok.chat_template:
            raise ModelLoadError(f"model.chat is true but the tokenizer of '{cfg.name_or_path}' has no chat template: set model.chat to "
                                 "false or auto")
        is_chat = True
    else:
        is_chat = False

    return LoadedModel(
        model=model, tokenizer=tok, name=name, fingerprint=hasher.hexdigest()[:16], is_chat=is_chat,
        source=src.kind, num_parameters=int(num_parameters),
    )


def _place(model, device: str) -> None:
    try:
        current = next(model.parameters()).device
    except StopIteration:  # pragma: no cover
        return
    if str(current) != device and not (device == "cuda" and current.type == "cuda") and not getattr(model, "hf_device_map", None):
        model.to(device)


# ------------------------------------------------------------------------------------- fingerprint


def _sample(t) -> bytes:
    import torch

    flat = t.detach().reshape(-1)
    n = flat.numel()
    if n == 0 or flat.device.type == "meta":
        return b""
    step = max(1, n // FINGERPRINT_SAMPLES)
    return flat[::step][:FINGERPRINT_SAMPLES].to("cpu", torch.float32).numpy().tobytes()


def _update_tensors(h, prefix: str, items) -> None:
    for name, t in sorted(items, key=lambda kv: kv[0]):
        h.update(f"{prefix}:{name}:{tuple(t.shape)}:{t.dtype}\n".encode())
        h.update(_sample(t))


def _fingerprint_base(model, tok):
    h = hashlib.sha256(b"culturelens-fingerprint-v1\n")
    _update_tensors(h, "param", model.named_parameters())
    template = tok.chat_template
    h.update(f"vocab:{len(tok)}\n".encode())
    h.update(("template:" + json.dumps(template, sort_keys=True) + "\n").encode())
    return h


def fingerprint(model, tokenizer, adapter_state: dict | None = None) -> str:
    """Content fingerprint (16 hex chars) of a base model + tokenizer (+ adapter tensors)."""
    h = _fingerprint_base(model, tokenizer)
    if adapter_state:
        _update_tensors(h, "adapter", adapter_state.items())
    return h.hexdigest()[:16]

