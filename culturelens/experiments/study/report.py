"""The study's report.md and figures: estimates first (effects table, each effect with its CI per arm, seen vs
unseen countries), verdicts second; the data and teacher facts after."""
from __future__ import annotations

import json
from pathlib import Path

from culturelens.core.ci import CI
from culturelens.core.formatting import fmt_interval, fmt_num
from culturelens.experiments.study.config import StudyConfig

NAMES = {"real": "REAL", "shuffled": "SHUFFLED", "multilingual": "MULTILINGUAL", "seed_only": "SEED-ONLY",
         "dpo_real": "DPO after REAL", "extra_sft": "REAL + extra SFT", "dpo_shuffled": "DPO after SHUFFLED",
         "base": "base model", "ridge": "ridge country position"}
NAMES.update({f"{k}_native": f"{v} (asked in the country's language)" for k, v in list(NAMES.items())})


def _label(row: dict) -> str:
    return f"{NAMES.get(row['arm'], row['arm'])} − {NAMES.get(row['control'], row['control'])}"


def figure(effects: dict, out: Path) -> list[Path]:
    """effects.png: each contrast with its CI, seen vs unseen countries; arms.png: each arm's held-out r, seen vs unseen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    rows = [r for r in effects["primary"] + effects["secondary"] if r["estimate"] is not None]
    keys = list(dict.fromkeys((_label(r), r["metric"]) for r in rows))
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(keys) + 1.5))
    colors = {"seen": "tab:blue", "unseen": "tab:orange", "all": "tab:green"}
    for i, key in enumerate(keys):
        for r in rows:
            if (_label(r), r["metric"]) != key:
                continue
            dy = {"seen": -0.15, "unseen": 0.15, "all": 0.0}[r["countries"]]
            for ci, width in ((r.get("ci_resampled"), 0.8), (r["ci"], 2.5)):  # thin: resampled CI; thick: the verdict's
                ci = CI.model_validate(ci or {})
                if ci.defined:
                    ax.plot([ci.lo, ci.hi], [i + dy] * 2, color=colors[r["countries"]], lw=width)
            ax.plot(r["estimate"], i + dy, "o" if r.get("primary") else "s", color=colors[r["countries"]],
                    mfc=colors[r["countries"]] if r.get("primary") else "white")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(keys)), [f"{k[0]} ({k[1]})" for k in keys], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("effect: thick = 95% CI over seeds (pooled t, the verdict), thin = resampling seeds x clusters x countries;\n"
                  "filled = primary endpoint", fontsize=8)
    for name, c in colors.items():
        ax.plot([], [], "o", color=c, label=f"{name} countries")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    paths = [out / "effects.png"]
    fig.savefig(paths[0], dpi=120)
    plt.close(fig)
    arms = [r for r in effects["arms"] if r["metric"] == "question_r" and r["questions"] == "heldout" and r["estimate"] is not None]
    names = list(dict.fromkeys(r["arm"] for r in arms))
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.5))
    for i, name in enumerate(names):
        for r in arms:
            if r["arm"] == name:
                dy = -0.15 if r["countries"] == "seen" else 0.15
                ci = CI.model_validate(r["ci"])
                lo, hi = (ci.lo, ci.hi) if ci.defined else (r["estimate"], r["estimate"])
                ax.errorbar(r["estimate"], i + dy, xerr=[[r["estimate"] - lo], [hi - r["estimate"]]], fmt="o",
                            color=colors[r["countries"]], capsize=3)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(names)), [NAMES.get(n, n) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("held-out questions: mean r across countries (95% CI); blue seen, orange unseen countries")
    fig.tight_layout()
    paths.append(out / "arms.png")
    fig.savefig(paths[1], dpi=120)
    plt.close(fig)
    return paths


def _effect_row(r: dict) -> str:
    v = r.get("verdict", "") + (", **fragile** (the resampled CI covers 0)" if r.get("fragile") else "")
    return (f"| {r['claim']} | {_label(r)} | {r['metric']} | {r['questions']} × {r['countries']} | "
            f"{fmt_num(r['estimate'], signed=True)} | {fmt_interval(r['ci'], signed=True)} | "
            f"{fmt_interval(r.get('ci_resampled'), signed=True)} | {fmt_num(r['p'])} | "
            f"{fmt_num(r.get('p_holm')) if r.get('primary') else ''} | {fmt_num(r['mde'])} | {v} |")


def effects_tables(effects: dict) -> list[str]:
    """The primary endpoints (with Holm and the verdict) and the secondary contrasts, as markdown tables: the report's
    and RESULTS.md's (scripts/make_results.py) one rendering of effects.json."""
    lines = ["| claim | contrast | metric | questions × countries | estimate | 95% CI (seeds) | 95% CI (resampled) | p | p (Holm) "
             "| MDE | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [_effect_row(r) for r in effects["primary"]]
    lines += ["", "Secondary contrasts (not adjusted; no verdict):", "",
              "| claim | contrast | metric | questions × countries | estimate | 95% CI (seeds) | 95% CI (resampled) | p | | MDE | |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    return lines + [_effect_row(r) for r in effects["secondary"]]


def markdown(cfg: StudyConfig, effects: dict, figures: list[Path], root: Path) -> str:
    d = effects.get("data", {})
    split = d.get("split", {})
    lines = [f"# Training study `{cfg.experiment}`", "",
             f"Student `{cfg.student.name_or_path}`; arms {', '.join(NAMES.get(a, a) for a in cfg.arms)}; seeds {cfg.seeds}; "
             f"references {', '.join(NAMES.get(a, a) for a in cfg.references)}. Split: {len(split.get('train', []))} train / "
             f"{effects['n_heldout']} held-out questions ({effects['n_clusters_heldout']} battery clusters), "
             f"{effects['n_seen']} seen / {effects['n_unseen']} unseen countries. CIs resample {effects['over']} "
             f"({effects['n_boot']} replicates).", "",
             "## Effects (estimates first)", "",
             "Primary endpoints were named in the config before the run. The verdict's test: Student's pooled t between the arms' "
             "per-seed values (the training seed is the replicate; calibrated in benchmarks/study_calibration.py), its 95% CI "
             "and two-sided p; p (Holm) is adjusted across the primary endpoints; MDE = the minimum detectable effect at this "
             "run's n (80% power, two-sided 5%). Beside it, the CI resampling seeds × battery clusters × countries (how far the "
             "effect generalises; wider).", "",
             *effects_tables(effects)]
    lines += ["", *[f"![{p.stem}]({p.relative_to(root)})" for p in figures], "", "## Arms", "",
              "| arm | seeds | metric | questions × countries | estimate | 95% CI (seeds × clusters × countries) |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {NAMES.get(r['arm'], r['arm'])} | {r['seeds']} | {r['metric']} | {r['questions']} × {r['countries']} | "
              f"{fmt_num(r['estimate'], signed=True)} | {fmt_interval(r['ci'], signed=True)} |" for r in effects["arms"]]
    seeds = d.get("seeds", {})
    if seeds:
        first = next(iter(seeds.values()))
        lines += ["", "## Training data", "",
                  f"Labels: {first['label_method']}, {first['labels_per_cell']} per (question, country) cell, "
                  f"{first['passes']} passes over {first['cells']} cells. Fidelity (REAL): {json.dumps(first['fidelity']['real'])}; "
                  f"SHUFFLED vs the human labels: {json.dumps(first['fidelity']['shuffled_vs_human'])}. MULTILINGUAL rows in a "
                  f"country's language: {first['multilingual_rows_translated']} of {first['rows']['multilingual']}. DPO pairs whose "
                  f"chosen option is the same in every country: {first['dpo_pairs_same_chosen_in_every_country']}.", "",
                  "| seed | " + " | ".join(first["rows"]) + " |", "|---|" + "---|" * len(first["rows"])]
        lines += [f"| {s} | " + " | ".join(str(v) for v in f["rows"].values()) + " |" for s, f in seeds.items()]
    t = d.get("teacher") or {}
    if t:
        lines += ["", "## Teacher", "",
                  f"Teacher `{t.get('teacher')}`: {t.get('outputs', 0)} outputs, {t.get('kept', 0)} kept "
                  f"({fmt_num(t.get('kept_fraction'))}). Fraction passing each filter (in order): "
                  + ", ".join(f"{k} {fmt_num(v)}" for k, v in (t.get("passing_each_filter") or {}).items()) + ".", ""]
        for title, key in (("Accepted", "accepted_sample"), ("Rejected", "rejected_sample")):
            lines += [f"{title} (sample):", ""]
            lines += [f"- {r['qid']} {r['kind']}{' [' + r['reason'] + ']' if r.get('reason') else ''}: {str(r['text'])[:160]!r}"
                      for r in t.get(key, [])] or ["- (none)"]
            lines.append("")
    lines += ["", f"Wall time of this invocation: {effects.get('seconds', 0):.0f} s."]
    return "\n".join(lines) + "\n"


def write_report(cfg: StudyConfig, root: Path, effects: dict) -> dict:
    figures = figure(effects, root / "figures")
    text = markdown(cfg, effects, figures, root)
    (root / "report.md").write_text(text)
    return {"report": root / "report.md", "figures": figures}
