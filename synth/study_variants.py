"""The training study's wordings: the seed question plus the teacher's filtered paraphrases and scenarios, with the
teacher measured (how many outputs each filter removes, a sample of accepted and rejected outputs).

Generation resumes from ``raw.jsonl`` (``generate.run_jobs``); only train questions reach the teacher, and a variant
resembling a held-out question is dropped (``filters.filter_variants``).
"""
from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from culturelens.synth.filters import filter_variants
from culturelens.synth.generate import clean_output, make_jobs, run_jobs


def study_variants(teacher, questions, countries, heldout_texts: dict[str, str], raw_path: Path, n_paraphrases: int,
                   n_scenarios: int, filter_settings, batch_size: int = 8, seed: int = 0, progress: bool = True,
                   sample: int = 6) -> tuple[dict[tuple[str, str], list[dict]], dict]:
    """((qid, country) -> wordings [{kind, text}], the seed first; the teacher report)."""
    jobs = make_jobs(questions, countries, n_paraphrases, n_scenarios, native_language=False)
    raw = run_jobs(teacher, jobs, raw_path, batch_size, progress) if jobs and teacher is not None else []
    records = [{**r, "text": clean_output(r["output"], r["kind"])} for r in raw]
    rejected: list[dict] = []
    kept, counts = filter_variants(records, {q.qid: q.text for q in questions}, filter_settings, None, heldout_texts, rejected)
    variants: dict[tuple[str, str], list[dict]] = {}
    for q in questions:
        for c in countries:
            variants[(q.qid, c.alpha3)] = [{"kind": "seed", "text": q.text}]
    for r in kept:
        targets = [c.alpha3 for c in countries] if r["country"] == "ALL" else [r["country"]]
        for code in targets:
            if (r["qid"], code) in variants:
                variants[(r["qid"], code)].append({"kind": r["kind"], "text": r["text"]})
    rng = random.Random(seed)
    pick = lambda rows: [{k: r.get(k) for k in ("qid", "kind", "text", "reason")} for r in rng.sample(rows, min(sample, len(rows)))]  # noqa: E731
    by_kind = Counter(r["kind"] for r in records)
    stages = [k for k, v in counts.items() if isinstance(v, int) and k != "kept"]
    report = {
        "teacher": getattr(teacher, "name", None), "jobs": len(jobs), "outputs": len(records), "kept": len(kept),
        "kept_fraction": round(len(kept) / len(records), 4) if records else None,
        "outputs_by_kind": dict(by_kind), "kept_by_kind": dict(Counter(r["kind"] for r in kept)),
        "removed_by_filter": {k: counts[k] for k in stages},
        "passing_each_filter": _passing(len(records), counts, stages),
        "accepted_sample": pick(kept), "rejected_sample": pick(rejected),
    }
    return variants, report


def _passing(n: int, counts: dict, stages: list[str]) -> dict:
    """Fraction of the outputs reaching each filter that pass it (the filters apply in this order)."""
    out, left = {}, n
    for k in stages:
        out[k] = round(1 - counts[k] / left, 4) if left else None
        left -= counts[k]
    return out
