"""Console output of eval and compare results (rich tables)."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from culturelens.core import runfolder
from culturelens.core.ci import CI
from culturelens.core.formatting import fmt_interval, fmt_num
from culturelens.core.runfolder import MeanCI, NullComparison, RunFolder

console = Console()


def _ci_table(title: str, rows: list[MeanCI], key: str, n_key: str) -> Table:
    t = Table(title=title)
    for col in (key, "mean r", "95% CI", n_key):
        t.add_column(col)
    for r in rows:
        t.add_row(str(getattr(r, key)), fmt_num(r.mean_r), fmt_interval(r.ci), str(getattr(r, n_key, "")))
    return t


def _null_table(title: str, rows: dict[str, NullComparison], key: str) -> Table:
    t = Table(title=title)
    for col in (key, "mean r", "null", "r - null", "95% CI", "p", "q (BH)", "n questions"):
        t.add_column(col)
    for name, v in rows.items():
        t.add_row(name, fmt_num(v.model), fmt_num(v.null_mean), fmt_num(v.model_minus_null, signed=True),
                  fmt_interval(v.ci, signed=True), fmt_num(v.p_perm), fmt_num(v.q_bh), str(v.n_units or ""))
    return t


def _null_line(label: str, v: NullComparison | None) -> str | None:
    if v is None or v.model is None:
        return None
    return (f"{label} = {fmt_num(v.model)}  null {fmt_num(v.null_mean)}  model - null {fmt_num(v.model_minus_null, signed=True)} "
            f"95% CI {fmt_interval(v.ci, signed=True)}")


def print_paper_metric(s: runfolder.Summary) -> None:
    """The paper's metric first: mean per-question r across countries, overall and per group/section, with the null."""
    n = s.nulls
    line = _null_line("mean per-question r across countries (the paper's metric)", n.mean_question_r) if n else None
    if line is None:  # no null (an older summary) or no question with a defined r
        console.print(f"mean per-question r across countries (the paper's metric) = {fmt_num(s.mean_question_r)}")
        console.print(_ci_table("r per category (across countries, per question; CI over questions)", s.by_category, "category",
                                "n_questions"))
        console.print(_ci_table("r per group", s.by_group, "group", "n_questions"))
        return
    console.print(f"[bold]{line}[/bold]  (null: the model's own answers shuffled across countries within each question)")
    console.print(_null_table("r per group, next to the null (CI of model - null; p: permutation p; q: Benjamini-Hochberg "
                              "within the table)", n.mean_question_r_by_group, "group"))
    console.print(_null_table("r per category (WVS section), next to the null (q: Benjamini-Hochberg within the table)",
                              n.mean_question_r_by_category, "category"))


def print_country_knowledge(s: runfolder.Summary) -> None:
    """Per-country measures vs the null, the Western-gap verdict, pooled r (labelled)."""
    n = s.nulls
    for label, key in (("mean per-country r across questions", "mean_country_r"), ("centred per-country r", "mean_centred_country_r"),
                       ("centred MAE (lower is better)", "mean_centred_mae"), ("W1 on distributions (lower is better)", "mean_w1")):
        line = _null_line(label, getattr(n, key, None)) if n else None
        if line:
            console.print(line)
    g = s.western_gap
    if g.verdict:
        # `said` already holds the gap and its CI: printed once
        console.print(f"Western gap beyond the null: [bold]{g.verdict}[/bold]{g.said_after_verdict(': ')}; raw gap (old rule, "
                      f"no null) {fmt_num(g.raw.gap if g.raw else None, signed=True)}")
    elif g.gap is not None:
        console.print(f"Western r={fmt_num(g.western_r)} (n={g.n_western})  non-Western r={fmt_num(g.non_western_r)} "
                      f"(n={g.n_non_western})  gap={fmt_num(g.gap)} 95% CI {fmt_interval(g.ci)}")
    p = s.pooled
    null = n.pooled_r if n else None
    console.print(f"pooled r over (country, question) pairs = {fmt_num(p.r)} {fmt_interval(p.ci)} (questions and countries "
                  f"resampled), n={p.n_pairs}" + (f"; null {fmt_num(null.null_mean)}: mostly between-question agreement" if null else ""))


def print_summary(run_dir: str | Path) -> None:
    folder = RunFolder(run_dir)
    s = folder.summary()
    run = s.run
    console.print(f"[bold]{run.model}[/bold]  prompts={run.n_prompts} (cached {run.n_cached})  "
                  f"mean option mass={fmt_num(s.mean_mass)}  countries={s.n_countries} questions={s.n_questions}")
    print_paper_metric(s)
    from culturelens.eval.reporting.caveats import caveats

    for line in caveats(s):
        console.print(f"[yellow]note:[/yellow] {line}")
    orders = s.robustness.orders if s.robustness else None
    if orders is not None and orders.mean_question_r_spread is not None:
        per = ", ".join(f"{o}: {fmt_num(v.mean_question_r)}" for o, v in orders.by_order.items())
        console.print(f"per option order (probabilities averaged over orders above): {per}; mean |score shift| between orders "
                      f"{fmt_num(orders.score_shift.mean_abs_shift if orders.score_shift else None)}")
    console.print(_ci_table("r per cultural zone (across questions, per country; CI over countries)", s.by_zone, "zone", "n_countries"))
    print_country_knowledge(s)
    d = s.distribution
    if d:
        console.print(f"1 - Jensen-Shannon distance (similarity) = {fmt_num(d.one_minus_js_distance.mean)}   "
                      f"Wasserstein-1 = {fmt_num(d.wasserstein.mean)}")
    if s.nearest_countries:
        nearest = ", ".join(f"{r.country} ({fmt_num(r.r, 2)})" for r in s.nearest_countries[:5])
        console.print("no-persona answers are nearest to: " + nearest)
    files = ", ".join((runfolder.SUMMARY, runfolder.REPORT, runfolder.PER_PROMPT, runfolder.FIGURES + "/"))
    console.print(f"written to {folder.path}/ ({files})")


def print_comparison(result: dict) -> None:
    t = Table(title=f"comparison ({result['split']} questions); baseline = {result['runs'][0]}")
    cols = list(result["table"][0].keys())
    for c in cols:
        t.add_column(c)
    for row in result["table"]:
        t.add_row(*[v if isinstance(v, str) else fmt_num(v) for v in row.values()])
    console.print(t)
    if result["diffs"]:
        d = Table(title="difference vs baseline (paired bootstrap 95% CI)")
        for c in ("run", "what", "diff", "95% CI", "p", "n"):
            d.add_column(c)
        for r in result["diffs"]:
            ci = CI.model_validate(r.get("ci") or {})
            d.add_row(r["run"], r["what"], fmt_num(r.get("diff")), fmt_interval(ci), fmt_num(r.get("p_perm")), str(r.get("n")))
        console.print(d)
    for warning in result.get("warnings", []):
        console.print(f"[yellow]note:[/yellow] {warning}")
