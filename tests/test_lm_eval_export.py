"""`culturelens export lm-eval` / `import lm-eval`: the task folder, and samples -> a run folder equal to culturelens's own.

The fast tests score the exported documents the way lm-evaluation-harness's HFLM does (context + continuation
encoded together, split at the context's length, summed continuation log-probabilities), on a tiny model, and write
them in lm_eval's samples layout. The slow tests run the real `lm_eval` CLI on SmolLM2, the templated export and the
un-templated one with --apply_chat_template (needs the bench extra; 152 s and 274 s on the loaded 2-core machine).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from culturelens.cli import main
from culturelens.core.config import load_config
from culturelens.core.errors import DataError
from culturelens.eval.backends.probe import label_spellings
from culturelens.eval.config import EvalConfig
from culturelens.eval.interop.lm_eval_import import import_lm_eval
from culturelens.eval.interop.lm_eval_task import TASK
from culturelens.eval.runner import run_eval

QUESTIONS = ["Q27", "Q185"]  # 4 and 10 options
COUNTRIES = ["DEU", "IRQ"]


def eval_yaml(tmp_path, model: str, **extra) -> Path:
    data = {"experiment": "lm", "output_dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache"), "n_boot": 50,
            "model": {"name_or_path": model}, "countries": COUNTRIES, "questions": QUESTIONS,
            "probe": {"templates": ["persona_system", "no_persona"], "orders": ["original", "reversed"]}}
    data.update(extra)
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def harness_loglikelihood(model, tok, context: str, continuation: str) -> float:
    """HFLM's rule: encode context + continuation, the continuation is what follows the context's tokens."""
    whole = tok(context + continuation, add_special_tokens=False).input_ids
    ctx = tok(context, add_special_tokens=False).input_ids
    cont = whole[len(ctx):]
    with torch.inference_mode():
        logp = model(torch.tensor([whole])).logits[0].float().log_softmax(-1)
    return float(sum(logp[len(ctx) - 1 + i, t] for i, t in enumerate(cont)))


def write_samples(task_dir: Path, out: Path, model_dir: Path, limit: int | None = None) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    docs = [json.loads(line) for line in (task_dir / f"{TASK}.jsonl").read_text().splitlines()][:limit]
    folder = out / "tiny-model"
    folder.mkdir(parents=True)
    with open(folder / f"samples_{TASK}_2026-01-01T00-00-00.000000.jsonl", "w") as fh:
        for i, doc in enumerate(docs):
            resps = [[str(harness_loglikelihood(model, tok, doc["prompt"], c)), "False"] for c in doc["choices"]]
            fh.write(json.dumps({"doc_id": i, "doc": doc, "resps": [[r] for r in resps], "filtered_resps": resps}) + "\n")
    (folder / "results_2026-01-01T00-00-00.000000.json").write_text(json.dumps(
        {"config": {"model": "hf", "model_args": {"pretrained": str(model_dir)}}, "model_name": str(model_dir)}))
    return out


class _TaskLoader(yaml.SafeLoader):
    """lm_eval's YAML loader resolves `!function module.name` beside the YAML; here it is kept as text."""


_TaskLoader.add_constructor("!function", lambda loader, node: "!function " + loader.construct_scalar(node))


def task_spec(task: Path) -> dict:
    return yaml.load((task / f"{TASK}.yaml").read_text(), Loader=_TaskLoader)


def load_moved_task(task: Path, where: Path):
    """The documents as lm_eval reads them (its `custom_dataset` call: metadata + dataset_kwargs as keywords), after the
    task folder was moved elsewhere (another machine, another user)."""
    import importlib.util
    import shutil

    moved = shutil.move(str(task), str(where))
    spec = task_spec(Path(moved))
    module_name, fn = spec["custom_dataset"].split()[1].rsplit(".", 1)
    mod_spec = importlib.util.spec_from_file_location(module_name, Path(moved) / f"{module_name}.py")
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return Path(moved), getattr(module, fn)(**spec["metadata"], **spec["dataset_kwargs"])


