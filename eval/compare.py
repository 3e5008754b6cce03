"""`culturelens compare RUN_DIR...`: several eval runs side by side; the first run is the baseline.

Differences vs the baseline come with a paired bootstrap CI: per-question r paired over questions
(category/group rows and the overall mean), per-country r paired over countries (zones, Western gap).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from culturelens.core.errors import DataError
from culturelens.eval import metrics
from culturelens.eval.report import format_table


def load_run(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        raise DataError(f"'{run_dir}' is not an eval run folder (no summary.json): pass folders written by `culturelens eval`")
    summary = json.loads(path.read_text())
    summary["_dir"] = str(run_dir)
    return summary


def run_label(summary: dict) -> str:
    return Path(summary["_dir"]).name


def _series(records: list[dict], key: str, value: str = "r") -> pd.Series:
    df = pd.DataFrame(records)
    return df.set_index(key)[value].astype(float) if not df.empty else pd.Series(dtype=float)


def _scope(summary: dict, split: str | None) -> dict:
    if split is None:
        return summary
    if split not in summary.get("splits", {}):
        raise DataError(f"run '{summary['_dir']}' has no '{split}' split: evaluate it with split.file=<split.json>")
    return summary["splits"][split]


def compare_runs(run_dirs: list[str | Path], split: str | None = None, n_boot: int = 2000, seed: int = 0) -> dict:
    if len(run_dirs) < 1:
        raise DataError("compare needs at least one run folder")
    runs = [load_run(d) for d in run_dirs]
    scoped = [_scope(r, split) for r in runs]
    labels = [run_label(r) for r in runs]
    base = scoped[0]
    base_q = _series(base["per_question"], "qid")
    base_c = _series(base["per_country"], "country")
    categories = {row["qid"]: row.get("category") for row in base["per_question"]}
    rows = []
    for label, s in zip(labels, scoped):
        row = {"run": label, "pooled_r": s["pooled"]["r"], "mean_question_r": _mean(s["per_question"])}
        for g in s["by_group"]:
            row[f"group:{g['group']}"] = g["mean_r"]
        gap = s.get("western_gap") or {}
        row["western_r"] = gap.get("western_r")
        row["non_western_r"] = gap.get("non_western_r")
        row["western_gap"] = gap.get("gap")
        dist = s.get("distribution") or {}
        row["one_minus_jsd"] = (dist.get("one_minus_jsd") or {}).get("mean")
        row["wasserstein"] = (dist.get("wasserstein") or {}).get("mean")
        row["mean_mass"] = s.get("mean_mass")
        rows.append(row)
    table = pd.DataFrame(rows)

    category_rows = []
    for label, s in zip(labels, scoped):
        for c in s["by_category"]:
            category_rows.append({"run": label, "category": c["category"], "mean_r": c["mean_r"], "ci_lo": c["ci_lo"], "ci_hi": c["ci_hi"]})
    zone_rows = []
    for label, s in zip(labels, scoped):
        for z in s["by_zone"]:
            zone_rows.append({"run": label, "zone": z["zone"], "mean_r": z["mean_r"], "ci_lo": z["ci_lo"], "ci_hi": z["ci_hi"]})

    diffs = []
    for label, s in zip(labels[1:], scoped[1:]):
        q = _series(s["per_question"], "qid")
        d = metrics.paired_bootstrap_diff(q, base_q, n_boot=n_boot, seed=seed)
        diffs.append({"run": label, "vs": labels[0], "what": "mean per-question r", **d})
        for cat in sorted({v for v in categories.values() if v}):
            keys = [k for k, v in categories.items() if v == cat]
            d = metrics.paired_bootstrap_diff(q.reindex(keys), base_q.reindex(keys), n_boot=n_boot, seed=seed)
            diffs.append({"run": label, "vs": labels[0], "what": f"r: {cat}", **d})
        c = _series(s["per_country"], "country")
        d = metrics.paired_bootstrap_diff(c, base_c, n_boot=n_boot, seed=seed)
        diffs.append({"run": label, "vs": labels[0], "what": "mean per-country r", **d})
    return {
        "runs": labels,
        "split": split or "all",
        "table": table.to_dict(orient="records"),
        "by_category": category_rows,
        "by_zone": zone_rows,
        "diffs": diffs,
    }


def _mean(records: list[dict]) -> float | None:
    vals = [r["r"] for r in records if r.get("r") is not None]
    return sum(vals) / len(vals) if vals else None


def _with_ci(df: pd.DataFrame, key: str, runs: list[str]) -> pd.DataFrame:
    def cell(row) -> str:
        if row["mean_r"] is None or row["mean_r"] != row["mean_r"]:
            return "—"
        ci = "" if row["ci_lo"] is None or row["ci_lo"] != row["ci_lo"] else f" [{row['ci_lo']:.2f}, {row['ci_hi']:.2f}]"
        return f"{row['mean_r']:.3f}{ci}"

    df = df.assign(cell=df.apply(cell, axis=1))
    return df.pivot(index=key, columns="run", values="cell")[runs].reset_index()


def write_comparison(result: dict, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps(result, indent=2))
    cats = pd.DataFrame(result["by_category"])
    zones = pd.DataFrame(result["by_zone"])
    md = [f"# Comparison ({result['split']} questions)", "", "Baseline: " + result["runs"][0], ""]
    md += ["## Overview", "", format_table(pd.DataFrame(result["table"])), ""]
    if not cats.empty:
        md += ["## r per category (95% CI over questions)", "", format_table(_with_ci(cats, "category", result["runs"])), ""]
    if not zones.empty:
        md += ["## r per cultural zone (95% CI over countries)", "", format_table(_with_ci(zones, "zone", result["runs"])), ""]
    if result["diffs"]:
        md += ["## Difference vs baseline (paired bootstrap 95% CI)", "", format_table(pd.DataFrame(result["diffs"])), ""]
    (out / "comparison.md").write_text("\n".join(md))
    return out
