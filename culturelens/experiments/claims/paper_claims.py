"""The paper's six claims, one function each: `ClaimsContext` in, a typed `ClaimResult` out.

A claim is "supported" when its CI excludes 0 in the claimed direction (for claims made of several
comparisons: every comparison's CI), "not supported" when not, and "not testable with these models"
when the config lacks the entries the comparison needs; `reason` then says which.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from culturelens.eval import metrics
from culturelens.experiments.claims.context import ClaimsContext, paired_gap_diff
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
    WesternBiasResult,
    verdict_from_ci,
)


def all_supported(checks: list[str]) -> str:
    return SUPPORTED if all(v == SUPPORTED for v in checks) else NOT_SUPPORTED


def claim_norms(ctx: ClaimsContext) -> NormsResult:
    """1. Norms are judged closer to humans than social systems and progress (questions resampled per group)."""
    rng = np.random.default_rng(ctx.seed)
    table, per_model = [], {}
    for label, run in ctx.runs.items():
        q = run.summary.question_r().dropna()
        g = q.index.map(lambda x: ctx.groups.get(ctx.categories.get(x)))
        means = {name: float(q[g == name].mean()) if (g == name).any() else None for name in ("norms", "systems", "progress")}
        table.append(NormsRow(model=label, **{f"r_{k}": v for k, v in means.items()}))
        norms, others = q[g == "norms"].to_numpy(), q[(g == "systems") | (g == "progress")].to_numpy()
        if len(norms) >= 2 and len(others) >= 2:
            per_model[label] = (norms, others)
    if not per_model:
        return NormsResult(verdict=NOT_TESTABLE, table=table, reason="no model has >= 2 questions in the norms group and in the others")
    boots = []
    for _ in range(ctx.n_boot):
        diffs = [rng.choice(n, len(n)).mean() - rng.choice(o, len(o)).mean() for n, o in per_model.values()]
        boots.append(np.mean(diffs))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return NormsResult(
        effect=float(np.mean([n.mean() - o.mean() for n, o in per_model.values()])), ci=[float(lo), float(hi)],
        verdict=verdict_from_ci(lo, hi), effect_name="mean r(norms) - mean r(systems, progress), averaged over models",
        table=table, n_models=len(per_model),
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
    """2. Judgments are biased toward Western countries: every base model's Western-gap CI lies above 0."""
    gaps = {label: gap for label, (gap, _) in ctx.bias_gaps.items()}
    n_west = sum(1 for c in ctx.countries.values() if c.western)

    def above_0(gap: dict) -> bool:
        lo = (gap.get("gap_ci") or [None])[0]
        return lo is not None and lo > 0

    base = ctx.base_models
    base_gaps = [gaps[m]["gap"] for m in base if gaps[m].get("gap") is not None]
    reason = None
    if n_west < 2:
        verdict, reason = NOT_TESTABLE, f"{n_west} Western countries in the run (need >= 2)"
    else:
        verdict = SUPPORTED if base and all(above_0(gaps[m]) for m in base) else NOT_SUPPORTED
    return WesternBiasResult(
        questions=ctx.bias_q, n_western=n_west, n_countries=len(ctx.countries), gaps=gaps, nearest=_nearest(ctx),
        western_base_rate=n_west / max(1, len(ctx.countries)),
        mean_gap_base_models=float(np.mean(base_gaps)) if base_gaps else None,
        verdict=verdict, reason=reason, rule="supported if every non-adapter model's Western gap CI lies above 0",
        n_models_gap_ci_above_0=sum(above_0(g) for g in gaps.values()),
    )


