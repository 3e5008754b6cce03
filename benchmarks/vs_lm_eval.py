"""culturelens probe vs lm-evaluation-harness on the same prompts and model.

SmolLM2-135M-Instruct, the 50 questions x 9 countries x 3 persona templates sweep (1,350 prompts), or with
--config the prompts of an eval config exactly as `culturelens eval` builds them (the main job:
--config configs/eval/default.yaml, 2,032 prompts; culturelens then also uses the config's prefix sharing settings).
lm-evaluation-harness (HF backend, `HFLM.loglikelihood`) scores every option as a (context,
continuation) request, the way its multiple-choice tasks do; culturelens reads all options from one
forward pass (optionally reusing shared prefixes). Both score the same continuation token (" A", " B", ...),
so the renormalised option probabilities must agree.

Needs the benchmark-only dependency: pip install -e .[bench]   (lm_eval)
Writes benchmarks/results/vs_lm_eval.json (with --config: vs_lm_eval_<config name>.json).
Run:  .venv/bin/python benchmarks/vs_lm_eval.py [--limit N] [--config configs/eval/default.yaml]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

COUNTRIES = ["ARG", "BGD", "BRA", "CHN", "DEU", "IRQ", "JOR", "MEX", "TUR"]
TEMPLATE_SETS = {"persona_first": ["persona_system", "persona_inline", "persona_third"],
                 "question_first": ["question_first", "question_first_third", "question_first_citizen"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--limit", type=int, default=None, help="first N prompts only (quick check)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--templates", choices=sorted(TEMPLATE_SETS), default="persona_first")
    ap.add_argument("--config", default=None, help="an eval config: its prompts (as `culturelens eval` builds them)")
    ap.add_argument("--out", default=None, help="default: benchmarks/results/vs_lm_eval[_<config name>].json")
    args = ap.parse_args()
    suffix = f"_{Path(args.config).stem}" if args.config else ""
    args.out = args.out or str(Path(__file__).parent / "results" / f"vs_lm_eval{suffix}.json")

    import torch
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from culturelens.core.countries import resolve_country
    from culturelens.core.models import ModelConfig, load_model
    from culturelens.core.prompts import build_prompts
    from culturelens.core.questions import load_bank
    from culturelens.core.reference import default_reference
    from culturelens.eval.backends.probe import Probe
    from culturelens.eval.config import ProbeConfig

    torch.manual_seed(0)
    tokens_per_forward = ProbeConfig().tokens_per_forward
    if args.config:
        from culturelens.core.config import load_config
        from culturelens.core.inputs import resolve_inputs
        from culturelens.eval.config import EvalConfig
        from culturelens.eval.runner import build_items

        cfg = load_config(EvalConfig, args.config, [f"model.name_or_path={args.model}", f"model.dtype={args.dtype}"])
        lm = load_model(cfg.model)
        items = build_items(cfg, resolve_inputs(cfg), Probe.from_loaded(lm))
        tokens_per_forward = cfg.probe.tokens_per_forward
    else:
        lm = load_model(ModelConfig(name_or_path=args.model, dtype=args.dtype))
        bank = load_bank()
        ref = default_reference().subset(countries=COUNTRIES)
        qids = [q for q in ref.qids if ref.df[ref.df.qid == q]["dist"].notna().any()][:50]
        items = build_prompts(lm.tokenizer, [bank.get(q) for q in qids], [resolve_country(c) for c in COUNTRIES], None,
                              TEMPLATE_SETS[args.templates], ["original"], "letters", "Answer:", lm.is_chat)
    items = items[: args.limit] if args.limit else items

    load_before = list(os.getloadavg())
    results = {}
    for name, shared in (("culturelens", False), ("culturelens_prefix_sharing", True)):
        probe = Probe(lm.model, lm.tokenizer, batch_size=args.batch_size, prefix_sharing=shared, label_variants=(" ",),
                      tokens_per_forward=tokens_per_forward)
        probe.score(items[: args.batch_size], progress=False)  # warm-up
        t = time.perf_counter()
        res = probe.score(items, progress=False)
        results[name] = {"seconds": time.perf_counter() - t, "probs": {k: v.probs for k, v in res.items()}}

    harness = HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=args.batch_size, device="cpu", dtype=args.dtype)
    requests, owners = [], []
    for it in items:
        for pos, label in enumerate(it.labels):
            requests.append(Instance(request_type="loglikelihood", doc={}, arguments=(it.text, " " + label), idx=len(requests)))
            owners.append((it, pos))
    harness.loglikelihood(requests[: args.batch_size * 2], disable_tqdm=True)  # warm-up
    t = time.perf_counter()
    out = harness.loglikelihood(requests, disable_tqdm=True)
    h_seconds = time.perf_counter() - t
    raw: dict[str, list[float]] = {}
    for (it, pos), (ll, _) in zip(owners, out):
        raw.setdefault(it.key, [0.0] * len(it.labels))[pos] = math.exp(ll)
    h_probs = {}
    for it in items:
        r = raw[it.key]
        probs = [0.0] * len(r)
        for pos, option in enumerate(it.option_index):
            probs[option] = r[pos] / sum(r)
        h_probs[it.key] = probs

    n = len(items)
    report = {"model": args.model, "dtype": args.dtype, "templates": args.config or args.templates, "n_prompts": n,
              "n_harness_requests": len(requests), "load_average_before": load_before, "load_average_after": list(os.getloadavg()),
              "lm_eval": {"seconds": h_seconds, "prompts_per_second": n / h_seconds}}
    for name, r in results.items():
        diff = max(abs(a - b) for k in h_probs for a, b in zip(r["probs"][k], h_probs[k]))
        report[name] = {"seconds": r["seconds"], "prompts_per_second": n / r["seconds"],
                        "speedup_vs_lm_eval": h_seconds / r["seconds"], "max_abs_dprob_vs_lm_eval": diff}
    report["target"] = ">= 3x lm-eval prompts/s with max |dp| <= 1e-4 (fp32)"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
