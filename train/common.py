"""What SFT and DPO share: the dataset (local or hub, with its eval split), loading the model for training,
checking LoRA targets, the TRL arguments, a lock on the output folder, W&B, resuming from the last complete
checkpoint, and saving (rank 0 alone under `accelerate launch`)."""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import torch

from culturelens.core.config import dump_config
from culturelens.core.errors import ConfigError, DataError, first_line
from culturelens.core.folderlock import FolderLock
from culturelens.core.hub import is_hub_id
from culturelens.core.models import ModelConfig, load_model
from culturelens.train.datachecks import check_json_file

log = logging.getLogger(__name__)
LOCK_FILE = ".culturelens-train.lock"


def output_dir(cfg) -> Path:
    return Path(cfg.output_dir or Path("runs") / "train" / cfg.experiment / cfg.run_name)


def is_main_process() -> bool:
    """Rank 0 of an `accelerate launch` / torchrun job (read from the launcher's environment), or a plain run."""
    return int(os.environ.get("RANK", "0")) == 0


def lock_output(out: Path) -> FolderLock | None:
    """Rank 0 holds a lock on `out` for the whole training: a second training into the same folder stops at once."""
    if not is_main_process():
        return None
    return FolderLock(out / LOCK_FILE, f"another training is writing to '{out}' right now: wait for it to finish, or set "
                                       "output_dir (or run_name) to another folder").acquire()


# ------------------------------------------------------------------------------------------- data


EMPTY_FIX = "loosen the synth filters or add seed questions/countries"


def _load_saved(p: Path):
    """load_from_disk, where a saved split of 0 rows (which datasets cannot read back: IndexError) is left out; an
    empty train split is a DataError."""
    from datasets import DatasetDict, load_from_disk

    try:
        return load_from_disk(str(p))
    except IndexError:
        pass
    splits = []
    if (p / "dataset_dict.json").is_file():
        splits = json.loads((p / "dataset_dict.json").read_text()).get("splits", [])
    parts = {}
    for split in splits:
        try:
            parts[split] = load_from_disk(str(p / split))
        except IndexError:
            log.warning("dataset '%s': split '%s' has no rows", p, split)
    if not splits or ("train" in splits and "train" not in parts):
        raise DataError(f"dataset '{p}' has no training rows (its train split is empty): {EMPTY_FIX}")
    return DatasetDict(parts)


def _load_local_dir(p: Path):
    from datasets import load_dataset

    saved = (p / "dataset_info.json").is_file() or (p / "dataset_dict.json").is_file() or (p / "state.json").is_file()
    try:
        if saved:
            return _load_saved(p)
        if any(f.is_file() and not f.name.startswith(".") for f in p.rglob("*")):
            return load_dataset(str(p))  # a folder of data files (jsonl / parquet / csv), read as the hub would
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise DataError(f"dataset folder '{p}' is not a saved dataset ({first_line(exc, limit=100, with_type=False)}): point `dataset` "
                        "at a folder written by `culturelens synth` (e.g. <synth out>/sft) or at a .jsonl") from None
    raise DataError(f"dataset folder '{p}' is not a saved dataset (it holds no data files): point `dataset` at a folder written by "
                    "`culturelens synth` (e.g. <synth out>/sft) or at a .jsonl")


def _load_hub(name: str):
    from datasets import load_dataset

    quiet = [logging.getLogger(n) for n in ("huggingface_hub", "datasets", "httpx", "urllib3")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:  # a failed hub lookup is reported below in one line, not as the libraries' retry tracebacks
        lg.setLevel(logging.CRITICAL)
    try:
        return load_dataset(name)
    except Exception as exc:  # offline, unknown id, gated: one line either way
        raise DataError(f"dataset '{name}' is not a local path and could not be loaded from the Hugging Face hub "
                        f"({first_line(exc, limit=120)}): run `culturelens synth` "
                        "first, or point `dataset` at a folder, a .jsonl or a reachable hub dataset id") from None
    finally:
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)


