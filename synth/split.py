"""Train / held-out split of the seed questions, drawn before any generation: seeded, by whole battery cluster.

A cluster (see ``batteries.py``: questions sharing a stem, or whose human means correlate across
countries) lies wholly on one side, so no held-out question has a battery mate in training.

Assignment, stratified by category as far as whole clusters allow:
1. a cluster's category is its members' most common one; categories are visited in a seeded order,
   the clusters of a category in a seeded order;
2. a running target ``owed = heldout_fraction * questions seen so far - questions held out so far``
   carries over between categories, so a category made of one battery can be the one held out;
3. a cluster of ``s`` questions is held out when that brings the held-out count closer to the target
   (``s < 2 * owed``); a category with two or more clusters keeps at least one on each side.
"""
from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

from culturelens.core.errors import DataError


def _category_of(members: list[str], categories: dict[str, str]) -> str:
    counts = Counter(categories[q] for q in members)
    return min(counts, key=lambda c: (-counts[c], c))


def _assign_category(clusters: list[list[str]], owed: float, fraction: float) -> tuple[list[list[str]], float]:
    """Held-out clusters of one category (already shuffled) and the target still owed afterwards."""
    owed += fraction * sum(len(c) for c in clusters)
    held, trained = [], 0
    for i, members in enumerate(clusters):
        last = i == len(clusters) - 1
        both_sides = len(clusters) >= 2 and fraction > 0
        if both_sides and last and not held:
            hold = True
        elif both_sides and last and not trained:
            hold = False
        else:
            hold = len(members) < 2 * owed
        if hold:
            held.append(members)
            owed -= len(members)
        else:
            trained += 1
    return held, owed


def split_clusters(clusters: list[list[str]], categories: dict[str, str], heldout_fraction: float, seed: int) -> set[str]:
    """The held-out questions: whole clusters, stratified by category (module docstring)."""
    rng = random.Random(seed)
    by_cat: dict[str, list[list[str]]] = {}
    for members in sorted(clusters, key=lambda m: m[0]):
        by_cat.setdefault(_category_of(members, categories), []).append(sorted(members))
    order = sorted(by_cat)
    rng.shuffle(order)
    held: set[str] = set()
    owed = 0.0
    for cat in order:
        group = by_cat[cat]
        rng.shuffle(group)
        chosen, owed = _assign_category(group, owed, heldout_fraction)
        held.update(q for members in chosen for q in members)
    return held


def split_questions(qids: list[str], categories: dict[str, str], heldout_fraction: float, seed: int,
                    clusters: list[list[str]] | None = None, links: list[dict] | None = None) -> dict:
    """{train, heldout, seed, heldout_fraction, clusters, links}; without ``clusters`` every question is its own."""
    clusters = clusters if clusters is not None else [[q] for q in qids]
    covered = [q for members in clusters for q in members]
    if sorted(covered) != sorted(set(qids)):
        raise DataError("split clusters must cover every seed question exactly once")
    held = split_clusters(clusters, categories, heldout_fraction, seed)
    return {"train": [q for q in qids if q not in held], "heldout": [q for q in qids if q in held], "seed": seed,
            "heldout_fraction": heldout_fraction,
            "clusters": [{"questions": members, "side": "heldout" if members[0] in held else "train"}
                         for members in clusters if len(members) > 1],
            "links": links or []}


def save_split(split: dict, path: Path) -> None:
    path.write_text(json.dumps(split, indent=2))


def load_split(path: str | Path) -> dict:
    p = Path(path)
    if not p.exists():
        raise DataError(f"split file '{p}' does not exist")
    split = json.loads(p.read_text())
    if not {"train", "heldout"} <= set(split):
        raise DataError(f"split file '{p}' needs 'train' and 'heldout' lists")
    if set(split["train"]) & set(split["heldout"]):
        raise DataError(f"split file '{p}': questions {sorted(set(split['train']) & set(split['heldout']))} are in both sets")
    return split


def require_no_heldout(qids, heldout, what: str) -> None:
    """Raise a DataError when any of `qids` is a held-out question: held-out questions never reach the teacher or a
    training set. (A real check, not an `assert`: `python -O` keeps it.)"""
    leaked = sorted(set(qids) & set(heldout))
    if leaked:
        raise DataError(f"held-out question(s) {', '.join(leaked)} reached {what}: the split and the jobs disagree; delete "
                        "split.json and raw.jsonl in the output folder (or fix split.file) and run synth again")
