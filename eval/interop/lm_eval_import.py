"""`culturelens import lm-eval SAMPLES --config CFG`: lm-evaluation-harness samples of the culturelens_wvs task -> a run folder.

Each sample line of `samples_culturelens_wvs_<date>.jsonl` (written by `lm_eval ... --log_samples`) holds the
document the export wrote (`doc`: prompt, labels, option order, and for every choice the option it spells) and
the harness's answer per choice (`filtered_resps`: [loglikelihood, is_greedy]). Per prompt:
raw_k = sum over the choices c of option k of exp(loglikelihood(c)), mass = sum_k raw_k, p_k = raw_k / mass,
exactly the probe's renormalisation (`culturelens.eval.backends.probe`). The probabilities then go through the same
per-prompt table, aggregation, metrics and report as `culturelens eval`, so the run folder reads like any other
(`compare`, `claims`).
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from culturelens.core.errors import DataError
from culturelens.core.inputs import EvalInputs
from culturelens.core.prompts import NO_COUNTRY, PromptItem
from culturelens.eval.backends import ProbeResult
from culturelens.eval.interop.lm_eval_task import TASK


def find_samples(path: str | Path) -> Path:
    """The samples file: `path` itself, or the newest samples_culturelens_wvs_*.jsonl under the folder (one model only)."""
    p = Path(path)
    if p.is_file():
        return p
    if not p.is_dir():
        raise DataError(f"lm-eval output '{p}' does not exist: pass the --output_path folder of `lm_eval ... --log_samples`")
    found = sorted(p.rglob(f"samples_{TASK}_*.jsonl"))
    if not found:
        raise DataError(f"no samples_{TASK}_*.jsonl under '{p}': run lm_eval with --tasks {TASK} --log_samples --output_path {p}")
    folders = sorted({f.parent for f in found})
    if len(folders) > 1:
        raise DataError(f"'{p}' holds samples of {len(folders)} models ({', '.join(f.name for f in folders)}): pass one of these folders")
    return max(found, key=lambda f: f.name)  # names end in the run's timestamp


def results_file(samples: Path) -> Path | None:
    """lm_eval's results_<date>.json written with the samples (same timestamp), if present."""
    stamp = samples.stem.removeprefix(f"samples_{TASK}_")
    hit = samples.parent / f"results_{stamp}.json"
    return hit if hit.exists() else None


class SampleDoc(BaseModel):
    """A document of the culturelens_wvs task as `culturelens export lm-eval` writes it, every field checked."""

    model_config = ConfigDict(extra="ignore")

    doc_key: str = Field(min_length=1)
    qid: str = Field(min_length=1)
    country: str = Field(min_length=1)
    template: str = Field(min_length=1)
    order: Literal["original", "reversed"]
    language: str = "en"
    labels: list[str] = Field(min_length=2)
    option_index: list[int]
    prompt: str = Field(min_length=1)
    choices: list[str] = Field(min_length=1)
    choice_option: list[int]
    mode: Literal["token", "sequence"]
    target: list[int] = []
    rendering: Literal["templated", "untemplated"] = "templated"
    system: str | None = None  # untemplated documents: the persona's system message and the answer prefix
    answer: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SampleDoc:
        k = len(self.labels)
        if sorted(self.option_index) != list(range(k)):
            raise ValueError(f"option_index {self.option_index} is not an order of the {k} options")
        if len(self.choice_option) != len(self.choices):
            raise ValueError(f"{len(self.choice_option)} choice_option entries for {len(self.choices)} choices")
        bad = [o for o in self.choice_option if not 0 <= o < k]
        if bad:
            raise ValueError(f"choice_option {bad[0]} is not an option index (0..{k - 1})")
        return self


def _loglikelihood(resp, where: str) -> float:
    """lm_eval's [loglikelihood, is_greedy] (numbers or their text): a finite log-probability <= 0."""
    try:
        value = float(resp[0] if isinstance(resp, (list, tuple)) else resp)
    except (TypeError, ValueError, IndexError):
        raise DataError(f"{where}: the answer {resp!r} has no number as its log-likelihood: pass the samples file lm_eval "
                        "wrote, unedited") from None
    if math.isnan(value) or value > 1e-6:
        raise DataError(f"{where}: log-likelihood {value} is not a log-probability (<= 0): pass the samples file lm_eval wrote, "
                        "unedited")
    return value