def claim_multilingual(ctx: ClaimsContext) -> MultilingualResult:
    """3. A multilingual corpus reduces the Western gap: English-centric minus multilingual base models."""
    facts, base = ctx.facts, ctx.base_models
    pairs = []
    for e in [m for m in base if facts[m].corpus == "english"]:
        for m in [m for m in base if facts[m].corpus == "multilingual"]:
            (gap_e, perc_e), (gap_m, perc_m) = ctx.bias_gaps[e], ctx.bias_gaps[m]
            d = paired_gap_diff(perc_e, perc_m, ctx.countries, ctx.n_boot, ctx.seed)
            pairs.append(CorpusPair(
                english=e, multilingual=m, size_ratio=max(facts[e].params, facts[m].params) / min(facts[e].params, facts[m].params),
                gap_english=gap_e.get("gap"), gap_multilingual=gap_m.get("gap"), gap_reduction=d["diff"], ci=d["ci"],
                confounds=[k for k in ("family", "aligned") if getattr(facts[e], k) != getattr(facts[m], k)]))
    close = [p for p in pairs if p.size_ratio <= 4]
    return MultilingualResult(
        pairs=pairs, rule="gap(English-centric) - gap(multilingual) > 0 for every pair within 4x in size",
        verdict=all_supported([verdict_from_ci(*p.ci) for p in close]) if close else NOT_TESTABLE,
        reason=None if close else "no English-centric and multilingual base models within 4x in size",
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
            d = metrics.paired_bootstrap_diff(ctx.runs[large].summary.question_r(), ctx.runs[small].summary.question_r(),
                                              n_boot=ctx.n_boot, seed=ctx.seed)
            rows.append(FamilySize(family=fam, aligned=aligned, small=small, large=large, **d))
    cross = [ModelSize(model=m, params=facts[m].params, mean_question_r=ctx.runs[m].summary.mean_question_r) for m in base]
    return SizeResult(
        within_family=rows, across_models=cross, slope_r_per_decade_across_families=_slope_per_decade(cross),
        verdict=all_supported([r.verdict for r in rows]) if rows else NOT_TESTABLE,
        reason=None if rows else "no family has two base entries of different size (same alignment)",
        rule="larger minus smaller model of one family, mean per-question r, paired over questions",
    )


def _verdict_of(comps: list[AdapterDiff], scope: str) -> str:
    return all_supported([c.scoped(scope).verdict for c in comps])


def claim_synthetic(ctx: ClaimsContext) -> ComparisonsResult:
    """5. Synthetic culture-aware data improves a small model: SFT adapter minus its base on held-out questions."""
    comps = [ctx.adapter_diff(label, f.base, ctx.split) for label, f in ctx.facts.items()
             if f.stage == "sft" and f.synthetic and f.base in ctx.runs]
    reason = None
    if not comps:
        reason = "no evaluated SFT adapter (synthetic: true) whose base entry was evaluated"
    elif ctx.split is None:
        reason = "no split_file: the held-out questions are unknown"
    return ComparisonsResult(
        comparisons=comps, verdict=NOT_TESTABLE if reason else _verdict_of(comps, "heldout"), reason=reason,
        rule="SFT adapter minus its base, mean per-question r on held-out questions, paired bootstrap",
    )


def claim_alignment(ctx: ClaimsContext) -> ComparisonsResult:
    """6. Alignment brings judgments closer to humans: instruct vs base of one family and size; DPO vs SFT and base."""
    facts, base = ctx.facts, ctx.base_models
    comps = []
    for fam in sorted({f.family for f in facts.values()}):
        unaligned = [m for m in base if facts[m].family == fam and not facts[m].aligned]
        aligned = [m for m in base if facts[m].family == fam and facts[m].aligned]
        comps += [ctx.adapter_diff(y, x, None, kind="instruct vs base")
                  for x in unaligned for y in aligned if facts[x].params == facts[y].params]
    for label, f in facts.items():
        if f.stage == "dpo":
            sft = next((m for m, g in facts.items() if g.stage == "sft" and g.base == f.base), None)
            if sft:
                comps.append(ctx.adapter_diff(label, sft, ctx.split, kind="DPO vs SFT"))
            if f.base in ctx.runs:
                comps.append(ctx.adapter_diff(label, f.base, ctx.split, kind="DPO vs base"))
    return ComparisonsResult(
        comparisons=comps, verdict=_verdict_of(comps, "heldout" if ctx.split else "all") if comps else NOT_TESTABLE,
        reason=None if comps else "no instruct/base pair of one family and size, and no evaluated DPO adapter",
        rule="aligned minus unaligned (instruct vs base of one family; DPO vs SFT adapter), mean per-question r",
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


def compute_claims(ctx: ClaimsContext) -> dict[str, ClaimResult]:
    """Every claim of `CLAIMS`, by its key in claims.json."""
    return {key: claim(ctx) for key, claim in CLAIMS.items()}