def test_task_folder(tmp_path, tiny_model_dir):
    task = tmp_path / "task"
    assert main(["export", "lm-eval", "--config", str(eval_yaml(tmp_path, str(tiny_model_dir))), "--out", str(task)]) == 0
    spec = task_spec(task)
    assert spec["output_type"] == "multiple_choice" and spec["target_delimiter"] == ""
    assert spec["doc_to_text"] == "prompt" and spec["doc_to_choice"] == "choices"
    assert spec["dataset_kwargs"]["data_files"]["test"] == f"{TASK}.jsonl"  # relative: the folder is portable
    assert spec["custom_dataset"] == "!function culturelens_wvs_data.load"
    docs = [json.loads(line) for line in (task / f"{TASK}.jsonl").read_text().splitlines()]
    # persona prompts for every (country, question) pair with human answers x 2 orders, plus one no-persona per question/order
    assert len(docs) == (len(COUNTRIES) * len(QUESTIONS) + len(QUESTIONS)) * 2
    doc = next(d for d in docs if d["order"] == "reversed" and d["qid"] == "Q27")
    assert doc["prompt"].endswith("Answer:") and doc["mode"] == "token"
    assert sorted(set(doc["choice_option"])) == [0, 1, 2, 3] and doc["option_index"] == [3, 2, 1, 0]
    assert all(doc["choice_option"][i] == doc["choice_option"][doc["target"][0]] for i in doc["target"])
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    spellings = [text for text, _ in label_spellings(tok, "A")]
    assert spellings and doc["choices"][: len(spellings)] == spellings


def test_import_reproduces_the_probe(tmp_path, tiny_model_dir):
    cfg_path = eval_yaml(tmp_path, str(tiny_model_dir))
    assert main(["export", "lm-eval", "--config", str(cfg_path), "--out", str(tmp_path / "task")]) == 0
    samples = write_samples(tmp_path / "task", tmp_path / "lm_out", tiny_model_dir)
    assert main(["import", "lm-eval", "--config", str(cfg_path), str(samples), "run_name=imported"]) == 0
    imported = tmp_path / "runs" / "lm" / "imported"
    own = run_eval(load_config(EvalConfig, cfg_path, ["run_name=own"]), progress=False)
    a = pd.read_parquet(imported / "results.parquet").set_index("prompt_key")
    b = pd.read_parquet(own / "results.parquet").set_index("prompt_key")
    assert sorted(a.index) == sorted(b.index)
    dp = max(abs(x - y) for k in a.index for x, y in zip(a.loc[k, "probs"], b.loc[k, "probs"]))
    dmass = max(abs(a.loc[k, "mass"] - b.loc[k, "mass"]) for k in a.index)
    assert dp < 1e-5 and dmass < 1e-5, (dp, dmass)
    # the same per-(country, question) scores (the tiny random model's scores barely vary, so r itself is ill-conditioned)
    sa, sb = (pd.read_json(d / "scores.jsonl", lines=True).set_index(["country", "qid"])["score"] for d in (imported, own))
    assert (sa - sb.loc[sa.index]).abs().max() < 1e-5 and len(sa) == len(sb)
    s_imp, s_own = (json.loads((d / "summary.json").read_text()) for d in (imported, own))
    assert set(s_imp) >= {"pooled", "by_category", "per_question", "western_gap", "robustness"}
    assert s_imp["run"]["model_source"] == "lm-eval" and (imported / "lm_eval").is_dir()
    # a normal run folder: compare reads it
    assert main(["compare", str(own), str(imported), "--out", str(tmp_path / "cmp"), "--n-boot", "20"]) == 0