def _raw_dataset(path: str):
    from datasets import load_dataset

    p = Path(path).expanduser()
    if p.is_dir():
        return _load_local_dir(p)
    if p.exists():
        if p.stat().st_size == 0:
            raise DataError(f"dataset '{p}' is empty: {EMPTY_FIX}")
        check_json_file(p)
        return load_dataset("json", data_files=str(p))
    if is_hub_id(path):
        return _load_hub(path)
    raise DataError(f"dataset '{p}' does not exist: run `culturelens synth` first or point `dataset` at a folder, a .jsonl "
                    "or a hub dataset id (owner/name)")


def load_dataset_any(path: str, required: list[str], eval_split: str | float | None = None, seed: int = 0):
    """(train rows, eval rows or None) from a save_to_disk folder, a .jsonl/.json file, a folder of data files or
    a hub dataset id; `eval_split` names a split of the dataset or holds out a fraction of the rows."""
    from datasets import Dataset, DatasetDict

    raw = _raw_dataset(path)
    evaluation = None
    if isinstance(raw, DatasetDict):
        splits = list(raw)
        if "train" not in raw:
            raise DataError(f"dataset '{path}' has the split(s) {', '.join(splits) or 'none'} but no `train` split: save the "
                            "training rows as the `train` split (DatasetDict({'train': ...})) or save a single Dataset")
        if isinstance(eval_split, str):
            if eval_split not in raw:
                raise DataError(f"eval_split '{eval_split}' is not a split of dataset '{path}' (it has: {', '.join(splits)}): "
                                "name one of them, or give a fraction such as eval_split=0.1")
            evaluation = raw[eval_split]
        ds = raw["train"]
    else:
        ds = raw
        if isinstance(eval_split, str):
            raise DataError(f"eval_split '{eval_split}' names a split, but dataset '{path}' has one set of rows: give a fraction "
                            "such as eval_split=0.1, or save a DatasetDict with that split")
    assert isinstance(ds, Dataset)
    missing = [c for c in required if c not in ds.column_names]
    if missing:
        raise DataError(f"dataset '{path}' has no column(s) {', '.join(missing)} (it has: {', '.join(ds.column_names)}); "
                        f"this stage needs {', '.join(required)}")
    if len(ds) == 0:
        raise DataError(f"dataset '{path}' has no training rows (its train split is empty): {EMPTY_FIX}")
    if isinstance(eval_split, float):
        n_eval = round(len(ds) * eval_split)
        if n_eval < 1 or n_eval >= len(ds):
            raise DataError(f"eval_split={eval_split} of {len(ds)} rows leaves {n_eval} eval rows and {len(ds) - n_eval} train rows: "
                            "choose a fraction that leaves at least one row on each side, or more data")
        parts = ds.train_test_split(test_size=n_eval, seed=seed)
        ds, evaluation = parts["train"], parts["test"]
    if evaluation is not None:
        gone = [c for c in required if c not in evaluation.column_names]
        if gone or len(evaluation) == 0:
            raise DataError(f"eval split '{eval_split}' of dataset '{path}' is empty or lacks {', '.join(gone) or 'rows'}: "
                            "fix the split or drop eval_split")
    return ds, evaluation


def keep_columns(ds, keep: list[str]):
    return None if ds is None else ds.remove_columns([c for c in ds.column_names if c not in keep])


# ------------------------------------------------------------------------------------------- model


def linear_module_names(model) -> list[str]:
    return sorted({name.split(".")[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)})


def check_targets(model, targets) -> None:
    if targets == "all-linear":
        return
    names = set(linear_module_names(model))
    missing = [t for t in targets if t not in names]
    if len(missing) == len(targets):
        raise ConfigError(f"LoRA target modules {targets} match nothing in this model; its linear modules are: {', '.join(sorted(names))}")
    if missing:
        raise ConfigError(f"LoRA target modules {missing} match nothing in this model; its linear modules are: {', '.join(sorted(names))}")


def load_for_training(model_cfg: ModelConfig, adapter: str | None = None, trainable_adapter: bool = False):
    """Base model (fp32 unless configured) + tokenizer; with `adapter` (a folder or hub id), the LoRA adapter is
    loaded (and checked against the base by culturelens.core.models) and made trainable when `trainable_adapter`."""
    cfg = model_cfg.model_copy(update={"adapter": adapter})
    lm = load_model(cfg)
    model, tok = lm.model, lm.tokenizer
    tok.padding_side = "right"
    if adapter and trainable_adapter:
        for name, p in model.named_parameters():
            p.requires_grad = "lora_" in name
    model.train()
    return lm, model, tok


