"""`culturelens export lm-eval`: the probe as an lm-evaluation-harness task folder (task YAML + documents).

How the harness scores it, and how that relates to culturelens's probe:
- One document per prompt of the eval config (question x country x template x option order), its `prompt` the
  exact text culturelens sends for the config's model (chat template rendered, special tokens as text). The
  harness must not re-template it: run without `--apply_chat_template` and without few-shot examples.
- `--untemplated`: the documents carry the messages instead (`system`: the persona's system message, the task's
  per-document `description`; `prompt`: the user turn; `answer`: the assistant turn's start, the task's `gen_prefix`)
  and model-independent choices, for `lm_eval --apply_chat_template`: one task folder serves every model.
- The folder is portable: data_files are relative, read by culturelens_wvs_data.py beside the YAML.
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
LOADER = f"{TASK}_data"  # <task folder>/culturelens_wvs_data.py: reads the documents beside it (`custom_dataset`)
LABEL_PREFIXES = ("", " ")  # the probe's label spellings: bare and with a leading space
SEP = "\x00"

LOADER_SOURCE = '''"""Loads the culturelens_wvs documents from this task folder, wherever it is (lm_eval calls it as the task's
`custom_dataset` with the task's dataset_kwargs; data_files are relative to this folder)."""
from pathlib import Path


def load(data_files=None, **_):
    from datasets import load_dataset

    here = Path(__file__).resolve().parent
    files = {split: str(here / name) for split, name in (data_files or {"test": "culturelens_wvs.jsonl"}).items()}
    return load_dataset("json", data_files=files)
'''


class MessageRecorder:
    """Stands in for a tokenizer when rendering un-templated prompts: `apply_chat_template` returns the messages
    themselves (JSON between NUL separators), so `render` yields messages + the answer prefix instead of a model's
    chat markup; `split_untemplated` takes them apart."""

    chat_template = "messages"

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return SEP + json.dumps(messages, ensure_ascii=False) + SEP


def split_untemplated(text: str) -> tuple[str, str, str]:
    """(system, user, answer prefix) of a prompt rendered with `MessageRecorder`."""
    _, raw, answer = text.split(SEP)
    messages = json.loads(raw)
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    user = next(m["content"] for m in messages if m["role"] == "user")
    return system, user, answer


def untemplated_choices(item: PromptItem) -> tuple[list[str], list[int], str]:
    """Model-independent choices: single-character labels as "A" and " A" (the probe's two spellings; for a model
    where one is not one token, the harness scores the string, a close stand-in), longer labels as " 10"."""
    if all(len(label) == 1 for label in item.labels):
        pairs = [(prefix + label, item.option_index[pos]) for pos, label in enumerate(item.labels) for prefix in LABEL_PREFIXES]
        return [c for c, _ in pairs], [o for _, o in pairs], "token"
    return [" " + label for label in item.labels], list(item.option_index), "sequence"


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


def document(tokenizer, item: PromptItem, scores: list[float], human_mean: float, untemplated: bool = False) -> dict:
    """One document. Templated: `prompt` is the exact text culturelens sends to the config's model. Un-templated:
    `system`, `prompt` (the user turn) and `answer` (the start of the assistant turn) for lm_eval's own chat template."""
    if untemplated:
        choices, option_of_choice, mode = untemplated_choices(item)
        system, user, answer = split_untemplated(item.text)
        text = untemplated_text(system, user, answer)
    else:
        choices, option_of_choice, mode = choices_of(tokenizer, item)
        system, user, answer, text = None, item.text, None, item.text
    gold = nearest_option(scores, human_mean)
    key = PromptItem(item.template, item.order, item.country, item.qid, text, item.labels, item.option_index).key
    doc = {
        "doc_key": key, "qid": item.qid, "country": item.country, "template": item.template, "order": item.order,
        "language": item.language, "labels": list(item.labels), "option_index": list(item.option_index),
        "prompt": user, "choices": choices, "choice_option": option_of_choice, "mode": mode,
        "target": [i for i, o in enumerate(option_of_choice) if o == gold],  # every spelling of that option counts
    }
    if untemplated:
        doc.update({"system": system, "answer": answer, "rendering": "untemplated"})
    return doc


def untemplated_text(system: str, user: str, answer: str) -> str:
    """The text an un-templated document stands for (its key is computed from it, by the export and the import)."""
    return json.dumps({"system": system, "user": user, "answer": answer}, ensure_ascii=False)


def task_yaml(untemplated: bool = False) -> str:
    """The task YAML. data_files are relative to the task folder: lm_eval calls the loader beside the YAML
    (`custom_dataset: !function`), which resolves them there, so the folder can be moved or shared."""
    spec = {
        "task": TASK,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": DOCS}},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "prompt",
        "doc_to_choice": "choices",
        "doc_to_target": "target",
        "target_delimiter": "",
        "num_fewshot": 0,
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 2, "culturelens_manifest": MANIFEST},
    }
    if untemplated:  # the persona's system message and the assistant's answer prefix, per document
        spec.update({"description": "system", "gen_prefix": "answer"})
    return yaml.safe_dump(spec, sort_keys=False) + f"custom_dataset: !function {LOADER}.load\n"


def export_task(cfg, inputs: EvalInputs, tok_info, out: str | Path, untemplated: bool = False) -> Path:
    """Write DIR/culturelens_wvs.yaml, its documents and loader, DIR/culturelens_export.json and the eval config.
    `untemplated`: prompts without any chat template (run with `lm_eval --apply_chat_template`; one folder serves every
    model); `tok_info` may then be None."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    probe = cfg.probe
    tokenizer, chat = (MessageRecorder(), True) if untemplated else (tok_info.tokenizer, tok_info.is_chat)
    settings = PromptSettings(probe.templates, probe.orders, probe.labels, probe.answer_cue, tokenizer, chat)
    items = build_items(inputs, settings)
    means = {(c, q): m for c, q, m in inputs.reference.df[["country", "qid", "mean"]].itertuples(index=False)}
    overall = inputs.reference.df.groupby("qid")["mean"].mean().to_dict()
    with open(out / DOCS, "w", encoding="utf-8") as fh:
        for it in items:
            mean = overall[it.qid] if it.country == NO_COUNTRY else means[(it.country, it.qid)]
            doc = document(None if untemplated else tok_info.tokenizer, it, inputs.bank.get(it.qid).scores, mean, untemplated)
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    (out / f"{TASK}.yaml").write_text(task_yaml(untemplated))
    (out / f"{LOADER}.py").write_text(LOADER_SOURCE)
    dump_config(cfg, out / "config.yaml")
    if untemplated:
        model, run = None, (f"lm_eval --model hf --model_args pretrained=MODEL,dtype=float32 --apply_chat_template --include_path "
                            f"{out} --tasks {TASK} --log_samples --output_path <OUT>")
    else:
        model, run = tok_info.name, (f"lm_eval --model hf --model_args pretrained={tok_info.path},dtype=float32 --include_path "
                                     f"{out} --tasks {TASK} --log_samples --output_path <OUT>")
    manifest = {"task": TASK, "documents": len(items), "rendering": "untemplated" if untemplated else "templated",
                "model": model, "tokenizer": None if untemplated else tok_info.path,
                "chat_template": None if untemplated else tok_info.is_chat, "label_prefixes": list(LABEL_PREFIXES), "run": run}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return out


def export_lm_eval(cfg, out: str | Path, untemplated: bool = False) -> Path:
    """The task folder of an eval config: its inputs, probe settings and (templated) its model's tokenizer (no weights)."""
    from culturelens.core.inputs import resolve_inputs
    from culturelens.core.tokenizer import load_tokenizer

    return export_task(cfg, resolve_inputs(cfg), None if untemplated else load_tokenizer(cfg.model), out, untemplated)