def test_import_refuses_incomplete_or_foreign_samples(tmp_path, tiny_model_dir, capsys):
    cfg_path = eval_yaml(tmp_path, str(tiny_model_dir))
    assert main(["export", "lm-eval", "--config", str(cfg_path), "--out", str(tmp_path / "task")]) == 0
    samples = write_samples(tmp_path / "task", tmp_path / "lm_out", tiny_model_dir, limit=3)  # as with lm_eval --limit 3
    cfg = load_config(EvalConfig, cfg_path)
    with pytest.raises(DataError, match="lack .* pairs.*--limit"):
        import_lm_eval(samples, cfg)
    with pytest.raises(DataError, match="outside this config"):
        import_lm_eval(samples, cfg.model_copy(update={"questions": ["Q122"]}))
    assert main(["import", "lm-eval", str(tmp_path / "nothing"), "--config", str(cfg_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="--log_samples"):
        import_lm_eval(tmp_path / "empty", cfg)


def test_task_folder_is_portable(tmp_path, tiny_model_dir):
    task = tmp_path / "task"
    assert main(["export", "lm-eval", "--config", str(eval_yaml(tmp_path, str(tiny_model_dir))), "--out", str(task)]) == 0
    n_docs = len((task / f"{TASK}.jsonl").read_text().splitlines())
    (tmp_path / "elsewhere").mkdir()
    _, ds = load_moved_task(task, tmp_path / "elsewhere" / "task")
    assert len(ds["test"]) == n_docs


def harness_chat_samples(task_dir: Path, out: Path, model_dir: Path) -> Path:
    """What `lm_eval --apply_chat_template` scores for un-templated documents: the model's chat template over
    [system (the per-document description), user (doc_to_text)], the generation prompt, then gen_prefix; each choice
    is the continuation."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    folder = out / "tiny-model"
    folder.mkdir(parents=True)
    with open(folder / f"samples_{TASK}_2026-01-01T00-00-00.000000.jsonl", "w") as fh:
        for i, line in enumerate((task_dir / f"{TASK}.jsonl").read_text().splitlines()):
            doc = json.loads(line)
            messages = ([{"role": "system", "content": doc["system"]}] if doc["system"] else []) + [{"role": "user", "content": doc["prompt"]}]
            context = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + doc["answer"]
            resps = [[str(harness_loglikelihood(model, tok, context, c)), "False"] for c in doc["choices"]]
            fh.write(json.dumps({"doc_id": i, "doc": doc, "filtered_resps": resps}) + "\n")
    return out


def test_untemplated_export_serves_any_chat_model_and_imports(tmp_path, tiny_model_dir):
    """One un-templated task folder (no tokenizer involved), scored with the model's own chat template as lm_eval
    --apply_chat_template does, imports to a run whose probabilities equal culturelens's probe (both spellings of every
    label are single tokens for the tiny model, so the choices are exactly the probe's)."""
    cfg_path = eval_yaml(tmp_path, str(tiny_model_dir), probe={"templates": ["persona_system", "persona_inline"], "orders": ["original"]})
    assert main(["export", "lm-eval", "--config", str(cfg_path), "--out", str(tmp_path / "task"), "--untemplated"]) == 0
    spec = task_spec(tmp_path / "task")
    assert spec["description"] == "system" and spec["gen_prefix"] == "answer"
    docs = [json.loads(line) for line in (tmp_path / "task" / f"{TASK}.jsonl").read_text().splitlines()]
    assert all("<|" not in d["prompt"] and d["rendering"] == "untemplated" for d in docs)  # no chat markup in the documents
    assert {d["answer"] for d in docs} == {"Answer:"} and any(d["system"] for d in docs)
    samples = harness_chat_samples(tmp_path / "task", tmp_path / "lm_out", tiny_model_dir)
    assert main(["import", "lm-eval", "--config", str(cfg_path), str(samples), "run_name=untemplated"]) == 0
    own = run_eval(load_config(EvalConfig, cfg_path, ["run_name=own"]), progress=False)
    sa, sb = (pd.read_json(d / "scores.jsonl", lines=True).set_index(["country", "qid"])["score"]
              for d in (tmp_path / "runs" / "lm" / "untemplated", own))
    assert len(sa) == len(sb) and (sa - sb.loc[sa.index]).abs().max() < 1e-4


def test_export_into_a_non_empty_folder_is_refused(tmp_path, tiny_model_dir, capsys):
    cfg_path = eval_yaml(tmp_path, str(tiny_model_dir))
    (tmp_path / "task").mkdir()
    (tmp_path / "task" / "old.txt").write_text("x")
    assert main(["export", "lm-eval", "--config", str(cfg_path), "--out", str(tmp_path / "task")]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert main(["export", "lm-eval", "--config", str(cfg_path), "--out", str(tmp_path / "task2")]) == 0
    (tmp_path / "task2" / "stale.jsonl").write_text("x")
    assert main(["export", "lm-eval", "--config", str(cfg_path), "--out", str(tmp_path / "task2"), "--overwrite"]) == 0
    assert not (tmp_path / "task2" / "stale.jsonl").exists()


def run_lm_eval(task: Path, model_dir: Path, out: Path, *extra: str) -> None:
    """The real harness (hf backend, float32, CPU) on the exported task folder, with --log_samples."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "lm_eval", "run", "--model", "hf", "--model_args", f"pretrained={model_dir},dtype=float32",
           "--include_path", str(task), "--tasks", TASK, "--log_samples", "--output_path", str(out),
           "--device", "cpu", "--batch_size", "8", *extra]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


def max_dp(imported: Path, own: Path, n: int) -> float:
    """Largest |p_k| difference between the imported run and culturelens's own, prompt by prompt (matched on template,
    order, country and question: an un-templated document's key is computed from its messages, not the model's text);
    the label mass agrees too."""
    prompt = ["template", "order", "country", "qid"]
    a = pd.read_parquet(imported / "results.parquet").set_index(prompt)
    b = pd.read_parquet(own / "results.parquet").set_index(prompt)
    assert sorted(a.index) == sorted(b.index) and len(a) == n
    assert max(abs(a.loc[k, "mass"] - b.loc[k, "mass"]) for k in a.index) < 1e-4
    return max(abs(x - y) for k in a.index for x, y in zip(a.loc[k, "probs"], b.loc[k, "probs"]))


@pytest.mark.slow
@pytest.mark.realmodel
def test_lm_eval_round_trip_on_smollm2(tmp_path):
    """The real harness: lm_eval (hf backend) runs the exported task with --log_samples; the import equals the probe."""
    pytest.importorskip("lm_eval", reason="lm_eval is not installed: pip install -e '.[bench]'")
    from culturelens.core import zoo

    model_dir = zoo.pull("smollm2-135m-instruct", progress=False)
    cfg_path = eval_yaml(tmp_path, "smollm2-135m-instruct", questions=["Q27", "Q185"],
                         probe={"templates": ["persona_system"], "orders": ["original", "reversed"]})
    assert main(["export", "lm-eval", "--config", str(cfg_path), "--out", str(tmp_path / "task")]) == 0
    run_lm_eval(tmp_path / "task", model_dir, tmp_path / "lm_out")
    assert main(["import", "lm-eval", "--config", str(cfg_path), str(tmp_path / "lm_out"), "run_name=harness"]) == 0
    own = run_eval(load_config(EvalConfig, cfg_path, ["run_name=own"]), progress=False)
    dp = max_dp(tmp_path / "runs" / "lm" / "harness", own, 8)
    assert dp < 1e-4, dp
    print(f"lm-eval round trip on SmolLM2: 8 prompts, max |dp| = {dp:.2e}")


@pytest.mark.slow
@pytest.mark.realmodel
def test_lm_eval_untemplated_round_trip_on_smollm2(tmp_path):
    """One un-templated task folder (exported without any tokenizer), run by the real harness with
    --apply_chat_template on SmolLM2 (its own chat template, the persona as the system message, "Answer:" as the
    assistant's prefix), imports to the probabilities culturelens's own probe computes, within 1e-4."""
    pytest.importorskip("lm_eval", reason="lm_eval is not installed: pip install -e '.[bench]'")
    from culturelens.core import zoo

    model_dir = zoo.pull("smollm2-135m-instruct", progress=False)
    cfg_path = eval_yaml(tmp_path, "smollm2-135m-instruct", questions=["Q27", "Q185"],
                         probe={"templates": ["persona_system", "persona_inline", "no_persona"], "orders": ["original", "reversed"]})
    assert main(["export", "lm-eval", "--config", str(cfg_path), "--out", str(tmp_path / "task"), "--untemplated"]) == 0
    run_lm_eval(tmp_path / "task", model_dir, tmp_path / "lm_out", "--apply_chat_template")
    assert main(["import", "lm-eval", "--config", str(cfg_path), str(tmp_path / "lm_out"), "run_name=harness"]) == 0
    own = run_eval(load_config(EvalConfig, cfg_path, ["run_name=own"]), progress=False)
    n = (len(COUNTRIES) * 2 + 1) * 2 * 2  # (2 persona templates x 2 countries + no_persona) x 2 questions x 2 orders
    dp = max_dp(tmp_path / "runs" / "lm" / "harness", own, n)
    assert dp < 1e-4, dp
    print(f"lm-eval untemplated round trip on SmolLM2: {n} prompts, max |dp| = {dp:.2e}")
