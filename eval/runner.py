"""`culturelens eval`: build prompts, probe the model (cached, resumable), compare with humans, report.

`run_eval` is four steps, one function each: build_items (prompts rendered for the backend),
probe_prompts (any backend of eval/backends/base.py behind the probe cache), finish_run (results, summary, report,
the run folder moved into place; `culturelens import lm-eval` finishes its runs with it too), track (W&B).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from culturelens.core.batteries import questionnaire_clusters
from culturelens.core.ci import CI
from culturelens.core.errors import DataError, first_line
from culturelens.core.inputs import EvalInputs, resolve_inputs, slug
from culturelens.core.jsonsafe import safe_float as _f
from culturelens.core.manifest import Manifest, collect_manifest, input_hashes, model_identity
from culturelens.core.paths import ensure_writable_dir
from culturelens.core.prompts import NO_COUNTRY, PromptItem, build_prompts
from culturelens.core.questions import QuestionBank
from culturelens.core.runfolder import RunFolder
from culturelens.core.runstaging import RunStaging
from culturelens.eval.backends import ProbeBackend, ProbeResult, make_backend
from culturelens.eval.backends.cache import CachingBackend, ProbeCache, ScoreStats
from culturelens.eval.config import EvalConfig
from culturelens.eval.reporting import cultural_map
from culturelens.eval.reporting.report import write_report
from culturelens.eval.statistics import metrics
from culturelens.eval.statistics.country_knowledge import country_knowledge, merge_into_summary
from culturelens.eval.statistics.orders import order_spread

log = logging.getLogger(__name__)


def results_frame(items, results: dict[str, ProbeResult], bank: QuestionBank, model_name: str) -> pd.DataFrame:
    rows = []
    for it in items:
        res = results[it.key]
        scores = bank.get(it.qid).scores
        rows.append(
            {
                "model": model_name,
                "template": it.template,
                "order": it.order,
                "language": it.language,
                "country": it.country,
                "qid": it.qid,
                "probs": res.probs,
                "mass": res.mass,
                "mode": res.mode,
                "score": float(sum(p * s for p, s in zip(res.probs, scores))),
                "prompt_key": it.key,
            }
        )
    return pd.DataFrame(rows)


def summarise(model_df: pd.DataFrame, inputs: EvalInputs, cfg: EvalConfig, qids: list[str] | None = None) -> dict:
    """Every metric on the questions `qids` (default: all), each cross-country number next to its permutation null."""
    human = inputs.reference.df
    if qids is not None:
        model_df = model_df[model_df["qid"].isin(qids)]
        human = human[human["qid"].isin(qids)]
    categories = {q: inputs.bank.get(q).category for q in inputs.qids}
    scores = {q: inputs.bank.get(q).scores for q in inputs.qids}
    countries = {c.alpha3: c for c in inputs.countries}
    summary = metrics.compute_summary(model_df, human, categories, cfg.groups, countries, scores, n_boot=cfg.n_boot, seed=cfg.seed)
    clusters = {q: i for i, members in enumerate(questionnaire_clusters(inputs.bank, inputs.qids)) for q in members}
    knowledge = country_knowledge(model_df, human, categories, cfg.groups, countries, scores, n_perm=cfg.n_perm,
                                  n_boot=cfg.n_boot, seed=cfg.seed, clusters=clusters)
    return merge_into_summary(summary, knowledge)


def robustness(per_prompt: pd.DataFrame, inputs: EvalInputs, bank: QuestionBank) -> dict:
    """Spread of agreement across templates and option orders (and per order alone: `orders`), and per question
    the std of the mean score."""
    human = inputs.reference.df
    variants = []
    for (template, order), grp in per_prompt[per_prompt["country"] != NO_COUNTRY].groupby(["template", "order"]):
        perq = metrics.per_question(grp, human)
        pooled = metrics.pooled(grp, human)
        variants.append(
            {"template": template, "order": order, "mean_question_r": _f(perq["r"].mean()), "pooled_r": pooled["r"]}
        )
    persona = per_prompt[per_prompt["country"] != NO_COUNTRY]
    per_q_std = persona.groupby(["country", "qid"])["score"].std().groupby("qid").mean()
    rs = [v["pooled_r"] for v in variants if v["pooled_r"] is not None]
    return {
        "variants": variants,
        "pooled_r_range": [min(rs), max(rs)] if rs else None,
        "score_std_per_question": {q: _f(v) for q, v in per_q_std.items()},
        "mean_score_std": _f(per_q_std.mean()),
        "orders": order_spread(per_prompt, human),
    }


def build_items(cfg: EvalConfig, inputs: EvalInputs, backend: ProbeBackend) -> list[PromptItem]:
    """Every prompt of the run, rendered as the backend needs them (its tokenizer's chat template, or plain)."""
    pairs = set(zip(inputs.reference.df["country"], inputs.reference.df["qid"]))
    questions = [inputs.bank.get(q) for q in inputs.qids]
    translations = None
    if cfg.probe.language == "native":
        from culturelens.core.translations import Translations

        if not cfg.probe.translations_file:
            raise DataError("probe.language=native needs probe.translations_file (write one with `culturelens translate`)")
        translations = Translations.load(cfg.probe.translations_file)
    return build_prompts(
        backend.tokenizer, questions, inputs.countries, pairs, cfg.probe.templates, cfg.probe.orders,
        cfg.probe.labels, cfg.probe.answer_cue, backend.is_chat, translations=translations,
    )


def probe_prompts(cfg: EvalConfig, backend: ProbeBackend, items: list[PromptItem], run_dir: Path,
                  progress: bool, wb=None) -> tuple[dict[str, ProbeResult], ScoreStats]:
    """Probe step: every prompt through the probe cache; finished batches also go to results.partial.jsonl and, when
    tracked, the W&B run's live progress (prompts done, prompts/s, cached)."""
    from culturelens.core.tracking import log_progress

    delay = float(os.environ.get("CULTURELENS_DEBUG_BATCH_DELAY", "0"))  # test hook: slow runs down to interrupt them
    cache = ProbeCache(cfg.cache_dir)
    cached = CachingBackend(backend, cache, batch_delay_s=delay)
    partial = RunFolder(run_dir).open_partial()
    fresh, t_start = 0, time.time()

    def write_partial(done: dict[str, ProbeResult]) -> None:
        nonlocal fresh
        for k, v in done.items():
            partial.write(json.dumps({"prompt_key": k, **dataclasses.asdict(v)}) + "\n")
        partial.flush()
        fresh += len(done)
        s = cached.stats
        log_progress(wb, done=s.n_cached + fresh, total=s.n_prompts, cached=s.n_cached, seconds=time.time() - t_start, fresh=fresh)

    try:
        results = cached.score(items, on_batch=write_partial, progress=progress, desc=f"probe {backend.name}")
    finally:
        partial.close()
        cache.close()
    s = cached.stats
    log_progress(wb, done=s.n_prompts, total=s.n_prompts, cached=s.n_cached, seconds=s.probe_seconds, fresh=fresh)
    return results, cached.stats


def write_results(run_dir: Path, items: list[PromptItem], results: dict[str, ProbeResult], inputs: EvalInputs,
                  model_name: str) -> pd.DataFrame:
    per_prompt = results_frame(items, results, inputs.bank, model_name)
    RunFolder(run_dir).write_per_prompt(per_prompt)
    return per_prompt


def run_record(cfg: EvalConfig, backend: ProbeBackend, per_prompt: pd.DataFrame, stats: ScoreStats, t0: float) -> dict:
    """summary.json -> run: what was scored, how, and how long it took."""
    fresh = stats.n_prompts - stats.n_cached
    return {
        "model": backend.name,
        "model_source": backend.source,
        "fingerprint": backend.fingerprint,
        "num_parameters": backend.num_parameters,
        "chat_template": backend.is_chat,
        "n_prompts": stats.n_prompts,
        "n_cached": stats.n_cached,
        "probe_seconds": stats.probe_seconds,
        "prompts_per_second": fresh / stats.probe_seconds if stats.probe_seconds > 0 and fresh > 0 else None,
        "total_seconds": time.time() - t0,
        "fallback_labels": sorted(backend.fallback_labels),
        # prompts whose label probabilities the backend could not all read (a server without echo): their mass is partial
        "incomplete_prompts": int((per_prompt["mode"] == "incomplete").sum()),
        "templates": cfg.probe.templates,
        "prompt_languages": per_prompt["language"].value_counts().to_dict(),
        "orders": cfg.probe.orders,
        "reference": cfg.reference,
        "experiment": cfg.experiment,
        **compute_record(backend),
    }


def compute_record(backend: ProbeBackend) -> dict:
    """What an hf probe computed for the fresh prompts: forward passes, token positions run, intra-op threads chosen
    over the job ([seconds, threads, other processes' busy CPUs] every few seconds); empty for other backends."""
    stats, threads = getattr(backend, "stats", None), getattr(backend, "threads", None)
    if stats is None:
        return {}
    return {"forward_passes": stats.forwards, "tokens_computed": stats.tokens_computed,
            "threads": None if threads is None else {"setting": "auto" if threads.auto else threads.cap, "cap": threads.cap,
                                                     "history": threads.history}}


def finish_run(cfg: EvalConfig, inputs: EvalInputs, staging: RunStaging, wb, manifest, items: list[PromptItem],
               results: dict[str, ProbeResult], model_name: str, record: Callable[[pd.DataFrame], dict], title: str,
               extra_files: Callable[[Path], None] | None = None) -> tuple[Path, dict, list[Path], pd.DataFrame]:
    """From probe results to a finished run folder, the same for `culturelens eval` and `culturelens import lm-eval`:
    results files, the summary (every metric, `record(per_prompt)` as its run record, the manifest, the W&B folder),
    the report, then the staged folder moved into place. Returns (final folder, summary, report files in it,
    per-prompt table) for the W&B step (`track`), which runs after the folder is in place."""
    from culturelens.core.tracking import run_folder

    run_dir = staging.path
    per_prompt = write_results(run_dir, items, results, inputs, model_name)
    model_df = metrics.aggregate(per_prompt, inputs.bank)
    summary = summarise_metrics(cfg, inputs, per_prompt, model_df)
    summary["run"] = record(per_prompt)
    summary["manifest"] = manifest.model_dump(mode="json")
    summary["run"]["wandb_dir"] = str(run_folder(wb)) if wb is not None else None
    paths = report(run_dir, cfg, inputs, summary, model_df, title)
    if extra_files is not None:
        extra_files(run_dir)
    final = staging.finish()
    return final, summary, [final / p.relative_to(run_dir) for p in paths], per_prompt


def summarise_metrics(cfg: EvalConfig, inputs: EvalInputs, per_prompt: pd.DataFrame, model_df: pd.DataFrame) -> dict:
    """Every metric of summary.json but the run record: all questions, robustness, the train/held-out splits."""
    summary = summarise(model_df, inputs, cfg)
    summary["robustness"] = robustness(per_prompt, inputs, inputs.bank)
    if cfg.split.file:
        split = read_split(cfg.split.file)
        summary["splits"] = {
            name: summarise(model_df, inputs, cfg, [q for q in split.get(name, []) if q in inputs.qids])
            for name in ("train", "heldout")
            if any(q in inputs.qids for q in split.get(name, []))
        }
    return summary


def report(run_dir: Path, cfg: EvalConfig, inputs: EvalInputs, summary: dict, model_df: pd.DataFrame, model_name: str) -> list[Path]:
    """Report step: summary.json, report.md and figures (eval/reporting/report.py; the cultural map when the run has its
    items), and scores.jsonl."""
    per_pair = model_df[model_df["country"] != NO_COUNTRY].merge(inputs.reference.df[["country", "qid", "mean"]], on=["country", "qid"])
    cmap = cultural_map.cultural_map(inputs.reference.df, {model_name: cultural_map.model_table(model_df)}, inputs.bank)
    if cmap is not None:
        summary["cultural_map"] = cultural_map.to_json(cmap)
    paths = write_report(run_dir, summary, title=f"{model_name} on {cfg.reference}", per_pair=per_pair, cultural_map=cmap)
    RunFolder(run_dir).write_scores(model_df)
    return paths


def eval_manifest(cfg: EvalConfig, backend: ProbeBackend) -> Manifest:
    """What produced this run's numbers (core/manifest.py): versions, commit, hardware, command, model, data, seeds."""
    return collect_manifest(model=model_identity(cfg.model, fingerprint=backend.fingerprint),
                            data=input_hashes(cfg.reference, cfg.questions_file, cfg.countries_file), seeds={"seed": cfg.seed})


def start_tracking(cfg: EvalConfig, run_name: str, exp_dir: Path, manifest: Manifest):
    """The eval's W&B run, started before the probe (so a crash leaves a record); None when tracking is off."""
    from culturelens.core.tracking import start_run

    config = {**cfg.model_dump(mode="json"), "manifest": manifest.model_dump(mode="json")}
    wb = start_run(cfg.wandb, name=run_name, group=cfg.experiment, job_type="eval", config=config, run_dir=exp_dir)
    if wb is not None:
        from culturelens.eval.reporting.lineage import declare_scored_model

        declare_scored_model(wb, cfg.model)  # the model artifact of the adapter (or merged model) scored, if any
    return wb


def per_prompt_table(per_prompt: pd.DataFrame) -> pd.DataFrame:
    """Per-prompt results as W&B Table columns (the option probabilities as one JSON text per row)."""
    table = per_prompt.drop(columns=["probs"]).copy()
    table["probs"] = [json.dumps([round(float(p), 6) for p in probs]) for probs in per_prompt["probs"]]
    return table


def track(wb, cfg: EvalConfig, run_dir: Path, summary: dict, paths: list[Path], per_prompt: pd.DataFrame) -> None:
    """Track step, on the finished run folder: the summary, tables (per prompt too) and figures, the `evaluation`
    artifact (named after the final run name); then the W&B facts go into summary.json. A W&B error is one warning:
    the run folder is already complete."""
    from culturelens.core.tracking import finish, log_images, log_table
    from culturelens.eval.reporting.lineage import log_evaluation

    try:
        wb.summary.update(flatten_summary(summary))
        log_table(wb, "by_category", pd.DataFrame(summary["by_category"]))
        log_table(wb, "by_zone", pd.DataFrame(summary["by_zone"]))
        log_table(wb, "per_question", pd.DataFrame(summary["per_question"]))
        log_table(wb, "per_prompt", per_prompt_table(per_prompt))
        log_images(wb, [p for p in paths if p.suffix == ".png"])
        evaluation = log_evaluation(wb, cfg.experiment, run_dir, summary)
        finish(wb)
    except Exception as exc:  # network, quota, a W&B bug: the eval is finished and stays so
        log.warning("W&B logging failed (%s); the run folder %s is complete; its W&B run may be partial", first_line(exc), run_dir)
        return
    folder = RunFolder(run_dir)
    summary["run"]["wandb_artifact"] = evaluation.model_dump(mode="json") if evaluation else None
    folder.write_summary(summary)
    folder.mark_complete()  # summary.json changed: the completion marker hashes the final one


def check_files(cfg: EvalConfig) -> None:
    """Every path of the config that the run reads or writes after the model loads, checked before it loads: the
    probe cache and W&B folders are writable, the split and translations files read."""
    from culturelens.eval.backends.cache import default_cache_dir

    # the W&B folder first: the cache check creates the cache folder, which a refused run should not leave behind
    if cfg.wandb.enabled and cfg.wandb.dir:
        ensure_writable_dir(cfg.wandb.dir, "wandb.dir")
    ensure_writable_dir(cfg.cache_dir or default_cache_dir(), "cache_dir (the probe cache; or set CULTURELENS_CACHE)")
    if cfg.split.file:
        read_split(cfg.split.file)
    if cfg.probe.language == "native":
        from culturelens.core.translations import Translations

        Translations.load(cfg.probe.translations_file)


def read_split(path: str) -> dict[str, list[str]]:
    """split.file: {"train": [qids], "heldout": [qids]} (written by `culturelens synth`); a DataError otherwise."""
    fix = "pass the split.json written by `culturelens synth`"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"split.file '{path}' does not exist: {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"split.file '{path}' cannot be read as JSON ({type(exc).__name__}): {fix}") from None
    if not isinstance(data, dict) or not any(k in data for k in ("train", "heldout")):
        raise DataError(f"split.file '{path}' has no 'train' or 'heldout' list: {fix}")
    for key in ("train", "heldout"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(q, str) for q in value):
            raise DataError(f"split.file '{path}': '{key}' must be a list of question ids: {fix}")
    return data


def start_run_folder(cfg: EvalConfig, inputs: EvalInputs, overwrite: bool) -> tuple[ProbeBackend, RunStaging]:
    """Check the output paths first, then load the backend: output_dir must be writable and, when run_name is
    given, the run folder free (or `overwrite`) before any model loads. Returns the backend and the staged folder."""
    exp_dir = ensure_writable_dir(Path(cfg.output_dir) / slug(cfg.experiment), "output_dir")
    check_files(cfg)
    staging = RunStaging(exp_dir, cfg.run_name, overwrite).begin() if cfg.run_name else None
    try:
        backend = make_backend(cfg, inputs)
    except BaseException:
        if staging is not None:
            staging.release()
        raise
    return backend, staging or RunStaging(exp_dir, slug(backend.name), overwrite).begin()


def run_eval(cfg: EvalConfig, progress: bool = True, overwrite: bool = False) -> Path:
    """Build the prompts, probe (cached, resumable), summarise, report, track; returns the finished run folder.

    The run is written into a temporary folder and moved into place when complete (core.runstaging); an existing
    run folder of the same name is an error unless `overwrite` (then it is replaced once the new run is complete).
    The W&B run (when enabled) starts before the probe and logs progress; the results are logged once the run folder
    is in place, so W&B trouble never loses a finished eval.
    """
    from culturelens.core.tracking import fail

    t0 = time.time()
    inputs = resolve_inputs(cfg)
    backend, staging = start_run_folder(cfg, inputs, overwrite)
    wb = None
    try:
        run_dir = staging.path
        folder = RunFolder(run_dir)
        folder.write_config(cfg)
        manifest = eval_manifest(cfg, backend)
        items = build_items(cfg, inputs, backend)
        folder.write_example_prompts(it.text for it in items[:: max(1, len(items) // 4)][:4])
        wb = start_tracking(cfg, staging.name, staging.parent, manifest)
        results, stats = probe_prompts(cfg, backend, items, run_dir, progress, wb)
        final, summary, paths, per_prompt = finish_run(
            cfg, inputs, staging, wb, manifest, items, results, backend.name,
            lambda per_prompt: run_record(cfg, backend, per_prompt, stats, t0), backend.name)
    except BaseException as exc:
        fail(wb, exc)
        raise
    finally:
        staging.release()
    if wb is not None:
        track(wb, cfg, final, summary, paths, per_prompt)
    if backend.fallback_labels:
        log.warning("labels %s were not single tokens: their options were scored as the label and its end", sorted(backend.fallback_labels))
    if summary["run"]["incomplete_prompts"]:
        log.warning("%d prompt(s) are mode=incomplete: the server did not give every label's log-prob (no echo support?); "
                    "their option mass is partial", summary["run"]["incomplete_prompts"])
    return final


def flatten_summary(summary: dict) -> dict:
    """The summary as flat W&B metrics under stable keys, the same for every run so W&B's run comparison lines them up:
    pooled_r, mean_question_r, mean_country_r, mean_mass, r/section/<WVS section>, r/group/<group>, r/zone/<zone>,
    western_gap/{gap, western_r, non_western_r, gap_ci_lo, gap_ci_hi} (the bounds of the gap's ``ci``); r/category/<section>
    and western_gap (the gap) are kept under their earlier names."""
    gap = summary["western_gap"]
    ci = CI.model_validate(gap.get("ci") or {})
    flat = {
        "pooled_r": summary["pooled"]["r"],
        "western_gap": gap.get("gap"),
        "western_gap_verdict": gap.get("verdict"),
        "mean_question_r": summary.get("mean_question_r"),
        "mean_question_r_null": ((summary.get("nulls") or {}).get("mean_question_r") or {}).get("null_mean"),
        "mean_country_r": summary.get("mean_country_r"),
        "mean_mass": summary.get("mean_mass"),
        "western_gap/gap": gap.get("gap"), "western_gap/western_r": gap.get("western_r"),
        "western_gap/non_western_r": gap.get("non_western_r"), "western_gap/gap_ci_lo": ci.lo, "western_gap/gap_ci_hi": ci.hi,
    }
    for row in summary["by_category"]:
        flat[f"r/section/{row['category']}"] = row["mean_r"]
        flat[f"r/category/{row['category']}"] = row["mean_r"]
    for row in summary["by_group"]:
        flat[f"r/group/{row['group']}"] = row["mean_r"]
    for row in summary["by_zone"]:
        flat[f"r/zone/{row['zone']}"] = row["mean_r"]
    return flat
