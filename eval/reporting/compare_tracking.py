"""A W&B run for a comparison (`culturelens compare --wandb`, the pipeline's compare stage, `claims`).

What it logs: the side-by-side tables (overview, r per WVS section, r per cultural zone, differences vs the baseline
with their paired bootstrap CIs), the per-section comparison as a native W&B bar chart (`wandb.plot.bar`: one bar per
section x run, and per non-baseline run its difference per section) and as a PNG figure, the evaluations it read as
inputs (lineage), and flat summary keys `<run>/pooled_r`, `<run>/western_gap`, `diff/<run>/<what>`.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from culturelens.core.runfolder import RunFolder  # noqa: E402
from culturelens.core.tracking import WandbConfig, bar_chart, finish, log_images, log_table, start_run  # noqa: E402
from culturelens.eval.reporting.lineage import declare_evaluations  # noqa: E402


def section_frame(result: dict) -> pd.DataFrame:
    """run, section, mean_r (one row per run and WVS section)."""
    df = pd.DataFrame(result["by_category"], columns=["run", "category", "mean_r", "ci"])
    return df.rename(columns={"category": "section"})[["run", "section", "mean_r"]]


def side_by_side(rows: list[dict], key: str, runs: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    return df.pivot(index=key, columns="run", values="mean_r").reindex(columns=runs).reset_index()


def section_figure(sections: pd.DataFrame, runs: list[str], path: Path) -> Path:
    """Grouped bars: r per section, one colour per run."""
    table = sections.pivot(index="section", columns="run", values="mean_r").reindex(columns=runs)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(table)), 4))
    table.plot.bar(ax=ax, rot=30)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("mean per-question r")
    ax.set_title("r per WVS section")
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def section_bar(sections: pd.DataFrame, title: str):
    """A native W&B bar chart: one bar per (section, run), labelled 'section | run'."""
    bars = sections.dropna(subset=["mean_r"]).assign(label=lambda d: d["section"] + " | " + d["run"])
    return bar_chart(bars, "label", "mean_r", title)


def log_section_charts(run, result: dict, sections: pd.DataFrame) -> None:
    run.log({"charts/r_by_section": section_bar(sections, f"r per WVS section ({result['split']} questions)")})
    diffs = pd.DataFrame(result["diffs"])
    if diffs.empty:
        return
    for label, grp in diffs[diffs["what"].str.startswith("r: ")].groupby("run"):
        grp = grp.dropna(subset=["diff"]).assign(section=lambda d: d["what"].str.removeprefix("r: "))
        title = f"{label} minus {result['runs'][0]}: r per section"
        run.log({f"charts/diff_by_section/{label}": bar_chart(grp, "section", "diff", title)})


def track_comparison(result: dict, out: Path, wandb_cfg: WandbConfig, run_dirs: list, name: str, group: str | None = None) -> Path | None:
    """Log the comparison as its own W&B run (group: the runs' experiment); returns its W&B run folder (None: tracking off)."""
    folders = [RunFolder(d) for d in run_dirs]
    summaries = {f.name: f.summary() for f in folders}
    group = group or next(iter(summaries.values())).run.experiment or "compare"
    from culturelens.core.manifest import collect_manifest

    manifest = collect_manifest(models={label: s.manifest.model for label, s in summaries.items() if s.manifest and s.manifest.model})
    run = start_run(wandb_cfg, name=name, group=group, job_type="compare",
                    config={"runs": result["runs"], "split": result["split"], "run_dirs": [str(f.path) for f in folders],
                            "manifest": manifest.model_dump(mode="json")}, run_dir=out)
    if run is None:
        return None
    declare_evaluations(run, summaries)
    runs = result["runs"]
    sections = section_frame(result)
    log_table(run, "compare/overview", pd.DataFrame(result["table"]))
    log_table(run, "compare/by_section", side_by_side(result["by_category"], "category", runs).rename(columns={"category": "section"}))
    if result["by_zone"]:
        log_table(run, "compare/by_zone", side_by_side(result["by_zone"], "zone", runs))
    if result["diffs"]:
        log_table(run, "compare/diffs", pd.DataFrame(result["diffs"]))
    log_section_charts(run, result, sections)
    log_images(run, [section_figure(sections, runs, out / "figures" / "by_section.png")])
    flat = {}
    for row in result["table"]:
        flat[f"{row['run']}/pooled_r"], flat[f"{row['run']}/western_gap"] = row.get("pooled_r"), row.get("western_gap")
    for d in result["diffs"]:
        flat[f"diff/{d['run']}/{d['what']}"] = d.get("diff")
    run.summary.update(flat)
    return finish(run)
