"""The paper's six claims, one function each: `ClaimsContext` in, a typed `ClaimResult` out.

A claim is "supported" when its CI excludes 0 in the claimed direction (for claims made of several
comparisons: every comparison's CI), "not supported" when not, and "not testable with these models"
when the config lacks the entries the comparison needs; `reason` then says which. Every claim is
also tested on each view of the same runs (each option order alone, each persona template alone:
`ClaimsContext.views`); a verdict that differs between views is "fragile", never "supported".

Statistics: where a claim averages or compares models, one draw of questions (and countries) per
bootstrap replicate is shared by every model (`eval/statistics/shared_bootstrap.py`); the Western-bias claims
stand on the gap beyond the country-permutation null (`eval/statistics/western.py`), not on the raw gap.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from culturelens.core.jsonsafe import safe_float
from culturelens.eval.statistics import metrics
from culturelens.eval.statistics.common_set import common_block, kinds
from culturelens.eval.statistics.shared_bootstrap import group_contrast
from culturelens.eval.statistics.western_slope import MIN_COUNTRIES
from culturelens.experiments.claims.bias import gap_reduction
from culturelens.experiments.claims.context import AVERAGED, ClaimsContext
from culturelens.experiments.claims.results import (
    NOT_SUPPORTED,
    NOT_TESTABLE,
    SUPPORTED,
    AdapterDiff,
    ClaimResult,
    ComparisonsResult,
    CorpusPair,
    FamilySize,
    ModelSize,
    MultilingualResult,
    Nearest,
    NormsResult,
    NormsRow,
    SizeResult,
    SourceView,
    WesternBiasResult,
    robust_verdict,
    verdict_from_ci,
)

GROUPS = ("norms", "systems", "progress")


def all_supported(checks: list[str]) -> str:
    return SUPPORTED if all(v == SUPPORTED for v in checks) else NOT_SUPPORTED


def _block_r(ctx: ClaimsContext, countries: list[str], qids: list[str]) -> dict[str, pd.Series]:
    """Per model: per-question r across exactly `countries` on `qids`."""
    human = ctx.human[ctx.human["country"].isin(countries) & ctx.human["qid"].isin(qids)]
    out = {}
    for label, run in ctx.runs.items():
        s = run.scores[run.scores["country"].isin(countries) & run.scores["qid"].isin(qids)]
        out[label] = metrics.per_question(s, human).set_index("qid")["r"].astype(float).reindex(qids)
    return out


def _group_table(ctx: ClaimsContext, r: dict[str, pd.Series], qids: list[str]) -> tuple[list[NormsRow], np.ndarray]:
    group = np.array([ctx.groups.get(ctx.categories.get(q)) for q in qids], dtype=object)
    table = [NormsRow(model=label, **{f"r_{k}": float(v[group == k].mean()) if (group == k).any() and v[group == k].notna().any() else None
                                      for k in GROUPS}) for label, v in r.items()]
    return table, group


def _source_blocks(ctx: ClaimsContext) -> list[tuple[str, list[str], list[str]]]:
    """(kind, countries, questions) per data kind of the reference, largest complete block first."""
    blocks = [(kind, *common_block(ctx.human, ctx.inputs.qids, kind)) for kind in kinds(ctx.human)]
    return sorted([b for b in blocks if b[2]], key=lambda b: -len(b[1]) * len(b[2]))


def claim_norms(ctx: ClaimsContext) -> NormsResult:
    """1. Norms are judged closer to humans than social systems and progress: mean per-question r(norms) -
    r(systems, progress) on one data kind's complete country x question block, one question draw shared by all models."""
    testable, others = None, []
    for kind, countries, qids in _source_blocks(ctx):
        r = _block_r(ctx, countries, qids)
        table, group = _group_table(ctx, r, qids)
        counts = {k: int((group == k).sum()) for k in GROUPS}
        view = SourceView(kind=kind, countries=countries, n_questions=counts, table=table)
        if testable is None and counts["norms"] >= 2 and counts["systems"] + counts["progress"] >= 2:
            testable = (view, np.stack([v.to_numpy(float) for v in r.values()]), group)
        else:
            one_group = sum(v > 0 for v in counts.values()) < 2
            view.note = "not the verdict's data: " + ("only one question group" if one_group else "a smaller block")
            others.append(view)
    if testable is None:
        return NormsResult(verdict=NOT_TESTABLE, other_sources=others,
                           reason="no data kind has >= 2 norms and >= 2 systems/progress questions for a common set of countries")
    view, values, group = testable
    values = values[[i for i, label in enumerate(ctx.runs) if label in ctx.models]]  # reference predictors: table only
    res = group_contrast(values, group == "norms", (group == "systems") | (group == "progress"), n_boot=ctx.n_boot, seed=ctx.seed)
    lo, hi = res["ci"]
    return NormsResult(
        effect=res["effect"], ci=[lo, hi], verdict=verdict_from_ci(lo, hi), table=view.table, n_models=int(sum(res["models_used"])),
        effect_name="mean r(norms) - mean r(systems, progress), averaged over models", kind=view.kind, countries=view.countries,
        n_questions=view.n_questions, other_sources=others,
        rule=f"CI above 0; {view.kind} data only, the same {len(view.countries)} countries on every question; questions resampled "
             "within each side, one draw shared by every model",
    )


