"""Quality filters for teacher outputs; every drop is counted by reason."""
from __future__ import annotations

import math
import re
from collections import Counter

REASONS = ("empty", "too_long", "repeats_prompt", "answers_instead", "low_similarity", "duplicate", "near_duplicate")
# The teacher answered the question (its opinion would contradict the human label) instead of rewriting it.
ANSWER_START = re.compile(r"^\s*(answer\s*:|i (strongly )?(agree|disagree)\b|(yes|no)[,.!])", re.I)


def normalize(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def _features(text: str) -> Counter:
    words = normalize(text).split()
    feats = Counter(words)
    joined = " ".join(words)
    feats.update(f"#{joined[i:i + 4]}" for i in range(max(0, len(joined) - 3)))
    return feats


def lexical_similarity(a: str, b: str) -> float:
    """Cosine similarity of word + character 4-gram counts (works offline, any script)."""
    fa, fb = _features(a), _features(b)
    dot = sum(v * fb.get(k, 0) for k, v in fa.items())
    na, nb = math.sqrt(sum(v * v for v in fa.values())), math.sqrt(sum(v * v for v in fb.values()))
    return dot / (na * nb) if na and nb else 0.0


class EmbeddingSimilarity:
    """Cosine of mean-pooled hidden states of a local sentence-embedding model (e.g. all-MiniLM-L6-v2)."""

    def __init__(self, path: str):
        from transformers import AutoModel, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()

    def __call__(self, a: str, b: str) -> float:
        import torch

        with torch.inference_mode():
            enc = self.tok([a, b], padding=True, truncation=True, return_tensors="pt")
            h = self.model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1)
            e = (h * m).sum(1) / m.sum(1)
            return float(torch.nn.functional.cosine_similarity(e[0:1], e[1:2]))


def shingles(text: str, n: int = 3) -> set:
    w = normalize(text).split()
    return {" ".join(w[i:i + n]) for i in range(max(1, len(w) - n + 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def filter_variants(records: list[dict], seeds: dict[str, str], settings, similarity=None) -> tuple[list[dict], dict]:
    """Keep good variants. records: {qid, kind, text, prompt, ...}; seeds: qid -> seed text."""
    sim = similarity or lexical_similarity
    counts = Counter()
    kept: list[dict] = []
    seen_norm: set[str] = set(normalize(s) for s in seeds.values())  # a variant equal to a seed adds nothing
    kept_shingles: dict[str, list[set]] = {}
    for rec in records:
        text = rec["text"]
        reason = None
        if len(text.strip()) < settings.min_chars:
            reason = "empty"
        elif len(text) > settings.max_chars:
            reason = "too_long"
        elif (normalize(text) == normalize(seeds[rec["qid"]]) or normalize(rec["prompt"][:60]) in normalize(text)
              or "rewrite the following" in text.casefold()):
            reason = "repeats_prompt"
        elif ANSWER_START.match(text):
            reason = "answers_instead"
        elif sim(text, seeds[rec["qid"]]) < settings.min_similarity:
            reason = "low_similarity"
        elif normalize(text) in seen_norm:
            reason = "duplicate"
        else:
            sh = shingles(text)
            if any(jaccard(sh, other) >= settings.near_duplicate_jaccard for other in kept_shingles.get(rec["qid"], [])):
                reason = "near_duplicate"
            else:
                kept_shingles.setdefault(rec["qid"], []).append(sh)
        if reason:
            counts[reason] += 1
            continue
        seen_norm.add(normalize(text))
        kept.append(rec)
    report = {r: counts.get(r, 0) for r in REASONS}
    report["kept"] = len(kept)
    report["similarity"] = "embedding" if similarity is not None else "lexical (word + char 4-gram cosine)"
    return kept, report
