"""Write RESULTS.md from result files: benchmarks/results/*.json and the run folders you name.

    python scripts/make_results.py runs/default/smollm2-135m-instruct runs/claims_cpu    # -> RESULTS.md
    python scripts/make_results.py runs/default --out /tmp/RESULTS.md                      # every finished run under a folder
    python scripts/make_results.py runs/default runs/study/training_study                 # + the training study's effects

Each argument is an eval run folder (it has summary.json), a claims folder (claims.json), a training-study folder
(effects.json), or a folder holding such folders (searched two levels deep). Eval runs are read through
`culturelens.core.runfolder` (the typed `Summary`) and must be finished (`complete.json`); claims through
`culturelens.experiments.claims.results`; studies through `culturelens.experiments.study.report`. Nothing is typed in by
hand: the file says when it was generated, at which commit, on which machine, and where each number comes from.
Every cross-country number is printed beside its country-permutation null (model, null, model − null with its CI).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks" / "results"
NO_NULL_NOTE = "(null 0 by symmetry)"
NULL_HEADER = ["metric", "model", "null", "model − null [95% CI]", "p", "q (BH)", "better"]


# ----------------------------------------------------------------------------------------------- facts about the run


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def commit() -> str:
    sha = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return f"{sha} (with uncommitted changes)" if dirty else sha


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = "load average {:.2f} / {:.2f} / {:.2f} (1 / 5 / 15 min)".format(*os.getloadavg())
    except OSError:
        load = "load average unknown"
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}; {load} when this file was written"


def file_date(path: Path) -> str:
    """When a result file was written: its last commit, or its modification time if it has uncommitted changes."""
    rel = path.resolve()
    changed = _git("status", "--porcelain", "--", str(rel))
    committed = _git("log", "-1", "--format=%cI", "--", str(rel))
    if committed and not changed:
        return f"committed {committed}"
    return "written " + dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------------------------------------- numbers


def num(x: Any, nd: int = 3, signed: bool = False) -> str:
    from culturelens.core.formatting import fmt_num

    return fmt_num(x, nd, signed)


def interval(ci: Any, signed: bool = True) -> str:
    """A CI as '[lo, hi]': a `CI` (culturelens/core/ci.py), its JSON ``{"lo", "hi"}``, or an older file's [lo, hi] list."""
    from culturelens.core.ci import CI
    from culturelens.core.formatting import fmt_interval

    return fmt_interval(CI.model_validate(ci) if isinstance(ci, (dict, list, tuple)) else ci, signed=signed)


def table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    rows = list(rows)
    if not rows:
        return []
    body = ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *body, ""]


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# ----------------------------------------------------------------------------------------------- eval runs


def _as_dict(x: Any) -> dict:
    return x.model_dump() if isinstance(x, BaseModel) else dict(x or {})


def _is_null_comparison(value: Any) -> bool:
    return isinstance(value, dict) and "model" in value and any(k in value for k in ("null_mean", "null"))


def _null_value(c: dict) -> Any:
    return c.get("null_mean", c.get("null"))


def _diff_ci(c: dict) -> Any:
    return c.get("ci", c.get("model_minus_null_ci"))


def null_rows(nulls: dict, label_prefix: str = "") -> list[list[str]]:
    """One row per metric that stands beside its null: metric, model, null, model − null [95% CI], permutation p,
    BH q-value (where the summary has one), better."""
    rows = []
    for name, value in nulls.items():
        if _is_null_comparison(value):
            rows.append([f"{label_prefix}{name}", num(value.get("model")), num(_null_value(value)),
                         f"{num(value.get('model_minus_null'), signed=True)} {interval(_diff_ci(value))}",
                         num(value.get("p_perm")), num(value.get("q_bh")), str(value.get("better") or "")])
    breakdowns = sorted(nulls.items(), key=lambda kv: ("_by_group" not in kv[0], kv[0]))  # groups before sections
    for name, value in breakdowns:  # per group / per section: dicts of comparisons
        if isinstance(value, dict) and value and all(_is_null_comparison(v) for v in value.values()):
            by = name.rsplit("_by_", 1)[-1] if "_by_" in name else name
            metric = name.rsplit("_by_", 1)[0] if "_by_" in name else name
            rows += null_rows({f"{metric} [{by}: {key}]": v for key, v in value.items()}, label_prefix)
    return rows


