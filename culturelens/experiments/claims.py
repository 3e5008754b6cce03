"""`culturelens claims`: test the paper's six claims on a set of models and checkpoints.

Every model entry is evaluated with the same eval settings (cached: a rerun is free), tagged with its
training facts, and each claim is turned into an effect size with a bootstrap 95% CI and a verdict:
"supported" (CI excludes 0 in the claimed direction), "not supported" (it does not), or
"not testable with these models" (the entries needed for the comparison are not in the config).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from culturelens.core.config import StrictModel, deep_merge, load_config, parse_overrides, validate_config
from culturelens.core.errors import ConfigError
from culturelens.eval import metrics
from culturelens.eval.config import EvalConfig
from culturelens.core.prompts import NO_COUNTRY
from culturelens.core.models import ModelConfig
from culturelens.core.tracking import WandbConfig

SUPPORTED, NOT_SUPPORTED, NOT_TESTABLE = "supported", "not supported", "not testable with these models"
ETHICS_QIDS = [f"Q{i}" for i in range(177, 196)]


class ModelFacts(StrictModel):
    family: str
    params: float  # parameter count
    corpus: Literal["english", "multilingual"]
    aligned: bool  # instruction/preference tuned (by its makers or by a culturelens DPO adapter)
    synthetic: bool = False  # fine-tuned on culturelens synthetic data
    stage: Literal["base", "sft", "dpo"] = "base"  # culturelens adapter stage
    base: str | None = None  # label of the entry this adapter was trained from


class ModelEntry(StrictModel):
    label: str
    model: ModelConfig
    facts: ModelFacts


class LanguageSettings(StrictModel):
    """English vs each country's main language, on the bias questions (every country has them)."""

    translations_file: str  # from `culturelens translate`, or supplied by the user (configs/translations/)
    templates: list[str] = Field(default_factory=lambda: ["persona_system"])
    models: list[str] | None = None  # entry labels; default: every entry without an adapter


class RobustnessSettings(StrictModel):
    """Claim 2 under every template x option order, on the bias questions (every country has them)."""

    templates: list[str] = Field(default_factory=lambda: ["persona_system", "persona_inline", "persona_third"])
    orders: list[str] = Field(default_factory=lambda: ["original", "reversed"])
    models: list[str] | None = None  # entry labels; default: every entry without an adapter


class ClaimsConfig(StrictModel):
    experiment: str = "claims"
    output_dir: str = "runs"
    eval: dict = Field(default_factory=dict)  # EvalConfig keys shared by every model (not `model`)
    models: list[ModelEntry]
    bias_questions: list[str] = ETHICS_QIDS  # questions every country has, for the Western-bias claims
    split_file: str | None = None  # held-out questions (from `culturelens synth`) for claims 5 and 6
    languages: LanguageSettings | None = None  # also ask in each country's main language and report the change
    robustness: RobustnessSettings | None = None  # re-test the Western gap under each template and option order
    skip_missing_adapters: bool = True
    n_boot: int = 2000
    seed: int = 0
    wandb: WandbConfig = WandbConfig()  # the claims run itself (default: eval.wandb, the evaluations' settings)


# ------------------------------------------------------------------------------------------ runs


def eval_config_for(cfg: ClaimsConfig, entry: ModelEntry) -> EvalConfig:
    data = deep_merge({"experiment": cfg.experiment, "output_dir": cfg.output_dir, "n_boot": cfg.n_boot, "seed": cfg.seed}, cfg.eval)
    data = deep_merge(data, {"model": entry.model.model_dump(), "run_name": entry.label})
    if cfg.split_file and Path(cfg.split_file).exists():
        data = deep_merge(data, {"split": {"file": cfg.split_file}})
    return validate_config(EvalConfig, data, f"claims entry '{entry.label}'")


def load_scores(run_dir: Path) -> pd.DataFrame:
    return pd.read_json(run_dir / "scores.jsonl", lines=True, dtype={"country": str, "qid": str})


def load_per_prompt(run_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(run_dir / "results.parquet")


# ------------------------------------------------------------------------------ claim helpers


def verdict_from_ci(lo, hi, direction: int = 1) -> str:
    if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)):
        return NOT_TESTABLE
    return SUPPORTED if (lo > 0 if direction > 0 else hi < 0) else NOT_SUPPORTED


def _perq(summary: dict) -> pd.Series:
    return pd.DataFrame(summary["per_question"]).set_index("qid")["r"].astype(float)


