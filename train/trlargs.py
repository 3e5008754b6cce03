"""The `train:` section of a training config: any field of TRL's `SFTConfig` / `DPOConfig`, as TRL writes it.

The section is a pydantic model built from the installed TRL's dataclass (its fields, types and defaults), so a
field TRL adds is usable at once, a typo is an error with "did you mean", and the resolved config (every value
the trainer will see) is what `config.yaml` records. culturelens changes a few defaults for LoRA on small data
(`COMMON_DEFAULTS`), reads older key names (`LEGACY_NAMES`: culturelens' own, and transformers' deprecated
`gradient_checkpointing*`, which are not fields of the section), and sets the fields it owns itself
(`OWNED`: the output folder, run name, W&B reporting and resuming come from the top level of the config).
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar

from pydantic import ConfigDict, Field, TypeAdapter, create_model, model_validator

from culturelens.core.config import StrictModel
from culturelens.core.legacy import move_legacy_key


def _trl_classes():
    from trl import DPOConfig, SFTConfig

    return SFTConfig, DPOConfig


_SFT, _DPO = _trl_classes()

# transformers 5.25 renamed gradient_checkpointing(_kwargs) to activation_checkpointing(_kwargs) and warns
# (FutureWarning) whenever the old name is set and the new one is not; TRL's configs set the old name by default (True),
# so culturelens sets the new name (its default, False) and moves a config's old key to it
_NEW_CHECKPOINTING = "activation_checkpointing" in {f.name for f in dataclasses.fields(_SFT)}
CHECKPOINTING = "activation_checkpointing" if _NEW_CHECKPOINTING else "gradient_checkpointing"

# older names -> TRL's names (configs written before the passthrough, or before transformers' renames, keep working)
LEGACY_NAMES = {"epochs": "num_train_epochs", "per_device_batch_size": "per_device_train_batch_size",
                "warmup_ratio": "warmup_steps",
                **({"gradient_checkpointing": "activation_checkpointing",
                    "gradient_checkpointing_kwargs": "activation_checkpointing_kwargs"} if _NEW_CHECKPOINTING else {})}
# deprecated aliases left out of the section (LEGACY_NAMES moves them to their new names)
ALIASES = {"gradient_checkpointing", "gradient_checkpointing_kwargs"} if _NEW_CHECKPOINTING else set()

# fields culturelens sets from the rest of the config: where to set them instead
OWNED = {
    "output_dir": "output_dir (top level of the config)",
    "run_name": "run_name (top level)",
    "report_to": "wandb.enabled (W&B is the only reporter culturelens starts)",
    "resume_from_checkpoint": "resume (top level; the last complete checkpoint in output_dir is used)",
    "local_rank": "accelerate launch (it sets the rank)",
    "hub_token": "the HF_TOKEN environment variable (a token does not belong in a config file)",
    "parallelism_config": "an accelerate config file (configs/accelerate/)",
}

# value ranges TRL / transformers only check deep inside training (a traceback after the model loaded), or never:
# field -> (lowest, whether the lowest is allowed, highest or None); None values (TRL's "unset") pass.
# (num_train_epochs and max_steps depend on each other: SFTRunConfig checks them together.)
RANGES: dict[str, tuple[float, bool, float | None]] = {
    "seed": (0, True, 2**32 - 1), "data_seed": (0, True, 2**32 - 1), "learning_rate": (0, False, None),
    "per_device_train_batch_size": (1, True, None),
    "per_device_eval_batch_size": (1, True, None), "gradient_accumulation_steps": (1, True, None),
    "eval_accumulation_steps": (1, True, None), "max_length": (1, True, None), "max_prompt_length": (1, True, None),
    "max_completion_length": (1, True, None), "logging_steps": (0, False, None), "save_steps": (0, False, None),
    "eval_steps": (0, False, None), "warmup_steps": (0, True, None), "weight_decay": (0, True, None),
    "max_grad_norm": (0, True, None), "adam_epsilon": (0, False, None), "adam_beta1": (0, True, 1), "adam_beta2": (0, True, 1),
    "dataloader_num_workers": (0, True, None), "beta": (0, False, None),
}


def out_of_range(name: str, value: Any) -> str | None:
    """Why `value` is not a valid train.<name> (RANGES), or None."""
    if name not in RANGES or value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    lo, lo_ok, hi = RANGES[name]
    if (value < lo if lo_ok else value <= lo) or (hi is not None and value > hi):
        rule = (f">= {lo}" if lo_ok else f"> {lo}") + (f" and <= {hi}" if hi is not None else "")
        return f"train.{name} must be {rule} (got {value})"
    return None


# LoRA on a few hundred rows on CPU: defaults that differ from TRL's (which assume full fine-tuning on a GPU)
COMMON_DEFAULTS: dict[str, Any] = {
    "num_train_epochs": 1.0, "per_device_train_batch_size": 4, "max_length": 512, "logging_steps": 5, "save_steps": 50,
    "save_total_limit": 2, "seed": 0, "bf16": False, CHECKPOINTING: False, "dataloader_num_workers": 0,
    "save_only_model": False,
}
SFT_DEFAULTS: dict[str, Any] = {**COMMON_DEFAULTS, "learning_rate": 2e-4, "completion_only_loss": True}
DPO_DEFAULTS: dict[str, Any] = {**COMMON_DEFAULTS, "learning_rate": 5e-5}


class TRLArgs(StrictModel):
    """Base of the generated `train:` sections; `trl_kwargs()` gives the keyword arguments of the TRL config."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), arbitrary_types_allowed=True)
    trl_class: ClassVar[type]
    keys_doc: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _legacy_and_owned(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key, where in OWNED.items():
            if key in data:
                raise ValueError(f"train.{key} is set by culturelens: set it with {where}")
        value = data.get("warmup_ratio")
        if isinstance(value, (int, float)) and not 0 <= value < 1:
            raise ValueError(f"train.warmup_ratio must be in [0, 1) (got {value}): a fraction of the steps, "
                             "or write train.warmup_steps=N for N steps")
        for old, new in LEGACY_NAMES.items():
            move_legacy_key(data, old, data, new, f"train.{old}", f"train.{new}")
        return data

    @model_validator(mode="after")
    def _ranges(self) -> TRLArgs:
        for name in RANGES:
            problem = out_of_range(name, getattr(self, name, None))
            if problem:
                raise ValueError(problem)
        return self

    def trl_kwargs(self) -> dict[str, Any]:
        """What the user set plus culturelens' defaults: everything else stays TRL's own default."""
        defaults = SFT_DEFAULTS if self.trl_class.__name__ == "SFTConfig" else DPO_DEFAULTS
        names = set(defaults) | set(self.model_fields_set)
        return {name: getattr(self, name) for name in type(self).model_fields if name in names}


def _field_type(tp: Any) -> Any:
    try:
        TypeAdapter(tp)
    except Exception:  # a type pydantic cannot check (an accelerate object): TRL checks it in __post_init__
        return Any
    return tp


def trl_args_model(trl_class: type, name: str, defaults: dict[str, Any]) -> type[TRLArgs]:
    """A pydantic model of `trl_class`'s fields (minus OWNED), with culturelens' `defaults` over TRL's."""
    hints = typing.get_type_hints(trl_class)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(trl_class):
        if not f.init or f.name in OWNED or f.name in ALIASES or f.name.startswith("_"):
            continue
        help_text = " ".join(str(f.metadata.get("help", "")).split())
        about = help_text.split(". ")[0].rstrip(".")[:160]  # TRL's help, first sentence
        if f.name in defaults:
            about = f"{about} (culturelens default; TRL's: {f.default!r})" if f.default is not dataclasses.MISSING else about
            field = Field(defaults[f.name], description=about)
        elif f.default is not dataclasses.MISSING:
            field = Field(f.default, description=about)
        elif f.default_factory is not dataclasses.MISSING:
            field = Field(default_factory=f.default_factory, description=about)
        else:
            continue
        fields[f.name] = (_field_type(hints[f.name]), field)
    model = create_model(name, __base__=TRLArgs, __doc__=f"Any field of trl.{trl_class.__name__}", **fields)
    model.trl_class = trl_class
    model.keys_doc = (f"any field of trl.{trl_class.__name__} ({len(fields)} keys; see docs/training.md), e.g. "
                      "learning_rate, lr_scheduler_type, weight_decay, optim, eval_strategy, packing")
    return model


SFTArgs = trl_args_model(_SFT, "SFTArgs", SFT_DEFAULTS)
DPOArgs = trl_args_model(_DPO, "DPOArgs", DPO_DEFAULTS)

__all__ = ["DPOArgs", "LEGACY_NAMES", "OWNED", "RANGES", "SFTArgs", "TRLArgs", "move_legacy_key"]