def _nearest(ctx: ClaimsContext) -> dict[str, Nearest]:
    """Per model: the 5 countries whose human answers the no-persona answers are closest to."""
    human = ctx.human[ctx.human["qid"].isin(ctx.bias_q)]
    out = {}
    for label, run in ctx.runs.items():
        near = metrics.nearest_countries(run.scores[run.scores["qid"].isin(ctx.bias_q)], human)
        if not near.empty:
            top = near.head(5)["country"].tolist()
            out[label] = Nearest(top5=top, western_share=sum(ctx.countries[c].western for c in top if c in ctx.countries) / len(top))
    return out


def claim_western_bias(ctx: ClaimsContext) -> WesternBiasResult:
    """2. Judgments are biased toward Western countries: every base model's Western gap BEYOND the
    country-permutation null (eval/statistics/western.py) has a CI above 0."""
    gaps = ctx.bias_gaps
    n_west = sum(1 for c in ctx.countries.values() if c.western)
    base = [m for m in ctx.base_models if m in gaps]
    verdicts = {m: gaps[m].verdict for m in base}
    reason = None
    if not base:
        verdict, reason = NOT_TESTABLE, "no base model (every entry is a culturelens adapter)"
    elif any(v == "too few countries" for v in verdicts.values()):
        verdict = NOT_TESTABLE
        reason = "; ".join(gaps[m].block["said"] for m, v in verdicts.items() if v == "too few countries")
    else:
        verdict = SUPPORTED if all(v == "western" for v in verdicts.values()) else NOT_SUPPORTED
        if verdict == NOT_SUPPORTED:
            reason = "; ".join(f"{m}: {gaps[m].block['said']}" for m, v in verdicts.items() if v != "western")
    beyond = [gaps[m].gap for m in base if gaps[m].gap is not None]
    return WesternBiasResult(
        questions=ctx.bias_q, n_western=n_west, n_countries=len(ctx.countries), gaps={m: g.as_dict() for m, g in gaps.items()},
        nearest=_nearest(ctx), western_base_rate=n_west / max(1, len(ctx.countries)),
        mean_gap_base_models=float(np.mean(beyond)) if beyond else None, verdict=verdict, reason=reason,
        effect_name="Western minus non-Western mean fidelity slope (eval/statistics/western_slope.py; mean over base models)",
        effect=float(np.mean(beyond)) if beyond else None,
        rule=f"supported if every non-adapter model's fidelity-slope Western gap has a Welch 95% CI above 0 "
             f"(verdict 'western'; >= {MIN_COUNTRIES} countries per side); 'no evidence' states the minimum detectable gap",
        n_models_western_beyond_null=sum(g.verdict == "western" for g in gaps.values()),
    )


def _r3(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.3f}"


def _confounds(ctx: ClaimsContext, e: str, m: str) -> list[str]:
    """What differs between the two models besides the corpus (named with their values)."""
    facts, gaps = ctx.facts, ctx.bias_gaps
    out = [f"{k} ({getattr(facts[e], k)} vs {getattr(facts[m], k)})" for k in ("family", "aligned")
           if getattr(facts[e], k) != getattr(facts[m], k)]
    chat_e, chat_m = ctx.runs[e].summary.run.chat_template, ctx.runs[m].summary.run.chat_template
    if chat_e != chat_m:
        out.append(f"prompt format ({'chat' if chat_e else 'plain'} vs {'chat' if chat_m else 'plain'})")
    r_e, r_m = gaps[e].mean_question_r, gaps[m].mean_question_r
    out.append(f"overall r level (mean per-question r on these questions {_r3(r_e)} vs {_r3(r_m)}: "
               "a model with less signal has less gap to show)")
    return out


