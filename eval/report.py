"""Run report: summary.json, report.md (markdown tables) and figures (matplotlib, Agg backend)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

GROUP_COLOURS = {"norms": "#4C72B0", "systems": "#DD8452", "progress": "#55A868"}
OTHER_COLOUR = "#8C8C8C"


# ------------------------------------------------------------------------------------- tables


def _is_missing(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return isinstance(v, float) and math.isnan(v)
    except TypeError:
        return False


def _cell(v, floatfmt: str) -> str:
    if _is_missing(v):
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return format(v, floatfmt)
    if hasattr(v, "dtype") and getattr(v.dtype, "kind", "") == "f":
        return format(float(v), floatfmt)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_cell(x, floatfmt) for x in v) + "]"
    return str(v).replace("|", "\\|").replace("\n", " ")


def format_table(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A GitHub-flavoured markdown table; floats formatted with floatfmt, missing values as '—'."""
    if df is None or len(df.columns) == 0:
        return "_(no data)_"
    cols = [str(c) for c in df.columns]
    rows = [[_cell(v, floatfmt) for v in row] for row in df.itertuples(index=False, name=None)]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(cols)]

    def line(cells):
        return "| " + " | ".join(
            (cell.rjust(w) if num else cell.ljust(w)) for cell, w, num in zip(cells, widths, numeric)
        ) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in zip(widths, numeric)) + "|"
    out = [line(cols), sep] + [line(r) for r in rows]
    if not rows:
        out.append("| " + " | ".join("" for _ in cols) + " |")
    return "\n".join(out)