def run_machine(s: Any) -> str:
    """Where and from what a run's numbers came: its manifest (commit, CPU, cores, threads, load average at the start)."""
    m = getattr(s, "manifest", None)
    if m is None:
        return "machine and load average not recorded in the run (an older culturelens): time measured on an unknown machine"
    hw = m.hardware
    load = getattr(hw, "load_average", None)
    git = m.git
    parts = [f"culturelens {m.culturelens} at commit `{(git.commit or 'unknown')[:12]}`" + (" (dirty)" if git.dirty else ""),
             f"started {m.started_at}",
             f"{hw.cpu or hw.machine}, {hw.cpu_count} cores" + (f", GPUs {', '.join(hw.gpus)}" if hw.gpus else ""),
             f"torch threads {hw.torch_threads}" if hw.torch_threads else "",
             ("load average {} / {} / {} at the start".format(*load) if load else "load average not recorded")]
    return "; ".join(p for p in parts if p)


def timing(run: Any) -> str:
    """The run's measured wall times; a run served from the probe cache measured no probing."""
    whole = f"whole run {num(run.total_seconds, 0)} s wall"
    if run.n_prompts and run.n_cached == run.n_prompts:
        return f"every prompt came from the probe cache (no probe time measured); {whole}"
    return f"probe {num(run.probe_seconds, 0)} s wall, {num(run.prompts_per_second, 1)} prompts/s; {whole}"


def eval_section(path: Path) -> list[str]:
    from culturelens.core.runfolder import COMPLETE, RunFolder

    folder = RunFolder(path).require_complete()
    s = folder.summary()
    run = s.run
    finished = json.loads(folder.file(COMPLETE).read_text()).get("finished_at", "unknown")
    where = run_machine(s)
    lines = [f"### {run.model or path.name} — `{_display(path)}`", "",
             f"- finished {finished}; experiment `{run.experiment}`, reference `{run.reference}`; templates "
             f"{', '.join(run.templates) or '—'}; option orders {', '.join(run.orders) or '—'}",
             f"- {s.n_countries} countries × {s.n_questions} questions, {run.n_prompts} prompts ({run.n_cached} from the cache); "
             f"mean option mass {num(s.mean_mass)}; bootstrap {s.n_boot} replicates",
             f"- {timing(run)}; {where}",
             ""]
    nulls = _as_dict(s.nulls)
    if not nulls:
        return lines + ["This summary has no nulls (written by an older culturelens): rerun the eval to get its numbers "
                        "beside their nulls.", ""]
    lines += [f"Against the country-permutation null ({nulls.get('n_perm')} permutations): model, the null's mean, "
              "model − null with its 95% CI, the permutation p and, where the summary has one, the Benjamini–Hochberg q "
              "within its table.", ""]
    lines += table(NULL_HEADER, null_rows(nulls))
    gap = s.western_gap
    if gap.verdict:
        lines += [f"Western gap beyond the null ({gap.n_western} Western, {gap.n_non_western} non-Western countries, measure "
                  f"`{gap.verdict_measure}`): {num(gap.gap, signed=True)} {interval(gap.ci)}, verdict **{gap.verdict}**.", ""]
    for split, metrics in (s.splits or {}).items():
        split_nulls = _as_dict(metrics.nulls)
        if split_nulls:
            lines += [f"On the {split} questions ({metrics.n_questions}):", ""]
            lines += table(NULL_HEADER, null_rows(split_nulls))
    return lines


# ----------------------------------------------------------------------------------------------- claims


