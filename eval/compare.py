"""`culturelens compare RUN_DIR...`: several eval runs side by side; the first run is the baseline.

Differences vs the baseline (the paper's metric overall and per WVS section, mean per-country r) are the
statistics engine's paired differences (``engine.paired_difference``) on one question x country grid: both runs'
scores against the baseline's human answers, on the (question, country) pairs both runs and the humans have (with
``--common``: the questions and countries the runs share, only). One draw of battery clusters x countries serves both
runs in every bootstrap replicate (the CI), and a two-sided permutation p gives the verdict, as calibrated in
``benchmarks/calibration.py``, under the null that fits the pair (``paired_null``): the "change" null (the run's change
from the baseline with its country link shuffled) for a fine-tune of the baseline's own model, the "swap" null (the two
runs' answers trade places country by country) for any other pair (two models, two adapters of one base).
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from culturelens.core.batteries import questionnaire_clusters
from culturelens.core.ci import CI
from culturelens.core.errors import ConfigError, DataError
from culturelens.core.formatting import fmt_interval, fmt_num, format_table, is_missing
from culturelens.core.inputs import InputSpec, resolve_inputs
from culturelens.core.jsonsafe import write_json
from culturelens.core.runfolder import Metrics, RunFolder, Summary
from culturelens.eval.reporting import cultural_map
from culturelens.eval.reporting.caveats import MIN_CI_UNITS
from culturelens.eval.statistics import engine, metrics
from culturelens.eval.statistics.grid import score_grid

MIN_BOOT = 10
N_PERM = 1000  # permutations of the paired differences' null


def load_run(run_dir: str | Path) -> tuple[RunFolder, Summary]:
    """A finished, consistent run folder and its summary (DataError otherwise: see RunFolder.require_complete)."""
    folder = RunFolder(run_dir).require_complete()
    return folder, folder.summary()


def run_labels(folders: list[RunFolder]) -> list[str]:
    """One label per run: the folder name, or <experiment>/<name> when two runs share a name; the same run twice
    is a DataError."""
    resolved = [f.path.resolve() for f in folders]
    twice = sorted({str(p) for p in resolved if resolved.count(p) > 1})
    if twice:
        raise DataError(f"run {twice[0]} is given twice: pass each run folder once")
    names = [f.name for f in folders]
    if len(set(names)) == len(names):
        return names
    labels = [f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name for p in resolved]
    return labels if len(set(labels)) == len(labels) else [str(p) for p in resolved]


def _scope(folder: RunFolder, summary: Summary, split: str | None) -> Metrics:
    if split is None:
        return summary
    if split not in summary.splits:
        raise DataError(f"run '{folder.path}' has no '{split}' split: evaluate it with split.file=<split.json>")
    return summary.splits[split]


def _overview_row(label: str, s: Metrics) -> dict:
    """The paper's metric first with its permutation null, per group, then the Western-gap verdict and the rest."""
    null = s.nulls.mean_question_r if s.nulls else None
    row = {"run": label, "mean_question_r": _mean(s), "null": null.null_mean if null else None,
           "r - null 95% CI": fmt_interval(null.ci) if null else "—"}
    for g in s.by_group:
        row[f"group:{g.group}"] = g.mean_r
    gap = s.western_gap
    row["western_verdict"] = gap.verdict or "—"
    row["western_gap"] = gap.gap  # beyond the null (verdict measure) for runs with a verdict
    row["pooled_r"] = s.pooled.r
    row["western_r"] = gap.western_r
    row["non_western_r"] = gap.non_western_r
    row["one_minus_js_distance"] = s.distribution.one_minus_js_distance.mean if s.distribution else None
    row["wasserstein"] = s.distribution.wasserstein.mean if s.distribution else None
    row["mean_mass"] = s.mean_mass
    return row


class Baseline:
    """What every paired difference is measured against: the baseline run's human answers and question bank."""

    def __init__(self, folder: RunFolder):
        inputs = resolve_inputs(InputSpec.of(SimpleNamespace(**folder.config())))
        self.human, self.bank = inputs.reference.df, inputs.bank


def scores_on(folder: RunFolder, bank, countries: list[str], questions: list[str]) -> pd.DataFrame:
    """One run's scores per (country, qid) on the given countries x questions only: its per-prompt results (full
    precision) aggregated as the run did (``metrics.aggregate``)."""
    per_prompt = folder.per_prompt()
    keep = per_prompt["country"].isin(countries) & per_prompt["qid"].isin([q for q in questions if q in bank])
    return metrics.aggregate(per_prompt[keep], bank)


