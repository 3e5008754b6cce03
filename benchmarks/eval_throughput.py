"""Probe throughput on SmolLM2-135M: 50 questions x 9 countries x 3 templates (1,350 prompts).

Two template sets: persona first (persona_system, persona_inline, persona_third: only a country's persona
is shared between prompts) and question first (question_first*, the question block is shared by every
country and template). Each configuration (templates x dtype x prefix sharing) runs in its own
subprocess so its peak RSS is its own; every configuration's option probabilities are compared with the
fp32 unshared run of the same prompts (the accuracy check for bf16 and for prefix sharing).
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
TEMPLATE_SETS = {"persona_first": ["persona_system", "persona_inline", "persona_third"],
                 "question_first": ["question_first", "question_first_third", "question_first_citizen"]}
# (template set, dtype, prefix sharing); the first run of each set is its fp32 reference
CONFIGS = [("persona_first", "float32", False), ("persona_first", "float32", True), ("persona_first", "bfloat16", True),
           ("question_first", "float32", False), ("question_first", "float32", True), ("question_first", "bfloat16", True)]


def matmul_peak(dtype_name: str, n: int = 2048, reps: int = 10, clock=time.perf_counter) -> float:
    """GFLOP/s of an n x n matmul; clock=time.process_time gives GFLOP per CPU second (robust on a loaded machine)."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    t = clock()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (clock() - t) / 1e9


def dense_flops(model, tokens: int, n_prompts: int) -> float:
    """Dense FLOPs of a forward pass over `tokens` tokens (attention ignored) plus the LM head at one position per prompt."""
    body = sum(p.numel() for n, p in model.named_parameters() if "embed" not in n and "lm_head" not in n)
    head = model.get_output_embeddings().weight.numel()
    return 2 * body * tokens + 2 * head * n_prompts


def tokens_computed(encoded: list[list[int]], prefix_sharing: bool, tokens_per_forward: int | None = None) -> int:
    """Tokens actually run: with prefix sharing the trie nodes of each pack (eval/backends/prefix.py; packs of the
    default `probe.tokens_per_forward` unless given), else every token."""
    if not prefix_sharing:
        return sum(map(len, encoded))
    from culturelens.eval.backends.prefix import packed_tokens
    from culturelens.eval.config import ProbeConfig

    return packed_tokens(encoded, tokens_per_forward or ProbeConfig().tokens_per_forward)


def one(template_set: str, dtype: str, prefix_sharing: bool, batch_size: int, model_name: str, limit: int | None = None) -> dict:
    import torch

    from culturelens.core.countries import resolve_country
    from culturelens.core.models import ModelConfig, load_model
    from culturelens.core.prompts import build_prompts
    from culturelens.core.questions import load_bank
    from culturelens.core.reference import default_reference
    from culturelens.eval.backends.probe import Probe

    torch.manual_seed(0)
    lm = load_model(ModelConfig(name_or_path=model_name, dtype=dtype))
    bank = load_bank()
    ref = default_reference().subset(countries=COUNTRIES)
    qids = [q for q in ref.qids if ref.df[ref.df.qid == q]["dist"].notna().any()][:50]
    items = build_prompts(lm.tokenizer, [bank.get(q) for q in qids], [resolve_country(c) for c in COUNTRIES], None,
                          TEMPLATE_SETS[template_set], ["original"], "letters", "Answer:", lm.is_chat)
    if limit:  # a subset: every country and template for the first questions (keeps the sharing structure)
        keep = set(qids[: max(1, limit // (len(COUNTRIES) * 3))])
        items = [it for it in items if it.qid in keep]
    probe = Probe(lm.model, lm.tokenizer, batch_size=batch_size, prefix_sharing=prefix_sharing)
    encoded = [probe.encode(it.text) for it in items]
    tokens = sum(map(len, encoded))
    tokens_run = tokens_computed(encoded, prefix_sharing)
    probe.score(items[:batch_size], progress=False)  # warm-up
    t = time.perf_counter()
    res = probe.score(items, progress=False)
    seconds = time.perf_counter() - t
    flops = dense_flops(lm.model, tokens, len(items))  # dense FLOPs of the full prompts (attention ignored)
    return {
        "templates": template_set, "dtype": dtype, "prefix_sharing": prefix_sharing, "batch_size": batch_size, "n_prompts": len(items),
        "tokens": tokens, "tokens_run": tokens_run, "seconds": seconds, "prompts_per_second": len(items) / seconds,
        "effective_gflops": flops / seconds / 1e9,  # FLOPs of the full prompts / time: prefix sharing can exceed the peak
        "achieved_gflops": flops * tokens_run / tokens / seconds / 1e9,  # FLOPs actually run / time
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "probs": {k: v.probs for k, v in res.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--child", nargs=3, metavar=("TEMPLATES", "DTYPE", "SHARED"))
    ap.add_argument("--limit", type=int, default=None, help="about N prompts (whole questions) instead of all 1,350")
    ap.add_argument("--templates", choices=sorted(TEMPLATE_SETS), default=None, help="only this template set")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "eval_throughput.json"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one(args.child[0], args.child[1], args.child[2] == "1", args.batch_size, args.model, args.limit)))
        return
    runs = []
    for template_set, dtype, shared in CONFIGS:
        if args.templates and template_set != args.templates:
            continue
        out = subprocess.run([sys.executable, __file__, "--child", template_set, dtype, "1" if shared else "0", "--model", args.model,
                              "--batch-size", str(args.batch_size)] + (["--limit", str(args.limit)] if args.limit else []),
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ref = next(x for x in runs + [r] if x["templates"] == template_set)["probs"]  # fp32 unshared run of this set
        r["max_abs_dprob_vs_fp32_unshared"] = max(abs(a - b) for k in r["probs"] for a, b in zip(r["probs"][k], ref[k]))
        runs.append(r)
        print(f"{template_set:14} {dtype:9} shared={shared!s:5}: {r['prompts_per_second']:.1f} prompts/s, {r['seconds']:.1f} s, "
              f"{r['achieved_gflops']:.0f} GFLOP/s run, peak {r['peak_rss_mb']:.0f} MB, max|dp| "
              f"{r['max_abs_dprob_vs_fp32_unshared']:.1e}", flush=True)
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