def _corpus_pair(ctx: ClaimsContext, e: str, m: str) -> CorpusPair:
    facts, gaps = ctx.facts, ctx.bias_gaps
    d = gap_reduction(gaps[e], gaps[m], ctx.countries, ctx.n_boot, ctx.seed)
    verdict, reason = verdict_from_ci(*d["ci"]), None
    if verdict == NOT_SUPPORTED and d.get("mde") is not None:
        reason = f"gap reduction {d['diff']:+.3f}, CI {d['ci'][0]:+.3f} to {d['ci'][1]:+.3f}; minimum detectable reduction {d['mde']:.3f}"
    if gaps[e].verdict != "western":  # the premise (an English-centric gap to reduce) is missing: not testable
        verdict = NOT_TESTABLE
        reason = f"premise missing: {e} has no Western gap to reduce (its verdict: {gaps[e].verdict})"
    return CorpusPair(
        english=e, multilingual=m, size_ratio=max(facts[e].params, facts[m].params) / min(facts[e].params, facts[m].params),
        gap_english=gaps[e].gap, verdict_english=gaps[e].verdict, gap_multilingual=gaps[m].gap, gap_reduction=d["diff"], ci=d["ci"],
        verdict=verdict, reason=reason, confounds=_confounds(ctx, e, m))


def claim_multilingual(ctx: ClaimsContext) -> MultilingualResult:
    """3. A multilingual corpus reduces the Western gap: English-centric minus multilingual base models, fidelity-slope
    gaps compared country by country; without an English-centric gap to reduce the claim is not testable."""
    facts, base = ctx.facts, ctx.base_models
    pairs = [_corpus_pair(ctx, e, m) for e in base if facts[e].corpus == "english" for m in base if facts[m].corpus == "multilingual"]
    close = [p for p in pairs if p.size_ratio <= 4]
    testable = [p for p in close if p.verdict != NOT_TESTABLE]
    reason = None if close else "no English-centric and multilingual base models within 4x in size"
    if close and any(p.reason for p in close):
        reason = "; ".join(p.reason for p in close if p.reason)
    return MultilingualResult(
        pairs=pairs, reason=reason, verdict=all_supported([p.verdict for p in testable]) if testable else NOT_TESTABLE,
        rule="for every pair within 4x in size: the English-centric model has a fidelity-slope Western gap (verdict 'western'; "
             "else not testable) and gap(English-centric) - gap(multilingual) has a Welch 95% CI above 0 (per-country slope "
             "differences, Western vs non-Western)",
    )


def _slope_per_decade(cross: list[ModelSize]) -> float | None:
    if len(cross) < 2:
        return None
    x = np.log10([c.params for c in cross])
    y = np.array([c.mean_question_r if c.mean_question_r is not None else np.nan for c in cross])
    if np.isfinite(y).sum() >= 2 and np.ptp(x) > 0:
        return float(np.polyfit(x[np.isfinite(y)], y[np.isfinite(y)], 1)[0])
    return None


def claim_size(ctx: ClaimsContext) -> SizeResult:
    """4. Larger models are closer to humans: within a family, largest minus smallest, paired over questions."""
    facts, base = ctx.facts, ctx.base_models
    rows = []
    for fam, aligned in sorted({(f.family, f.aligned) for f in facts.values()}):
        members = sorted([m for m in base if facts[m].family == fam and facts[m].aligned == aligned], key=lambda m: facts[m].params)
        if len(members) >= 2 and facts[members[-1]].params > facts[members[0]].params:
            small, large = members[0], members[-1]
            d = metrics.paired_bootstrap_diff(ctx.question_r(large), ctx.question_r(small), n_boot=ctx.n_boot, seed=ctx.seed)
            rows.append(FamilySize(family=fam, aligned=aligned, small=small, large=large, **d))
    cross = [ModelSize(model=m, params=facts[m].params, mean_question_r=safe_float(ctx.question_r(m).mean())) for m in base]
    return SizeResult(
        within_family=rows, across_models=cross, slope_r_per_decade_across_families=_slope_per_decade(cross),
        verdict=all_supported([r.verdict for r in rows]) if rows else NOT_TESTABLE,
        reason=None if rows else "no family has two base entries of different size (same alignment)",
        rule="larger minus smaller model of one family, mean per-question r, paired over questions",
    )


