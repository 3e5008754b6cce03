"""LoRA adapters on a loaded base model: read the adapter folder, check that its tensors fit the base (a clear
ModelLoadError naming the matching base otherwise), apply it with peft, and warn when it names another base."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from culturelens.core.errors import ModelLoadError, first_line
from culturelens.core.hub import fetch_hub_folder, is_hub_id
from culturelens.core.upstream_warnings import upstream_deprecations_silenced

log = logging.getLogger(__name__)

ADAPTER_WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


def adapter_folder(adapter: str) -> Path:
    """The local folder of `adapter`: the path itself, or (an owner/name that is no local path) its hub snapshot."""
    path = Path(adapter).expanduser()
    if not path.exists() and is_hub_id(adapter):
        return fetch_hub_folder(adapter, "adapter")
    return path


def adapter_name(adapter: str) -> str:
    """The adapter's part of a default run name: from its training facts (culturelens_train.json: the training's
    run name, else its stage), so SFT and DPO adapters saved as <out>/adapter get distinct names; else the folder name."""
    from culturelens.core.tracking import TRAIN_FACTS_FILE

    path = Path(adapter).expanduser()
    try:
        facts = json.loads((path / TRAIN_FACTS_FILE).read_text())
    except (OSError, ValueError):
        facts = {}
    named = facts.get("run_name") or facts.get("stage") if isinstance(facts, dict) else None
    return str(named) if named else path.resolve().name


def _read_adapter(adapter: str) -> tuple[Path, dict, dict]:
    path = adapter_folder(adapter)
    if not path.exists():
        raise ModelLoadError(f"adapter path '{adapter}' does not exist: pass a folder written by peft's save_pretrained (with "
                             "adapter_config.json)")
    if not path.is_dir() or not (path / "adapter_config.json").is_file():
        raise ModelLoadError(f"'{adapter}' is not a peft adapter folder (no adapter_config.json): pass the folder written by peft's "
                             "save_pretrained")
    try:
        conf = json.loads((path / "adapter_config.json").read_text())
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"adapter config '{path / 'adapter_config.json'}' is unreadable ({first_line(e)}): "
                             "re-save the adapter") from None
    weights = next((path / f for f in ADAPTER_WEIGHT_FILES if (path / f).is_file()), None)
    if weights is None:
        raise ModelLoadError(f"adapter folder '{adapter}' has no adapter_model.safetensors: re-save the adapter with peft")
    try:
        if weights.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(weights))
        else:
            import torch

            state = torch.load(str(weights), map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelLoadError(f"adapter weights '{weights}' are corrupt ({first_line(e)}): re-save the adapter") from None
    return path, conf, state


def _io_features(module) -> tuple[int, int] | None:
    """(in_features, out_features) of a layer LoRA can wrap, or None when unknown."""
    import torch.nn as nn

    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    if isinstance(module, nn.Embedding):
        return module.num_embeddings, module.embedding_dim
    if hasattr(module, "nf") and hasattr(module, "weight"):  # transformers Conv1D (GPT-2 style)
        return module.weight.shape[0], module.nf
    return None


def _adapter_mismatch(model, state: dict) -> str | None:
    """Why the adapter tensors cannot sit on this model (missing module / shape mismatch), or None if they fit."""
    for key, t in state.items():
        name = key.removeprefix("base_model.model.")
        for marker, kind in ((".lora_A.", "A"), (".lora_B.", "B"), (".lora_embedding_A", "EA"),  # noqa: B007 (used after break)
                             (".lora_embedding_B", "EB")):
            if marker in name:
                mod_name = name.split(marker)[0]
                break
        else:
            continue
        try:
            module = model.get_submodule(mod_name)
        except AttributeError:
            return f"module {mod_name} not in the base model"
        io = _io_features(module)
        if io is None or t.dim() != 2:
            continue
        fin, fout = io
        ok = {
            "A": t.shape[1] == fin,  # lora_A.weight: [r, in]
            "B": t.shape[0] == fout,  # lora_B.weight: [out, r]
            "EA": t.shape[1] == fin,  # lora_embedding_A: [r, num_embeddings]
            "EB": t.shape[0] == fout,  # lora_embedding_B: [embedding_dim, r]
        }[kind]
        if not ok:
            return f"{key} has shape {tuple(t.shape)} but {mod_name} is {fin}->{fout}"
    return None


def _same_base(adapter_base: str | None, base_names: Iterable[str], base_path: str) -> bool:
    if not adapter_base:
        return True
    names = {str(c).rstrip("/").lower() for c in base_names} | {Path(str(c)).name.lower() for c in base_names}
    base = adapter_base.rstrip("/")
    if base.lower() in names or Path(base).name.lower() in names:
        return True
    try:
        return Path(base).expanduser().exists() and Path(base).expanduser().resolve() == Path(base_path).resolve()
    except OSError:
        return False


def apply_adapter(model, adapter: str, base: str, base_names: Iterable[str], base_path: str):
    """The peft model with the adapter folder `adapter` applied to `model`, and the adapter's tensors (for the
    fingerprint). `base` is the base as the user named it; `base_names` every name it goes by (hub id, folder,
    display name) and `base_path` its folder, to tell whether the adapter was trained on it."""
    path, conf, state = _read_adapter(adapter)
    adapter_base = conf.get("base_model_name_or_path")
    shown_base = adapter_base or "an unknown base"
    mismatch = _adapter_mismatch(model, state)
    if mismatch:
        raise ModelLoadError(
            f"adapter '{adapter}' was trained on base '{shown_base}', not '{base}' ({mismatch}): pass the matching base "
            "as model.name_or_path"
        )
    try:
        from peft import PeftModel

        with upstream_deprecations_silenced():
            peft_model = PeftModel.from_pretrained(model, str(path), is_trainable=False)
    except ModelLoadError:
        raise
    except (ValueError, RuntimeError, KeyError) as e:
        raise ModelLoadError(
            f"adapter '{adapter}' was trained on base '{shown_base}', not '{base}' ({first_line(e)}): pass the matching "
            "base as model.name_or_path"
        ) from e
    except Exception as e:
        raise ModelLoadError(f"could not load adapter '{adapter}' ({first_line(e)}): "
                             "check that it is a peft LoRA adapter folder") from e
    if not _same_base(adapter_base, set(base_names), base_path):
        log.warning(
            "adapter '%s' was trained on base '%s' but is loaded on '%s'; the shapes fit, so it is applied anyway",
            adapter, adapter_base, base,
        )
    return peft_model, state
