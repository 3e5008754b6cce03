"""The rates behind the study plan's time estimate, from the repository's measured throughput benchmarks.

- SFT and DPO tokens/s: ``benchmarks/results/train_throughput.json`` (``benchmarks/train_throughput.py``, LoRA on
  SmolLM2-135M, measured on 2 idle cores): of the runs of the stage with the most torch threads, the one whose
  setting overrides (``train``) all equal the study's own training settings, the most specific first (a variant
  measured with the study's settings beats the baseline), then the one with the study's batch size; first the
  runs with the study's ``prompt_sharing`` and on the study's rows (``rows: study``: sharing depends on the rows); the benchmark's
  "before" runs (``lm_head_labelled_positions_only: false``, the earlier training code) are not today's rate;
- evaluation prompts/s: ``benchmarks/results/eval_throughput.json`` (``benchmarks/eval_throughput.py``): the run
  with the study's dtype and prefix sharing and the template family of its templates (question first, which
  includes ``country_last``, or persona first); without one, the slowest run of that dtype.

A rate the config states (``rates:``, e.g. the GPU config's) overrides the measured one; a rate with no measurement
and none stated falls back to ``FALLBACK`` (the earliest SmolLM2 figures on 2 cores). Every rate carries its source,
which the plan prints. Measured tokens are real (non-padding) tokens, as the plan counts them.
"""
from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[3] / "benchmarks" / "results"
FALLBACK = {"sft_tokens_per_s": 122.0, "dpo_tokens_per_s": 92.0, "eval_prompts_per_s": 8.0}


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def train_rate(data: dict | None, stage: str, train, sharing: str | None = None) -> tuple[float, str] | None:
    """(tokens/s, which run) of the benchmark run measured with ``train``'s settings and SFT ``prompt_sharing``
    (module docstring)."""
    # runs of training as it is now: not the benchmark's "before" runs (TRL's LM head at every position)
    runs = [r for r in (data or {}).get("runs", []) if r.get("stage") == stage and r.get("tokens_per_second")
            and r.get("lm_head_labelled_positions_only", True)]
    if not runs:
        return None
    threads = max(r.get("torch_threads") or 0 for r in runs)
    missing = object()
    fits = [r for r in runs if (r.get("torch_threads") or 0) == threads
            and all(getattr(train, k, missing) == v for k, v in (r.get("train") or {}).items())]
    if not fits:
        return None
    size = getattr(train, "per_device_train_batch_size", None)
    best = max(fits, key=lambda r: (sharing is None or (r.get("prompt_sharing") or "off") == sharing, r.get("rows") == "study",
                                    len(r.get("train") or {}), r.get("batch_size") == size))
    return float(best["tokens_per_second"]), f"train_throughput.json run {best.get('variant', stage)!r}"


def eval_rate(data: dict | None, templates: list[str], dtype: str, prefix_sharing: bool) -> tuple[float, str] | None:
    """(prompts/s, which run) of the benchmark run with the study's evaluation settings (module docstring)."""
    runs = [r for r in (data or {}).get("runs", []) if r.get("prompts_per_second")]
    family = "persona_first" if all(t.startswith("persona") for t in templates) else "question_first"
    same = [r for r in runs if r.get("dtype") == dtype and bool(r.get("prefix_sharing")) == prefix_sharing
            and r.get("templates") == family]
    if same:
        return float(same[0]["prompts_per_second"]), f"eval_throughput.json run {family}/{dtype}/prefix_sharing={prefix_sharing}"
    fallback = [r for r in runs if r.get("dtype") == dtype]
    if not fallback:
        return None
    slowest = min(fallback, key=lambda r: r["prompts_per_second"])
    return float(slowest["prompts_per_second"]), f"eval_throughput.json slowest {dtype} run (no run with the study's settings)"


def plan_rates(stated: dict[str, float], sft_train, dpo_train, templates: list[str], dtype: str, prefix_sharing: bool,
               results: Path = RESULTS, sft_sharing: str | None = None,
               dpo_sharing: str | None = None) -> tuple[dict[str, float], dict[str, str]]:
    """(rates, where each comes from): stated > measured > fallback."""
    train_data, eval_data = _read(results / "train_throughput.json"), _read(results / "eval_throughput.json")
    measured = {"sft_tokens_per_s": train_rate(train_data, "sft", sft_train, sft_sharing) if sft_train is not None else None,
                "dpo_tokens_per_s": train_rate(train_data, "dpo", dpo_train, dpo_sharing) if dpo_train is not None else None,
                "eval_prompts_per_s": eval_rate(eval_data, templates, dtype, prefix_sharing)}
    rates, sources = {}, {}
    for key, default in FALLBACK.items():
        if key in stated:
            rates[key], sources[key] = float(stated[key]), "stated in the config (rates:)"
        elif measured[key] is not None:
            rates[key], sources[key] = round(measured[key][0], 2), f"measured: benchmarks/results/{measured[key][1]}"
        else:
            rates[key], sources[key] = default, "fallback (no measurement found under benchmarks/results/)"
    return rates, sources