def load_policy(cfg, continue_adapter: str | None):
    """The model to train: the base (cfg.model without its adapter) with a new LoRA (its peft config returned for the
    trainer), or, with `continue_adapter`, that trained adapter made trainable again (peft config None)."""
    base = cfg.model.model_copy(update={"adapter": None})
    if continue_adapter:
        lm, model, tok = load_for_training(base, adapter=continue_adapter, trainable_adapter=True)
        return lm, model, tok, None
    lm, model, tok = load_for_training(base)
    check_targets(model, cfg.lora.target_modules)
    return lm, model, tok, lora_config(cfg)


def lora_config(cfg):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=cfg.lora.target_modules, task_type="CAUSAL_LM")


def score_labelled_positions_only() -> None:
    """Make TRL's fused LM head score only the positions that have a label, on CPU as it does on CUDA.

    SFTTrainer and DPOTrainer (TRL 1.16) patch the model with `trl.trainer.utils.add_fused_lm_head`: the LM head
    projection (49,152 logits per position on SmolLM2), its log-softmax, TRL's entropy and top-1 metrics and their
    backward. With Triton (CUDA) only the positions whose next-token label is not -100 go through it; elsewhere every
    position does and the unlabelled ones are zeroed afterwards (fixed shapes for compilers such as Neuron's). Under the
    completion-only loss that is the whole prompt: about 30 % of an SFT step's CPU time on SmolLM2 for positions the
    loss multiplies by zero. The per-position results do not depend on which other positions are scored, so the loss
    and the gradients are the same (tests/test_train.py compares both ways); only the torch fold on CPU changes its
    input rows, the Triton kernel choice (`trl.kernels.chunked_logprob`) is left alone. Idempotent; without the hook
    (another TRL) nothing changes and the test that counts the scored rows fails.
    """
    import trl.trainer.utils as tu

    current = getattr(tu, "_use_triton", None)
    if current is None or getattr(current, "culturelens_compact", False):
        return

    def compact(device) -> bool:
        return device.type == "cpu" or current(device)

    compact.culturelens_compact = True  # type: ignore[attr-defined]
    compact.culturelens_original = current  # type: ignore[attr-defined]
    tu._use_triton = compact


# ------------------------------------------------------------------------------------------- TRL arguments and tracking


def trl_args(cfg, out: Path, report_to: list[str], has_eval: bool) -> dict:
    """Keyword arguments of TRL's SFTConfig / DPOConfig: the `train:` section as written (plus culturelens' defaults)
    and the fields culturelens owns."""
    kw = cfg.train.trl_kwargs()
    kw.update(output_dir=str(out), run_name=f"{cfg.experiment}/{cfg.run_name}", report_to=report_to)
    if "use_cpu" not in cfg.train.model_fields_set:
        kw["use_cpu"] = not torch.cuda.is_available()
    if has_eval and "eval_strategy" not in cfg.train.model_fields_set:
        kw["eval_strategy"] = "steps"  # the eval split's loss at every checkpoint (and once at the end)
        kw.setdefault("eval_steps", kw.get("save_steps", cfg.train.save_steps))
    return kw


def training_manifest(cfg, lm):
    """The reproducibility manifest of this training (core.manifest): versions, git, hardware, command line, the base
    model's hub commit and content fingerprint (and the SFT adapter DPO starts from), the dataset's sha256, seeds."""
    from culturelens.core.manifest import collect_manifest, model_identity, sha256_path

    model = cfg.model.model_copy(update={"adapter": getattr(cfg, "sft_adapter", None) or getattr(cfg, "init_adapter", None)})
    return collect_manifest(model=model_identity(model, fingerprint=lm.fingerprint), data={"dataset": sha256_path(cfg.dataset)},
                            seeds={"seed": cfg.train.seed, "data_seed": cfg.train.data_seed})


