"""Run report: the summary file, report.md (markdown tables) and figures (matplotlib, Agg backend)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from culturelens.core.ci import CI  # noqa: E402
from culturelens.core.formatting import fmt_interval, fmt_num, format_cell, format_table  # noqa: E402
from culturelens.core.jsonsafe import json_safe  # noqa: E402
from culturelens.core.runfolder import Distances, RunFacts, RunFolder, Summary, WesternGap, records  # noqa: E402
from culturelens.eval.reporting import report_nulls  # noqa: E402

GROUP_COLOURS = {"norms": "#4C72B0", "systems": "#DD8452", "progress": "#55A868"}
OTHER_COLOUR = "#8C8C8C"


# ------------------------------------------------------------------------------------- tables


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
        t.add_row(*[format_cell(v, floatfmt) for v in row])
    console.print(t)


# ------------------------------------------------------------------------------------ helpers


def _ci_frame(records: list[dict] | None, key_cols: list[str], n_col: str, with_ci: bool = True) -> pd.DataFrame:
    """mean r per row with its null mean, permutation p and BH q-value where the engine tested it; its CI when
    ``with_ci`` (off where the CI is already shown once, as model − null, in the paper's-metric table)."""
    df = pd.DataFrame(records or [])
    extra = [c for c, k in (("null", "null_mean"), ("p (perm.)", "p_perm"), ("q (BH)", "q_bh")) if k in df.columns]
    if df.empty:
        return pd.DataFrame(columns=key_cols + ["mean r"] + (["95% CI"] if with_ci else []) + [n_col])
    out = df[[c for c in key_cols if c in df.columns]].copy()
    out["mean r"] = pd.to_numeric(df["mean_r"], errors="coerce")
    if with_ci:
        out["95% CI"] = [fmt_interval(CI.model_validate(ci) if ci else None) for ci in df["ci"]]
    for col in extra:
        out[col] = pd.to_numeric(df[{"null": "null_mean", "p (perm.)": "p_perm", "q (BH)": "q_bh"}[col]], errors="coerce")
    out[n_col] = pd.to_numeric(df[n_col], errors="coerce").astype("Int64") if n_col in df.columns else pd.NA
    return out


# ------------------------------------------------------------------------------------- markdown


def _run_line(run: RunFacts) -> list[str]:
    bits = [f"{k}: {getattr(run, k)}" for k in ("model", "reference", "experiment", "n_prompts", "templates", "orders")
            if k in run.model_fields_set]
    return ["Run — " + "; ".join(bits), ""] if bits else []


def _gap_section(g: WesternGap) -> list[str]:
    md = ["### Western vs non-Western", ""]
    if not g.model_fields_set:
        return md + ["_(not available)_", ""]
    gdf = pd.DataFrame([
        {"": "Western", "mean r": g.western_r, "95% CI": fmt_interval(g.western_ci), "n countries": g.n_western},
        {"": "non-Western", "mean r": g.non_western_r, "95% CI": fmt_interval(g.non_western_ci), "n countries": g.n_non_western},
        {"": "gap (W − non-W)", "mean r": g.gap, "95% CI": fmt_interval(g.ci), "n countries": None},
    ])
    gdf["mean r"] = pd.to_numeric(gdf["mean r"], errors="coerce")
    gdf["n countries"] = pd.to_numeric(gdf["n countries"], errors="coerce").astype("Int64")
    return md + [format_table(gdf), "", "Gap CI: stratified bootstrap (countries resampled within each side).", ""]


def _distance_section(d: Distances | None) -> list[str]:
    md = ["## Distribution metrics", ""]
    if d is None:
        return md + ["_(no human answer distributions available)_", ""]
    rows = []
    for v, label in ((d.one_minus_js_distance, "1 − Jensen–Shannon distance (a similarity: higher = closer, max 1)"),
                     (d.wasserstein, "Wasserstein-1 on option scale (lower = closer, max 2)")):
        rows.append({"metric": label, "mean": v.mean, "95% CI": fmt_interval(v.ci)})
    ddf = pd.DataFrame(rows)
    ddf["mean"] = pd.to_numeric(ddf["mean"], errors="coerce")
    return md + [format_table(ddf), "", f"Over {d.n_pairs} (country, question) pairs with human answer distributions.", ""]


def _question_sections(s: Summary) -> list[str]:
    perq = pd.DataFrame(records(s.per_question))
    if perq.empty:
        return []
    perq["r"] = pd.to_numeric(perq["r"], errors="coerce")
    perq = perq.dropna(subset=["r"])
    cols = [c for c in ("qid", "category", "r", "p_perm", "q_bh", "n_countries") if c in perq.columns]
    names = {"p_perm": "p (perm.)", "q_bh": "q (BH)"}  # q: Benjamini-Hochberg over every question of the run
    best = perq.sort_values("r", ascending=False).head(5)[cols].rename(columns=names)
    worst = perq.sort_values("r", ascending=True).head(5)[cols].rename(columns=names)
    note = ["p: one-sided permutation p under the joint null; q (BH): Benjamini–Hochberg q-value over all questions.", ""] \
        if "q_bh" in cols else []
    return ["## Best 5 questions", "", format_table(best), "", "## Worst 5 questions", "", format_table(worst), ""] + note


def _markdown(s: Summary, title: str, figures: list[Path]) -> str:
    from culturelens.eval.reporting.caveats import caveats

    md: list[str] = [f"# {title}", ""] + _run_line(s.run) + [f"> Note: {c}" for c in caveats(s)] + ([""] if caveats(s) else [])
    md += [
        f"Countries: {s.n_countries} · questions: {s.n_questions} · "
        f"mean option probability mass: {fmt_num(s.mean_mass)}",
        "",
        f"Bootstrap: {s.bootstrap or ''}.",
        "",
    ]
    md += report_nulls.paper_metric_section(s)
    md += report_nulls.orders_section(s)
    md += report_nulls.country_measures_section(s)
    tested = s.nulls is not None and bool(s.nulls.mean_question_r_by_group)
    where = ("its CI is the model − null CI of the paper's-metric table above (one CI per number); null: the joint "
             "permutation null's mean; p: permutation p; q (BH): Benjamini–Hochberg q-value within this table."
             if tested else "CI over questions.")
    md += ["## By group", "", f"Mean per-question r (across countries); {where}", "",
           format_table(_ci_frame(records(s.by_group), ["group"], "n_questions", with_ci=not tested)), ""]
    md += ["## By category", "", f"Mean per-question r (across countries); {where}", "",
           format_table(_ci_frame(records(s.by_category), ["category", "group"], "n_questions", with_ci=not tested)), ""]
    md += ["## By cultural zone", "", "Mean per-country r (across questions); CI: two-way bootstrap (battery clusters and "
           "countries drawn together); null, p and q (BH, within this table) as above.", "",
           format_table(_ci_frame(records(s.by_zone), ["zone"], "n_countries")), ""]
    md += report_nulls.western_section(s.western_gap) if s.western_gap.verdict else _gap_section(s.western_gap)
    md += report_nulls.pooled_section(s)
    md += _distance_section(s.distribution)

    md += ["## Nearest countries of the no-persona answers", ""]
    if s.nearest_countries:
        ndf = pd.DataFrame(records(s.nearest_countries[:10]))
        ndf = ndf[[c for c in ("country", "name", "r", "n_questions") if c in ndf.columns]]
        md += [format_table(ndf), ""]
    else:
        md += ["_(no no-persona prompts in this run)_", ""]
    md += _question_sections(s)
    if figures:
        md += ["## Figures", ""]
        md += [f"![{f.stem}](figures/{f.name})" for f in figures]
        md += [""]
    return "\n".join(md)


# -------------------------------------------------------------------------------------- figures


def _empty(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _fig_by_category(summary: Summary, path: Path) -> Path:
    df = pd.DataFrame([{"category": c.category, "group": c.group, "mean_r": c.mean_r, "ci_lo": c.ci.lo if c.ci else None,
                        "ci_hi": c.ci.hi if c.ci else None} for c in summary.by_category])
    if not df.empty:
        for c in ("mean_r", "ci_lo", "ci_hi"):
            df[c] = pd.to_numeric(df[c], errors="coerce")
        df = df.dropna(subset=["mean_r"])
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(df), 4) + 1.2))
    if df.empty:
        from culturelens.eval.reporting.caveats import why_r_missing

        why = why_r_missing(summary)
        _empty(ax, "no data: " + why.split(":")[0] if why else "no data")
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


