"""Write claims.md, claims.json and figures for `culturelens claims`."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from culturelens.core.formatting import (  # noqa: E402
    fmt_interval,
    fmt_num,
    format_table,  # noqa: E402
)
from culturelens.core.jsonsafe import write_json  # noqa: E402
from culturelens.experiments.claims.claims_file import ClaimsFile  # noqa: E402
from culturelens.experiments.claims.config import KINDS  # noqa: E402


def _f(x) -> str:
    return fmt_num(x, signed=True)


def _ci(ci) -> str:
    """A CI of claims.json (``{"lo", "hi"}``, culturelens/core/ci.py) or a [min, max] range as text."""
    return fmt_interval(ci, signed=True)


def _diff_rows(comps: list[dict], primary_kind: str | None = None) -> pd.DataFrame:
    """One row per comparison and question set; the rows of the primary endpoint are marked, the others are secondary
    (BH q-value among the table's rows)."""
    rows = []
    for c in comps:
        for scope in ("all", "train", "heldout"):
            if c.get(scope):
                d = c[scope]
                primary = scope == c.get("scope") and (primary_kind is None or c.get("kind") == primary_kind)
                rows.append({"model": c["model"], "vs": c["vs"], "kind": c.get("kind", ""), "questions": scope,
                             "endpoint": "**primary**" if primary else "secondary", "r (model)": d.get("mean_a"),
                             "r (vs)": d.get("mean_b"), "diff": d.get("diff"), "95% CI": _ci(d.get("ci")),
                             "p (one-sided)": d.get("p_perm"), "q (BH)": d.get("q_bh"), "mde": d.get("mde"), "n": d.get("n")})
    return pd.DataFrame(rows)


def _primary_line(c: dict) -> str:
    """What the verdict stands on: the primary endpoint named in the config, its p and the Holm-adjusted p."""
    if not c.get("primary"):
        return ""
    nums = "" if c.get("p") is None else (f": one-sided p {fmt_num(c['p'])}, Holm-adjusted over {c.get('n_holm')} claims "
                                          f"{fmt_num(c.get('p_holm'))} (alpha {c.get('alpha')})")
    mde = f"; minimum detectable effect at this n {fmt_num(c['mde'])}" if c.get("mde") is not None else ""
    return f"**Primary endpoint** (named in the config before the run): `{c['primary']}` — {c.get('primary_what')}{nums}{mde}.  "


def _comparison_notes(comps: list[dict]) -> list[str]:
    return [f"- {c['model']} vs {c['vs']} ({c.get('kind') or 'adapter vs base'}): verdict on {c.get('questions')}: **{c.get('verdict')}**"
            + (f" ({c['reason']})" if c.get("reason") else "") for c in comps]


def _beyond(block: dict) -> float | None:
    """The verdict measure's gap beyond the null from a western_gap block."""
    return ((block.get("measures") or {}).get(block.get("verdict_measure")) or {}).get("gap")


def robustness_section(rob: dict) -> list[str]:
    md = ["## Claim 2 under each template and option order", "",
          f"The Western gap beyond the country-permutation null on the {len(rob['questions'])} questions every country has, per prompt "
          "variant (countries resampled), with the raw old-rule gap for comparison; p: two-sided Welch p of the gap, q: its "
          "Benjamini–Hochberg q-value among every row of the table:", ""]
    rows = []
    for m, v in rob["models"].items():
        rows += [{"model": m, "template": r["template"], "order": r["order"], "gap beyond null": r["gap"], "95% CI": _ci(r["ci"]),
                  "p (Welch)": r.get("p"), "q (BH)": r.get("q_bh"), "verdict": r["verdict_claim2"], "raw gap": r.get("raw_gap"),
                  "mean per-question r": r["mean_question_r"]}
                 for r in v["variants"]]
    md += [format_table(pd.DataFrame(rows)), ""]
    md += [f"- {m}: the claim-2 verdict {'**flips** with the prompt' if v['claim2_flips'] else 'is the same under every variant'}; "
           f"gap range {_ci(v['gap_range'])}; mean std of a country's score on a question across variants {fmt_num(v['mean_score_std'])}"
           for m, v in rob["models"].items()] + [""]
    return md


def language_section(lang: dict) -> list[str]:
    md = ["## Prompt language: English vs each country's main language", "",
          f"Template(s) {', '.join(lang['templates'])}, the {len(lang['questions'])} questions every country has; translations: "
          f"`{lang['translations_file']}` ({lang['source'] or 'no source given'}). Countries whose language the file does not cover are "
          "asked in English in both runs. Changes are native minus English; CIs resample countries, paired across the two runs; "
          "p: two-sided Welch p of the gap change, q: its Benjamini–Hochberg q-value among the models of the table.", ""]
    rows, per_country = [], []
    for m, v in lang["models"].items():
        ge, gn, ch, rt = v["gap_en"], v["gap_native"], v["gap_change"], v["r_translated"]
        rows.append({"model": m, "gap beyond null (English)": _beyond(ge), "gap beyond null (native)": _beyond(gn),
                     "gap change": ch.get("diff"),
                     "95% CI": _ci(ch.get("ci")), "p (Welch)": ch.get("p"), "q (BH)": ch.get("q_bh"),
                     "translated countries": len(v["translated_countries"]),
                     "r translated (English)": rt.get("mean_b"), "r translated (native)": rt.get("mean_a"),
                     "r change": rt.get("diff"), "r change 95% CI": _ci(rt.get("ci"))})
        per_country += [{"model": m, **row} for row in v["per_country"]]
    md += [format_table(pd.DataFrame(rows)), ""]
    if per_country:
        md += ["Per translated country (r across the questions):", "", format_table(pd.DataFrame(per_country)), ""]
    return md


CLAIM_STATEMENTS = {
    "1_norms": "1. Norms are judged closer to humans than social systems and progress",
    "2_western_bias": "2. Judgments are biased toward Western countries",
    "3_multilingual": "3. A multilingual corpus reduces the Western gap",
    "4_size": "4. Larger models are closer to humans",
    "5_synthetic": "5. Synthetic culture-aware data improves a small model",
    "6_alignment": "6. Alignment brings judgments closer to humans",
}


def _verdict(c: dict) -> str:
    views = c.get("verdict_by_view") or {}
    by_view = "; ".join(f"{k}: {v}" for k, v in views.items()) if len(views) > 1 else ""
    return (_primary_line(c) + "\n" + f"**Verdict: {c['verdict']}**" + (f" ({c['reason']})" if c.get("reason") else "")
            + (f"  \nBy view (fragile when they disagree): {by_view}" if by_view else ""))


def _gap_rows(c2: dict) -> list[dict]:
    rows = []
    for m, g in c2["gaps"].items():
        raw = g.get("raw") or {}
        rows.append({"model": m, "Western r": raw.get("western_r"), "non-Western r": raw.get("non_western_r"),
                     "raw gap (old rule)": raw.get("gap"), "raw 95% CI": _ci(raw.get("ci")),
                     "fidelity-slope gap": g.get("gap"), "95% CI": _ci(g.get("ci")), "p (one-sided)": g.get("p_one_sided"),
                     "q (BH)": g.get("q_bh"), "mde": g.get("mde"), "verdict": g.get("verdict"),
                     "no-persona nearest 5": ", ".join(c2["nearest"].get(m, {}).get("top5", [])),
                     "Western share of nearest 5": c2["nearest"].get(m, {}).get("western_share")})
    return rows


def _source_rows(views: list[dict]) -> list[str]:
    md = []
    for v in views:
        md += [f"Also measured ({v['kind']} data, {len(v['countries'])} countries, questions per group {v['n_questions']}; "
               f"{v.get('note') or ''}):",
               "", format_table(pd.DataFrame(v["table"])), ""]
    return md


def norms_section(c1: dict) -> list[str]:
    countries = c1.get("countries") or []
    where = (f"{c1.get('kind')} data only, the same {len(countries)} countries ({', '.join(countries)}) on every "
             f"question; questions per group {c1.get('n_questions')}") if c1.get("kind") else "no common block"
    left = "; ".join(f"{m} ({why})" for m, why in (c1.get("models_left_out") or {}).items())
    md = ["## 1. Socio-cultural norms vs social systems and progress", "",
          f"Models claim 1 uses (base models only, one per family and size): {', '.join(c1.get('models_used') or []) or 'none'}"
          + (f"; left out: {left}" if left else "") + ".", "",
          f"Effect: {c1.get('effect_name') or ''} = {_f(c1.get('effect'))}, 95% CI {_ci(c1.get('ci'))} ({where}; the fidelity slope "
          "per question, each country's mean answer removed from model and human alike, the models' slopes averaged; p from a "
          "studentized permutation of the group label across battery clusters, CI from the cluster-robust se). The table below "
          "gives the paper's r per group as a description: r also rises with the human answers' spread across countries, "
          "which differs between the groups, so equal knowledge can show as an r gap.", _verdict(c1), ""]
    if c1.get("contrasts"):
        rows = [{"endpoint": ("**primary** " if c["primary"] else "secondary ") + c["endpoint"], "effect": c["effect"],
                 "95% CI": _ci(c["ci"]), "p (one-sided)": c["p"], "q (BH)": c["q_bh"], "mde": c["mde"]} for c in c1["contrasts"]]
        md += [format_table(pd.DataFrame(rows)), ""]
    return md + [format_table(pd.DataFrame(c1["table"])), ""] + _source_rows(c1.get("other_sources") or [])


def western_section(c2: dict) -> list[str]:
    return ["## 2. Western bias", "",
            f"The {len(c2['questions'])} questions every country has; {c2['n_western']} of {c2['n_countries']} countries are Western "
            f"(base rate {c2['western_base_rate']:.2f}). The raw gap (old rule: per-country r, Western minus non-Western) is shown for "
            "comparison only: a predictor with no country knowledge gets a positive raw gap wherever Western countries' answers spread "
            "more across questions. The verdict stands on the fidelity-slope gap (per country, the slope of the model's answers on "
            "the human answers, both relative to their side's mean; Welch over countries), which equal noise for every country "
            f"does not move. Rule: {c2['rule']}.",
            _verdict(c2), "", format_table(pd.DataFrame(_gap_rows(c2))), ""]


def multilingual_section(c3: dict) -> list[str]:
    md = ["## 3. Multilingual training corpus and the Western gap", "", f"Rule: {c3['rule']}.", _verdict(c3), ""]
    if c3["pairs"]:
        pairs = [{**p, "ci": _ci(p["ci"]), "confounds": "; ".join(p["confounds"]) or "none"} for p in c3["pairs"]]
        md += [format_table(pd.DataFrame(pairs)), ""]
    return md


def size_section(c4: dict) -> list[str]:
    md = ["## 4. Model size", "", f"Rule: {c4['rule']}.", _verdict(c4), ""]
    if c4["within_family"]:
        md += [format_table(pd.DataFrame(c4["within_family"])), ""]
    return md + ["Across families (descriptive only, confounded by family): slope of mean per-question r per decade of parameters = "
                 f"{_f(c4['slope_r_per_decade_across_families'])}", "", format_table(pd.DataFrame(c4["across_models"])), ""]


def comparisons_section(title: str, c: dict) -> list[str]:
    md = [f"## {title}", "", f"Rule: {c['rule']}.", _verdict(c), ""]
    if not c["comparisons"]:
        return md
    kind = KINDS.get(c.get("primary") or "")
    return md + _comparison_notes(c["comparisons"]) + ["", format_table(_diff_rows(c["comparisons"], kind)), ""]


def prompt_robustness_section(robustness: dict) -> list[str]:
    md = ["## Prompt robustness", "", "Pooled r per template and option order (a claim resting on one template is fragile):", ""]
    rows = []
    for m, rob in robustness.items():
        rows += [{"model": m, **v} for v in (rob or {}).get("variants", [])]
        if rob and rob.get("mean_score_std") is not None:
            rows.append({"model": m, "template": "(mean std of score per question)", "order": "", "pooled_r": rob.get("mean_score_std")})
    return md + ([format_table(pd.DataFrame(rows)), ""] if rows else [])


def claims_markdown(claims: dict) -> str:
    md = ["# The paper's claims, tested", ""]
    md += ["Models (each evaluated with the same prompts; run folders hold every number):", ""]
    facts = ("family", "params", "corpus", "aligned", "synthetic", "stage")
    md += [format_table(pd.DataFrame([{"model": k, **{kk: v[kk] for kk in facts}} for k, v in claims["models"].items()])), ""]
    if claims.get("skipped"):
        md += ["Not evaluated: " + "; ".join(f"{k}: {v}" for k, v in claims["skipped"].items()), ""]
    md += norms_section(claims["1_norms"]) + western_section(claims["2_western_bias"])
    md += multilingual_section(claims["3_multilingual"]) + size_section(claims["4_size"])
    for key in ("5_synthetic", "6_alignment"):
        md += comparisons_section(CLAIM_STATEMENTS[key], claims[key])
    md += prompt_robustness_section(claims["robustness"])
    if claims.get("robustness_study"):
        md += robustness_section(claims["robustness_study"])
    if claims.get("languages"):
        md += language_section(claims["languages"])
    verdicts = pd.DataFrame([(title, f"`{claims[key].get('primary')}`", claims[key].get("p"), claims[key].get("p_holm"),
                              claims[key]["verdict"], claims[key].get("reason") or "",
                              ", ".join(f"{k}: {v}" for k, v in (claims[key].get("verdict_by_view") or {}).items()))
                             for key, title in CLAIM_STATEMENTS.items()],
                            columns=["claim", "primary endpoint", "p (one-sided)", "p (Holm)", "verdict", "why", "by view"])
    note = ("Each claim's verdict stands on its primary endpoint, named in the config before the run; Holm across the claims "
            "of this report (one-sided family-wise alpha); every other number is secondary, with a BH q-value beside its table. "
            "*no evidence* states the minimum detectable effect at this run's n; *not testable*: a premise or the entries the "
            "comparison needs are missing. A verdict is *fragile* when it differs between views of the same runs (each option "
            "order alone, each persona template alone, against the average over them): it is never counted as supported.")
    return "\n".join(["# Verdicts", "", format_table(verdicts), "", note, ""] + md)


def _numeric(table: pd.DataFrame, cols: list[str] | None) -> pd.DataFrame:
    """The plottable part of a panel's table: numeric columns per model, rows and columns without any number dropped."""
    if table.empty or "model" not in table:
        return pd.DataFrame()
    table = table.set_index("model")
    table = table[[c for c in cols if c in table]] if cols else table
    return table.apply(pd.to_numeric, errors="coerce").dropna(axis=1, how="all").dropna(axis=0, how="all")


def claims_figure(claims: dict, path: Path) -> Path:
    """Per-group r per model, and Western vs non-Western r per model."""
    panels = [(pd.DataFrame(claims["1_norms"]["table"]), None, "mean per-question r by group"),
              (pd.DataFrame(_gap_rows(claims["2_western_bias"])), ["Western r", "non-Western r"], "per-country r: Western vs non-Western")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (table, cols, title) in zip(axes, panels):
        ax.set_title(title)
        numbers = _numeric(table, cols)
        if numbers.empty:  # e.g. no common country x question block for claim 1, or r undefined everywhere
            ax.text(0.5, 0.5, "no data: no claim has numbers here\n(see claims.md for why)", ha="center", va="center",
                    transform=ax.transAxes)
            continue
        numbers.plot.bar(ax=ax, rot=20)
        ax.axhline(0, color="k", lw=0.5)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_claims_report(out: Path, typed: ClaimsFile) -> None:
    """claims.json (strict JSON: the typed `ClaimsFile`), claims.md (verdicts first, one section per claim) and
    figures/claims.png, both from what claims.json holds."""
    claims = typed.as_json()
    write_json(out / "claims.json", claims)
    (out / "claims.md").write_text(claims_markdown(claims))
    (out / "figures").mkdir(exist_ok=True)
    claims_figure(claims, out / "figures" / "claims.png")
