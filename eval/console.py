"""Console output of eval and compare results (rich tables)."""
from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()


def _fmt(x, nd: int = 3) -> str:
    return "—" if x is None else f"{x:.{nd}f}"


def _ci_table(title: str, rows: list[dict], key: str, n_key: str) -> Table:
    t = Table(title=title)
    for col in (key, "mean r", "95% CI", n_key):
        t.add_column(col)
    for r in rows:
        t.add_row(str(r[key]), _fmt(r["mean_r"]), f"[{_fmt(r['ci_lo'])}, {_fmt(r['ci_hi'])}]", str(r.get(n_key, "")))
    return t


def print_summary(run_dir: str | Path) -> None:
    s = json.loads((Path(run_dir) / "summary.json").read_text())
    run = s.get("run", {})
    console.print(f"[bold]{run.get('model')}[/bold]  prompts={run.get('n_prompts')} (cached {run.get('n_cached')})  "
                  f"mean option mass={_fmt(s.get('mean_mass'))}  countries={s.get('n_countries')} questions={s.get('n_questions')}")
    console.print(_ci_table("r per category (across countries, per question; CI over questions)", s["by_category"], "category", "n_questions"))
    console.print(_ci_table("r per group", s["by_group"], "group", "n_questions"))
    console.print(_ci_table("r per cultural zone (across questions, per country; CI over countries)", s["by_zone"], "zone", "n_countries"))
    g = s.get("western_gap") or {}
    if g.get("gap") is not None:
        console.print(
            f"Western r={_fmt(g.get('western_r'))} (n={g.get('n_western')})  non-Western r={_fmt(g.get('non_western_r'))} "
            f"(n={g.get('n_non_western')})  gap={_fmt(g.get('gap'))} 95% CI [{_fmt((g.get('gap_ci') or [None, None])[0])}, "
            f"{_fmt((g.get('gap_ci') or [None, None])[1])}]"
        )
    p = s["pooled"]
    console.print(f"pooled r over (country, question) pairs = {_fmt(p['r'])} [{_fmt(p['ci_lo'])}, {_fmt(p['ci_hi'])}], n={p['n_pairs']}")
    d = s.get("distribution")
    if d:
        console.print(f"1 - JSD = {_fmt(d['one_minus_jsd']['mean'])}   Wasserstein-1 = {_fmt(d['wasserstein']['mean'])}")
    near = s.get("nearest_countries")
    if near:
        console.print("no-persona answers are nearest to: " + ", ".join(f"{r['country']} ({_fmt(r['r'], 2)})" for r in near[:5]))
    console.print(f"written to {run_dir}/ (summary.json, report.md, results.parquet, figures/)")


def print_comparison(result: dict) -> None:
    t = Table(title=f"comparison ({result['split']} questions); baseline = {result['runs'][0]}")
    cols = list(result["table"][0].keys())
    for c in cols:
        t.add_column(c)
    for row in result["table"]:
        t.add_row(*[v if isinstance(v, str) else _fmt(v) for v in row.values()])
    console.print(t)
    if result["diffs"]:
        d = Table(title="difference vs baseline (paired bootstrap 95% CI)")
        for c in ("run", "what", "diff", "95% CI", "n"):
            d.add_column(c)
        for r in result["diffs"]:
            d.add_row(r["run"], r["what"], _fmt(r.get("diff")), f"[{_fmt(r.get('ci_lo'))}, {_fmt(r.get('ci_hi'))}]", str(r.get("n")))
        console.print(d)
