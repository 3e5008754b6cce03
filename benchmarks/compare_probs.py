"""Per-prompt option probabilities of two eval runs compared: max |dp| and max |d mass| over the prompts both scored.

Prompts are matched by prompt key (a hash of the prompt text, labels and option order), so a change of template
wording shows up as unmatched prompts, not as a difference. Used to check that a new probe gives the previous
release's probabilities (the "before" run of the main job) and by benchmarks/probe_jobs.py (--baseline).

    .venv/bin/python benchmarks/compare_probs.py /work/baseline_runs/default/before runs/default/<new run> [--out x.json]

Both runs must be complete run folders (results.parquet). Exit 1 when max |dp| exceeds --tol (default 1e-5).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def compare_runs(baseline: str | Path, new: str | Path) -> dict:
    """{n_baseline, n_new, n_matched, max_abs_dprob, max_abs_dmass, worst prompt} over the prompts both runs scored."""
    from culturelens.core.runfolder import RunFolder

    a = RunFolder(baseline).per_prompt().set_index("prompt_key")
    b = RunFolder(new).per_prompt().set_index("prompt_key")
    keys = a.index.intersection(b.index)
    worst, max_dp, max_dm = None, 0.0, 0.0
    for key in keys:
        dp = float(max(abs(x - y) for x, y in zip(a.at[key, "probs"], b.at[key, "probs"])))
        max_dm = max(max_dm, abs(float(a.at[key, "mass"]) - float(b.at[key, "mass"])))
        if dp >= max_dp:
            max_dp, worst = dp, key
    row = b.loc[worst] if worst is not None else None
    return {
        "baseline": str(baseline), "new": str(new), "n_baseline": len(a), "n_new": len(b), "n_matched": len(keys),
        "max_abs_dprob": max_dp, "max_abs_dmass": max_dm,
        "worst_prompt": None if row is None else {k: str(row[k]) for k in ("template", "order", "country", "qid")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("baseline", help="run folder of the previous release (e.g. /work/baseline_runs/default/before)")
    ap.add_argument("new", help="run folder of the new probe")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--out", default=None, help="also write the comparison as JSON here")
    args = ap.parse_args()
    result = compare_runs(args.baseline, args.new)
    result["tol"], result["within_tol"] = args.tol, result["max_abs_dprob"] <= args.tol and result["n_matched"] > 0
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
    sys.exit(0 if result["within_tol"] else 1)


if __name__ == "__main__":
    main()
