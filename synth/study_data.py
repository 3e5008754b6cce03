"""The training study's rows: one builder for every arm, so arms differ only in their named factor.

Matched to the evaluation: each row's prompt is the text the probe scores (``core.prompts.render_item``: the
student's chat template, the study's templates, BOTH option orders, the answer cue) and the completion is the
option letter after the cue (`` B``). Labels carry each country's answer distribution as **rows in proportion**:
a cell (question, country) gets ``n = passes x templates x orders x repeats`` rows, and its answers are allocated
to them by largest remainder (option k gets round(n * share_k) rows, in a seeded order), so a cell's labels are
its human shares up to 1/n, with no sampling noise (``label_fidelity`` measures it; the report prints it).
Every cell is visited ``passes`` times (>= 2 passes over the train block).

Arms (``ARMS``):
- ``real``: the rows above on the human labels;
- ``shuffled``: the same prompts, labels of another country: one permutation of the seen countries applied to every
  question (restricted to a question's countries by following its cycles), so formats and label marginals stay; each
  training seed draws its own permutation (``seed_settings``), so SHUFFLED's seeds are replicates of the null;
- ``multilingual``: REAL's labels, each prompt in the country's main language where the hand-written translations
  cover (language, template, question) (the translated seed wording; English otherwise);
- ``seed_only``: REAL's labels and order, the seed wording in place of every teacher variant;
- DPO pairs (``dpo_rows``): chosen = the option most over-represented in the country relative to the cross-country
  mean share, rejected = the least, on REAL's or SHUFFLED's labels.
"""
from __future__ import annotations

import random
from collections import Counter

import numpy as np

from culturelens.core.prompts import render_item
from culturelens.core.seeded import derived, rng

ARMS = ("real", "shuffled", "multilingual", "seed_only")


def allocate(shares: list[float], n: int, rng: random.Random) -> list[int]:
    """n option indices whose counts are the shares x n rounded by largest remainder, in a seeded order."""
    raw = np.asarray(shares, float) / max(float(np.sum(shares)), 1e-12) * n
    counts = np.floor(raw).astype(int)
    for k in np.argsort(-(raw - counts), kind="stable")[: n - int(counts.sum())]:
        counts[k] += 1
    labels = [k for k, c in enumerate(counts) for _ in range(c)]
    rng.shuffle(labels)
    return labels


def seed_settings(settings, seed: int):
    """The data settings of one training seed: its sampling seed (``seed * 1000 + training seed``: label order within a
    cell, row order) and its SHUFFLED permutation's seed (``core.seeded.derived(shuffle_seed, training seed)``), so
    every seed's SHUFFLED rows carry another draw of the null permutation."""
    return settings.model_copy(update={"seed": settings.seed * 1000 + seed, "shuffle_seed": derived(settings.shuffle_seed, seed)})


def country_permutation(countries: list[str], seed: int) -> dict[str, str]:
    """A seeded permutation of the countries with no fixed point (a derangement; redrawn until it has none)."""
    draw = rng(seed)
    order = sorted(countries)
    while True:
        image = [order[i] for i in draw.permutation(len(order))]
        if len(order) < 2 or all(a != b for a, b in zip(order, image)):
            return dict(zip(order, image))


def induced(perm: dict[str, str], available: set[str]) -> dict[str, str]:
    """The permutation restricted to ``available``: follow each country's cycle to the next one that is available."""
    out = {}
    for c in available:
        d = perm[c]
        while d not in available:
            d = perm[d]
        out[c] = d
    return out


def label_table(cells: dict[tuple[str, str], list[float]], n: int, seed: int) -> dict[tuple[str, str], list[int]]:
    """(qid, country) -> its n allocated answers; one seeded stream per cell (independent of the other cells)."""
    return {key: allocate(shares, n, random.Random(f"{seed}|{key[0]}|{key[1]}")) for key, shares in sorted(cells.items())}


