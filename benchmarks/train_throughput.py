"""Tokens/s and peak memory of LoRA SFT and DPO on SmolLM2-135M-Instruct on this CPU.

Each stage runs in its own subprocess (its own peak RSS), ~20 steps on realistic survey prompts.
Writes benchmarks/results/train_throughput.json.  Run:  .venv/bin/python benchmarks/train_throughput.py
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rows(n: int, stage: str) -> list[dict]:
    from culturelens.core.countries import resolve_country
    from culturelens.core.questions import load_bank
    from culturelens.synth.build import prompt_messages

    bank = list(load_bank())
    countries = [resolve_country(c) for c in ["ARG", "BGD", "BRA", "CHN", "DEU", "IRQ", "JOR", "MEX", "TUR"]]
    out = []
    for i in range(n):
        q, c = bank[i % len(bank)], countries[i % len(countries)]
        msgs = prompt_messages(q, q.text, c.name)
        if stage == "sft":
            out.append({"messages": msgs + [{"role": "assistant", "content": "Answer: B"}]})
        else:
            out.append({"prompt": msgs, "chosen": [{"role": "assistant", "content": "Answer: A"}],
                        "rejected": [{"role": "assistant", "content": "Answer: C"}]})
    return out


def child(stage: str, steps: int, batch: int) -> dict:
    from datasets import Dataset

    from culturelens.train.config import DPORunConfig, SFTRunConfig
    from culturelens.train.dpo import run_dpo
    from culturelens.train.sft import run_sft

    tmp = Path(tempfile.mkdtemp())
    Dataset.from_list(rows(steps * batch, stage)).save_to_disk(str(tmp / "data"))
    common = {"model": {"name_or_path": "smollm2-135m-instruct"}, "dataset": str(tmp / "data"), "output_dir": str(tmp / "out"),
              "train": {"max_steps": steps, "per_device_batch_size": batch, "logging_steps": 1, "save_steps": 10_000}}
    t = time.perf_counter()
    out = (run_sft if stage == "sft" else run_dpo)((SFTRunConfig if stage == "sft" else DPORunConfig).model_validate(common))
    seconds = time.perf_counter() - t
    facts = json.loads((out / "culturelens_train.json").read_text())
    # tokens the model was fed: every row is seen once (steps x batch rows); DPO feeds prompt+chosen and prompt+rejected
    from transformers import AutoTokenizer

    from culturelens.core.zoo import pull

    tok = AutoTokenizer.from_pretrained(pull("smollm2-135m-instruct"))
    data = rows(steps * batch, stage)
    if stage == "sft":
        tokens = sum(len(tok.apply_chat_template(r["messages"], tokenize=True)["input_ids"]) for r in data)
    else:
        tokens = sum(len(tok.apply_chat_template(r["prompt"] + r[k], tokenize=True)["input_ids"])
                     for r in data for k in ("chosen", "rejected"))
    train_s = facts["metrics"].get("train_runtime", seconds)
    return {"stage": stage, "steps": steps, "batch_size": batch, "tokens": tokens, "train_seconds": train_s,
            "tokens_per_second": tokens / train_s, "wall_seconds_incl_load": seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "final_loss": facts["train_loss"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--child", default=None)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "train_throughput.json"))
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.steps, a.batch_size)))
        return
    res = []
    for stage in ("sft", "dpo"):
        p = subprocess.run([sys.executable, __file__, "--child", stage, "--steps", str(a.steps), "--batch-size", str(a.batch_size)],
                           capture_output=True, text=True, check=True)
        res.append(json.loads(p.stdout.strip().splitlines()[-1]))
        print(res[-1])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"model": "smollm2-135m-instruct", "device": "cpu (2 cores)", "runs": res}, indent=2))


if __name__ == "__main__":
    main()