def _fig_per_country(summary: Summary, path: Path) -> Path:
    df = pd.DataFrame(records(summary.per_country))
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


def _fig_scatter(per_pair: pd.DataFrame, summary: Summary, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    df = per_pair.copy()
    df["score"] = pd.to_numeric(df["score"], errors="coerce")
    df["mean"] = pd.to_numeric(df["mean"], errors="coerce")
    df = df.dropna(subset=["score", "mean"])
    if df.empty:
        _empty(ax)
    else:
        western = {r.country for r in summary.per_country if r.western}
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
    ax.set_title(f"Model vs human scores (pooled r = {fmt_num(summary.pooled.r)})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------- main


def write_report(run_dir: Path, summary: dict | Summary, title: str, per_pair: pd.DataFrame | None = None,
                 cultural_map: dict | None = None) -> list[Path]:
    """Write the summary, report.md and figures/*.png into run_dir; return the written paths.

    `cultural_map`: the result of eval/reporting/cultural_map.py's `cultural_map` (None: the run lacks the items, no figure).
    """
    folder = RunFolder(run_dir).create()
    typed = summary if isinstance(summary, Summary) else Summary.model_validate(json_safe(summary))
    fig_dir = folder.figures_dir
    fig_dir.mkdir(parents=True, exist_ok=True)
    figures = [
        _fig_by_category(typed, fig_dir / "by_category.png"),
        _fig_per_country(typed, fig_dir / "per_country.png"),
    ]
    if per_pair is not None and {"score", "mean", "country"} <= set(per_pair.columns):
        figures.append(_fig_scatter(per_pair, typed, fig_dir / "scatter.png"))
    if cultural_map is not None:
        from culturelens.eval.reporting.cultural_map import plot_map

        figures.append(plot_map(cultural_map, fig_dir / "cultural_map.png", title=f"Inglehart\u2013Welzel map: {title}"))
    summary_path = folder.write_summary(summary)
    report_path = folder.write_report(_markdown(typed, title, figures))
    return [summary_path, report_path, *figures]
