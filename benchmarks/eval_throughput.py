"""Probe throughput on SmolLM2-135M: 50 questions x 9 countries x 3 persona templates (1,350 prompts).

Each configuration (dtype x prefix sharing) runs in its own subprocess so its peak RSS is its own.
Writes benchmarks/results/eval_throughput.json. Run by hand:  .venv/bin/python benchmarks/eval_throughput.py
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

COUNTRIES = ["ARG", "BGD", "BRA", "CHN", "DEU", "IRQ", "JOR", "MEX", "TUR"]
TEMPLATES = ["persona_system", "persona_inline", "persona_third"]


def matmul_peak(dtype_name: str, n: int = 2048, reps: int = 10) -> float:
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def one(dtype: str, prefix_sharing: bool, batch_size: int, model_name: str, limit: int | None = None) -> dict:
    import torch

    from culturelens.countries import resolve_country
    from culturelens.eval.probe import Probe
    from culturelens.eval.prompts import build_prompts
    from culturelens.models import ModelConfig, load_model
    from culturelens.reference import default_reference
    from culturelens.questions import load_bank

    torch.manual_seed(0)
    lm = load_model(ModelConfig(name_or_path=model_name, dtype=dtype))
    bank = load_bank()
    ref = default_reference().subset(countries=COUNTRIES)
    qids = [q for q in ref.qids if ref.df[ref.df.qid == q]["dist"].notna().any()][:50]
    items = build_prompts(lm.tokenizer, [bank.get(q) for q in qids], [resolve_country(c) for c in COUNTRIES], None,
                          TEMPLATES, ["original"], "letters", "Answer:", lm.is_chat)
    if limit:  # a subset: every country and template for the first questions (keeps the sharing structure)
        keep = set(qids[: max(1, limit // (len(COUNTRIES) * len(TEMPLATES)))])
        items = [it for it in items if it.qid in keep]
    probe = Probe(lm.model, lm.tokenizer, batch_size=batch_size, prefix_sharing=prefix_sharing)
    tokens = sum(len(probe.encode(it.text)) for it in items)
    probe.score(items[:batch_size], progress=False)  # warm-up
    t = time.perf_counter()
    res = probe.score(items, progress=False)
    seconds = time.perf_counter() - t
    body = sum(p.numel() for n, p in lm.model.named_parameters() if "embed" not in n and "lm_head" not in n)
    head = lm.model.get_output_embeddings().weight.numel()
    flops = 2 * body * tokens + 2 * head * len(items)  # dense FLOPs of the full prompts (attention ignored)
    return {
        "dtype": dtype, "prefix_sharing": prefix_sharing, "batch_size": batch_size, "n_prompts": len(items),
        "tokens": tokens, "seconds": seconds, "prompts_per_second": len(items) / seconds,
        "effective_gflops": flops / seconds / 1e9,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "probs": {k: v.probs for k, v in list(res.items())[:200]},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--child", nargs=2, metavar=("DTYPE", "SHARED"))
    ap.add_argument("--limit", type=int, default=None, help="about N prompts (whole questions) instead of all 1,350")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "eval_throughput.json"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one(args.child[0], args.child[1] == "1", args.batch_size, args.model, args.limit)))
        return
    runs = []
    for dtype in ("float32", "bfloat16"):
        for shared in ("0", "1"):
            out = subprocess.run([sys.executable, __file__, "--child", dtype, shared, "--model", args.model,
                                  "--batch-size", str(args.batch_size)] + (["--limit", str(args.limit)] if args.limit else []),
                             capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"{dtype:9} shared={shared}: {runs[-1]['prompts_per_second']:.1f} prompts/s, {runs[-1]['seconds']:.1f} s, "
                  f"{runs[-1]['effective_gflops']:.0f} GFLOP/s, peak {runs[-1]['peak_rss_mb']:.0f} MB", flush=True)
    ref = runs[0]["probs"]
    for r in runs:
        common = [k for k in r["probs"] if k in ref]
        r["max_abs_dprob_vs_fp32_plain"] = max(abs(a - b) for k in common for a, b in zip(r["probs"][k], ref[k]))
    for r in runs:
        r.pop("probs")
    result = {
        "model": args.model, "machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform()},
        "matmul_peak_gflops": {"float32": matmul_peak("float32"), "bfloat16": matmul_peak("bfloat16")},
        "runs": runs, "limit": args.limit, "goal": "full 1,350-prompt sweep under 60 s on 2 cores",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
