"""SFT and DPO datasets from kept variants, labelled from the human reference (never from the teacher).

The prompt is the eval prompt's format: persona system message, "Question: ... Options: A. ..."
and the instruction; the answer is "Answer: B", matching the eval's answer cue.
"""
from __future__ import annotations

import random

from culturelens.core.prompts import INSTRUCTION, TEMPLATES, make_labels, question_block


def prompt_messages(question, variant_text: str, country_name: str) -> list[dict]:
    labels = make_labels(len(question.options), "letters")
    block, _ = question_block(question, labels, "original", text=variant_text)
    return [
        {"role": "system", "content": TEMPLATES["persona_system"].system.format(country=country_name)},
        {"role": "user", "content": f"{block}\n\n{INSTRUCTION}"},
    ]


def human_shares(row, question) -> list[float] | None:
    dist = row.get("dist")
    if dist is not None and len(dist) == len(question.options):
        return [float(x) for x in dist]
    return None


def nearest_option(mean: float, question) -> int:
    return min(range(len(question.options)), key=lambda i: abs(question.options[i].score - mean))


def build_rows(variants: list[dict], bank, reference, countries: dict, settings_sft, settings_dpo, split_name: str):
    """variants: {qid, country (alpha3 or ALL), kind, text}. Returns (sft_rows, dpo_rows)."""
    rng = random.Random(settings_sft.seed)
    ref = {(r["country"], r["qid"]): r for r in reference.df.to_dict("records")}
    sft, dpo = [], []
    for v in variants:
        q = bank.get(v["qid"])
        labels = make_labels(len(q.options), "letters")
        targets = list(countries) if v["country"] == "ALL" else [v["country"]]
        for code in targets:
            row = ref.get((code, q.qid))
            if row is None:
                continue
            messages = prompt_messages(q, v["text"], countries[code].name)
            shares = human_shares(row, q)
            meta = {"qid": q.qid, "country": code, "kind": v["kind"], "split": split_name, "variant": v["text"]}
            for _ in range(settings_sft.samples_per_prompt):
                if shares is None:
                    k = nearest_option(row["mean"], q)
                elif settings_sft.answer == "majority":
                    k = max(range(len(shares)), key=shares.__getitem__)
                else:
                    k = rng.choices(range(len(shares)), weights=shares)[0]
                sft.append({"messages": messages + [{"role": "assistant", "content": f"Answer: {labels[k]}"}], **meta})
            if shares is not None:
                hi = max(range(len(shares)), key=shares.__getitem__)
                lo = min(range(len(shares)), key=shares.__getitem__)
                if shares[hi] - shares[lo] < settings_dpo.min_margin:
                    continue
                chosen_share, rejected_share = shares[hi], shares[lo]
            else:  # means only: nearest option vs the farthest
                hi = nearest_option(row["mean"], q)
                lo = max(range(len(q.options)), key=lambda i: abs(q.options[i].score - row["mean"]))
                chosen_share = rejected_share = None
            dpo.append({"prompt": messages, "chosen": [{"role": "assistant", "content": f"Answer: {labels[hi]}"}],
                        "rejected": [{"role": "assistant", "content": f"Answer: {labels[lo]}"}],
                        "chosen_share": chosen_share, "rejected_share": rejected_share, **meta})
    return sft, dpo
