"""report.md sections for the numbers that stand next to a null: the paper's metric first, the per-country
measures, the Western-gap verdict, pooled r (labelled), and the per-option-order view."""
from __future__ import annotations

import pandas as pd

from culturelens.core.formatting import fmt_interval, fmt_num
from culturelens.core.runfolder import NullComparison, RawWesternGap, ScoreShift, Summary, WesternGap

NULL_SENTENCE = ("Null: the model's own answers with the country labels shuffled, one shuffle applied to every question ({n} "
                 "permutations); it keeps everything about the answers except which country got which, so model − null is "
                 "what country knowledge adds. CI of model − null: the model's number over bootstrap replicates (battery "
                 "clusters of questions and countries drawn together) minus the fixed null mean; p: one-sided permutation p; "
                 "q (BH): Benjamini–Hochberg q-value within the group rows and within the section rows.")


def _row(label: str, v: NullComparison | None, with_q: bool = False) -> dict:
    v = v or NullComparison()
    row = {"": label, "model": v.model, "null": v.null_mean, "model − null": v.model_minus_null,
           "95% CI": fmt_interval(v.ci, signed=True), "p (perm.)": v.p_perm}
    if with_q:
        row["q (BH)"] = v.q_bh
    return {**row, "units": v.units or "", "n": v.n_units}


def _table(rows: list[dict]) -> str:
    from culturelens.core.formatting import format_table

    df = pd.DataFrame(rows)
    for c in ("model", "null", "model − null", "p (perm.)", "q (BH)"):
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    df["n"] = pd.to_numeric(df["n"], errors="coerce").astype("Int64")
    return format_table(df)


def paper_metric_section(s: Summary) -> list[str]:
    """Mean per-question r across countries (the paper's metric), overall, per group and per section, with the null."""
    n = s.nulls
    if n is None or n.mean_question_r is None:
        return []
    rows = [_row("all questions" + (" (primary)" if n.mean_question_r.primary else ""), n.mean_question_r, True)]
    rows += [_row(f"group: {k}", v, True) for k, v in n.mean_question_r_by_group.items()]
    rows += [_row(k, v, True) for k, v in n.mean_question_r_by_category.items()]
    return ["## The paper's metric: mean per-question r across countries, next to the null", "",
            "Per question, Pearson r across countries of model score vs human mean; averaged over questions. "
            + NULL_SENTENCE.format(n=n.n_perm), "", _table(rows), ""]


def country_measures_section(s: Summary) -> list[str]:
    n = s.nulls
    if n is None:
        return []
    rows = [_row("mean per-country r across questions", n.mean_country_r),
            _row("mean per-country r on centred scores", n.mean_centred_country_r),
            _row("mean per-country MAE on centred scores (lower is better)", n.mean_centred_mae)]
    if n.mean_w1 is not None:
        rows.append(_row("mean per-country Wasserstein-1 (lower is better)", n.mean_w1))
    rows.append(_row("pooled r over (country, question) pairs", n.pooled_r))
    return ["## Per-country measures and pooled r, next to the null", "",
            "Centred: each question's cross-country mean subtracted (human from human, the model's own from the model), so "
            "only what distinguishes countries is left. Per-country r and pooled r are mostly between-question agreement, "
            "which the null keeps.", "", _table(rows), ""]


def western_section(g: WesternGap) -> list[str]:
    from culturelens.core.formatting import format_table

    md = ["### Western vs non-Western", ""]
    if not g.verdict:
        return md + ["_(not available)_", ""]
    rows = [{"measure": name, "Western − non-Western gain over null": m.gap, "95% CI": fmt_interval(m.ci, signed=True),
             "raw gap (model)": m.model_gap, "null's gap": m.null_gap, "excess": m.excess} for name, m in g.measures.items()]
    df = pd.DataFrame(rows)
    raw = g.raw or RawWesternGap()
    return md + [f"**Verdict: {g.verdict}**{g.said_after_verdict(' — ')}.", "",
                 "The verdict stands on the fidelity slope (per country, the slope of the model's answers on the human answers "
                 "across questions, both relative to the country's side; Welch CI over countries), which equal noise for every "
                 "country cannot move. The per-country measures beyond the null below are descriptions, not the verdict: noise "
                 "lowers r more where answers spread less, and non-Western answers spread less.", "", format_table(df), "",
                 f"Raw gap of the old rule (mean per-country r, Western {fmt_num(raw.western_r)} minus non-Western "
                 f"{fmt_num(raw.non_western_r)}, no null): {fmt_num(raw.gap, signed=True)} 95% CI "
                 f"{fmt_interval(raw.ci, signed=True)}. A predictor with no country knowledge gets a positive raw gap "
                 "wherever Western countries' answers spread more across questions. "
                 "CI of the descriptions: countries resampled within each side; fewer than 5 countries on a side: no CI.", ""]


def pooled_section(s: Summary) -> list[str]:
    p = s.pooled
    ci = "its CI is that of model − null in the table above" if s.nulls and s.nulls.pooled_r else \
        f"95% CI {fmt_interval(p.ci)}"
    return ["## Pooled r (mostly between-question agreement)", "",
            f"Pearson r over all (country, question) pairs: {fmt_num(p.r)} ({ci}), n = {p.n_pairs} pairs. It rewards getting "
            "each question's overall level right, which every country shares: compare it with its null above, not with 0.", ""]


def orders_section(s: Summary) -> list[str]:
    o = s.robustness.orders if s.robustness else None
    if o is None or len(o.by_order) < 2:
        return []
    from culturelens.core.formatting import format_table

    df = pd.DataFrame([{"order": k, **v.model_dump()} for k, v in o.by_order.items()])
    shift = o.score_shift or ScoreShift()
    return ["## Option order", "",
            "The numbers above average each prompt's option probabilities over both option orders (cancels a position bias "
            "that is the same in both directions). Each order alone:", "", format_table(df), "",
            f"Mean per-question r spread between orders: {fmt_num(o.mean_question_r_spread)}; a (country, question) "
            f"score moves by {fmt_num(shift.mean_abs_shift)} on average between orders "
            f"(max {fmt_num(shift.max_abs_shift)}).", ""]