def _aligned(base_scores: pd.DataFrame, scores: pd.DataFrame, human: pd.DataFrame):
    """(qids, countries, base (Q, C), run (Q, C), human (Q, C)): the pairs both runs and the humans have."""
    ga, gb = score_grid(base_scores, human), score_grid(scores, human)
    keep = [q for q in ga.qids if q in set(gb.qids)]
    cols = [c for c in ga.countries if c in set(gb.countries)]

    def take(grid, x):
        return x[np.ix_([grid.qids.index(q) for q in keep], [grid.countries.index(c) for c in cols])]

    a, b, h = take(ga, ga.model), take(gb, gb.model), take(ga, ga.human)
    valid = np.isfinite(a) & np.isfinite(b) & np.isfinite(h)
    return keep, cols, np.where(valid, a, np.nan), np.where(valid, b, np.nan), h


def paired_null(base: Summary, run: Summary) -> str:
    """The permutation null for run - baseline (``engine.NULLS``). "change" when the run is a fine-tune of the baseline's
    own model (same weights and revision, an adapter the baseline does not have): its change is then independent of the
    baseline's error, as that null assumes. "swap" otherwise: for two independent runs the change null adds the run's
    own noise to the baseline's and rejects equal runs (two human_noise seeds: p = 0.002), while the swap null is exact
    for exchangeable runs and conservative for a change that only adds noise."""
    ma, mb = (s.manifest.model if s.manifest else None for s in (base, run))
    if ma is None or mb is None:
        return "swap"
    same_weights = (ma.name_or_path, ma.revision) == (mb.name_or_path, mb.revision)
    return "change" if same_weights and ma.adapter is None and mb.adapter is not None else "swap"


def _diffs_vs_base(label: str, scores: pd.DataFrame, base_label: str, base_scores: pd.DataFrame, categories: dict,
                   ref: Baseline, n_boot: int, seed: int, null: str = "swap") -> list[dict]:
    """The run minus the baseline: the paper's metric overall and per section, mean per-country r (module docstring)."""
    qids, cols, a, b, h = _aligned(base_scores, scores, ref.human)
    if not qids or not cols:
        return []
    cluster = {q: i for i, members in enumerate(questionnaire_clusters(ref.bank, qids)) for q in members}
    draws = engine.Draws.make(np.isfinite(a) & np.isfinite(b) & np.isfinite(h), np.array([cluster[q] for q in qids]),
                              N_PERM, n_boot, seed)

    def row(what: str, rows: np.ndarray, fn=engine.mean_question_r, n_of: str = "n_questions") -> dict:
        t = engine.paired_difference(a, b, h, draws, rows=rows, fn=fn, null=null)
        return {"run": label, "vs": base_label, "what": what, "mean_a": t.b, "mean_b": t.a, "diff": t.diff,
                "ci": (t.ci or CI()).model_dump(), "p_perm": t.p_perm, "null": t.null, "verdict": t.verdict, "mde": t.mde,
                "n": getattr(t, n_of)}

    everything = np.ones(len(qids), bool)
    diffs = [row("mean per-question r", everything)]
    for cat in sorted({v for v in categories.values() if v}):
        rows = np.array([categories.get(q) == cat for q in qids])
        if rows.any():
            diffs.append(row(f"r: {cat}", rows))
    diffs.append(row("mean per-country r", everything, engine.mean_country_r, "n_countries"))
    return diffs


def shared_units(scoped: list[Metrics]) -> tuple[list[str], list[str]]:
    """(countries, questions) every run measured."""
    countries = set.intersection(*({c.country for c in s.per_country} for s in scoped))
    questions = set.intersection(*({q.qid for q in s.per_question} for s in scoped))
    return sorted(countries), sorted(questions)


def thin_diff_warnings(diffs: list[dict]) -> list[str]:
    """One line per run listing the differences whose CI rests on fewer than MIN_CI_UNITS paired units."""
    out = []
    for run in dict.fromkeys(d["run"] for d in diffs):
        thin = [f"{d['what']} (n={d['n']})" for d in diffs
                if d["run"] == run and d.get("n") is not None and CI.model_validate(d.get("ci") or {}).lo is not None
                and d["n"] < MIN_CI_UNITS]
        if thin:
            out.append(f"{run}: the 95% CIs of {', '.join(thin)} rest on fewer than {MIN_CI_UNITS} paired units: unreliable")
    return out