def row_plan(cells: list[tuple[str, str]], variants: dict[tuple[str, str], list[dict]], templates: list[str],
             orders: list[str], passes: int, repeats: int, seed: int) -> list[dict]:
    """The row skeleton every arm shares: per pass a seeded shuffle of every (cell, template, order, repeat); each
    row's slot (0..n-1) indexes the cell's allocated labels and its variant (cycled through the cell's wordings)."""
    rng = random.Random(seed)
    plan = []
    per_pass = len(templates) * len(orders) * repeats
    for p in range(passes):
        block = []
        for qid, country in cells:
            wordings = variants[(qid, country)]
            i = 0
            for template in templates:
                for order in orders:
                    for _ in range(repeats):
                        slot = p * per_pass + i
                        block.append({"qid": qid, "country": country, "template": template, "order": order, "pass": p,
                                      "slot": slot, **wordings[slot % len(wordings)]})
                        i += 1
        rng.shuffle(block)
        plan += block
    return plan


def render_rows(plan: list[dict], labels: dict, bank, table: dict, tokenizer, chat: bool, label_style: str, cue: str,
                arm: str, translations=None, seed_wording: bool = False) -> list[dict]:
    """SFT rows (prompt, completion) of one arm from the shared plan and that arm's label table."""
    rows = []
    bos = getattr(tokenizer, "bos_token", None)
    adds_bos = bool(bos) and tokenizer("x").input_ids[:1] == [tokenizer.bos_token_id]
    for r in plan:
        q = bank.get(r["qid"])
        text = None if seed_wording or r["kind"] == "seed" else r["text"]
        item = render_item(tokenizer, q, table[r["country"]], r["template"], r["order"], label_style, cue, chat,
                           translations, text=text)
        k = labels[(r["qid"], r["country"])][r["slot"]]
        position = item.option_index.index(k)
        prompt = item.text[len(bos):] if adds_bos and item.text.startswith(bos) else item.text  # the trainer adds it
        rows.append({"prompt": prompt, "completion": f" {item.labels[position]}", "answer": k, "arm": arm,
                     "qid": r["qid"], "country": r["country"], "template": r["template"], "order": r["order"],
                     "pass": r["pass"], "slot": r["slot"], "kind": "seed" if text is None else r["kind"],
                     "language": item.language})
    return rows


def dpo_rows(sft_rows: list[dict], cells: dict[tuple[str, str], list[float]], bank, arm: str, passes_used: int = 1) -> list[dict]:
    """Country-discriminative pairs on the rows of the first ``passes_used`` passes: chosen = the option most
    over-represented in the cell's shares relative to the question's cross-country mean share, rejected = the least."""
    mean: dict[str, np.ndarray] = {}
    for (qid, _), shares in cells.items():
        mean.setdefault(qid, []).append(np.asarray(shares, float))  # type: ignore[arg-type]
    mean = {q: np.mean(v, axis=0) for q, v in mean.items()}
    out = []
    for r in sft_rows:
        if r["pass"] >= passes_used:
            continue
        excess = np.asarray(cells[(r["qid"], r["country"])], float) - mean[r["qid"]]
        hi, lo = int(np.argmax(excess)), int(np.argmin(excess))
        q = bank.get(r["qid"])
        letters = _letters_in_prompt_order(q, r["order"])
        out.append({"prompt": r["prompt"], "chosen": f" {letters[hi]}", "rejected": f" {letters[lo]}", "arm": arm,
                    "qid": r["qid"], "country": r["country"], "template": r["template"], "order": r["order"],
                    "pass": r["pass"], "excess": round(float(excess[hi] - excess[lo]), 4)})
    return out


def _letters_in_prompt_order(question, order: str) -> list[str]:
    """Option index (scale order) -> the letter it is shown under in that option order."""
    k = len(question.options)
    letters = [chr(ord("A") + i) for i in range(k)]
    return letters if order == "original" else letters[::-1]


def label_fidelity(rows: list[dict], cells: dict[tuple[str, str], list[float]], bank) -> dict:
    """How well the rows carry the human distributions: the largest |label share - human share| over cells and options,
    and the mean over questions of r across countries between the rows' mean score and the human mean score."""
    counts: dict[tuple[str, str], Counter] = {}
    for r in rows:
        counts.setdefault((r["qid"], r["country"]), Counter())[r["answer"]] += 1
    worst, by_q = 0.0, {}
    for key, c in counts.items():
        shares = np.asarray(cells[key], float)
        n = sum(c.values())
        got = np.array([c.get(k, 0) / n for k in range(len(shares))])
        worst = max(worst, float(np.abs(got - shares).max()))
        scores = np.array([o.score for o in bank.get(key[0]).options])
        by_q.setdefault(key[0], []).append((float(got @ scores), float(shares @ scores)))
    rs = [np.corrcoef(np.array(v).T)[0, 1] for v in by_q.values() if len(v) > 2 and np.std(np.array(v)[:, 1]) > 0]
    return {"rows_per_cell": round(len(rows) / max(len(counts), 1), 2), "max_abs_share_error": round(worst, 4),
            "mean_r_label_vs_human": round(float(np.mean(rs)), 4) if rs else None}