def setup_tracking(cfg, out: Path, manifest=None) -> list[str]:
    """Start the W&B run ourselves on rank 0 (project, group = experiment, dir, mode from the config; the manifest in
    its config): the Trainer's W&B callback then logs into it. Other ranks report to nothing."""
    if not cfg.wandb.enabled or not is_main_process():
        return ["none"]
    from culturelens.core.tracking import dataset_ref, declare_input, model_ref, start_run

    config = {"culturelens": cfg.model_dump(mode="json")}
    if manifest is not None:
        config["manifest"] = manifest.model_dump(mode="json")
    run = start_run(cfg.wandb, name=f"{cfg.experiment}/{cfg.run_name}", group=cfg.experiment, job_type="train",
                    config=config, run_dir=out)
    declare_input(run, dataset_ref(cfg.dataset), "dataset")  # the synth artifact the dataset folder came from
    if getattr(cfg, "sft_adapter", None):
        declare_input(run, model_ref(cfg.sft_adapter), "sft_model")
    if getattr(cfg, "init_adapter", None):
        declare_input(run, model_ref(cfg.init_adapter), "init_model")
    return ["wandb"]


# ------------------------------------------------------------------------------------------- checkpoints, training, saving


def checkpoint_problem(folder: Path) -> str | None:
    """Why a checkpoint-N folder cannot be resumed from (what kill -9 during a save leaves), or None."""
    state = folder / "trainer_state.json"
    if not state.is_file():
        return "no trainer_state.json"
    try:
        json.loads(state.read_text())
    except (OSError, ValueError):
        return "trainer_state.json is unreadable"
    from safetensors import safe_open

    weights = sorted(folder.glob("*.safetensors"))
    if not weights and not any(folder.glob("*.bin")):
        return "no weights"
    for f in weights:
        try:
            with safe_open(str(f), framework="pt") as fh:
                for key in fh.keys():
                    fh.get_slice(key)
        except Exception as exc:
            return f"{f.name} is unreadable ({type(exc).__name__})"
    return None


def last_checkpoint(out: Path, resume: bool) -> str | None:
    """The newest complete checkpoint-N in `out`; incomplete ones (a save cut short) are skipped with a warning."""
    if not resume or not out.is_dir():
        return None
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    found = []
    for d in out.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        step = d.name.rsplit("-", 1)[-1]
        if d.is_dir() and step.isdigit():
            found.append((int(step), d))
    for _, d in sorted(found, reverse=True):
        problem = checkpoint_problem(d)
        if problem is None:
            return str(d)
        log.warning("skipping incomplete checkpoint %s (%s): resuming from an earlier one", d, problem)
    return None


def train_and_save(trainer, cfg, out: Path, lm, stage: str, n_rows: int, started: float, manifest=None) -> Path:
    """Train (resuming from the last complete checkpoint in `out` when cfg.resume), then save with `finish`."""
    resume = last_checkpoint(out, cfg.resume)
    if resume:
        log.warning("resuming %s from %s", stage, resume)
    result = trainer.train(resume_from_checkpoint=resume)
    eval_metrics = trainer.evaluate() if trainer.eval_dataset is not None else None
    return finish(trainer, cfg, out, lm, stage, n_rows, started, result, resume, eval_metrics, manifest)


