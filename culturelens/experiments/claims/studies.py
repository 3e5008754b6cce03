"""Extra evals behind the claims: claim 2 under each template x option order, and English vs native prompts."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from culturelens.core.config import deep_merge, validate_config
from culturelens.core.errors import ConfigError
from culturelens.core.prompts import NO_COUNTRY
from culturelens.core.runfolder import RunFolder
from culturelens.eval.config import EvalConfig
from culturelens.eval.statistics import metrics
from culturelens.eval.statistics.multiple import bh_q
from culturelens.experiments.claims.bias import bias_gap, gap_reduction
from culturelens.experiments.claims.config import ModelEntry, eval_config_for
from culturelens.experiments.claims.context import ClaimsContext


def study_labels(wanted: list[str] | None, ctx: ClaimsContext, what: str) -> list[str]:
    """The entries a study runs on: the ones named, or every entry without an adapter."""
    unknown = [m for m in (wanted or []) if m not in ctx.runs]
    if unknown:
        raise ConfigError(f"{what}.models {unknown} are not evaluated entries (have: {list(ctx.runs)})")
    return wanted or [m for m, r in ctx.runs.items() if not r.entry.model.adapter and r.facts.stage != "reference"]


def extra_eval(ctx: ClaimsContext, entry: ModelEntry, run_name: str, probe: dict, progress: bool) -> RunFolder:
    """One more eval of `entry` on the bias questions with other probe settings (cached like every eval)."""
    from culturelens.eval.runner import run_eval

    base = eval_config_for(ctx.cfg, entry, ctx.cfg.split_file if ctx.split is not None else None)
    data = deep_merge(base.model_dump(), {"run_name": run_name, "questions": ctx.bias_q, "probe": probe})
    ecfg = validate_config(EvalConfig, data, f"claims entry '{entry.label}' ({run_name})")
    return RunFolder(run_eval(ecfg, progress=progress, overwrite=True))  # claims own their run folders: a rerun replaces them


def gap_range(gaps: list[float | None]) -> list[float] | None:
    """[min, max] of the gaps that exist (a variant whose gap is undefined, e.g. too few countries, is left out)."""
    known = [g for g in gaps if g is not None]
    return [min(known), max(known)] if known else None


def _variant(ctx: ClaimsContext, template: str, order: str, grp: pd.DataFrame) -> dict:
    """One template x order: the Western gap beyond the null, its verdict, and the raw (old-rule) gap."""
    scores = grp[["country", "qid", "score"]]
    gap = bias_gap(scores, ctx.human, ctx.countries, ctx.bias_q, ctx.n_boot, ctx.seed)
    return {"template": template, "order": order, "gap": gap.gap, "ci": gap.ci, "p": gap.block.get("p"), "verdict_claim2": gap.verdict,
            "raw_gap": gap.raw.get("gap"), "raw_gap_ci": gap.raw.get("ci"), "mean_question_r": gap.mean_question_r}


def robustness_study(ctx: ClaimsContext, progress: bool = True) -> dict:
    """Per model and (template, option order): the Western gap with its CI, its two-sided Welch p and the Benjamini-Hochberg
    q-value among every variant of the table, and the mean per-question r, so a claim 2 verdict that holds only under
    one prompt wording is visible."""
    rs = ctx.cfg.robustness
    out = {"questions": ctx.bias_q, "models": {}}
    for label in study_labels(rs.models, ctx, "robustness"):
        folder = extra_eval(ctx, ctx.runs[label].entry, f"{label}-robustness", {"templates": rs.templates, "orders": rs.orders}, progress)
        per_prompt = folder.per_prompt()
        per_prompt = per_prompt[per_prompt["country"] != NO_COUNTRY]
        rows = [_variant(ctx, template, order, grp) for (template, order), grp in per_prompt.groupby(["template", "order"])]
        spread = folder.summary().robustness  # per-question score std, from the eval
        out["models"][label] = {"variants": rows, "claim2_flips": len({r["verdict_claim2"] for r in rows}) > 1, "run_dir": str(folder.path),
                                "gap_range": gap_range([r["gap"] for r in rows]),
                                "score_std_per_question": spread.score_std_per_question, "mean_score_std": spread.mean_score_std}
    rows = [r for m in out["models"].values() for r in m["variants"]]
    for r, q in zip(rows, bh_q([r["p"] for r in rows])):
        r["q_bh"] = q
    return out


def _language_run(ctx: ClaimsContext, entry: ModelEntry, lang: str, progress: bool) -> dict:
    ls = ctx.cfg.languages
    folder = extra_eval(ctx, entry, f"{entry.label}-prompts-{lang}", {
        "templates": ls.templates, "orders": ["original"], "language": lang, "translations_file": ls.translations_file}, progress)
    scores = folder.scores()
    gap = bias_gap(scores, ctx.human, ctx.countries, ctx.bias_q, ctx.n_boot, ctx.seed)
    s, h = scores[scores["qid"].isin(ctx.bias_q)], ctx.human[ctx.human["qid"].isin(ctx.bias_q)]
    perc = metrics.per_country(s, h).set_index("country")["r"]
    langs = folder.per_prompt().groupby("country")["language"].agg(lambda x: sorted(set(x)))
    return {"dir": str(folder.path), "gap": gap, "perc": perc, "langs": langs}


def language_study(ctx: ClaimsContext, progress: bool = True) -> dict:
    """Per model: per-country r and the Western gap with English prompts vs prompts in each country's main
    language (same template, questions and countries), and the change with a paired bootstrap CI over countries."""
    import json

    ls = ctx.cfg.languages
    if not Path(ls.translations_file).exists():
        raise ConfigError(f"languages.translations_file '{ls.translations_file}' does not exist: write one with "
                          "`culturelens translate` or use configs/translations/ethics_native.json")
    labels = study_labels(ls.models, ctx, "languages")
    source = json.loads(Path(ls.translations_file).read_text()).get("source", "")
    out = {"translations_file": ls.translations_file, "source": source, "templates": ls.templates, "questions": ctx.bias_q, "models": {}}
    for label in labels:
        res = {lang: _language_run(ctx, ctx.runs[label].entry, lang, progress) for lang in ("en", "native")}
        translated = sorted(c for c, ls_ in res["native"]["langs"].items() if any(x != "en" for x in ls_))
        en, nat = res["en"]["perc"], res["native"]["perc"]
        out["models"][label] = {
            "gap_en": res["en"]["gap"].as_dict(), "gap_native": res["native"]["gap"].as_dict(),
            "gap_change": gap_reduction(res["native"]["gap"], res["en"]["gap"], ctx.countries, ctx.n_boot, ctx.seed),
            "translated_countries": translated,
            "r_translated": metrics.paired_bootstrap_diff(nat.reindex(translated), en.reindex(translated),
                                                          n_boot=ctx.n_boot, seed=ctx.seed),
            "per_country": [{"country": c, "language": ",".join(res["native"]["langs"].get(c, [])),
                             "western": bool(ctx.countries[c].western),
                             "r_en": en.get(c), "r_native": nat.get(c)} for c in translated],
            "run_dirs": {k: v["dir"] for k, v in res.items()},
        }
    changes = [m["gap_change"] for m in out["models"].values()]  # one table row per model: BH among them
    for ch, q in zip(changes, bh_q([ch.get("p") for ch in changes])):
        ch["q_bh"] = q
    return out