def claims_section(path: Path) -> list[str]:
    from culturelens.experiments.claims.claims_file import ClaimsFile
    from culturelens.experiments.claims.report import CLAIM_STATEMENTS

    data = ClaimsFile.read(path)
    lines = [f"### Claims — `{_display(path)}` ({file_date(path / 'claims.json')})", ""]
    rows = []
    for key, c in data.claims().items():
        effect = f"{num(c.effect, signed=True)} {interval(c.ci)}" if c.effect is not None else "—"
        if key.startswith("1_") and c.effect is not None:
            effect += f" {NO_NULL_NOTE}"  # a difference of mean per-question r: the permutation null of each is 0
        views = sorted({v for v in c.verdict_by_view.values()})
        note = "; ".join(x for x in (c.reason or "", f"minimum detectable effect {num(c.mde)}" if c.mde is not None else "") if x)
        primary = f"`{c.primary}`" + (f" (p {num(c.p)}, Holm {num(c.p_holm)})" if c.p is not None else "") if c.primary else "—"
        rows.append([CLAIM_STATEMENTS.get(key, key), primary, c.effect_name or "—", effect, f"**{c.verdict}**",
                     "; ".join(views) if len(views) > 1 else "same on every view", note])
    lines += table(["claim", "primary endpoint (one-sided p, Holm)", "effect", "effect [95% CI]", "verdict",
                    "verdicts by view (order, template)",
                    "reason, minimum detectable effect"], rows)
    gap_rows = [[model, f"{num(g.gap, signed=True)} {interval(g.ci)}", str(g.verdict)]
                for model, g in (data.western_bias.gaps if data.western_bias else {}).items()]
    if gap_rows:
        lines += ["Claim 2 per model: the Western gap *beyond the country-permutation null* (the null's own gap is "
                  "subtracted per country):", ""]
        lines += table(["model", "gap beyond the null [95% CI]", "verdict"], gap_rows)
    if data.skipped:
        lines += ["Skipped entries: " + "; ".join(f"{k} ({v})" for k, v in data.skipped.items()), ""]
    return lines


def study_section(path: Path) -> list[str]:
    from culturelens.experiments.study.report import effects_tables

    effects = json.loads((path / "effects.json").read_text())
    lines = [f"### Study — `{_display(path)}` ({file_date(path / 'effects.json')})", "",
             f"{effects['n_heldout']} held-out questions in {effects['n_clusters_heldout']} battery clusters, "
             f"{effects['n_seen']} seen / {effects['n_unseen']} unseen countries; CIs resample {effects['over']}. "
             "The verdict's test is Student's pooled t over training seeds, Holm across the primary endpoints; "
             "what each column means: docs/study.md.", ""]
    return lines + effects_tables(effects) + [""]


# ----------------------------------------------------------------------------------------------- benchmarks


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        elif not isinstance(v, list) or all(not isinstance(x, (dict, list)) for x in v):
            out[f"{prefix}{k}"] = v
    return out


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e-2 or abs(v) >= 1e5 else f"{v:,.3f}".rstrip("0").rstrip(".")
    if isinstance(v, list):
        return ", ".join(_value(x) for x in v)
    return "—" if v is None else str(v)


def _is_conditions(v: Any) -> bool:
    """{condition: {leaf: scalar}}: e.g. a rule's nulls, each with its rate, n and se."""
    return isinstance(v, dict) and bool(v) and all(
        isinstance(x, dict) and x and not any(isinstance(y, dict) for y in x.values()) for x in v.values())


def _records(value: dict[str, dict]) -> list[str]:
    """One row per record; a record's {condition: {leaf: value}} groups (a calibration rule's nulls and effects) go to
    a long table below it, one row per (record, group, condition), instead of one column per condition and leaf."""
    flats = {name: _flat({k: v for k, v in rec.items() if not _is_conditions(v)}) for name, rec in value.items()}
    columns = list(dict.fromkeys(c for f in flats.values() for c in f))
    lines = table([""] + columns, [[name] + [_value(f.get(c)) for c in columns] for name, f in flats.items()])
    long = [(name, group, cond, leaves) for name, rec in value.items() for group, conds in rec.items()
            if _is_conditions(conds) for cond, leaves in conds.items()]
    if long:
        leaf_cols = list(dict.fromkeys(k for *_, leaves in long for k in leaves))
        lines += table(["", "group", "condition", *leaf_cols],
                       [[name, group, cond, *[_value(leaves.get(k)) for k in leaf_cols]] for name, group, cond, leaves in long])
    return lines


