"""Measured wall time of the CPU training study (issue 16: <= 45 min on 2 idle cores), with its arm x seed breakdown.

Runs `culturelens study --config configs/experiments/training_study.yaml` (the teacher's generation, every training
and evaluation, effects and report) into an empty output folder and writes benchmarks/results/study_time.json: the
whole command's wall seconds, the plan's estimate (plan.json), each step's measured seconds with the load average
after it (timings.json: the arm x seed breakdown), the load average before and after, and the commit. Run it on an
IDLE machine (nothing else running): the load average says whether it was. Models must be pulled first
(`culturelens models pull all`) so that conversion is not timed.

    .venv/bin/python benchmarks/study_time.py [--workdir DIR] [KEY=VALUE overrides...]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "configs/experiments/training_study.yaml"
GOAL_S = 45 * 60


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default=None, help="output folder (default: a new temporary folder; kept)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "study_time.json"))
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="study-"))
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["WANDB_MODE"] = "offline"
    cmd = [sys.executable, "-m", "culturelens", "study", "--config", str(ROOT / CONFIG), "--no-progress",
           f"output_dir={work}", *args.overrides]
    load_before = [round(x, 2) for x in os.getloadavg()]
    t0 = time.time()
    rc = subprocess.run(cmd, env=env, cwd=ROOT).returncode
    seconds = time.time() - t0
    load_after = [round(x, 2) for x in os.getloadavg()]
    root = next(work.glob("*/plan.json")).parent
    plan = json.loads((root / "plan.json").read_text())
    timings = json.loads((root / "timings.json").read_text()) if (root / "timings.json").exists() else {"steps": []}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    out = {"what": f"culturelens study --config {CONFIG} " + " ".join(args.overrides), "exit_code": rc,
           "wall_seconds": round(seconds, 1), "goal_seconds": GOAL_S, "within_goal": rc == 0 and seconds <= GOAL_S,
           "plan_estimate_seconds": plan.get("estimated_seconds"), "plan_rates": plan.get("rates"),
           "plan_rate_sources": plan.get("rate_sources"), "n_trainings": plan.get("n_trainings"), "n_evals": plan.get("n_evals"),
           "steps": timings["steps"], "steps_total_seconds": timings.get("total_seconds"),
           "outside_steps_seconds": round(seconds - (timings.get("total_seconds") or 0.0), 1),  # split, teacher, rows; effects, report, W&B
           "load_average_before": load_before, "load_average_after": load_after, "cpus": os.cpu_count(),
           "platform": platform.platform(), "commit": commit, "study_folder": str(root)}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "steps"}, indent=1))
    sys.exit(rc)


if __name__ == "__main__":
    main()