def human_cells(reference, qids: list[str], countries: list[str]) -> dict[tuple[str, str], list[float]]:
    """(qid, country) -> the human answer shares, for every cell of the block that has a distribution."""
    df = reference.df
    df = df[df["qid"].isin(qids) & df["country"].isin(countries) & df["dist"].notna()]
    return {(q, c): [float(x) for x in d] for q, c, d in zip(df["qid"], df["country"], df["dist"])}


def shuffled_cells(cells: dict[tuple[str, str], list[float]], perm: dict[str, str]) -> dict[tuple[str, str], list[float]]:
    """Each cell gets the shares of the country the permutation maps it to, within that question's countries."""
    by_q: dict[str, set[str]] = {}
    for q, c in cells:
        by_q.setdefault(q, set()).add(c)
    maps = {q: induced(perm, have) for q, have in by_q.items()}
    return {(q, c): cells[(q, maps[q][c])] for q, c in cells}


def build_arm_rows(cells: dict[tuple[str, str], list[float]], variants: dict[tuple[str, str], list[dict]], bank, table: dict,
                   tokenizer, chat: bool, settings, translations=None) -> tuple[dict[str, list[dict]], dict]:
    """Every arm's SFT rows and the DPO pairs (``dpo_real``, ``dpo_shuffled``) from one plan; and the label facts.
    ``settings``: the study's ``DataSection`` of one training seed (``seed_settings``: templates, orders, passes,
    repeats, label_style, answer_cue, seed, shuffle_seed)."""
    s = settings
    keys = sorted(cells)
    n = s.passes * len(s.templates) * len(s.orders) * s.repeats
    plan = row_plan(keys, variants, s.templates, s.orders, s.passes, s.repeats, s.seed)
    perm = country_permutation(sorted({c for _, c in keys}), s.shuffle_seed)
    shuffled = shuffled_cells(cells, perm)
    real_labels, shuffled_labels = label_table(cells, n, s.seed), label_table(shuffled, n, s.seed)
    common = (bank, table, tokenizer, chat, s.label_style, s.answer_cue)
    arms = {
        "real": render_rows(plan, real_labels, *common, "real"),
        "shuffled": render_rows(plan, shuffled_labels, *common, "shuffled"),
        "multilingual": render_rows(plan, real_labels, *common, "multilingual", translations=translations),
        "seed_only": render_rows(plan, real_labels, *common, "seed_only", seed_wording=True),
    }
    arms["dpo_real"] = dpo_rows(arms["real"], cells, bank, "dpo_real")
    arms["dpo_shuffled"] = dpo_rows(arms["shuffled"], shuffled, bank, "dpo_shuffled")
    facts = {"label_method": "rows in proportion (largest-remainder allocation per cell)", "labels_per_cell": n,
             "cells": len(keys), "passes": s.passes, "sampling_seed": s.seed, "shuffle_seed": s.shuffle_seed, "permutation": perm,
             "fidelity": {"real": label_fidelity(arms["real"], cells, bank),
                          "shuffled_vs_its_permuted_labels": label_fidelity(arms["shuffled"], shuffled, bank),
                          "shuffled_vs_human": label_fidelity(arms["shuffled"], cells, bank)},
             "multilingual_rows_translated": sum(r["language"] != "en" for r in arms["multilingual"]),
             "dpo_pairs_same_chosen_in_every_country": _same_chosen_share(arms["dpo_real"])}
    return arms, facts


def _same_chosen_share(pairs: list[dict]) -> float | None:
    """Share of questions whose DPO 'chosen' option is the same in every country (0 = fully country-discriminative)."""
    chosen: dict[str, set] = {}
    for p in pairs:
        if p["order"] == "original":
            chosen.setdefault(p["qid"], set()).add(p["chosen"])
    return round(sum(len(v) == 1 for v in chosen.values()) / len(chosen), 4) if chosen else None
