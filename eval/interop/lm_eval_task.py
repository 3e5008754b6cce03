"""`culturelens export lm-eval`: the probe as an lm-evaluation-harness task folder (task YAML + documents).

How the harness scores it, and how that relates to culturelens's probe:
- One document per prompt of the eval config (question x country x template x option order), its `prompt` the
  exact text culturelens sends for the config's model (chat template rendered, special tokens as text). The
  harness must not re-template it: run without `--apply_chat_template` and without few-shot examples.
- `output_type: multiple_choice` with `target_delimiter: ""`: for every choice c the harness computes
  log P(c | prompt), one (context, continuation) request each (`HFLM.loglikelihood`, or the same call on any
  other backend). culturelens reads, at the prompt's last position, the next-token probability of every
  single-token spelling of each label: "A" and " A" (both count). So the choices are exactly those spellings,
  computed with the model's tokenizer: for label "A", the continuations "A" and " A" when each is one token
  (a spelling that merges with another or is not one token is left out, as the probe leaves it out).
  The import sums exp(loglikelihood) over the choices of one option and renormalises over the options: p_k;
  the sum over all choices is the probe's `mass`. The harness tokenises context + continuation together and
  splits at the context's length; for a continuation that is one token after a prompt ending in "Answer:",
  that is the probe's token, so the two agree up to floating point (tested on SmolLM2 within 1e-4).
- Labels that are not one token (numbers >= 10) are scored as whole strings, as the probe does: one choice
  " 10" (or "10" after a prompt ending in whitespace), mode "sequence".
- `doc_to_target` (the harness's `acc`) is the option whose scale value is nearest the human mean score of the
  country (for the no-persona prompt: the mean over the reference's countries). It is a convenience; the
  culturelens metrics come from `culturelens import lm-eval`.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from culturelens.core.config import dump_config
from culturelens.core.dataset_export import PromptSettings, build_items
from culturelens.core.inputs import EvalInputs
from culturelens.core.prompts import NO_COUNTRY, PromptItem
from culturelens.eval.backends.probe import label_spellings

TASK = "culturelens_wvs"
DOCS = f"{TASK}.jsonl"
MANIFEST = "culturelens_export.json"
LABEL_PREFIXES = ("", " ")  # the probe's label spellings: bare and with a leading space


def choices_of(tokenizer, item: PromptItem) -> tuple[list[str], list[int], str]:
    """(continuations, option index in scale order of each, mode) of one prompt."""
    spellings = [[text for text, _ in label_spellings(tokenizer, label, LABEL_PREFIXES)] for label in item.labels]
    if all(spellings):
        pairs = [(s, item.option_index[pos]) for pos, group in enumerate(spellings) for s in group]
        return [s for s, _ in pairs], [o for _, o in pairs], "token"
    sep = "" if item.text[-1:].isspace() else " "
    return [sep + label for label in item.labels], list(item.option_index), "sequence"


def nearest_option(scores: list[float], mean: float) -> int:
    return min(range(len(scores)), key=lambda k: abs(scores[k] - mean))


def document(tokenizer, item: PromptItem, scores: list[float], human_mean: float) -> dict:
    choices, option_of_choice, mode = choices_of(tokenizer, item)
    gold = nearest_option(scores, human_mean)
    return {
        "doc_key": item.key, "qid": item.qid, "country": item.country, "template": item.template, "order": item.order,
        "language": item.language, "labels": list(item.labels), "option_index": list(item.option_index),
        "prompt": item.text, "choices": choices, "choice_option": option_of_choice, "mode": mode,
        "target": [i for i, o in enumerate(option_of_choice) if o == gold],  # every spelling of that option counts
    }


def task_yaml(docs_path: Path) -> dict:
    return {
        "task": TASK,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(docs_path.resolve())}},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "prompt",
        "doc_to_choice": "choices",
        "doc_to_target": "target",
        "target_delimiter": "",
        "num_fewshot": 0,
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1, "culturelens_manifest": MANIFEST},
    }


def export_task(cfg, inputs: EvalInputs, tok_info, out: str | Path) -> Path:
    """Write DIR/culturelens_wvs.yaml, DIR/culturelens_wvs.jsonl, DIR/culturelens_export.json and the eval config."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    probe = cfg.probe
    settings = PromptSettings(probe.templates, probe.orders, probe.labels, probe.answer_cue, tok_info.tokenizer, tok_info.is_chat)
    items = build_items(inputs, settings)
    means = {(c, q): m for c, q, m in inputs.reference.df[["country", "qid", "mean"]].itertuples(index=False)}
    overall = inputs.reference.df.groupby("qid")["mean"].mean().to_dict()
    with open(out / DOCS, "w", encoding="utf-8") as fh:
        for it in items:
            mean = overall[it.qid] if it.country == NO_COUNTRY else means[(it.country, it.qid)]
            fh.write(json.dumps(document(tok_info.tokenizer, it, inputs.bank.get(it.qid).scores, mean), ensure_ascii=False) + "\n")
    (out / f"{TASK}.yaml").write_text(yaml.safe_dump(task_yaml(out / DOCS), sort_keys=False))
    dump_config(cfg, out / "config.yaml")
    manifest = {"task": TASK, "documents": len(items), "model": tok_info.name, "tokenizer": tok_info.path,
                "chat_template": tok_info.is_chat, "label_prefixes": list(LABEL_PREFIXES),
                "run": f"lm_eval --model hf --model_args pretrained={tok_info.path},dtype=float32 --include_path {out} "
                       f"--tasks {TASK} --log_samples --output_path <OUT>"}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return out


def export_lm_eval(cfg, out: str | Path) -> Path:
    """The task folder of an eval config: its inputs, probe settings and its model's tokenizer (no weights loaded)."""
    from culturelens.core.inputs import resolve_inputs
    from culturelens.core.tokenizer import load_tokenizer

    return export_task(cfg, resolve_inputs(cfg), load_tokenizer(cfg.model), out)
