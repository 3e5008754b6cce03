"""`culturelens eval`: build prompts, probe the model (cached, resumable), compare with humans, report."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import time
from pathlib import Path

import pandas as pd

from culturelens.core.config import dump_config
from culturelens.core.errors import DataError
from culturelens.eval import metrics
from culturelens.eval.cache import ProbeCache
from culturelens.eval.config import EvalConfig
from culturelens.eval.probe import Probe, ProbeResult
from culturelens.core.prompts import NO_COUNTRY, build_prompts
from culturelens.eval.report import write_report
from culturelens.core.jsonl import open_append
from culturelens.core.models import load_model
from culturelens.core.inputs import EvalInputs, resolve_inputs, slug
from culturelens.core.questions import QuestionBank

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


def aggregate(per_prompt: pd.DataFrame, bank: QuestionBank) -> pd.DataFrame:
    """One row per (country, qid): option probabilities averaged over templates and option orders."""
    rows = []
    for (country, qid), grp in per_prompt.groupby(["country", "qid"], sort=False):
        k = len(grp["probs"].iloc[0])
        probs = [sum(p[i] for p in grp["probs"]) / len(grp) for i in range(k)]
        score = sum(p * s for p, s in zip(probs, bank.get(qid).scores))
        rows.append({"country": country, "qid": qid, "score": score, "probs": probs, "mass": grp["mass"].mean()})
    return pd.DataFrame(rows)


def summarise(model_df: pd.DataFrame, inputs: EvalInputs, cfg: EvalConfig, qids: list[str] | None = None) -> dict:
    human = inputs.reference.df
    if qids is not None:
        model_df = model_df[model_df["qid"].isin(qids)]
        human = human[human["qid"].isin(qids)]
    categories = {q: inputs.bank.get(q).category for q in inputs.qids}
    scores = {q: inputs.bank.get(q).scores for q in inputs.qids}
    countries = {c.alpha3: c for c in inputs.countries}
    return metrics.compute_summary(model_df, human, categories, cfg.groups, countries, scores, n_boot=cfg.n_boot, seed=cfg.seed)


def robustness(per_prompt: pd.DataFrame, inputs: EvalInputs, bank: QuestionBank) -> dict:
    """Spread of agreement across templates and option orders, and per question the std of the mean score."""
    human = inputs.reference.df
    variants = []
    for (template, order), grp in per_prompt[per_prompt["country"] != NO_COUNTRY].groupby(["template", "order"]):
        perq = metrics.per_question(grp, human)
        pooled = metrics.pooled(grp, human, n_boot=10, seed=0)
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
    }


def _f(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if x != x else x


def server_model(cfg: EvalConfig):
    """For the vLLM backend: the tokenizer (to render prompts with the model's chat template) and a fingerprint."""
    import hashlib
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(cfg.model.name_or_path, revision=cfg.model.revision)
    is_chat = bool(tok.chat_template) if cfg.model.chat == "auto" else bool(cfg.model.chat)
    name = cfg.model.label or cfg.model.name_or_path
    fp = hashlib.sha256(f"server:{cfg.model.name_or_path}:{cfg.model.revision}".encode()).hexdigest()[:16]
    return SimpleNamespace(model=None, tokenizer=tok, name=name, fingerprint=fp, is_chat=is_chat, source="server", num_parameters=None)


def run_eval(cfg: EvalConfig, progress: bool = True, console=None) -> Path:
    t0 = time.time()
    inputs = resolve_inputs(cfg)
    lm = load_model(cfg.model) if cfg.probe.backend == "hf" else server_model(cfg)
    run_name = cfg.run_name or slug(lm.name)
    run_dir = Path(cfg.output_dir) / slug(cfg.experiment) / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, run_dir / "config.yaml")

    pairs = set(zip(inputs.reference.df["country"], inputs.reference.df["qid"]))
    questions = [inputs.bank.get(q) for q in inputs.qids]
    translations = None
    if cfg.probe.language == "native":
        from culturelens.eval.translations import Translations

        if not cfg.probe.translations_file:
            raise DataError("probe.language=native needs probe.translations_file (write one with `culturelens translate`)")
        translations = Translations.load(cfg.probe.translations_file)
    items = build_prompts(
        lm.tokenizer, questions, inputs.countries, pairs, cfg.probe.templates, cfg.probe.orders,
        cfg.probe.labels, cfg.probe.answer_cue, lm.is_chat, translations=translations,
    )
    (run_dir / "example_prompts.txt").write_text("\n\n=====\n\n".join(it.text for it in items[:: max(1, len(items) // 4)][:4]))

    cache = ProbeCache(cfg.cache_dir)
    keys = list({it.key for it in items})
    cached = {k: ProbeResult(**v) for k, v in cache.get_many(lm.fingerprint, keys).items()}
    todo = [it for it in items if it.key not in cached]
    log.info("%d prompts, %d cached, %d to score", len(keys), len(cached), len({it.key for it in todo}))
    if cfg.probe.backend == "hf":
        probe = Probe(lm.model, lm.tokenizer, batch_size=cfg.probe.batch_size, prefix_sharing=cfg.probe.prefix_sharing)
    else:
        from culturelens.eval.vllm_backend import ServerProbe

        probe = ServerProbe(cfg.probe.server_url, cfg.model.name_or_path, concurrency=cfg.probe.server_concurrency)
    partial = open_append(run_dir / "results.partial.jsonl")

    delay = float(os.environ.get("CULTURELENS_DEBUG_BATCH_DELAY", "0"))  # test hook: slow runs down to interrupt them

    def on_batch(done: dict[str, ProbeResult]) -> None:
        cache.put_many(lm.fingerprint, {k: dataclasses.asdict(v) for k, v in done.items()})
        if delay:
            time.sleep(delay)
        for k, v in done.items():
            partial.write(json.dumps({"prompt_key": k, **dataclasses.asdict(v)}) + "\n")
        partial.flush()

    t_probe = time.time()
    fresh = probe.score(todo, on_batch=on_batch, progress=progress, desc=f"probe {lm.name}")
    probe_seconds = time.time() - t_probe
    partial.close()
    cache.close()
    results = {**cached, **fresh}

    per_prompt = results_frame(items, results, inputs.bank, lm.name)
    per_prompt.to_parquet(run_dir / "results.parquet", index=False)
    per_prompt.to_json(run_dir / "results.jsonl", orient="records", lines=True)
    (run_dir / "results.partial.jsonl").unlink(missing_ok=True)
    model_df = aggregate(per_prompt, inputs.bank)

    summary = summarise(model_df, inputs, cfg)
    summary["robustness"] = robustness(per_prompt, inputs, inputs.bank)
    if cfg.split.file:
        split = json.loads(Path(cfg.split.file).read_text())
        summary["splits"] = {
            name: summarise(model_df, inputs, cfg, [q for q in split.get(name, []) if q in inputs.qids])
            for name in ("train", "heldout")
            if any(q in inputs.qids for q in split.get(name, []))
        }
    fallback = sorted(probe.fallback_labels)
    summary["run"] = {
        "model": lm.name,
        "model_source": lm.source,
        "fingerprint": lm.fingerprint,
        "num_parameters": lm.num_parameters,
        "chat_template": lm.is_chat,
        "n_prompts": len(keys),
        "n_cached": len(cached),
        "probe_seconds": probe_seconds,
        "prompts_per_second": (len(keys) - len(cached)) / probe_seconds if probe_seconds > 0 and len(keys) > len(cached) else None,
        "total_seconds": time.time() - t0,
        "fallback_labels": fallback,
        "templates": cfg.probe.templates,
        "prompt_languages": per_prompt["language"].value_counts().to_dict(),
        "orders": cfg.probe.orders,
        "reference": cfg.reference,
        "experiment": cfg.experiment,
    }
    per_pair = model_df[model_df["country"] != NO_COUNTRY].merge(inputs.reference.df[["country", "qid", "mean"]], on=["country", "qid"])
    paths = write_report(run_dir, summary, title=f"{lm.name} on {cfg.reference}", per_pair=per_pair)
    model_df.to_json(run_dir / "scores.jsonl", orient="records", lines=True)

    from culturelens.core.tracking import finish, log_images, log_table, start_run

    wb = start_run(cfg.wandb, name=run_name, group=cfg.experiment, job_type="eval", config=cfg.model_dump(mode="json"), run_dir=run_dir)
    if wb is not None:
        from culturelens.eval.lineage import declare_scored_model, log_evaluation

        declare_scored_model(wb, cfg.model)
        wb.summary.update(flatten_summary(summary))
        log_table(wb, "by_category", pd.DataFrame(summary["by_category"]))
        log_table(wb, "by_zone", pd.DataFrame(summary["by_zone"]))
        log_table(wb, "per_question", pd.DataFrame(summary["per_question"]))
        log_images(wb, [p for p in paths if p.suffix == ".png"])
        evaluation = log_evaluation(wb, cfg.experiment, run_dir, summary)
        summary["run"]["wandb_artifact"] = evaluation.model_dump(mode="json") if evaluation else None
        wandb_dir = finish(wb)
        summary["run"]["wandb_dir"] = str(wandb_dir)
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    if fallback:
        log.warning("labels %s were not single tokens: their options were scored as full strings", fallback)
    return run_dir


def flatten_summary(summary: dict) -> dict:
    """The summary as flat W&B metrics under stable keys, the same for every run so W&B's run comparison lines them up:
    pooled_r, mean_question_r, mean_country_r, mean_mass, r/section/<WVS section>, r/group/<group>, r/zone/<zone>,
    western_gap/{gap, western_r, non_western_r, gap_ci_lo, gap_ci_hi}; r/category/<section> and western_gap (the gap) are
    kept under their earlier names."""
    gap = summary["western_gap"]
    ci = gap.get("gap_ci") or [None, None]
    flat = {
        "pooled_r": summary["pooled"]["r"],
        "mean_question_r": summary.get("mean_question_r"),
        "mean_country_r": summary.get("mean_country_r"),
        "western_gap": gap.get("gap"),
        "mean_mass": summary.get("mean_mass"),
        "western_gap/gap": gap.get("gap"), "western_gap/western_r": gap.get("western_r"),
        "western_gap/non_western_r": gap.get("non_western_r"), "western_gap/gap_ci_lo": ci[0], "western_gap/gap_ci_hi": ci[1],
    }
    for row in summary["by_category"]:
        flat[f"r/section/{row['category']}"] = row["mean_r"]
        flat[f"r/category/{row['category']}"] = row["mean_r"]
    for row in summary["by_group"]:
        flat[f"r/group/{row['group']}"] = row["mean_r"]
    for row in summary["by_zone"]:
        flat[f"r/zone/{row['zone']}"] = row["mean_r"]
    return flat