def claim_norms(runs: dict, groups: dict, categories: dict, n_boot: int, seed: int) -> dict:
    """Claim 1: mean r(norms) - mean r(systems + progress), averaged over models; questions resampled per group."""
    rng = np.random.default_rng(seed)
    table, per_model = [], {}
    for label, r in runs.items():
        q = _perq(r["summary"]).dropna()
        g = q.index.map(lambda x: groups.get(categories.get(x)))
        norms, others = q[g == "norms"].to_numpy(), q[(g == "systems") | (g == "progress")].to_numpy()
        row = {"model": label}
        for name in ("norms", "systems", "progress"):
            vals = q[g == name]
            row[f"r_{name}"] = float(vals.mean()) if len(vals) else None
        table.append(row)
        if len(norms) >= 2 and len(others) >= 2:
            per_model[label] = (norms, others)
    if not per_model:
        return {"verdict": NOT_TESTABLE, "why": "no model has >= 2 questions in the norms group and in the others", "table": table}
    boots = []
    for _ in range(n_boot):
        diffs = [rng.choice(n, len(n)).mean() - rng.choice(o, len(o)).mean() for n, o in per_model.values()]
        boots.append(np.mean(diffs))
    effect = float(np.mean([n.mean() - o.mean() for n, o in per_model.values()]))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {
        "effect": effect, "ci": [float(lo), float(hi)], "verdict": verdict_from_ci(lo, hi),
        "effect_name": "mean r(norms) - mean r(systems, progress), averaged over models",
        "table": table, "n_models": len(per_model),
    }


def gap_on(scores: pd.DataFrame, human: pd.DataFrame, countries: dict, qids: list[str], n_boot: int, seed: int) -> tuple[dict, pd.Series]:
    s = scores[scores["qid"].isin(qids)]
    h = human[human["qid"].isin(qids)]
    perc = metrics.per_country(s, h)
    return metrics.western_gap(perc, countries, n_boot=n_boot, seed=seed), perc.set_index("country")["r"]


def paired_gap_diff(a: pd.Series, b: pd.Series, countries: dict, n_boot: int, seed: int) -> dict:
    """(gap_a - gap_b) with countries resampled (stratified by Western flag) and paired across the two models."""
    idx = a.dropna().index.intersection(b.dropna().index)
    west = np.array([bool(countries[c].western) for c in idx])
    av, bv = a.reindex(idx).to_numpy(), b.reindex(idx).to_numpy()
    if west.sum() < 2 or (~west).sum() < 2:
        return {"diff": None, "ci": [None, None], "n": len(idx)}

    def gap(x, w_idx, n_idx):
        return x[w_idx].mean() - x[n_idx].mean()

    wi, ni = np.where(west)[0], np.where(~west)[0]
    point = gap(av, wi, ni) - gap(bv, wi, ni)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        w, n = rng.choice(wi, len(wi)), rng.choice(ni, len(ni))
        boots.append(gap(av, w, n) - gap(bv, w, n))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"diff": float(point), "ci": [float(lo), float(hi)], "n": int(len(idx))}


# ------------------------------------------------------------------------------------ the report


def run_claims(config_path: str, overrides: list[str] | None = None, progress: bool = True) -> Path:
    from culturelens.core.inputs import resolve_inputs
    from culturelens.eval.runner import run_eval

    cfg = load_config(ClaimsConfig, config_path, overrides)
    out = Path(cfg.output_dir) / cfg.experiment
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    inputs = None
    for entry in cfg.models:
        if entry.model.adapter and not Path(entry.model.adapter).exists():
            if cfg.skip_missing_adapters:
                skipped[entry.label] = f"adapter {entry.model.adapter} not found (run the synth + train pipeline first)"
                continue
            raise ConfigError(f"claims entry '{entry.label}': adapter {entry.model.adapter} does not exist")
        ecfg = eval_config_for(cfg, entry)
        inputs = inputs or resolve_inputs(ecfg)
        run_dir = run_eval(ecfg, progress=progress)
        runs[entry.label] = {
            "entry": entry, "dir": run_dir, "summary": json.loads((run_dir / "summary.json").read_text()),
            "scores": load_scores(run_dir),
        }
    if not runs:
        raise ConfigError("no claims entry could be evaluated: " + "; ".join(skipped.values()))
    claims = compute_claims(cfg, runs, inputs)
    claims["skipped"] = skipped
    if cfg.robustness:
        claims["robustness_study"] = robustness_study(cfg, runs, inputs, progress)
    if cfg.languages:
        claims["languages"] = language_study(cfg, runs, inputs, progress)
    from culturelens.experiments.claims_report import write_claims_report

    write_claims_report(out, claims, runs)
    from culturelens.experiments.claims_tracking import track_claims

    track_claims(cfg, out, claims, runs)
    return out