def _flat(data, prefix: str = "") -> dict:
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: data}


def config_differences(labels: list[str], folders: list[RunFolder]) -> list[dict]:
    """Every config.yaml key whose value is not the same in all runs: {key, values: {run: value}}."""
    flats = [_flat(f.config()) for f in folders]
    keys = sorted(set().union(*flats))
    return [{"key": k, "values": {label: flat.get(k) for label, flat in zip(labels, flats)}}
            for k in keys if len({repr(flat.get(k)) for flat in flats}) > 1]


def _units(s: Metrics, summary: Summary) -> dict[str, list[str]]:
    return {"countries": sorted(c.country for c in s.per_country), "questions": sorted(q.qid for q in s.per_question),
            "orders": sorted(summary.run.orders)}


def check_comparable(labels: list[str], folders: list[RunFolder], scoped: list[Metrics], summaries: list[Summary],
                     common: bool) -> list[str]:
    """Runs must cover the same countries, questions and option orders; with `common` they may differ and the
    comparison pairs them on what they share (returned as notes). A run that measured no country is refused."""
    for label, folder, s in zip(labels, folders, scoped):
        if not s.per_country:
            raise DataError(f"run '{folder.path}' measured nothing per country (templates {summaries[labels.index(label)].run.templates}"
                            "): rerun it with a persona template such as persona_system")
    units = [_units(s, summary) for s, summary in zip(scoped, summaries)]
    notes = []
    for what in ("countries", "questions", "orders"):
        base = units[0][what]
        for label, u in zip(labels[1:], units[1:]):
            if u[what] == base:
                continue
            only_base, only_other = sorted(set(base) - set(u[what])), sorted(set(u[what]) - set(base))
            detail = (f"{what}: {labels[0]} has {len(base)}, {label} has {len(u[what])}"
                      + (f"; only in {labels[0]}: {', '.join(only_base[:6])}" if only_base else "")
                      + (f"; only in {label}: {', '.join(only_other[:6])}" if only_other else ""))
            if not common:
                fix = ("rerun them with the same probe.orders" if what == "orders" else
                       f"pass --common to compare on the {what} they share, or rerun them on the same {what}")
                raise DataError(f"runs '{labels[0]}' and '{label}' were evaluated on different {detail}: {fix}")
            notes.append(f"different {detail}")
    return notes


def compare_runs(run_dirs: list[str | Path], split: str | None = None, n_boot: int = 2000, seed: int = 0,
                 common: bool = False) -> dict:
    """Several runs side by side (the first is the baseline). The runs must cover the same countries, questions and
    option orders unless `common`; every config difference between them is listed (`config_differences`)."""
    if len(run_dirs) < 1:
        raise DataError("compare needs at least one run folder")
    if n_boot < MIN_BOOT:
        raise ConfigError(f"--n-boot {n_boot} is too small: bootstrap CIs need at least {MIN_BOOT} resamples (default 2000)")
    runs = [load_run(d) for d in run_dirs]
    scoped = [_scope(folder, summary, split) for folder, summary in runs]
    labels = run_labels([folder for folder, _ in runs])
    folders = [folder for folder, _ in runs]
    notes = check_comparable(labels, folders, scoped, [summary for _, summary in runs], common)
    category_rows = [{"run": label, "category": c.category, "mean_r": c.mean_r, "ci": (c.ci or CI()).model_dump()}
                     for label, s in zip(labels, scoped) for c in s.by_category]
    zone_rows = [{"run": label, "zone": z.zone, "mean_r": z.mean_r, "ci": (z.ci or CI()).model_dump()}
                 for label, s in zip(labels, scoped) for z in s.by_zone]
    countries, questions = shared_units(scoped)
    if notes:  # different sets (--common): every difference on the shared countries x questions only
        notes = [*notes, (f"differences vs {labels[0]} are paired on the shared set only: {len(countries)} countries x "
                          f"{len(questions)} questions, both runs on one grid of these (the overview and per-category/zone "
                          "tables are over each run's own set)")]
    diffs: list[dict] = []
    if len(runs) > 1:
        ref = Baseline(folders[0])
        base_scores = scores_on(folders[0], ref.bank, countries, questions)
        categories = scoped[0].categories()
        for label, (folder, summary) in zip(labels[1:], runs[1:]):
            diffs += _diffs_vs_base(label, scores_on(folder, ref.bank, countries, questions), labels[0], base_scores,
                                    categories, ref, n_boot, seed, paired_null(runs[0][1], summary))
    return {
        "runs": labels,
        "split": split or "all",
        "config_differences": config_differences(labels, folders),
        "notes": notes,
        "paired_on": {"set": "shared" if len(labels) > 1 and notes else "same", "countries": countries, "questions": questions},
        "warnings": thin_diff_warnings(diffs),
        "table": pd.DataFrame([_overview_row(label, s) for label, s in zip(labels, scoped)]).to_dict(orient="records"),
        "by_category": category_rows,
        "by_zone": zone_rows,
        "diffs": diffs,
        "cultural_map": cultural_map.combine({label: summary.cultural_map.model_dump() if summary.cultural_map else None
                                              for label, (_, summary) in zip(labels, runs)}),
    }


