"""Console output of eval and compare results (rich tables)."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from culturelens.core import runfolder
from culturelens.core.formatting import fmt_ci, fmt_interval, fmt_num
from culturelens.core.runfolder import MeanCI, RunFolder

console = Console()


def _ci_table(title: str, rows: list[MeanCI], key: str, n_key: str) -> Table:
    t = Table(title=title)
    for col in (key, "mean r", "95% CI", n_key):
        t.add_column(col)
    for r in rows:
        t.add_row(str(getattr(r, key)), fmt_num(r.mean_r), fmt_ci(r.ci_lo, r.ci_hi), str(getattr(r, n_key, "")))
    return t


def print_summary(run_dir: str | Path) -> None:
    folder = RunFolder(run_dir)
    s = folder.summary()
    run = s.run
    console.print(f"[bold]{run.model}[/bold]  prompts={run.n_prompts} (cached {run.n_cached})  "
                  f"mean option mass={fmt_num(s.mean_mass)}  countries={s.n_countries} questions={s.n_questions}")
    console.print(_ci_table("r per category (across countries, per question; CI over questions)", s.by_category, "category", "n_questions"))
    console.print(_ci_table("r per group", s.by_group, "group", "n_questions"))
    console.print(_ci_table("r per cultural zone (across questions, per country; CI over countries)", s.by_zone, "zone", "n_countries"))
    g = s.western_gap
    if g.gap is not None:
        console.print(
            f"Western r={fmt_num(g.western_r)} (n={g.n_western})  non-Western r={fmt_num(g.non_western_r)} "
            f"(n={g.n_non_western})  gap={fmt_num(g.gap)} 95% CI {fmt_interval(g.gap_ci)}"
        )
    p = s.pooled
    console.print(f"pooled r over (country, question) pairs = {fmt_num(p.r)} {fmt_ci(p.ci_lo, p.ci_hi)}, n={p.n_pairs}")
    d = s.distribution
    if d:
        console.print(f"1 - JSD = {fmt_num(d.one_minus_jsd.mean)}   Wasserstein-1 = {fmt_num(d.wasserstein.mean)}")
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
        for c in ("run", "what", "diff", "95% CI", "n"):
            d.add_column(c)
        for r in result["diffs"]:
            d.add_row(r["run"], r["what"], fmt_num(r.get("diff")), fmt_ci(r.get("ci_lo"), r.get("ci_hi")), str(r.get("n")))
        console.print(d)