def read_samples(samples: Path) -> list[dict]:
    """Every sample line, each field checked: the document (`SampleDoc`), one number per choice, each document once."""
    rows, seen = [], {}
    try:
        text = samples.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{samples} cannot be read as text ({type(exc).__name__}): pass the samples file lm_eval wrote") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{samples}:{n}"
        try:
            row = json.loads(line)
            raw_doc, resps = row["doc"], row["filtered_resps"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise DataError(f"{where} is not an lm-eval sample line ({type(e).__name__}): pass the samples file lm_eval wrote") from e
        try:
            doc = SampleDoc.model_validate(raw_doc)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "document"
            raise DataError(f"{where}: the document was not written by `culturelens export lm-eval` or was edited ({field}: "
                            f"{err['msg'].removeprefix('Value error, ')}): export the task again and rerun lm_eval") from None
        if not isinstance(resps, list) or len(resps) != len(doc.choices):
            raise DataError(f"{where}: the document was not written by `culturelens export lm-eval` or its answers are incomplete "
                            f"({len(resps) if isinstance(resps, list) else 0} answers for {len(doc.choices)} choices): export the "
                            "task again and rerun lm_eval")
        if doc.doc_key in seen:
            raise DataError(f"{where}: document {doc.doc_key} was already scored on line {seen[doc.doc_key]} (samples of two runs "
                            "mixed?): pass the samples file of one lm_eval run")
        seen[doc.doc_key] = n
        rows.append({"doc": doc.model_dump(), "loglikelihoods": [_loglikelihood(r, where) for r in resps]})
    if not rows:
        raise DataError(f"{samples} holds no samples: rerun lm_eval")
    return rows


def probe_result(doc: dict, loglikelihoods: list[float]) -> ProbeResult:
    """p_k over the options (scale order) from the loglikelihood of every spelling of every option."""
    k = len(doc["labels"])
    raw = [0.0] * k
    for option, ll in zip(doc["choice_option"], loglikelihoods):
        raw[option] += math.exp(ll)
    mass = sum(raw)
    probs = [r / mass if mass > 0 else 1.0 / k for r in raw]
    return ProbeResult(probs=probs, mass=mass, mode=doc["mode"])


def prompt_item(doc: dict) -> PromptItem:
    text = doc["prompt"]
    if doc.get("rendering") == "untemplated":
        from culturelens.eval.interop.lm_eval_task import untemplated_text

        text = untemplated_text(doc.get("system") or "", doc["prompt"], doc.get("answer") or "")
    item = PromptItem(doc["template"], doc["order"], doc["country"], doc["qid"], text, tuple(doc["labels"]),
                      tuple(doc["option_index"]), language=doc["language"])
    if item.key != doc["doc_key"]:
        raise DataError(f"document {doc['doc_key']} was changed after the export (its prompt or options differ): export the task again")
    return item


def check_coverage(items: list[PromptItem], inputs: EvalInputs, cfg) -> None:
    """Every document belongs to the config's questions, countries, templates and orders, and every pair with human
    answers has a prompt."""
    other = sorted({(it.template, it.order) for it in items if it.template not in cfg.probe.templates or it.order not in cfg.probe.orders})
    if other:
        raise DataError(f"the samples hold prompts of template/order {other[0][0]}/{other[0][1]}, which this config does not ask: "
                        "pass the config the task was exported with")
    countries = {c.alpha3 for c in inputs.countries} | {NO_COUNTRY}
    foreign = sorted({(it.country, it.qid) for it in items if it.country not in countries or it.qid not in set(inputs.qids)})
    if foreign:
        raise DataError(f"the samples hold prompts for {', '.join(f'{c}/{q}' for c, q in foreign[:5])} outside this config's "
                        "countries and questions: pass the config the task was exported with")
    have = {(it.country, it.qid) for it in items}
    pairs = set(zip(inputs.reference.df["country"], inputs.reference.df["qid"]))
    missing = sorted(pairs - have)
    if missing:
        raise DataError(f"the samples lack {len(missing)} (country, question) pairs of this config (e.g. {missing[0][0]}/{missing[0][1]}): "
                        "run lm_eval without --limit, or pass the config the task was exported with")


def model_facts(samples: Path) -> dict:
    """Who lm_eval scored: model type and arguments from results_<date>.json, and a fingerprint of them."""
    res = results_file(samples)
    meta = json.loads(res.read_text()) if res else {}
    conf = meta.get("config", {})
    name = meta.get("model_name") or str(conf.get("model_args", "")) or samples.parent.name
    fp = hashlib.sha256(json.dumps([conf.get("model"), conf.get("model_args"), conf.get("model_num_parameters"), name],
                                   sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {"name": name, "backend": conf.get("model"), "model_args": conf.get("model_args"), "fingerprint": f"lm-eval:{fp}",
            "num_parameters": conf.get("model_num_parameters"), "lm_eval_version": meta.get("lm_eval_version"),
            "results_file": str(res) if res else None, "chat_template": meta.get("chat_template")}


def import_lm_eval(samples_path: str | Path, cfg, overwrite: bool = False) -> Path:
    """The run folder of lm-eval samples, written like `culturelens eval` writes one."""
    from culturelens.core.inputs import resolve_inputs

    samples = find_samples(samples_path)
    rows = read_samples(samples)
    inputs = resolve_inputs(cfg)
    items = [prompt_item(r["doc"]) for r in rows]
    check_coverage(items, inputs, cfg)
    results = {it.key: probe_result(r["doc"], r["loglikelihoods"]) for it, r in zip(items, rows)}
    facts = {**model_facts(samples), "samples_file": str(samples)}
    return write_run_folder(cfg, inputs, items, results, facts, overwrite)


def run_record(cfg, items: list[PromptItem], per_prompt, facts: dict, name: str) -> dict:
    """summary.json -> run for an imported run: who lm_eval scored and with which backend (no probe timing here)."""
    return {
        "model": name, "model_source": "lm-eval", "fingerprint": facts["fingerprint"], "num_parameters": facts["num_parameters"],
        "chat_template": bool(facts.get("chat_template")) or None, "n_prompts": len(items), "n_cached": 0,
        "probe_seconds": None, "prompts_per_second": None, "total_seconds": None, "fallback_labels": [],
        "templates": cfg.probe.templates, "orders": cfg.probe.orders,  # check_coverage: the documents use these
        "prompt_languages": per_prompt["language"].value_counts().to_dict(), "reference": cfg.reference,
        "experiment": cfg.experiment, "lm_eval": {k: facts[k] for k in ("backend", "model_args", "lm_eval_version", "results_file")},
    }


def write_run_folder(cfg, inputs: EvalInputs, items: list[PromptItem], results: dict[str, ProbeResult], facts: dict,
                     overwrite: bool = False) -> Path:
    """The run folder through `culturelens eval`'s own steps after probing (results, summarise, report, track), written
    into a temporary folder and moved into place when complete, like an eval (core.runstaging)."""
    from culturelens.core.inputs import slug
    from culturelens.core.manifest import ModelIdentity, collect_manifest, input_hashes, sha256_path
    from culturelens.core.paths import ensure_writable_dir
    from culturelens.core.runfolder import RunFolder
    from culturelens.core.runstaging import RunStaging
    from culturelens.core.tracking import fail
    from culturelens.eval.runner import finish_run, start_tracking, track

    name = cfg.model.label or f"{Path(str(facts['name'])).name}@lm-eval"
    exp_dir = ensure_writable_dir(Path(cfg.output_dir) / slug(cfg.experiment), "output_dir")
    staging = RunStaging(exp_dir, cfg.run_name or slug(name), overwrite).begin()
    manifest = collect_manifest(model=ModelIdentity(name_or_path=str(facts["name"]), fingerprint=facts["fingerprint"]),
                                data={**input_hashes(cfg.reference, cfg.questions_file, cfg.countries_file),
                                      "lm_eval_samples": sha256_path(facts["samples_file"])}, seeds={"seed": cfg.seed})
    wb = None
    try:
        folder = RunFolder(staging.path)
        folder.write_config(cfg)
        folder.write_example_prompts(it.text for it in items[:: max(1, len(items) // 4)][:4])
        wb = start_tracking(cfg, staging.name, exp_dir, manifest)
        final, summary, paths, per_prompt = finish_run(
            cfg, inputs, staging, wb, manifest, items, results, name,
            lambda per_prompt: run_record(cfg, items, per_prompt, facts, name), f"{name} (scored by lm-evaluation-harness)",
            extra_files=lambda run_dir: copy_lm_eval_files(facts, run_dir))
    except BaseException as exc:
        fail(wb, exc)
        raise
    finally:
        staging.release()
    if wb is not None:
        track(wb, cfg, final, summary, paths, per_prompt)
    return final


def copy_lm_eval_files(facts: dict, run_dir: Path) -> None:
    """The samples and results files lm_eval wrote, kept with the run under lm_eval/."""
    (run_dir / "lm_eval").mkdir(exist_ok=True)
    for f in filter(None, [facts.get("samples_file"), facts.get("results_file")]):
        shutil.copy2(f, run_dir / "lm_eval" / Path(f).name)