def finish(trainer, cfg, out: Path, lm, stage: str, n_rows: int, started: float, train_result, resumed_from: str | None = None,
           eval_metrics: dict | None = None, manifest=None) -> Path:
    """Save the adapter (only the trained one), its config and facts; rank 0 alone writes the files."""
    adapter_dir = out / "adapter"
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        model = trainer.accelerator.unwrap_model(trainer.model)
        model.save_pretrained(str(adapter_dir), selected_adapters=["default"])
        trainer.processing_class.save_pretrained(str(adapter_dir))
        dump_config(cfg, out / "config.yaml")
        dump_config(cfg, adapter_dir / "culturelens_config.yaml")
        logs = [h for h in trainer.state.log_history if "loss" in h]
        facts = {
            "stage": stage,
            "experiment": cfg.experiment,
            "run_name": cfg.run_name,
            "base_model": cfg.model.name_or_path,
            "base_fingerprint": lm.fingerprint,
            "sft_adapter": getattr(cfg, "sft_adapter", None),
            "dataset": cfg.dataset,
            "n_rows": n_rows,
            "world_size": trainer.accelerator.num_processes,
            "global_step": trainer.state.global_step,
            "resumed_from": resumed_from,
            "train_loss": train_result.training_loss,
            "first_logged_loss": logs[0]["loss"] if logs else None,
            "last_logged_loss": logs[-1]["loss"] if logs else None,
            "eval_loss": (eval_metrics or {}).get("eval_loss"),
            # TRL logs the cumulative non-padding tokens as num_tokens (counted since this run's start or resume)
            "tokens_seen": trainer.state.num_input_tokens_seen or next(
                (h["num_tokens"] for h in reversed(trainer.state.log_history) if "num_tokens" in h), None),
            "seconds": time.time() - started,
            "metrics": train_result.metrics,
            "eval_metrics": eval_metrics,
            "log_history": trainer.state.log_history,
            "manifest": manifest.model_dump(mode="json") if manifest is not None else None,
        }
        if cfg.merge_adapter:
            merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
            merged.save_pretrained(str(out / "merged"))
            trainer.processing_class.save_pretrained(str(out / "merged"))
        write_facts(facts, out)
        if cfg.wandb.enabled:
            log_model_artifacts(cfg, out, adapter_dir, facts)
    if cfg.wandb.enabled and trainer.is_world_process_zero():
        from culturelens.core.tracking import active_run
        from culturelens.core.tracking import finish as finish_run

        if (run := active_run()) is not None:
            summary = {"culturelens/train_loss": train_result.training_loss, "culturelens/stage": stage}
            if eval_metrics and eval_metrics.get("eval_loss") is not None:
                summary["culturelens/eval_loss"] = eval_metrics["eval_loss"]
            run.summary.update(summary)
            finish_run(run)
    trainer.accelerator.wait_for_everyone()
    return out


METADATA_KEYS = ("stage", "experiment", "run_name", "base_model", "base_fingerprint", "sft_adapter", "dataset", "n_rows",
                 "world_size", "global_step", "resumed_from", "train_loss", "first_logged_loss", "last_logged_loss", "eval_loss",
                 "tokens_seen", "seconds")


def write_facts(facts: dict, out: Path) -> None:
    """<out>/culturelens_train.json (all facts) and the same file in the adapter (and merged) folder: a copied adapter
    keeps its facts and its W&B artifact, which `eval` of that folder declares."""
    from culturelens.core.tracking import TRAIN_FACTS_FILE

    text = json.dumps(facts, indent=2, default=str)
    for folder in (out, out / "adapter", out / "merged"):
        if folder.is_dir():
            (folder / TRAIN_FACTS_FILE).write_text(text)


def log_model_artifacts(cfg, out: Path, adapter_dir: Path, facts: dict) -> None:
    """The adapter (and the merged model when written) as W&B `model` artifacts with the training facts as metadata;
    their refs are added to culturelens_train.json, where `eval` of the adapter finds them."""
    from culturelens.core.tracking import ADAPTER_ARTIFACT_KEY, MERGED_ARTIFACT_KEY, active_run, dataset_ref, log_artifact

    run = active_run()
    if run is None:
        return
    meta = {k: facts.get(k) for k in METADATA_KEYS}
    meta["lora"] = cfg.lora.model_dump(mode="json")
    data = dataset_ref(cfg.dataset)
    meta["dataset_artifact"] = data.model_dump(mode="json") if data else None
    name = f"{cfg.experiment}-{cfg.run_name}"
    facts[ADAPTER_ARTIFACT_KEY] = log_artifact(run, f"adapter-{name}", "model", [adapter_dir], meta).model_dump(mode="json")
    if (out / "merged").exists() and cfg.merge_adapter:
        ref = log_artifact(run, f"merged-{name}", "model", [out / "merged"], {**meta, "merged": True})
        facts[MERGED_ARTIFACT_KEY] = ref.model_dump(mode="json")
    write_facts(facts, out)