def _comparisons_verdict(comps: list[AdapterDiff]) -> tuple[str, str | None]:
    """All testable comparisons supported on their own question set -> supported; the untestable ones are named."""
    testable = [c for c in comps if c.verdict != NOT_TESTABLE]
    missing = "; ".join(c.reason for c in comps if c.verdict == NOT_TESTABLE) or None
    if not testable:
        return NOT_TESTABLE, missing
    return all_supported([c.verdict for c in testable]), missing and f"left out (not testable): {missing}"


def claim_synthetic(ctx: ClaimsContext) -> ComparisonsResult:
    """5. Synthetic culture-aware data improves a small model: SFT adapter minus its base on the held-out questions."""
    comps = [ctx.adapter_diff(label, f.base, "heldout") for label, f in ctx.facts.items()
             if f.stage == "sft" and f.synthetic and f.base in ctx.runs]
    if not comps:
        verdict, reason = NOT_TESTABLE, "no evaluated SFT adapter (synthetic: true) whose base entry was evaluated"
    elif ctx.split is None:
        verdict, reason = NOT_TESTABLE, "no split_file: the held-out questions are unknown (no fallback to all questions)"
    else:
        verdict, reason = _comparisons_verdict(comps)
    return ComparisonsResult(
        comparisons=comps, verdict=verdict, reason=reason,
        rule="SFT adapter minus its base, mean per-question r on the split's held-out questions only, paired over questions",
    )


def claim_alignment(ctx: ClaimsContext) -> ComparisonsResult:
    """6. Alignment brings judgments closer to humans: instruct vs base of one family and size (all questions:
    neither was trained on the split); DPO vs SFT and vs base (held-out questions only)."""
    facts, base = ctx.facts, ctx.base_models
    comps = []
    for fam in sorted({f.family for f in facts.values()}):
        unaligned = [m for m in base if facts[m].family == fam and not facts[m].aligned]
        aligned = [m for m in base if facts[m].family == fam and facts[m].aligned]
        comps += [ctx.adapter_diff(y, x, "all", kind="instruct vs base")
                  for x in unaligned for y in aligned if facts[x].params == facts[y].params]
    for label, f in facts.items():
        if f.stage == "dpo":
            sft = next((m for m, g in facts.items() if g.stage == "sft" and g.base == f.base and m in ctx.runs), None)
            if sft:
                comps.append(ctx.adapter_diff(label, sft, "heldout", kind="DPO vs SFT"))
            if f.base in ctx.runs:
                comps.append(ctx.adapter_diff(label, f.base, "heldout", kind="DPO vs base"))
    verdict, reason = _comparisons_verdict(comps) if comps else (
        NOT_TESTABLE, "no instruct/base pair of one family and size, and no evaluated DPO adapter")
    return ComparisonsResult(
        comparisons=comps, verdict=verdict, reason=reason,
        rule="aligned minus unaligned, mean per-question r, paired over questions: instruct vs base on all questions; "
             "DPO vs SFT / base on the held-out questions only",
    )


Claim = Callable[[ClaimsContext], ClaimResult]
CLAIMS: dict[str, Claim] = {
    "1_norms": claim_norms,
    "2_western_bias": claim_western_bias,
    "3_multilingual": claim_multilingual,
    "4_size": claim_size,
    "5_synthetic": claim_synthetic,
    "6_alignment": claim_alignment,
}


def compute_claims(ctx: ClaimsContext, views: dict[str, ClaimsContext] | None = None) -> dict[str, ClaimResult]:
    """Every claim of `CLAIMS`, by its key in claims.json, with its verdict on each view (`ClaimsContext.views`):
    a claim whose testable verdicts differ between views is `fragile`."""
    views = ctx.views() if views is None else views
    out = {}
    for key, claim in CLAIMS.items():
        result = claim(ctx)
        by_view = {AVERAGED: result.verdict, **{name: claim(view).verdict for name, view in views.items()}}
        result.verdict_by_view = by_view
        result.verdict = robust_verdict(by_view)
        out[key] = result
    return out
