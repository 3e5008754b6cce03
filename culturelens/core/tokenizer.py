"""The tokenizer of a model without its weights: for rendering prompts exactly as the probe would (chat template or not).

Used where prompts are written out for another program (the Hugging Face dataset export, the lm-evaluation-harness
task): the same model sources as `culturelens.core.models.load_model` (hub id, local folder, .gguf, embedded name)
and the same chat decision (`model.chat: auto` = use the chat template when the tokenizer has one).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from culturelens.core.errors import ModelLoadError, first_line
from culturelens.core.models import ModelConfig, prepare_tokenizer, resolve_source


@dataclass
class TokenizerInfo:
    tokenizer: Any
    is_chat: bool
    name: str  # display name of the model (label, embedded name or folder/hub id)
    path: str  # what from_pretrained was given (a folder for embedded and local models)


def load_tokenizer(cfg: ModelConfig) -> TokenizerInfo:
    """The model's tokenizer (left padding, a pad token, as the probe sets it up) and whether prompts use its chat template."""
    from transformers import AutoTokenizer

    src = resolve_source(cfg)
    kwargs: dict[str, Any] = {"trust_remote_code": cfg.trust_remote_code}
    if src.kind in ("hub", "gguf"):
        kwargs["revision"] = cfg.revision
    if src.gguf_file:
        kwargs["gguf_file"] = src.gguf_file
    try:
        tok = AutoTokenizer.from_pretrained(src.path, **kwargs)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"could not load the tokenizer of '{cfg.name_or_path}' ({first_line(e, limit=200)}): "
                             "pass a model folder or hub id that has tokenizer files") from e
    prepare_tokenizer(tok)
    if cfg.chat is True and not tok.chat_template:
        raise ModelLoadError(f"model.chat is true but the tokenizer of '{cfg.name_or_path}' has no chat template: "
                             "set model.chat to false or auto")
    is_chat = bool(tok.chat_template) if cfg.chat == "auto" else bool(cfg.chat)
    return TokenizerInfo(tokenizer=tok, is_chat=is_chat, name=cfg.label or src.name, path=src.path)