def _mean(s: Metrics) -> float | None:
    vals = [q.r for q in s.per_question if q.r is not None]
    return sum(vals) / len(vals) if vals else None


def _with_ci(df: pd.DataFrame, key: str, runs: list[str]) -> pd.DataFrame:
    def cell(row) -> str:
        if is_missing(row["mean_r"]):
            return fmt_num(None)
        ci = CI.model_validate(row["ci"] or {})
        return fmt_num(row["mean_r"]) + ("" if ci.lo is None else " " + fmt_interval(ci, nd=2))

    df = df.assign(cell=df.apply(cell, axis=1))
    return df.pivot(index=key, columns="run", values="cell")[runs].reset_index()


def write_comparison(result: dict, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cmap = result.get("cultural_map")
    write_json(out / "comparison.json", {**result, "cultural_map": cultural_map.to_json(cmap) if cmap else None})
    cats = pd.DataFrame(result["by_category"])
    zones = pd.DataFrame(result["by_zone"])
    md = [f"# Comparison ({result['split']} questions)", "", "Baseline: " + result["runs"][0], ""]
    notes = [*result.get("notes", []), *result.get("warnings", [])]
    md += [f"Note: {n}" for n in notes] + ([""] if notes else [])
    md += ["## Overview", "", format_table(pd.DataFrame(result["table"])), ""]
    md += ["## Config differences", ""]
    if result.get("config_differences"):
        rows = [{"key": d["key"], **{run: repr(v) for run, v in d["values"].items()}} for d in result["config_differences"]]
        md += [format_table(pd.DataFrame(rows)), ""]
    else:
        md += ["The runs' configs are identical.", ""]
    if not cats.empty:
        md += ["## r per category (95% CI over questions)", "", format_table(_with_ci(cats, "category", result["runs"])), ""]
    if not zones.empty:
        md += ["## r per cultural zone (95% CI over countries)", "", format_table(_with_ci(zones, "zone", result["runs"])), ""]
    if result["diffs"]:
        on = result.get("paired_on") or {}
        where = (f", on the shared set: {len(on['countries'])} countries x {len(on['questions'])} questions"
                 if on.get("set") == "shared" else "")
        md += [f"## Difference vs baseline (paired bootstrap 95% CI{where})", "",
               "Run minus baseline on one grid: both runs' answers against the baseline's human answers, on the (question, "
               "country) pairs both runs have" + (" among the shared questions and countries only" if where else "") +
               ". CI: one draw of battery clusters x countries for both runs per replicate; p: two-sided permutation p "
               "under the null named in the `null` column; verdict at 5 %. `change` (a fine-tune of the baseline's own model): "
               "the run's change from the baseline with its country link shuffled; `swap` (any other pair: two models, two "
               "adapters of one base): the two runs' answers trade places country by country.",
               "", format_table(pd.DataFrame(result["diffs"])), ""]
    if cmap:
        cultural_map.plot_map(cmap, out / "cultural_map.png", title="Inglehart\u2013Welzel map: " + ", ".join(cmap["models"]))
        md += ["## Cultural map", "", "![cultural map](cultural_map.png)", ""]
    (out / "comparison.md").write_text("\n".join(md))
    return out