def compute_claims(cfg: ClaimsConfig, runs: dict, inputs) -> dict:
    ecfg = eval_config_for(cfg, next(iter(runs.values()))["entry"])
    groups = ecfg.groups
    categories = {q: inputs.bank.get(q).category for q in inputs.qids}
    countries, human, bias_q = _bias_inputs(cfg, inputs)
    facts = {label: r["entry"].facts for label, r in runs.items()}
    out: dict = {"models": {label: {**f.model_dump(), "run_dir": str(runs[label]["dir"])} for label, f in facts.items()}}

    # 1. norms vs systems / progress
    out["1_norms"] = claim_norms(runs, groups, categories, cfg.n_boot, cfg.seed)

    # 2. Western bias
    gaps, perc = {}, {}
    for label, r in runs.items():
        gaps[label], perc[label] = gap_on(r["scores"], human, countries, bias_q, cfg.n_boot, cfg.seed)
    n_west = sum(1 for c in countries.values() if c.western)
    base_rate = n_west / max(1, len(countries))
    nearest = {}
    for label, r in runs.items():
        s = r["scores"][r["scores"]["qid"].isin(bias_q)]
        near = metrics.nearest_countries(s, human[human["qid"].isin(bias_q)])
        if not near.empty:
            top = near.head(5)["country"].tolist()
            nearest[label] = {"top5": top, "western_share": sum(countries[c].western for c in top if c in countries) / len(top)}
    supported = [g for g in gaps.values() if g.get("gap_ci") and g["gap_ci"][0] is not None and g["gap_ci"][0] > 0]
    base_models = [label for label, f in facts.items() if f.stage == "base"]
    mean_gap = float(np.mean([gaps[m]["gap"] for m in base_models if gaps[m].get("gap") is not None])) if base_models else None
    out["2_western_bias"] = {
        "questions": bias_q, "n_western": n_west, "n_countries": len(countries),
        "gaps": gaps, "nearest": nearest, "western_base_rate": base_rate, "mean_gap_base_models": mean_gap,
        "verdict": NOT_TESTABLE if n_west < 2 else (SUPPORTED if base_models and all(
            (gaps[m].get("gap_ci") or [None])[0] is not None and gaps[m]["gap_ci"][0] > 0 for m in base_models) else NOT_SUPPORTED),
        "rule": "supported if every non-adapter model's Western gap CI lies above 0",
        "n_models_gap_ci_above_0": len(supported),
    }

    # 3. multilingual corpus reduces the gap (English-centric vs multilingual, base entries)
    eng = [m for m in base_models if facts[m].corpus == "english"]
    mul = [m for m in base_models if facts[m].corpus == "multilingual"]
    pairs = []
    for e in eng:
        for m in mul:
            ratio = max(facts[e].params, facts[m].params) / min(facts[e].params, facts[m].params)
            d = paired_gap_diff(perc[e], perc[m], countries, cfg.n_boot, cfg.seed)
            pairs.append({"english": e, "multilingual": m, "size_ratio": ratio, "gap_english": gaps[e].get("gap"),
                          "gap_multilingual": gaps[m].get("gap"), "gap_reduction": d["diff"], "ci": d["ci"],
                          "confounds": [k for k in ("family", "aligned") if getattr(facts[e], k) != getattr(facts[m], k)]})
    close = [p for p in pairs if p["size_ratio"] <= 4]
    out["3_multilingual"] = {
        "pairs": pairs,
        "verdict": NOT_TESTABLE if not close else (SUPPORTED if all(verdict_from_ci(*p["ci"]) == SUPPORTED for p in close) else NOT_SUPPORTED),
        "rule": "gap(English-centric) - gap(multilingual) > 0 for every pair within 4x in size",
    }

    # 4. larger is better: within a family, r vs log10(params)
    fam_rows = []
    for fam, aligned in sorted({(f.family, f.aligned) for f in facts.values()}):
        members = sorted([m for m in base_models if facts[m].family == fam and facts[m].aligned == aligned], key=lambda m: facts[m].params)
        if len(members) >= 2 and facts[members[-1]].params > facts[members[0]].params:
            small, large = members[0], members[-1]
            d = metrics.paired_bootstrap_diff(_perq(runs[large]["summary"]), _perq(runs[small]["summary"]), n_boot=cfg.n_boot, seed=cfg.seed)
            fam_rows.append({"family": fam, "aligned": aligned, "small": small, "large": large, **d})
    cross = [{"model": m, "params": facts[m].params, "mean_question_r": runs[m]["summary"].get("mean_question_r")} for m in base_models]
    slope = None
    if len(cross) >= 2:
        x = np.log10([c["params"] for c in cross])
        y = np.array([c["mean_question_r"] if c["mean_question_r"] is not None else np.nan for c in cross])
        if np.isfinite(y).sum() >= 2 and np.ptp(x) > 0:
            slope = float(np.polyfit(x[np.isfinite(y)], y[np.isfinite(y)], 1)[0])
    out["4_size"] = {
        "within_family": fam_rows, "across_models": cross, "slope_r_per_decade_across_families": slope,
        "verdict": NOT_TESTABLE if not fam_rows else (SUPPORTED if all(verdict_from_ci(r["ci_lo"], r["ci_hi"]) == SUPPORTED for r in fam_rows) else NOT_SUPPORTED),
        "rule": "larger minus smaller model of one family, mean per-question r, paired over questions",
    }

    # 5. synthetic data helps a small model (base vs SFT adapter, held-out questions)
    split = json.loads(Path(cfg.split_file).read_text()) if cfg.split_file and Path(cfg.split_file).exists() else None
    comps = []
    for label, f in facts.items():
        if f.stage == "sft" and f.synthetic and f.base in runs:
            comps.append(_adapter_diff(runs, label, f.base, split, cfg))
    out["5_synthetic"] = {
        "comparisons": comps,
        "verdict": NOT_TESTABLE if not comps or split is None else _all_supported(comps, "heldout"),
        "rule": "SFT adapter minus its base, mean per-question r on held-out questions, paired bootstrap",
    }

    # 6. alignment brings judgments closer to humans
    comps6 = []
    for fam in sorted({f.family for f in facts.values()}):
        b = [m for m in base_models if facts[m].family == fam and not facts[m].aligned]
        a = [m for m in base_models if facts[m].family == fam and facts[m].aligned]
        for x in b:
            for y in a:
                if facts[x].params == facts[y].params:
                    comps6.append(_adapter_diff(runs, y, x, None, cfg) | {"kind": "instruct vs base"})
    for label, f in facts.items():
        if f.stage == "dpo":
            sft = next((m for m, g in facts.items() if g.stage == "sft" and g.base == f.base), None)
            if sft:
                comps6.append(_adapter_diff(runs, label, sft, split, cfg) | {"kind": "DPO vs SFT"})
            if f.base in runs:
                comps6.append(_adapter_diff(runs, label, f.base, split, cfg) | {"kind": "DPO vs base"})
    out["6_alignment"] = {
        "comparisons": comps6,
        "verdict": NOT_TESTABLE if not comps6 else _all_supported(comps6, "heldout" if split else "all"),
        "rule": "aligned minus unaligned (instruct vs base of one family; DPO vs SFT adapter), mean per-question r",
    }

    # prompt robustness: does a claim's sign flip with the template?
    out["robustness"] = {label: r["summary"].get("robustness") for label, r in runs.items()}
    return out


