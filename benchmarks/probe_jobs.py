"""Measured wall time of the probe's real jobs, each from an empty probe cache, as `culturelens eval` runs them.

Jobs (each a `culturelens eval` subprocess with a fresh cache folder and run folder under --workdir):
  main        configs/eval/default.yaml (24 countries x 48 questions, country_in_answer + no_persona, both orders)
  paper       configs/eval/paper.yaml   (the paper's full sweep: every bank question, 10,440 prompts)
  contention  the main job again beside one CPU-bound competing process (`while True: pass`): slowdown vs `main`
For each: wall seconds of the whole command, the probe's own seconds and prompts/s (summary.json -> run), forward
passes and tokens computed, the intra-op threads chosen over the job, peak RSS, and the load average (1/5/15 min)
before and after. The machine must be otherwise idle for the times to mean anything: the load average says whether
it was. Goals (issue 18, 2 idle cores, fp32): main <= 70 s probe, paper <= 240 s probe, contention <= 2.5 x main.

Exactness: --check-unshared N re-scores N random prompts of the main job without prefix sharing (max |dp| <= 1e-5);
--baseline RUN compares the main job's per-prompt probabilities with an earlier release's run folder
(benchmarks/compare_probs.py). The children run with probe.threads=auto and without OMP_NUM_THREADS / MKL_NUM_THREADS
(the thread policy decides; --keep-thread-env keeps them).

    .venv/bin/python benchmarks/probe_jobs.py --baseline /work/baseline_runs/default/before     # all three jobs
    .venv/bin/python benchmarks/probe_jobs.py --jobs main --check-unshared 0                   # one job
Writes benchmarks/results/probe_jobs.json (and the run folders under --workdir, default a temporary folder).
Without --baseline the jobs and the unshared check still run. The previous release's main-job run is the commit before
issue 18's probe work (d0e221b), run in a worktree of it:
    culturelens eval --config configs/eval/default.yaml --overwrite output_dir=/work/baseline_runs run_name=before \
        cache_dir=/work/baseline_runs/cache-before wandb.enabled=false     # -> /work/baseline_runs/default/before
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
JOBS = {"main": ("configs/eval/default.yaml", 0), "paper": ("configs/eval/paper.yaml", 0), "contention": ("configs/eval/default.yaml", 1)}
GOALS = {"main": 70.0, "paper": 240.0}
CONTENTION_GOAL = 2.5


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def child_env(keep_thread_env: bool) -> dict:
    env = dict(os.environ, WANDB_MODE="offline", TOKENIZERS_PARALLELISM="false")
    if not keep_thread_env:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.pop(name, None)
    return env


def run_job(name: str, config: str, competitors: int, workdir: Path, overrides: list[str], env: dict) -> dict:
    """One `culturelens eval` from an empty cache, with `competitors` CPU-bound processes running beside it."""
    out_dir, cache = workdir / name, workdir / f"{name}-cache"
    cmd = [sys.executable, "-m", "culturelens", "eval", "--config", str(ROOT / config), "--no-progress", "--overwrite",
           f"output_dir={out_dir}", f"cache_dir={cache}", f"run_name={name}", "wandb.enabled=false", *overrides]
    rivals = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(competitors)]
    try:
        if rivals:
            time.sleep(2.0)  # let the competitors take their CPU
        load_before = _load()
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        wall = time.perf_counter() - t
        load_after = _load()
    finally:
        for rival in rivals:
            rival.kill()
            rival.wait()
    if proc.returncode != 0:
        raise SystemExit(f"{name}: culturelens eval failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    run_dir = next(out_dir.glob(f"*/{name}"))
    run = json.loads((run_dir / "summary.json").read_text())["run"]
    return {
        "job": name, "config": config, "competing_processes": competitors, "run_dir": str(run_dir),
        "wall_seconds": wall, "probe_seconds": run["probe_seconds"], "n_prompts": run["n_prompts"], "n_cached": run["n_cached"],
        "prompts_per_second": run["prompts_per_second"], "forward_passes": run.get("forward_passes"),
        "tokens_computed": run.get("tokens_computed"), "threads": run.get("threads"),
        "peak_rss_mb_children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "load_average_before": load_before, "load_average_after": load_after,
        "goal_probe_seconds": GOALS.get(name),
    }


def check_unshared(run_dir: str, config: str, n: int, seed: int = 0) -> dict:
    """Max |dp| between the run's probabilities and unshared scoring of `n` random prompts of it (same config)."""
    from culturelens.core.config import load_config
    from culturelens.core.inputs import resolve_inputs
    from culturelens.core.models import load_model
    from culturelens.core.runfolder import RunFolder
    from culturelens.eval.backends.probe import Probe
    from culturelens.eval.config import EvalConfig
    from culturelens.eval.runner import build_items

    cfg = load_config(EvalConfig, ROOT / config, [])
    lm = load_model(cfg.model)
    probe = Probe.from_loaded(lm, batch_size=cfg.probe.batch_size, prefix_sharing=False)
    items = build_items(cfg, resolve_inputs(cfg), probe)
    sample = random.Random(seed).sample(items, min(n, len(items)))
    unshared = probe.score(sample, progress=False)
    shared = RunFolder(run_dir).per_prompt().set_index("prompt_key")["probs"]
    diff = float(max(abs(a - b) for it in sample for a, b in zip(unshared[it.key].probs, shared[it.key])))
    return {"n_prompts": len(sample), "max_abs_dprob_vs_unshared": diff, "tol": 1e-5, "within_tol": diff <= 1e-5}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", nargs="+", choices=list(JOBS), default=list(JOBS))
    ap.add_argument("--baseline", default=None, help="run folder of an earlier release's main job: compare probabilities")
    ap.add_argument("--check-unshared", type=int, default=200, help="main-job prompts re-scored unshared (0: skip)")
    ap.add_argument("--workdir", default=None, help="where run folders and caches go (default: a temporary folder)")
    ap.add_argument("--keep-thread-env", action="store_true", help="pass OMP_NUM_THREADS / MKL_NUM_THREADS to the jobs")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "probe_jobs.json"))
    ap.add_argument("overrides", nargs="*", help="KEY=VALUE overrides for every job, e.g. probe.tokens_per_forward=768")
    args = ap.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="probe-jobs-"))
    env = child_env(args.keep_thread_env)
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)), "platform": platform.platform()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "overrides": args.overrides,
        "thread_env_kept": args.keep_thread_env, "jobs": {},
        "note": "MEASURED wall times; valid only on an otherwise idle machine: see each job's load averages",
    }
    for name in args.jobs:
        config, competitors = JOBS[name]
        r = run_job(name, config, competitors, workdir, args.overrides, env)
        result["jobs"][name] = r
        print(f"{name:10} {r['n_prompts']:6} prompts: {r['wall_seconds']:.1f} s wall, probe {r['probe_seconds']:.1f} s "
              f"({r['prompts_per_second']:.1f} prompts/s), {r['forward_passes']} forward passes, {r['tokens_computed']} tokens; "
              f"load {r['load_average_before'][0]} -> {r['load_average_after'][0]}", flush=True)
    jobs = result["jobs"]
    if "main" in jobs and "contention" in jobs:
        slow = jobs["contention"]["wall_seconds"] / jobs["main"]["wall_seconds"]
        probe_ratio = jobs["contention"]["probe_seconds"] / jobs["main"]["probe_seconds"]
        result["contention_slowdown"] = {"wall_ratio": slow, "probe_ratio": probe_ratio, "goal": CONTENTION_GOAL,
                                         "within_goal": slow <= CONTENTION_GOAL}
        print(f"contention slowdown: {slow:.2f}x wall (goal <= {CONTENTION_GOAL}x)")
    if "main" in jobs and args.check_unshared:
        result["exactness_vs_unshared"] = check_unshared(jobs["main"]["run_dir"], JOBS["main"][0], args.check_unshared)
        print("vs unshared:", result["exactness_vs_unshared"])
    if "main" in jobs and args.baseline:
        from compare_probs import compare_runs

        result["vs_baseline"] = compare_runs(args.baseline, jobs["main"]["run_dir"])
        print("vs baseline:", result["vs_baseline"])
    result["load_average_end"] = _load()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
