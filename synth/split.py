"""Train / held-out split of the seed questions, drawn before any generation (seeded, stratified by category)."""
from __future__ import annotations

import json
import random
from pathlib import Path

from culturelens.core.errors import DataError


def split_questions(qids: list[str], categories: dict[str, str], heldout_fraction: float, seed: int) -> dict[str, list[str]]:
    """Every category with >= 2 questions has at least one question on each side."""
    rng = random.Random(seed)
    by_cat: dict[str, list[str]] = {}
    for q in qids:
        by_cat.setdefault(categories[q], []).append(q)
    train, held = [], []
    for cat in sorted(by_cat):
        qs = sorted(by_cat[cat])
        rng.shuffle(qs)
        n_held = round(heldout_fraction * len(qs))
        if len(qs) >= 2 and heldout_fraction > 0:
            n_held = min(max(n_held, 1), len(qs) - 1)
        held += qs[:n_held]
        train += qs[n_held:]
    order = {q: i for i, q in enumerate(qids)}
    return {"train": sorted(train, key=order.get), "heldout": sorted(held, key=order.get), "seed": seed,
            "heldout_fraction": heldout_fraction}


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