def _bias_inputs(cfg: ClaimsConfig, inputs) -> tuple[dict, pd.DataFrame, list[str]]:
    """Countries by code, the human reference rows, and the bias questions the run has."""
    return {c.alpha3: c for c in inputs.countries}, inputs.reference.df, [q for q in cfg.bias_questions if q in inputs.qids]


def _labels(wanted: list[str] | None, runs: dict, what: str) -> list[str]:
    unknown = [m for m in (wanted or []) if m not in runs]
    if unknown:
        raise ConfigError(f"{what}.models {unknown} are not evaluated entries (have: {list(runs)})")
    return wanted or [m for m, r in runs.items() if not r["entry"].model.adapter]


def _extra_eval(cfg: ClaimsConfig, entry: ModelEntry, run_name: str, qids: list[str], probe: dict, progress: bool) -> Path:
    from culturelens.eval.runner import run_eval

    data = deep_merge(eval_config_for(cfg, entry).model_dump(), {"run_name": run_name, "questions": qids, "probe": probe})
    return run_eval(validate_config(EvalConfig, data, f"claims entry '{entry.label}' ({run_name})"), progress=progress)


def robustness_study(cfg: ClaimsConfig, runs: dict, inputs, progress: bool = True) -> dict:
    """Per model and (template, option order): the Western gap with its CI and the mean per-question r, so a
    claim 2 verdict that holds only under one prompt wording is visible."""
    rs = cfg.robustness
    countries, human, bias_q = _bias_inputs(cfg, inputs)
    out = {"questions": bias_q, "models": {}}
    for label in _labels(rs.models, runs, "robustness"):
        run_dir = _extra_eval(cfg, runs[label]["entry"], f"{label}-robustness", bias_q,
                              {"templates": rs.templates, "orders": rs.orders}, progress)
        per_prompt = load_per_prompt(run_dir)
        per_prompt = per_prompt[per_prompt["country"] != NO_COUNTRY]
        rows = []
        for (template, order), grp in per_prompt.groupby(["template", "order"]):
            gap, _ = gap_on(grp[["country", "qid", "score"]], human, countries, bias_q, cfg.n_boot, cfg.seed)
            perq = metrics.per_question(grp[["country", "qid", "score"]], human[human["qid"].isin(bias_q)])
            rows.append({"template": template, "order": order, "gap": gap.get("gap"), "gap_ci": gap.get("gap_ci"),
                         "verdict_claim2": verdict_from_ci(*(gap.get("gap_ci") or [None, None])), "mean_question_r": float(perq["r"].mean())})
        verdicts = {r["verdict_claim2"] for r in rows}
        spread = json.loads((run_dir / "summary.json").read_text())["robustness"]  # per-question score std, from the eval
        out["models"][label] = {"variants": rows, "claim2_flips": len(verdicts) > 1, "run_dir": str(run_dir),
                                "gap_range": [min(r["gap"] for r in rows), max(r["gap"] for r in rows)] if rows else None,
                                "score_std_per_question": spread["score_std_per_question"], "mean_score_std": spread["mean_score_std"]}
    return out