def benchmark_section(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    lines = [f"### `{path.name}` ({file_date(path)})", ""]
    if not isinstance(data, dict):
        return lines + ["(not a JSON object: skipped)", ""]
    scalars = {k: v for k, v in data.items() if not isinstance(v, (dict, list))}
    lines += [f"- {k}: {_value(v)}" for k, v in scalars.items()] + ([""] if scalars else [])
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            flats = [_flat(x) for x in value]
            columns = list(dict.fromkeys(c for f in flats for c in f))
            same = [c for c in columns if len(flats) > 1 and len({_value(f.get(c)) for f in flats}) == 1]
            columns = [c for c in columns if c not in same]
            lines += [f"{key}" + (" (the same in every row: " + "; ".join(f"{c} {_value(flats[0].get(c))}" for c in same) + ")"
                                  if same else "") + ":", ""]
            lines += table(columns, [[_value(f.get(c)) for c in columns] for f in flats])
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            lines += [f"{key}:", ""] + _records(value)
        elif isinstance(value, dict):
            lines += [f"- {key}: " + "; ".join(f"{k} {_value(v)}" for k, v in _flat(value).items()), ""]
        elif isinstance(value, list):
            lines += [f"- {key}: {_value(value)}", ""]
    return lines


# ----------------------------------------------------------------------------------------------- the file


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _is_study(folder: Path) -> bool:
    """A `culturelens study` folder: its effects and the plan written before it trained."""
    return (folder / "effects.json").exists() and (folder / "plan.json").exists()


def find_folders(paths: list[Path]) -> tuple[list[Path], list[Path], list[Path], list[str]]:
    """Eval run folders, claims folders and training-study folders among `paths` (and up to two levels below a folder
    that is none of them)."""
    from culturelens.core.errors import DataError

    evals, claims, studies, notes = [], [], [], []
    for path in paths:
        if not path.is_dir():
            raise DataError(f"'{path}' is not a folder: pass eval run folders, claims folders, study folders, or folders "
                            "that hold them")
        own = (path / "summary.json").exists() or (path / "claims.json").exists() or _is_study(path)
        candidates = [path] if own else \
            sorted(p for p in list(path.glob("*")) + list(path.glob("*/*")) if p.is_dir() and not p.name.startswith("."))
        found = 0
        for c in candidates:
            if (c / "claims.json").exists():
                claims.append(c)
                found += 1
            elif _is_study(c):
                studies.append(c)
                found += 1
            elif (c / "summary.json").exists():
                if (c / "complete.json").exists() or c == path:
                    evals.append(c)
                    found += 1
                else:
                    notes.append(f"skipped `{_display(c)}`: not a finished run (no complete.json)")
        if not found:
            raise DataError(f"'{path}' holds no eval run (summary.json), claims folder (claims.json) or study folder "
                            "(effects.json): pass folders written by `culturelens eval`, `culturelens claims` or `culturelens study`")
    return evals, claims, studies, notes


def render(paths: list[Path], benchmarks: Path = BENCHMARKS, command: str = "python scripts/make_results.py") -> str:
    evals, claims, studies, notes = find_folders(paths)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Results", "",
             f"<!-- Generated by `{command}`. Do not edit by hand: rerun the command. -->", "",
             f"Generated {now} at commit `{commit()}` on {machine()}.", "",
             "Every cross-country number stands beside its null: the country-permutation null shuffles the model's own "
             "answers across countries within each question, so model − null is what knowledge of countries adds. "
             "CIs are 95% bootstrap intervals. What each number means: docs/statistics.md.", ""]
    lines += ["## Evaluations", ""]
    for path in evals:
        lines += eval_section(path)
    if not evals:
        lines += ["No eval run folder was given.", ""]
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    if claims:
        lines += ["## The paper's claims", ""]
        for path in claims:
            lines += claims_section(path)
    if studies:
        lines += ["## Training studies", ""]
        for path in studies:
            lines += study_section(path)
    bench_files = sorted(benchmarks.glob("*.json")) if benchmarks.is_dir() else []
    lines += ["## Benchmarks", "",
              f"From `{_display(benchmarks)}` (run by hand with the scripts in `benchmarks/`; wall times are only as good as "
              "the load on the machine when they ran — see each file's load average or note where it recorded one).", ""]
    for path in bench_files:
        lines += benchmark_section(path)
    if not bench_files:
        lines += ["No benchmark results.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    from culturelens.core.errors import CultureLensError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", help="eval run folders, claims folders, or folders that hold them")
    parser.add_argument("--out", default=str(REPO / "RESULTS.md"))
    parser.add_argument("--benchmarks", default=str(BENCHMARKS), help="folder of benchmark JSON files")
    args = parser.parse_args(argv)
    command = "python scripts/make_results.py " + " ".join(args.folders)
    try:
        text = render([Path(p) for p in args.folders], Path(args.benchmarks), command.strip())
    except CultureLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
