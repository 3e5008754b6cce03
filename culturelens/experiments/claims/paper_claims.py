"""The paper's six claims, one function each: `ClaimsContext` in, a typed `ClaimResult` out.

Each claim has ONE primary endpoint, named in the config before the run (``ClaimsConfig.primary``, choices in
``config.ENDPOINTS``), and a one-sided p for it (an endpoint made of several tests that must all hold, e.g. every
base model, takes the largest p: the intersection-union test). Holm across the claims of the report
(``results.holm_verdicts``): "supported" when the adjusted p is below ``alpha`` (one-sided 2.5 %), "no evidence"
when not (the minimum detectable effect at the run's n is stated), "not testable" when a premise or the entries the
comparison needs are missing (``reason`` says which). Secondary endpoints carry BH q-values beside their tables.
Every claim is also tested on each view of the same runs (each option order alone, each persona template alone:
`ClaimsContext.views`); a verdict that differs between views is "fragile", never "supported".

Statistics: where a claim averages or compares models, one draw of questions (and countries) per
bootstrap replicate is shared by every model (the engine's two-way weights, `eval/statistics/bootstrap.py`); the Western-bias claims
stand on the gap beyond the country-permutation null (`eval/statistics/western.py`), not on the raw gap.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from culturelens.core.batteries import questionnaire_clusters
from culturelens.core.ci import CI
from culturelens.core.jsonsafe import safe_float
from culturelens.eval.statistics import engine, metrics
from culturelens.eval.statistics.common_set import common_block, kinds
from culturelens.eval.statistics.group_contrast import group_contrast, normal_ci
from culturelens.eval.statistics.multiple import bh_q
from culturelens.eval.statistics.western_slope import MIN_COUNTRIES
from culturelens.experiments.claims.bias import gap_reduction
from culturelens.experiments.claims.config import ENDPOINTS, KINDS
from culturelens.experiments.claims.context import AVERAGED, N_PERM_PAIRED, ClaimsContext
from culturelens.experiments.claims.results import (
    NOT_SUPPORTED,
    NOT_TESTABLE,
    POWER,
    SUPPORTED,
    AdapterDiff,
    ClaimResult,
    ComparisonsResult,
    Contrast,
    CorpusPair,
    FamilySize,
    ModelSize,
    MultilingualResult,
    Nearest,
    NormsResult,
    NormsRow,
    PairedDiff,
    SizeResult,
    SourceView,
    WesternBiasResult,
    holm_verdicts,
    intersection_p,
    largest,
    one_sided,
    robust_verdict,
)

GROUPS = ("norms", "systems", "progress")


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


CONTRASTS = {"norms_minus_others": ("norms", ("systems", "progress")), "norms_minus_systems": ("norms", ("systems",)),
             "norms_minus_progress": ("norms", ("progress",))}


def norms_contrast(models: np.ndarray, human: np.ndarray, clusters: np.ndarray, in_a: np.ndarray, in_b: np.ndarray,
                   alpha: float, n_perm: int, seed: int = 0) -> dict:
    """Mean per-question fidelity slope (``engine.question_slope``, averaged over the models ``models`` (M, Q, C)) on the
    questions in A minus that in B, with the studentized permutation test that swaps the A / B label across battery
    ``clusters`` (``group_contrast``): one-sided p, the cluster-robust se's normal CI and the minimum detectable effect.

    Why a slope and not the paper's r: noise lowers r more where the human answers spread less across countries, and
    the norms questions spread more (main job: mean sd 0.27 vs 0.21), so a model with the SAME signal on both groups
    has a higher r on norms; the slope is unbiased for the signal whatever the spread. The claim's null, "norms and
    systems are judged equally well", is equal signal: the rule holds its alpha there (``benchmarks/calibration.py``).
    Each country's mean answer over the grid's questions is removed from the model's and the human answers alike first:
    a country-consistent offset (a response style, a quirk without knowledge) is not knowledge of norms or systems,
    and left in, it makes the slopes' errors depend on each other across questions (the test then loses its level)."""
    def off_country_mean(x: np.ndarray) -> np.ndarray:  # each country's mean over the grid's questions removed
        x = np.where(np.isfinite(x) & np.isfinite(human), x, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return x - np.nanmean(x, axis=-2, keepdims=True)

    slopes = np.mean([engine.question_slope(off_country_mean(m), off_country_mean(human)) for m in models], axis=0)
    res = group_contrast(slopes, in_a, in_b, clusters, n_perm, seed)
    if res.p is None:
        return {"effect": res.effect, "ci": CI(), "p": None, "mde": None}
    mde = float((stats.norm.isf(alpha) + stats.norm.ppf(POWER)) * res.se) if res.se is not None else None
    return {"effect": res.effect, "ci": normal_ci(res.effect, res.se), "p": res.p, "mde": mde}


def _contrasts(ctx: ClaimsContext, used: list[str], countries: list[str], qids: list[str], group: np.ndarray) -> list[Contrast]:
    """Every claim-1 contrast (``ENDPOINTS['1_norms']``) over the models ``used`` on one country x question block (the
    models' per-question slopes averaged, then one test); the config's primary one marked, BH q across them."""
    def grid(df: pd.DataFrame, col: str) -> np.ndarray:
        df = df[df["country"].isin(countries) & df["qid"].isin(qids)]
        return df.pivot_table(index="qid", columns="country", values=col).reindex(index=qids, columns=countries).to_numpy(float)

    human = grid(ctx.human, "mean")
    models = np.stack([grid(ctx.runs[m].scores, "score") for m in used])
    cluster = {q: i for i, members in enumerate(questionnaire_clusters(ctx.inputs.bank, qids)) for q in members}
    clusters = np.array([cluster[q] for q in qids])
    out = []
    for name, (a, b) in CONTRASTS.items():
        res = norms_contrast(models, human, clusters, group == a, np.isin(group, b), ctx.cfg.alpha, N_PERM_PAIRED, ctx.seed)
        out.append(Contrast(endpoint=name, what=ENDPOINTS["1_norms"][name], primary=name == ctx.cfg.primary["1_norms"], **res))
    for c, q in zip(out, bh_q([c.p for c in out])):
        c.q_bh = q
    return out


def claim_norms(ctx: ClaimsContext) -> NormsResult:
    """1. Norms are judged closer to humans than social systems and progress: the primary contrast (by default mean
    per-question fidelity slope of norms minus systems and progress; the paper's r per group in the table) on one data
    kind's complete country x question block, base models only (one per family and size), the models' per-question
    slopes averaged before the one test."""
    used, left_out = ctx.one_per_family_size()
    primary = ctx.cfg.primary["1_norms"]
    common = dict(primary=primary, primary_what=ENDPOINTS["1_norms"][primary], models_used=used, models_left_out=left_out)
    testable, others = None, []
    for kind, countries, qids in _source_blocks(ctx):
        r = _block_r(ctx, countries, qids)
        table, group = _group_table(ctx, r, qids)
        counts = {k: int((group == k).sum()) for k in GROUPS}
        view = SourceView(kind=kind, countries=countries, n_questions=counts, table=table)
        if testable is None and counts["norms"] >= 2 and counts["systems"] + counts["progress"] >= 2:
            testable = (view, r, group)
        else:
            one_group = sum(v > 0 for v in counts.values()) < 2
            view.note = "not the verdict's data: " + ("only one question group" if one_group else "a smaller block")
            others.append(view)
    if testable is None or not used:
        reason = ("no base model (claim 1 uses base models only, one per family and size)" if not used else
                  "no data kind has >= 2 norms and >= 2 systems/progress questions for a common set of countries")
        return NormsResult(verdict=NOT_TESTABLE, other_sources=others, reason=reason, **common)
    view, r, group = testable
    contrasts = _contrasts(ctx, used, view.countries, list(r[used[0]].index), group)  # adapters, reference entries: table only
    main = next(c for c in contrasts if c.primary)
    verdict = NOT_TESTABLE if main.p is None else (SUPPORTED if main.p < ctx.cfg.alpha else NOT_SUPPORTED)
    return NormsResult(
        effect=main.effect, ci=main.ci, p=main.p, mde=main.mde, verdict=verdict, table=view.table, n_models=len(used),
        reason=None if main.p is not None else f"{primary}: fewer than 2 questions with an r on a side",
        effect_name=f"{main.what}, averaged over {len(used)} base models ({', '.join(used)})", kind=view.kind,
        countries=view.countries, n_questions=view.n_questions, other_sources=others, contrasts=contrasts, **common,
        rule=f"one-sided p of the primary contrast (mean per-question fidelity slope, norms minus the other group: a studentized "
             f"permutation test swapping the group label across battery clusters, CI from the cluster-robust se), Holm across the "
             f"claims; {view.kind} data only, the same {len(view.countries)} countries on every question; the models' slopes "
             "averaged before the test; base models only, one per family and size",
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
    """2. Judgments are biased toward Western countries: every base model's fidelity-slope Western gap
    (eval/statistics/western_slope.py) above 0, one-sided; the intersection of the base models' tests."""
    gaps = ctx.bias_gaps
    n_west = sum(1 for c in ctx.countries.values() if c.western)
    base = [m for m in ctx.base_models if m in gaps]
    verdicts = {m: gaps[m].verdict for m in base}
    p_one = {m: one_sided(g.block.get("p"), g.gap) for m, g in gaps.items()}
    q = dict(zip(p_one, bh_q(list(p_one.values()))))
    blocks = {m: {**g.as_dict(), "p_one_sided": p_one[m], "q_bh": q[m]} for m, g in gaps.items()}
    reason, p, mde = None, None, None
    if not base:
        reason = "no base model (every entry is a culturelens adapter)"
    elif any(v == "too few countries" for v in verdicts.values()):
        reason = "; ".join(gaps[m].block["said"] for m, v in verdicts.items() if v == "too few countries")
    else:
        p, mde = intersection_p([p_one[m] for m in base]), largest([gaps[m].block.get("mde") for m in base])
        reason = "; ".join(f"{m}: {gaps[m].block['said']}" for m, v in verdicts.items() if v != "western") or None
    verdict = NOT_TESTABLE if p is None else (SUPPORTED if p < ctx.cfg.alpha else NOT_SUPPORTED)
    beyond = [gaps[m].gap for m in base if gaps[m].gap is not None]
    primary = ctx.cfg.primary["2_western_bias"]
    return WesternBiasResult(
        questions=ctx.bias_q, n_western=n_west, n_countries=len(ctx.countries), gaps=blocks,
        nearest=_nearest(ctx), western_base_rate=n_west / max(1, len(ctx.countries)),
        mean_gap_base_models=float(np.mean(beyond)) if beyond else None, verdict=verdict, reason=reason, p=p, mde=mde,
        primary=primary, primary_what=ENDPOINTS["2_western_bias"][primary],
        effect_name="Western minus non-Western mean fidelity slope (eval/statistics/western_slope.py; mean over base models)",
        effect=float(np.mean(beyond)) if beyond else None,
        rule=f"every base model's fidelity-slope Western gap above 0 (Welch, one-sided; >= {MIN_COUNTRIES} countries per side): "
             "p is the largest of the base models' one-sided p, Holm across the claims; 'no evidence' states the minimum "
             "detectable gap",
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
    p = one_sided(d.get("p"), d.get("diff"))
    verdict = NOT_TESTABLE if p is None else (SUPPORTED if p < ctx.cfg.alpha else NOT_SUPPORTED)
    reason = None if p is not None else f"{d.get('verdict')}: {d['n_western']} Western and {d['n_non_western']} non-Western countries"
    if verdict == NOT_SUPPORTED and d.get("mde") is not None:
        ci = d["ci"]
        reason = f"gap reduction {d['diff']:+.3f}, CI {ci['lo']:+.3f} to {ci['hi']:+.3f}; minimum detectable reduction {d['mde']:.3f}"
    if gaps[e].verdict != "western":  # the premise (an English-centric gap to reduce) is missing: not testable
        verdict = NOT_TESTABLE
        reason = f"premise missing: {e} has no Western gap to reduce (its verdict: {gaps[e].verdict})"
    return CorpusPair(
        english=e, multilingual=m, size_ratio=max(facts[e].params, facts[m].params) / min(facts[e].params, facts[m].params),
        gap_english=gaps[e].gap, verdict_english=gaps[e].verdict, gap_multilingual=gaps[m].gap, gap_reduction=d["diff"], ci=d["ci"],
        p=p, mde=d.get("mde"), verdict=verdict, reason=reason, confounds=_confounds(ctx, e, m))


def claim_multilingual(ctx: ClaimsContext) -> MultilingualResult:
    """3. A multilingual corpus reduces the Western gap: English-centric minus multilingual base models, fidelity-slope
    gaps compared country by country; without an English-centric gap to reduce the claim is not testable."""
    facts, base = ctx.facts, ctx.base_models
    pairs = [_corpus_pair(ctx, e, m) for e in base if facts[e].corpus == "english" for m in base if facts[m].corpus == "multilingual"]
    for pair, q in zip(pairs, bh_q([x.p for x in pairs])):
        pair.q_bh = q
    close = [x for x in pairs if x.size_ratio <= 4]
    testable = [x for x in close if x.verdict != NOT_TESTABLE]
    reason = None if close else "no English-centric and multilingual base models within 4x in size"
    if close and any(x.reason for x in close):
        reason = "; ".join(x.reason for x in close if x.reason)
    p = intersection_p([x.p for x in testable]) if testable else None
    primary = ctx.cfg.primary["3_multilingual"]
    return MultilingualResult(
        pairs=pairs, reason=reason, p=p, mde=largest([x.mde for x in testable]), primary=primary,
        primary_what=ENDPOINTS["3_multilingual"][primary],
        verdict=NOT_TESTABLE if p is None else (SUPPORTED if p < ctx.cfg.alpha else NOT_SUPPORTED),
        rule="for every pair within 4x in size: the English-centric model has a fidelity-slope Western gap (verdict 'western'; "
             "else not testable) and gap(English-centric) - gap(multilingual) is above 0 (Welch on the per-country slope "
             "differences, Western vs non-Western, one-sided); p is the largest over the pairs, Holm across the claims",
    )


def _slope_per_decade(cross: list[ModelSize]) -> float | None:
    if len(cross) < 2:
        return None
    x = np.log10([c.params for c in cross])
    y = np.array([c.mean_question_r if c.mean_question_r is not None else np.nan for c in cross])
    if np.isfinite(y).sum() >= 2 and np.ptp(x) > 0:
        return float(np.polyfit(x[np.isfinite(y)], y[np.isfinite(y)], 1)[0])
    return None


def _bh_diffs(diffs: list[PairedDiff | None]) -> None:
    """BH q-values across the rows of one comparisons table (every comparison and question set)."""
    rows = [d for d in diffs if d is not None and d.n > 0]
    for d, q in zip(rows, bh_q([d.p_perm for d in rows])):
        d.q_bh = q


def _primary_of(ctx: ClaimsContext, key: str, diffs: list[PairedDiff]) -> dict:
    """The primary endpoint's fields of a claim made of comparisons that must all hold: the largest p, the largest mde."""
    primary = ctx.cfg.primary[key]
    p = intersection_p([d.p_perm for d in diffs]) if diffs else None
    return dict(primary=primary, primary_what=ENDPOINTS[key][primary], p=p, mde=largest([d.mde for d in diffs]),
                verdict=NOT_TESTABLE if p is None else (SUPPORTED if p < ctx.cfg.alpha else NOT_SUPPORTED))


def claim_size(ctx: ClaimsContext) -> SizeResult:
    """4. Larger models are closer to humans: within a family, largest minus smallest base model, on one question x
    country grid (two-way CI, one-sided permutation p under the 'change' null, as claims 5/6)."""
    facts, base = ctx.facts, ctx.base_models
    rows = []
    for fam, aligned in sorted({(f.family, f.aligned) for f in facts.values()}):
        members = sorted([m for m in base if facts[m].family == fam and facts[m].aligned == aligned], key=lambda m: facts[m].params)
        if len(members) >= 2 and facts[members[-1]].params > facts[members[0]].params:
            small, large = members[0], members[-1]
            rows.append(FamilySize(family=fam, aligned=aligned, small=small, large=large,
                                   **ctx.paired_diff(large, small).model_dump()))
    _bh_diffs(list(rows))
    cross = [ModelSize(model=m, params=facts[m].params, mean_question_r=safe_float(ctx.question_r(m).mean())) for m in base]
    found = _primary_of(ctx, "4_size", [r for r in rows if r.n > 0])
    return SizeResult(
        within_family=rows, across_models=cross, slope_r_per_decade_across_families=_slope_per_decade(cross), **found,
        reason=None if rows else "no family has two base entries of different size (same alignment)",
        rule="larger minus smaller base model of one family, mean per-question r on one question x country grid: one-sided "
             f"permutation p under the 'change' null for every family, the largest p, Holm across the claims (alpha {ctx.cfg.alpha:g})",
    )


def _comparisons(ctx: ClaimsContext, key: str, comps: list[AdapterDiff], primary: list[AdapterDiff], missing: str | None,
                 rule: str) -> ComparisonsResult:
    """A claim made of comparisons: the primary ones (each on its own question set) must all hold; every row of the
    table gets a BH q-value; the comparisons left out (not testable) are named."""
    _bh_diffs([getattr(c, s) for c in comps for s in ("all", "train", "heldout")])
    scoped = [c.scoped() for c in primary if c.verdict != NOT_TESTABLE]
    found = _primary_of(ctx, key, [d for d in scoped if d is not None])
    untestable = "; ".join(c.reason for c in primary if c.verdict == NOT_TESTABLE) or None
    reason = missing or (f"left out (not testable): {untestable}" if untestable and scoped else untestable)
    if not primary and not missing:
        reason = f"no comparison of the primary endpoint {found['primary']} in this config"
    return ComparisonsResult(comparisons=comps, reason=reason, rule=rule, **found)


def claim_synthetic(ctx: ClaimsContext) -> ComparisonsResult:
    """5. Synthetic culture-aware data improves a small model: SFT adapter minus its base on the held-out questions."""
    comps = [ctx.adapter_diff(label, f.base, "heldout", kind="SFT vs base") for label, f in ctx.facts.items()
             if f.stage == "sft" and f.synthetic and f.base in ctx.runs]
    missing = None
    if not comps:
        missing = "no evaluated SFT adapter (synthetic: true) whose base entry was evaluated"
    elif ctx.split is None:
        missing = "no split_file: the held-out questions are unknown (no fallback to all questions)"
    return _comparisons(ctx, "5_synthetic", comps, [] if missing else comps, missing,
                        "SFT adapter minus its base, mean per-question r on the split's held-out questions only: one-sided "
                        "permutation p under the 'change' null for every adapter, the largest p, Holm across the claims")


def claim_alignment(ctx: ClaimsContext) -> ComparisonsResult:
    """6. Alignment brings judgments closer to humans: instruct vs base of one family and size (all questions:
    neither was trained on the split); DPO vs SFT and vs base (held-out questions only). The config's primary
    endpoint names which kind of comparison the verdict stands on; the others are secondary."""
    facts, base = ctx.facts, ctx.base_models
    comps = []
    for fam in sorted({f.family for f in facts.values()}):
        unaligned = [m for m in base if facts[m].family == fam and not facts[m].aligned]
        aligned = [m for m in base if facts[m].family == fam and facts[m].aligned]
        comps += [ctx.adapter_diff(y, x, "all", kind=KINDS["instruct_vs_base"])
                  for x in unaligned for y in aligned if facts[x].params == facts[y].params]
    for label, f in facts.items():
        if f.stage == "dpo":
            sft = next((m for m, g in facts.items() if g.stage == "sft" and g.base == f.base and m in ctx.runs), None)
            if sft:
                comps.append(ctx.adapter_diff(label, sft, "heldout", kind=KINDS["dpo_vs_sft"]))
            if f.base in ctx.runs:
                comps.append(ctx.adapter_diff(label, f.base, "heldout", kind=KINDS["dpo_vs_base"]))
    kind = KINDS[ctx.cfg.primary["6_alignment"]]
    primary = [c for c in comps if c.kind == kind]
    missing = None if primary else (f"no {kind} comparison (the primary endpoint) in this config"
                                    + (f"; secondary: {', '.join(sorted({c.kind for c in comps}))}" if comps else ""))
    return _comparisons(ctx, "6_alignment", comps, primary, missing,
                        f"primary: {kind}; aligned minus unaligned, mean per-question r: instruct vs base on all questions; DPO vs "
                        "SFT / base on the held-out questions only; one-sided permutation p under the 'change' null for every "
                        "comparison of the primary kind, the largest p, Holm across the claims")


Claim = Callable[[ClaimsContext], ClaimResult]
CLAIMS: dict[str, Claim] = {
    "1_norms": claim_norms,
    "2_western_bias": claim_western_bias,
    "3_multilingual": claim_multilingual,
    "4_size": claim_size,
    "5_synthetic": claim_synthetic,
    "6_alignment": claim_alignment,
}


def _all_claims(ctx: ClaimsContext) -> dict[str, ClaimResult]:
    """Every claim on one view, Holm-adjusted across the claims (``holm_verdicts``)."""
    out = {key: claim(ctx) for key, claim in CLAIMS.items()}
    holm_verdicts(out, ctx.cfg.alpha)
    return out


def compute_claims(ctx: ClaimsContext, views: dict[str, ClaimsContext] | None = None) -> dict[str, ClaimResult]:
    """Every claim of `CLAIMS`, by its key in claims.json, with its verdict on each view (`ClaimsContext.views`):
    a claim whose testable verdicts differ between views is `fragile`."""
    views = ctx.views() if views is None else views
    out = _all_claims(ctx)
    by_view = {name: _all_claims(view) for name, view in views.items()}
    for key, result in out.items():
        result.verdict_by_view = {AVERAGED: result.verdict, **{name: v[key].verdict for name, v in by_view.items()}}
        result.verdict = robust_verdict(result.verdict_by_view)
    return out