def language_study(cfg: ClaimsConfig, runs: dict, inputs, progress: bool = True) -> dict:
    """Per model: per-country r and the Western gap with English prompts vs prompts in each country's main
    language (same template, questions and countries), and the change with a paired bootstrap CI over countries."""
    ls = cfg.languages
    if not Path(ls.translations_file).exists():
        raise ConfigError(f"languages.translations_file '{ls.translations_file}' does not exist: write one with `culturelens translate` or use configs/translations/ethics_native.json")
    labels = _labels(ls.models, runs, "languages")
    countries, human, bias_q = _bias_inputs(cfg, inputs)
    source = json.loads(Path(ls.translations_file).read_text()).get("source", "")
    out = {"translations_file": ls.translations_file, "source": source, "templates": ls.templates, "questions": bias_q, "models": {}}
    for label in labels:
        entry = runs[label]["entry"]
        res = {}
        for lang in ("en", "native"):
            run_dir = _extra_eval(cfg, entry, f"{label}-prompts-{lang}", bias_q, {
                "templates": ls.templates, "orders": ["original"], "language": lang, "translations_file": ls.translations_file}, progress)
            per_prompt = load_per_prompt(run_dir)
            gap, perc = gap_on(load_scores(run_dir), human, countries, bias_q, cfg.n_boot, cfg.seed)
            res[lang] = {"dir": str(run_dir), "gap": gap, "perc": perc, "langs": per_prompt.groupby("country")["language"].agg(lambda x: sorted(set(x)))}
        translated = sorted(c for c, ls_ in res["native"]["langs"].items() if any(x != "en" for x in ls_))
        en, nat = res["en"]["perc"], res["native"]["perc"]
        out["models"][label] = {
            "gap_en": res["en"]["gap"], "gap_native": res["native"]["gap"],
            "gap_change": paired_gap_diff(nat, en, countries, cfg.n_boot, cfg.seed),
            "translated_countries": translated,
            "r_translated": metrics.paired_bootstrap_diff(nat.reindex(translated), en.reindex(translated), n_boot=cfg.n_boot, seed=cfg.seed),
            "per_country": [{"country": c, "language": ",".join(res["native"]["langs"].get(c, [])), "western": bool(countries[c].western),
                             "r_en": en.get(c), "r_native": nat.get(c)} for c in translated],
            "run_dirs": {k: v["dir"] for k, v in res.items()},
        }
    return out


def _adapter_diff(runs: dict, a: str, b: str, split: dict | None, cfg: ClaimsConfig) -> dict:
    res = {"model": a, "vs": b}
    qa, qb = _perq(runs[a]["summary"]), _perq(runs[b]["summary"])
    res["all"] = metrics.paired_bootstrap_diff(qa, qb, n_boot=cfg.n_boot, seed=cfg.seed)
    if split:
        for name in ("train", "heldout"):
            keys = [q for q in split.get(name, []) if q in qa.index]
            res[name] = metrics.paired_bootstrap_diff(qa.reindex(keys), qb.reindex(keys), n_boot=cfg.n_boot, seed=cfg.seed)
    return res


def _all_supported(comps: list[dict], scope: str) -> str:
    scoped = [c.get(scope) or c["all"] for c in comps]
    return SUPPORTED if all(verdict_from_ci(s["ci_lo"], s["ci_hi"]) == SUPPORTED for s in scoped) else NOT_SUPPORTED