def print_rich_table(df: pd.DataFrame, title: str = "", floatfmt: str = ".3f", console=None) -> None:
    """Print a DataFrame as a rich table on the console."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(title=title or None)
    for c in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
        t.add_column(str(c), justify="right" if numeric else "left")
    for row in df.itertuples(index=False, name=None):
        t.add_row(*[_cell(v, floatfmt) for v in row])
    console.print(t)


# ------------------------------------------------------------------------------------ helpers


def _fmt(x, nd: int = 3) -> str:
    return "—" if _is_missing(x) else f"{float(x):.{nd}f}"


def _ci(lo, hi, nd: int = 3) -> str:
    return "—" if _is_missing(lo) or _is_missing(hi) else f"[{_fmt(lo, nd)}, {_fmt(hi, nd)}]"


def _ci_frame(records: list[dict] | None, key_cols: list[str], n_col: str) -> pd.DataFrame:
    df = pd.DataFrame(records or [])
    if df.empty:
        return pd.DataFrame(columns=key_cols + ["mean r", "95% CI", n_col])
    out = df[[c for c in key_cols if c in df.columns]].copy()
    out["mean r"] = pd.to_numeric(df["mean_r"], errors="coerce")
    out["95% CI"] = [_ci(lo, hi) for lo, hi in zip(df["ci_lo"], df["ci_hi"])]
    out[n_col] = pd.to_numeric(df[n_col], errors="coerce").astype("Int64") if n_col in df.columns else pd.NA
    return out


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return None if not math.isfinite(float(o)) else float(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ------------------------------------------------------------------------------------- markdown


def _markdown(summary: dict, title: str, figures: list[Path]) -> str:
    s = summary
    md: list[str] = [f"# {title}", ""]
    run = s.get("run") or {}
    if run:
        bits = [f"{k}: {run[k]}" for k in ("model", "reference", "experiment", "n_prompts", "templates", "orders") if k in run]
        md += ["Run — " + "; ".join(str(b) for b in bits), ""]
    md += [
        f"Countries: {s.get('n_countries')} · questions: {s.get('n_questions')} · "
        f"mean option probability mass: {_fmt(s.get('mean_mass'))}",
        "",
        f"Bootstrap: {s.get('bootstrap', '')}.",
        "",
    ]

    p = s.get("pooled") or {}
    md += ["## Pooled agreement", "",
           f"Pearson r over all (country, question) pairs: **{_fmt(p.get('r'))}** "
           f"95% CI {_ci(p.get('ci_lo'), p.get('ci_hi'))}, n = {p.get('n_pairs')} pairs.", ""]
    if s.get("mean_question_r") is not None:
        md += [f"Mean per-question r (across countries): {_fmt(s.get('mean_question_r'))}; "
               f"mean per-country r (across questions): {_fmt(s.get('mean_country_r'))}.", ""]

    md += ["## By group", "", "Mean per-question r (across countries), CI over questions.", "",
           format_table(_ci_frame(s.get("by_group"), ["group"], "n_questions")), ""]
    md += ["## By category", "", "Mean per-question r (across countries), CI over questions.", "",
           format_table(_ci_frame(s.get("by_category"), ["category", "group"], "n_questions")), ""]
    md += ["## By cultural zone", "", "Mean per-country r (across questions), CI over countries.", "",
           format_table(_ci_frame(s.get("by_zone"), ["zone"], "n_countries")), ""]

    g = s.get("western_gap") or {}
    md += ["### Western vs non-Western", ""]
    if g:
        wci, nci, gci = g.get("western_ci") or [None, None], g.get("non_western_ci") or [None, None], g.get("gap_ci") or [None, None]
        gdf = pd.DataFrame([
            {"": "Western", "mean r": g.get("western_r"), "95% CI": _ci(*wci), "n countries": g.get("n_western")},
            {"": "non-Western", "mean r": g.get("non_western_r"), "95% CI": _ci(*nci), "n countries": g.get("n_non_western")},
            {"": "gap (W − non-W)", "mean r": g.get("gap"), "95% CI": _ci(*gci), "n countries": None},
        ])
        gdf["mean r"] = pd.to_numeric(gdf["mean r"], errors="coerce")
        gdf["n countries"] = pd.to_numeric(gdf["n countries"], errors="coerce").astype("Int64")
        md += [format_table(gdf), "", "Gap CI: stratified bootstrap (countries resampled within each side).", ""]
    else:
        md += ["_(not available)_", ""]

    md += ["## Distribution metrics", ""]
    d = s.get("distribution")
    if d:
        rows = []
        for key, label in (("one_minus_jsd", "1 − Jensen–Shannon distance (higher = closer, max 1)"),
                           ("wasserstein", "Wasserstein-1 on option scale (lower = closer, max 2)")):
            v = d.get(key) or {}
            rows.append({"metric": label, "mean": v.get("mean"), "95% CI": _ci(v.get("ci_lo"), v.get("ci_hi"))})
        ddf = pd.DataFrame(rows)
        ddf["mean"] = pd.to_numeric(ddf["mean"], errors="coerce")
        md += [format_table(ddf), "", f"Over {d.get('n_pairs')} (country, question) pairs with human answer distributions.", ""]
    else:
        md += ["_(no human answer distributions available)_", ""]

    md += ["## Nearest countries of the no-persona answers", ""]
    near = s.get("nearest_countries")
    if near:
        ndf = pd.DataFrame(near[:10])
        ndf = ndf[[c for c in ("country", "name", "r", "n_questions") if c in ndf.columns]]
        md += [format_table(ndf), ""]
    else:
        md += ["_(no no-persona prompts in this run)_", ""]

    perq = pd.DataFrame(s.get("per_question") or [])
    if not perq.empty:
        perq["r"] = pd.to_numeric(perq["r"], errors="coerce")
        perq = perq.dropna(subset=["r"])
        cols = [c for c in ("qid", "category", "r", "n_countries") if c in perq.columns]
        md += ["## Best 5 questions", "", format_table(perq.sort_values("r", ascending=False).head(5)[cols]), ""]
        md += ["## Worst 5 questions", "", format_table(perq.sort_values("r", ascending=True).head(5)[cols]), ""]

    if figures:
        md += ["## Figures", ""]
        md += [f"![{f.stem}](figures/{f.name})" for f in figures]
        md += [""]
    return "\n".join(md)


# -------------------------------------------------------------------------------------- figures


def _empty(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _fig_by_category(summary: dict, path: Path) -> Path:
    df = pd.DataFrame(summary.get("by_category") or [])
    if not df.empty:
        for c in ("mean_r", "ci_lo", "ci_hi"):
            df[c] = pd.to_numeric(df[c], errors="coerce")
        df = df.dropna(subset=["mean_r"])
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(df), 4) + 1.2))
    if df.empty:
        _empty(ax)
    else:
        df = df.iloc[::-1].reset_index(drop=True)  # first row on top
        y = range(len(df))
        lo = (df["mean_r"] - df["ci_lo"]).clip(lower=0).fillna(0)
        hi = (df["ci_hi"] - df["mean_r"]).clip(lower=0).fillna(0)
        colours = [GROUP_COLOURS.get(g, OTHER_COLOUR) for g in df.get("group", [None] * len(df))]
        ax.barh(list(y), df["mean_r"], xerr=[lo, hi], color=colours, capsize=3, ecolor="black")
        ax.set_yticks(list(y))
        ax.set_yticklabels(df["category"], fontsize=8)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel("mean per-question r across countries (95% CI over questions)")
        from matplotlib.patches import Patch

        present = [g for g in GROUP_COLOURS if g in set(df.get("group", []))]
        handles = [Patch(color=GROUP_COLOURS[g], label=g) for g in present]
        if handles:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_title("Agreement with human answers by WVS section")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _fig_per_country(summary: dict, path: Path) -> Path:
    df = pd.DataFrame(summary.get("per_country") or [])
    if not df.empty:
        df["r"] = pd.to_numeric(df["r"], errors="coerce")
        df = df.dropna(subset=["r"]).sort_values("r", ascending=False).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(max(6, 0.22 * len(df) + 2), 4))
    if df.empty:
        _empty(ax)
    else:
        western = df["western"].fillna(False).astype(bool) if "western" in df.columns else pd.Series(False, index=df.index)
        colours = ["#C44E52" if w else "#8C8C8C" for w in western]
        ax.bar(range(len(df)), df["r"], color=colours)
        ax.set_xticks(range(len(df)))
        ax.set_xticklabels(df["country"], rotation=90, fontsize=7)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_ylabel("r across questions")
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color="#C44E52", label="Western"), Patch(color="#8C8C8C", label="non-Western")], fontsize=8)
    ax.set_title("Agreement with human answers per country")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _fig_scatter(per_pair: pd.DataFrame, summary: dict, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    df = per_pair.copy()
    df["score"] = pd.to_numeric(df["score"], errors="coerce")
    df["mean"] = pd.to_numeric(df["mean"], errors="coerce")
    df = df.dropna(subset=["score", "mean"])
    if df.empty:
        _empty(ax)
    else:
        western = {r["country"] for r in summary.get("per_country") or [] if r.get("western")}
        w = df["country"].isin(western)
        ax.scatter(df.loc[~w, "mean"], df.loc[~w, "score"], s=6, alpha=0.4, color="#8C8C8C", label="non-Western")
        if w.any():
            ax.scatter(df.loc[w, "mean"], df.loc[w, "score"], s=6, alpha=0.5, color="#C44E52", label="Western")
        ax.plot([-1, 1], [-1, 1], color="black", linewidth=0.7, linestyle="--")
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("human mean score")
        ax.set_ylabel("model score")
        ax.legend(fontsize=8, loc="upper left")
    p = summary.get("pooled") or {}
    ax.set_title(f"Model vs human scores (pooled r = {_fmt(p.get('r'))})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------- main


def write_report(run_dir: Path, summary: dict, title: str, per_pair: pd.DataFrame | None = None) -> list[Path]:
    """Write summary.json, report.md and figures/*.png into run_dir; return the written paths."""
    run_dir = Path(run_dir)
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)

    figures = [
        _fig_by_category(summary, fig_dir / "by_category.png"),
        _fig_per_country(summary, fig_dir / "per_country.png"),
    ]
    if per_pair is not None and {"score", "mean", "country"} <= set(per_pair.columns):
        figures.append(_fig_scatter(per_pair, summary, fig_dir / "scatter.png"))

    summary_path = run_dir / "summary.json"
    from culturelens.eval.metrics import to_jsonable

    summary_path.write_text(json.dumps(to_jsonable(summary), indent=2, default=_json_default, allow_nan=False))
    report_path = run_dir / "report.md"
    report_path.write_text(_markdown(summary, title, figures))
    return [summary_path, report_path, *figures]
