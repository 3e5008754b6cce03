"""Quality filters for teacher outputs; every drop is counted by reason."""
from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache

REASONS = ("empty", "too_long", "repeats_prompt", "answers_instead", "low_similarity", "similar_to_heldout", "duplicate",
           "near_duplicate")
# The teacher answered the question (its opinion would contradict the human label) instead of rewriting it.
ANSWER_START = re.compile(r"^\s*(answer\s*:|i (strongly )?(agree|disagree)\b|(yes|no)[,.!])", re.I)


def normalize(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


@lru_cache(maxsize=4096)
def _features(text: str) -> Counter:  # cached: each held-out text is compared with every output
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

        self._cache: dict = {}

    def embed(self, text: str):
        """Mean-pooled embedding of one text, computed once (held-out texts are compared with every output)."""
        import torch

        if text not in self._cache:
            with torch.inference_mode():
                enc = self.tok([text], truncation=True, return_tensors="pt")
                h = self.model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1)
                self._cache[text] = (h * m).sum(1) / m.sum(1)
        return self._cache[text]

    def __call__(self, a: str, b: str) -> float:
        import torch

        return float(torch.nn.functional.cosine_similarity(self.embed(a), self.embed(b)))


def shingles(text: str, n: int = 3) -> set:
    w = normalize(text).split()
    return {" ".join(w[i:i + n]) for i in range(max(1, len(w) - n + 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def near_heldout(text: str, own_seed_similarity: float, heldout: dict[str, str], sim, max_similarity: float) -> str | None:
    """The held-out question most like a variant, if that similarity is >= max_similarity or >= the similarity to its
    own seed (the teacher drifted to another question); else None."""
    best = max(heldout, key=lambda qid: sim(text, heldout[qid]))
    s = sim(text, heldout[best])
    return best if s >= max_similarity or s >= own_seed_similarity else None


def filter_variants(records: list[dict], seeds: dict[str, str], settings, similarity=None,
                    heldout: dict[str, str] | None = None, rejected: list[dict] | None = None) -> tuple[list[dict], dict]:
    """Keep good variants. records: {qid, kind, text, prompt, ...}; seeds: qid -> seed text; heldout: qid -> text of
    every held-out question (a variant that resembles one is dropped as ``similar_to_heldout``); ``rejected``, when
    given, receives each dropped record with its ``reason``."""
    sim = similarity or lexical_similarity
    heldout = heldout or {}
    near_held: Counter = Counter()
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
        elif (own := sim(text, seeds[rec["qid"]])) < settings.min_similarity:
            reason = "low_similarity"
        elif heldout and (held_qid := near_heldout(text, own, heldout, sim, settings.max_heldout_similarity)):
            reason = "similar_to_heldout"
            near_held[held_qid] += 1
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
            if rejected is not None:
                rejected.append({**rec, "reason": reason})
            continue
        seen_norm.add(normalize(text))
        kept.append(rec)
    report = {r: counts.get(r, 0) for r in REASONS}
    report["kept"] = len(kept)
    report["similar_to_heldout_by_question"] = dict(sorted(near_held.items()))
    report["similarity"] = "embedding" if similarity is not None else "lexical (word + char 4-gram cosine)"
    return kept, report
