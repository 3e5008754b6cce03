"""Tokens/s and peak memory of LoRA SFT and DPO on SmolLM2-135M-Instruct on this CPU, per training setting.

Each variant runs in its own subprocess (its own peak RSS and thread setting), 10 steps on realistic survey prompts,
one after another, and is reported with its speed-up over the "before" variant of its stage (the earlier
measurement's setting: padded batches of 4, max_length 512, TRL's LM head over every position) on the same rows. Tokens
are the rows' real (non-padding) tokens: every row's chat-templated length (DPO: prompt + chosen and prompt +
rejected); with prompt sharing the model computes fewer (each shared prefix of a batch once, a DPO pair's prompt once:
`tokens_computed`, per forward: DPO's reference forward computes as many again).
`tokens_per_second` is over TRL's train_runtime (wall: only comparable on idle cores; the load average at
the start of each variant is recorded, and the manifest: versions, CPU, threads); `tokens_per_cpu_second` is over the
CPU seconds this process spent in training (all its threads), which a loaded machine disturbs less.

    OMP_NUM_THREADS= .venv/bin/python benchmarks/train_throughput.py            # all variants (~14 min on 2 idle cores)
    .venv/bin/python benchmarks/train_throughput.py --only sft-before sft --steps 5   # a quick subset

Writes benchmarks/results/train_throughput.json (the settings: steps, batch size, threads, per variant).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# name -> (stage, torch threads (None: torch's default, one per core), train: overrides, LM head on labelled positions
# only (train.common.score_labelled_positions_only; False: TRL's CPU default, every position), prompt_sharing (SFT:
# train/shared_prompts.py, DPO: train/shared_pairs.py), rows: "mixed" (a different question and country each row: little to share beyond the
# chat header) or "study" (the training study's rows: country_last prompts of 4 ethics questions x 2 option orders x
# 16 countries, as synth/study_data.py renders them)). "before" is the setting of the earlier measurement (122
# tokens/s SFT, 92 DPO): padded batches of 4, max_length 512, mixed rows.
VARIANTS: dict[str, tuple[str, int | None, dict, bool, str, str]] = {
    "sft-before": ("sft", None, {}, False, "off", "mixed"),
    "sft": ("sft", None, {}, True, "off", "mixed"),
    "sft-1-thread": ("sft", 1, {}, True, "off", "mixed"),
    "sft-batch-8": ("sft", None, {"per_device_train_batch_size": 8}, True, "off", "mixed"),
    "sft-padding-free-batch-8": ("sft", None, {"padding_free": True, "max_length": None, "per_device_train_batch_size": 8},
                                 True, "off", "mixed"),
    "sft-shared-batch-8": ("sft", None, {"per_device_train_batch_size": 8}, True, "batch", "mixed"),
    "sft-study-rows-before": ("sft", None, {}, False, "off", "study"),
    "sft-study-rows-batch-8": ("sft", None, {"per_device_train_batch_size": 8}, True, "off", "study"),
    "sft-study-rows-shared-batch-8": ("sft", None, {"per_device_train_batch_size": 8}, True, "batch", "study"),
    "sft-study-rows-grouped-batch-8": ("sft", None, {"per_device_train_batch_size": 8}, True, "grouped", "study"),
    "dpo-before": ("dpo", None, {}, False, "off", "mixed"),
    "dpo": ("dpo", None, {}, True, "off", "mixed"),
    "dpo-shared": ("dpo", None, {}, True, "batch", "mixed"),
    "dpo-study-rows-batch-8": ("dpo", None, {"per_device_train_batch_size": 8}, True, "off", "study"),
    "dpo-study-rows-shared-batch-8": ("dpo", None, {"per_device_train_batch_size": 8}, True, "batch", "study"),
}
BEFORE = {("sft", "mixed"): "sft-before", ("sft", "study"): "sft-study-rows-before", ("dpo", "mixed"): "dpo-before",
          ("dpo", "study"): "dpo-study-rows-batch-8"}
STUDY_QUESTIONS = ["Q177", "Q182", "Q184", "Q187"]  # configs/experiments/training_study.yaml's train questions
STUDY_COUNTRIES = ["ARG", "AUS", "BGD", "BRA", "CAN", "CHN", "DEU", "EGY", "IDN", "IND", "IRQ", "JPN", "KOR", "MEX", "NGA", "USA"]


def study_rows(n: int, stage: str = "sft") -> list[dict]:
    """The training study's rows (text prompt + option letter; DPO: + a chosen and a rejected letter; the answers
    cycle: only the prompts' sharing and lengths matter here), in (question, order, country) order; the trainer draws
    its batches from them."""
    from transformers import AutoTokenizer

    from culturelens.core.countries import resolve_country
    from culturelens.core.prompts import render_item
    from culturelens.core.questions import load_bank
    from culturelens.core.zoo import pull

    tok = AutoTokenizer.from_pretrained(pull("smollm2-135m-instruct"))
    bank = load_bank()
    out = []
    while len(out) < n:
        for qid in STUDY_QUESTIONS:
            for order in ("original", "reversed"):
                for code in STUDY_COUNTRIES:
                    item = render_item(tok, bank.get(qid), resolve_country(code), "country_last", order, "letters", "Answer:", True)
                    k, labels = len(out), item.labels
                    answer, other = f" {labels[k % len(labels)]}", f" {labels[(k + 3) % len(labels)]}"
                    out.append({"prompt": item.text, "completion": answer} if stage == "sft" else
                               {"prompt": item.text, "chosen": answer, "rejected": other})
    return out[:n]


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


def child(name: str, steps: int, batch: int) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer

    from culturelens.core.manifest import collect_manifest
    from culturelens.core.zoo import pull
    from culturelens.train import dpo as dpo_mod
    from culturelens.train import sft as sft_mod
    from culturelens.train.config import DPORunConfig, SFTRunConfig

    stage, threads, train, compact, sharing, row_kind = VARIANTS[name]
    if threads:
        torch.set_num_threads(threads)
    mod = sft_mod if stage == "sft" else dpo_mod
    if not compact:
        mod.score_labelled_positions_only = lambda: None  # TRL's own CPU path: the LM head over every position
    cpu = {}
    train_and_save = mod.train_and_save

    def timed(*args, **kw):  # CPU seconds of this process (all threads) in training and saving, not in loading
        t0 = time.process_time()
        try:
            return train_and_save(*args, **kw)
        finally:
            cpu["seconds"] = time.process_time() - t0

    mod.train_and_save = timed
    computed: list[int] = []
    if stage == "sft":
        import culturelens.train.shared_prompts as sp

        pack = sp.pack_rows

        def counted(batch):  # the nodes of each batch's trie: the tokens the model computes
            out = pack(batch)
            computed.append(out["input_ids"].shape[1])
            return out

        sp.pack_rows = counted
    else:
        import culturelens.train.shared_pairs as spp

        pairs = spp.pack_pairs

        def counted_pairs(batch):  # the nodes of each batch's trie; unshared: the padded rows' tokens
            out = pairs(batch)
            computed.append(out["input_ids"].shape[1])
            return out

        spp.pack_pairs = counted_pairs
    per_step = train.get("per_device_train_batch_size", batch)
    n_rows = steps * per_step
    data = study_rows(n_rows, stage) if row_kind == "study" else rows(n_rows, stage)
    tmp = Path(tempfile.mkdtemp())
    Dataset.from_list(data).save_to_disk(str(tmp / "data"))
    cfg = {"model": {"name_or_path": "smollm2-135m-instruct"}, "dataset": str(tmp / "data"), "output_dir": str(tmp / "out"),
           "train": {"max_steps": steps, "per_device_train_batch_size": batch, "logging_steps": 1, "save_steps": 10_000, **train}}
    cfg["prompt_sharing"] = sharing
    load = os.getloadavg()
    t = time.perf_counter()
    out = (sft_mod.run_sft if stage == "sft" else dpo_mod.run_dpo)((SFTRunConfig if stage == "sft" else DPORunConfig).model_validate(cfg))
    seconds = time.perf_counter() - t
    facts = json.loads((out / "culturelens_train.json").read_text())
    tok = AutoTokenizer.from_pretrained(pull("smollm2-135m-instruct"))
    if row_kind == "study":  # the prompt is the chat-templated text already
        tokens = sum(len(tok(r["prompt"] + r[k])["input_ids"]) for r in data
                     for k in (("completion",) if stage == "sft" else ("chosen", "rejected")))
    elif stage == "sft":
        tokens = sum(len(tok.apply_chat_template(r["messages"], tokenize=True)["input_ids"]) for r in data)
    else:
        tokens = sum(len(tok.apply_chat_template(r["prompt"] + r[k], tokenize=True)["input_ids"])
                     for r in data for k in ("chosen", "rejected"))
    train_s = facts["metrics"].get("train_runtime", seconds)
    return {"variant": name, "stage": stage, "rows": row_kind, "prompt_sharing": sharing,
            "train": train, "lm_head_labelled_positions_only": compact,
            "torch_threads": torch.get_num_threads(), "steps": steps, "batch_size": per_step, "tokens": tokens,
            "tokens_computed": sum(computed[:steps]) if computed else None, "train_seconds": train_s,
            "tokens_per_second": tokens / train_s, "cpu_seconds": cpu["seconds"],
            "tokens_per_cpu_second": tokens / cpu["seconds"],
            "wall_seconds_incl_load": seconds, "load_average_at_start": [round(x, 2) for x in load],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "final_loss": facts["train_loss"],
            "manifest": collect_manifest().model_dump(mode="json")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--only", nargs="*", default=None, help=f"variants to run (default: all): {', '.join(VARIANTS)}")
    ap.add_argument("--child", default=None)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "train_throughput.json"))
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.steps, a.batch_size)))
        return
    res = []
    for name in a.only or list(VARIANTS):
        p = subprocess.run([sys.executable, __file__, "--child", name, "--steps", str(a.steps), "--batch-size", str(a.batch_size)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print(f"{name}: failed\n{p.stderr[-2000:]}", file=sys.stderr)
            continue
        res.append(json.loads(p.stdout.strip().splitlines()[-1]))
        print({k: v for k, v in res[-1].items() if k != "manifest"}, flush=True)
    base = {(r["stage"], r["rows"]): r for r in res if r["variant"] == BEFORE.get((r["stage"], r["rows"]))}
    for r in res:
        b = base.get((r["stage"], r["rows"]))
        r["speedup_vs_before"] = r["tokens_per_second"] / b["tokens_per_second"] if b else None
        r["cpu_speedup_vs_before"] = r["tokens_per_cpu_second"] / b["tokens_per_cpu_second"] if b else None
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"model": "smollm2-135m-instruct", "device": f"cpu ({os.cpu_count()} cores)",
                                       "earlier_measurement": {"sft_tokens_per_second": 122.0, "dpo_tokens_per_second": 92.4},
                                       "settings": {"steps": a.steps, "batch_size": a.batch_size, "variants": a.only or list(VARIANTS)},
                                       "runs": res}, indent=2))


if __name__ == "__main__":
    main()
